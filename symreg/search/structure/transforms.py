"""Cheap structure through a transformed target: ``y = T⁻¹(Σ c_j m_j)``.

Many laws are not sparse sums in ``y`` itself but are in a simple function of
it (the AI Feynman observation):

* ``1/y``: ``1/(1/d1 + n/d2)`` (lenses, resistors in parallel);
* ``y²``: ``sqrt((x1 - x2)**2 + (y1 - y2)**2)`` (distances, norms);
* ``log|y|``: ``exp(-(θ/σ)²/2)/σ``, a Gaussian times a power law;
* ``1/y²``: ``m/sqrt(1 - v²/c²)`` (relativistic factors);
* ``log(1 + 1/y)`` and ``log(1/y - 1)``: occupation numbers ``1/(e^a ∓ 1)``
  (Bose–Einstein and Planck, Fermi–Dirac), ``a`` a monomial.

:func:`transformed_candidates` fits, for each transform that the data allow, a
sparse regression of ``T(y)`` over a library of Laurent monomials (integer
powers -2 … 3 of up to three variables, ``sqrt`` of positive ones; plus
``log|x_j|`` for the log transform) and writes each model back through the
inverse transform. Constants are only starting values: the search refits them on
``y`` and snaps them. Numpy only; a transform that does not apply is skipped,
nothing raises on data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...expression import Expression
from ...tree import Disallowed, TreeBuilder, expression_to_tree, tree_to_expression
from .library import (
    laurent_library,
    prepared,
    refit,
    select_subsets,
    sum_tree,
    term_node,
    unit_columns,
)
from .polynomial import sparse_polynomial
from .registry import BaseTest, register

__all__ = ["Transformed", "transformed_candidates"]

def _transforms(y: np.ndarray, build: TreeBuilder) -> list[tuple[str, np.ndarray]]:
    one_sign = bool(np.all(y > 0) or np.all(y < 0))
    out = []
    with np.errstate(all="ignore"):
        if np.all(y != 0) and (build.ok("div") or build.ok("inv")):
            out.append(("inverse", 1.0 / y))
        if one_sign and build.ok("sqrt"):
            out.append(("square", y * y))
            if build.ok("div") or build.ok("inv"):
                # m/sqrt(1 - v²/c²): 1/y² = (1 - v²/c²)/m² is a two-term sum
                out.append(("inverse_square", 1.0 / (y * y)))
        if one_sign and build.ok("exp"):
            out.append(("log", np.log(np.abs(y))))
        if build.ok("exp", "sub") and (build.ok("div") or build.ok("inv")):
            # occupation numbers: 1/(e^a - 1) (Bose-Einstein, Planck) and
            # 1/(e^a + 1) (Fermi-Dirac), with a a monomial
            if np.all(y > 0):
                out.append(("bose", np.log1p(1.0 / y)))
            if np.all((y > 0) & (y < 1)) and build.ok("add"):
                out.append(("fermi", np.log(1.0 / y - 1.0)))
    return [(name, t) for name, t in out if np.all(np.isfinite(t)) and np.ptp(t) > 0]


def _invert(build: TreeBuilder, name: str, body):
    if name == "inverse":
        return build("div", 1.0, body) if build.ok("div") else build("inv", body)
    if name == "square":
        return build("sqrt", body)
    if name == "inverse_square":
        root = build("sqrt", body)
        return build("div", 1.0, root) if build.ok("div") else build("inv", root)
    if name in ("bose", "fermi"):
        den = build("sub" if name == "bose" else "add", build("exp", body), 1.0)
        return build("div", 1.0, den) if build.ok("div") else build("inv", den)
    return build("exp", body)


def transformed_candidates(X, y, operators: Sequence[str] | None = None, *, max_terms: int = 6,
                           max_columns: int = 1200, max_points: int = 2000,
                           seed: int = 0) -> list[Expression]:
    """Candidates ``T⁻¹(c0 + Σ c_j m_j)`` for ``T`` in 1/y, y², 1/y², log|y|,
    log(1 + 1/y) and log(1/y - 1).

    For each transform the data allow (no zero in y for 1/y; one sign for y²
    1/y² and log|y|; y > 0 for log(1 + 1/y), 0 < y < 1 for log(1/y - 1); the
    inverse's operators allowed), terms are chosen greedily
    with swap refinement (as :func:`~symreg.search.structure.sparse_polynomial`)
    from the Laurent library on at most ``max_points`` rows, refitted on all
    rows, and each sparsity level 1..``max_terms`` becomes one candidate. Under
    log the intercept is dropped (it is a scale factor, which the search's
    linear scaling supplies). Returns ``[]`` when nothing applies.
    """
    data = prepared(X, y, operators, "mul", "add")
    if data is None:
        return []
    X, y, build = data
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=max_points, replace=False)) if n > max_points else None
    out: list[Expression] = []
    for name, t in _transforms(y, build):
        # 1/y² of m/sqrt(1 - v²/c²) holds v²/(m²c²), of total degree 6; a library that
        # large everywhere would lead the greedy selection astray on the others
        keys, M = laurent_library(X, 3, max_columns, with_logs=(name == "log"),
                           max_degree=6 if name == "inverse_square" else 4)
        if not keys:
            continue
        ts = t[rows] if rows is not None else t
        A, keep = unit_columns(M, rows)
        if keep.size == 0:
            continue
        subsets = select_subsets(A, ts - ts.mean(), min(max_terms, n - 2))
        for S in subsets:
            chosen = [keep[s] for s in S]
            coefs, intercept = refit(M[:, chosen], t)
            if not np.all(np.isfinite(coefs)):
                continue
            if name == "log":
                intercept = None
            try:
                terms = [(float(c), term_node(build, keys[k], X)) for c, k in zip(coefs, chosen)]
                tree = _invert(build, name, sum_tree(build, terms, intercept))
            except Disallowed:
                continue
            out.append(tree_to_expression(tree))
        # the plain polynomial library too: its cross terms (x1*x2) of two and more
        # variables are what y² of a distance needs
        if name in ("inverse", "square", "inverse_square"):
            for degree in (2, 3):
                for poly in sparse_polynomial(X, t, degree, max_terms, operators=operators):
                    try:
                        tree = _invert(build, name, expression_to_tree(poly))
                    except Disallowed:
                        continue
                    out.append(tree_to_expression(tree))
    return out


@register
class Transformed(BaseTest):
    """:func:`transformed_candidates`, screened with the ratios in stage 1."""

    name = "transformed"
    stage = 1
    needs = ("mul", "add")

    def candidates(self, X, y, operators, seed):
        return transformed_candidates(X, y, operators, seed=seed)
