"""Sparse polynomials: ``y ≈ c0 + Σ c_j m_j`` over a library of monomials.

Greedy sparse regression (orthogonal matching pursuit with swap refinement,
:func:`~symreg.search.structure.library.select_subsets`) finds sums of a few
polynomial terms (SINDy / FFX style). :func:`structure_candidates` is the first
stage of the search's structure tests in one call: the power law and the sparse
polynomials of each degree. Numpy only; nothing raises on data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...expression import Expression
from ...tree import Disallowed, TreeBuilder, tree_to_expression
from .library import (
    clean,
    library_degree,
    monomial_columns,
    monomial_exponents,
    monomials_direct,
    poly_tree,
    refit,
    select_subsets,
    unique,
)
from .power import power_law
from .registry import BaseTest, register

__all__ = ["SparsePolynomial", "sparse_polynomial", "structure_candidates"]

#: the highest total degree of the first stage's polynomial libraries
MAX_DEGREE = 6
#: the most terms of a first-stage sparse polynomial
MAX_TERMS = 8


def sparse_polynomial(X, y, max_degree: int = 6, max_terms: int = 8, *,
                      operators: Sequence[str] | None = None, max_library: int = 300,
                      max_points: int = 5000, seed: int = 0) -> list[Expression]:
    """Sparse polynomial models ``y ≈ c0 + Σ c_j m_j``, one per sparsity level.

    The library holds all monomials of total degree 1..D in the variables,
    with D <= ``max_degree`` lowered until the library has at most
    ``max_library`` terms (D = 6 for one or two variables, 3 for ten).
    Subsets are chosen greedily (orthogonal matching pursuit on normalised
    centred columns, using the Gram matrix) and refined after each step by
    swapping single terms while that lowers the residual; selection runs on at
    most ``max_points`` rows. Each subset is then refitted by least squares on
    all rows; the intercept is kept only when dropping it would cost more
    than the AIC allowance of one parameter (so it is absent when it is ≈ 0).

    Monomials are written compactly (``x0**3 -> cube(x0)``,
    ``x0*x1**2 -> mul(x0, square(x1))``, ``x0**4 -> square(square(x0))``),
    every term carries a coefficient constant, negative coefficients after
    the first term use ``sub``. Returns the model of each sparsity level
    1..max_terms (fewer after an exact fit), or ``[]`` when the data do not
    allow a fit or ``add``/``mul`` are not allowed.
    """
    data = clean(X, y)
    if data is None:
        return []
    X, y = data
    n, d = X.shape
    max_terms = min(int(max_terms), n - 2)
    if d == 0 or max_terms < 1:
        return []
    build = TreeBuilder(operators)
    if not build.ok("mul"):
        return []
    degree = library_degree(d, max_degree, max_library)
    exps = monomial_exponents(d, degree)

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=max_points, replace=False)) if n > max_points else None
    Xs, ys = (X[idx], y[idx]) if idx is not None else (X, y)
    M = monomial_columns(Xs, exps)
    with np.errstate(all="ignore"):
        ok = np.all(np.isfinite(M), axis=0)
        Mc = M - M.mean(axis=0)
        norms = np.sqrt(np.sum(Mc * Mc, axis=0))
        scale = np.max(np.abs(M), axis=0)
        # relative to the column's size: x**6 of large x is not constant at norm 1e-12
        tiny = 1e-10 * np.sqrt(Xs.shape[0]) * np.where(scale > 0, scale, 1.0)
        ok &= np.isfinite(norms) & (norms > tiny)
    keep = np.nonzero(ok)[0]
    if keep.size == 0:
        return []
    A = Mc[:, keep] / norms[keep]
    yc = ys - ys.mean()
    if not np.all(np.isfinite(A)) or not np.isfinite(yc).all():
        return []
    subsets = select_subsets(A, yc, max_terms)

    out: list[Expression] = []
    seen = set()
    for S in subsets:
        terms_e = [exps[keep[s]] for s in S]
        key = tuple(sorted(terms_e))
        if key in seen:
            continue
        seen.add(key)
        Mfull = monomials_direct(X, terms_e)
        if not np.all(np.isfinite(Mfull)):
            continue
        coefs, intercept = refit(Mfull, y)
        if not np.all(np.isfinite(coefs)):
            continue
        # highest degree first, then by variable
        order = sorted(range(len(terms_e)),
                       key=lambda t: (-sum(terms_e[t]), tuple(-v for v in terms_e[t])))
        terms = [(float(coefs[t]), terms_e[t]) for t in order]
        try:
            tree = poly_tree(build, terms, intercept)
        except Disallowed:
            continue
        out.append(tree_to_expression(tree))
    return out


def _polynomials(X, y, operators, max_degree: int, max_terms: int) -> list[Expression]:
    # greedy term selection can be led astray by a large library on few rows
    # (Nguyen-12 on 20 points picks x0**5 over x0**4 - x0**3 at degree 6), so
    # every degree up to max_degree gets its own pass: milliseconds each
    out: list[Expression] = []
    for degree in range(2, max_degree + 1):
        out.extend(sparse_polynomial(X, y, degree, max_terms, operators=operators))
    return out


def structure_candidates(X, y, operators: Sequence[str] | None = None, *,
                         max_degree: int = MAX_DEGREE, max_terms: int = MAX_TERMS
                         ) -> list[Expression]:
    """Candidates from the first-stage structure tests: the power law and the
    sparse polynomials of each total degree 2..``max_degree``, written only
    with ``operators`` (registry names or aliases; ``None``: any).
    De-duplicated; milliseconds for thousands of rows."""
    out: list[Expression] = []
    pl = power_law(X, y, operators=operators)
    if pl is not None:
        out.append(pl)
    out += _polynomials(X, y, operators, max_degree, max_terms)
    return unique(out)


@register
class SparsePolynomial(BaseTest):
    """Sparse polynomials of each total degree 2..:data:`MAX_DEGREE`, fitted whole
    in the first stage."""

    name = "sparse_polynomial"
    stage = 0
    order = 1
    screen = False
    n_restarts = 4
    needs = ("mul",)

    def candidates(self, X, y, operators, seed):
        return _polynomials(X, y, operators, MAX_DEGREE, MAX_TERMS)


@register
class Variables(BaseTest):
    """The variables alone ``x_j``: always worth a look."""

    name = "variables"
    stage = 0
    order = 2
    screen = False
    n_restarts = 4

    def candidates(self, X, y, operators, seed):
        return [Expression([f"x{j}"]) for j in range(np.shape(X)[1])]
