"""Cheap structure after dividing out a power law: ``y = M(x) · f(x)``.

Physical laws are often a monomial of dimensional quantities times a function
of a dimensionless ratio: ``m c² / sqrt(1 - v²/c²)``, ``ω₀ (1 + v/c) /
sqrt(1 - v²/c²)``, ``p z sqrt(x² + y²) / (ε r⁵)``. The monomial hides the
structure from the other tests: ``1/y²`` of the first is ``1/(m²c⁴) -
v²/(m²c⁶)``, two terms of total degree 6 and 10, far outside any library.
Divided by ``M = m c²`` it is ``1 - v²/c²``.

``M`` comes from the least-squares fit of ``log|y|`` on the ``log|x_j|``:
exponents within ``tol`` of an integer are taken as that integer, the others
(the variables of the ratio, whose effect the log-linear fit smears into
fractional exponents) as 0. Then the transformed-target and ratio tests run on
``z = y/M``, and, for one-signed ``z``, the ratio test on ``z²`` (``(1 + u)/(1
- u)`` is ``z²`` of the relativistic Doppler factor); every candidate is
multiplied back by ``M``. Numpy only; nothing raises on data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...expression import Expression
from ...tree import Disallowed, expression_to_tree, tree_to_expression
from .library import monomial_values, prepared, term_node
from .power import power_law_factor
from .rational import rational_candidates
from .registry import BaseTest, register
from .transforms import transformed_candidates

__all__ = ["Factored", "factored_candidates"]


def _values(node, X: np.ndarray) -> np.ndarray:
    """A tree node (an operator tuple, a variable ``"x<j>"`` or a number) on the
    rows of ``X``; NaN where it cannot be evaluated."""
    try:
        with np.errstate(all="ignore"):
            if isinstance(node, tuple):
                return tree_to_expression(node).evaluate(X)
            if isinstance(node, str):
                return X[:, int(node[1:])]
            return np.full(X.shape[0], float(node))
    except (ValueError, TypeError, IndexError):
        return np.full(X.shape[0], np.nan)


def _root(build, ratio, X: np.ndarray):
    """``sqrt(P)/sqrt(Q)`` of a ratio node ``P/Q`` when ``P`` and ``Q`` have one
    common sign on the data (both negated when negative), ``sqrt(P/Q)``
    otherwise. The split form is the cleaner formula (``m c³/sqrt(c² - v²)``,
    not ``m c² sqrt(c²/(c² - v²))``), and sympy can prove it equal to ``m
    c²/sqrt(1 - v²/c²)``; the joined one it cannot, not knowing that ``c² -
    v²`` is positive."""
    if isinstance(ratio, tuple) and ratio[0] == "div":
        parts = ratio[1:]
        p, q = (_values(t, X) for t in parts)
        if np.all(p < 0) and np.all(q < 0):
            parts = tuple(build("mul", -1.0, t) for t in parts)
            p, q = -p, -q
        if np.all(p > 0) and np.all(q > 0):
            return build("div", build("sqrt", parts[0]), build("sqrt", parts[1]))
    return build("sqrt", ratio)


def factored_candidates(X, y, operators: Sequence[str] | None = None, *,
                        seed: int = 0) -> list[Expression]:
    """Candidates ``M · f`` with ``M`` from :func:`power_law_factor` and ``f`` from
    :func:`~symreg.search.structure.transforms.transformed_candidates` and
    :func:`~symreg.search.structure.rational.rational_candidates` on ``z = y/M`` (and
    ``sqrt`` of the ratio test on ``z²``). Returns ``[]`` when no factor applies
    or ``mul`` is not allowed."""
    data = prepared(X, y, operators, "mul")
    if data is None:
        return []
    X, y, build = data
    key = power_law_factor(X, y)
    if key is None:
        return []
    with np.errstate(all="ignore"):
        z = y / monomial_values(X, key)
    if not np.all(np.isfinite(z)) or np.ptp(z) <= 1e-12 * np.max(np.abs(z)):
        return []   # M is the whole law: the power-law test has it already
    try:
        factor = term_node(build, key, X)
    except Disallowed:
        return []
    parts: list[tuple[Expression, bool]] = [
        (e, False) for e in transformed_candidates(X, z, operators, seed=seed)
        + rational_candidates(X, z, operators, seed=seed)]
    sign = 1.0 if np.all(z > 0) else -1.0 if np.all(z < 0) else 0.0
    if sign != 0.0 and build.ok("sqrt"):
        parts += [(e, True) for e in rational_candidates(X, z * z, operators, seed=seed)]
    out: list[Expression] = []
    for e, root in parts:
        try:
            body = expression_to_tree(e)
            if root:
                body = _root(build, body, X)
                if sign < 0:
                    body = build("mul", -1.0, body)
            out.append(tree_to_expression(build("mul", factor, body)))
        except (Disallowed, ValueError):
            continue
    return out


@register
class Factored(BaseTest):
    """:func:`factored_candidates`, screened on their own in stage 2."""

    name = "factored"
    stage = 2
    needs = ("mul",)

    def candidates(self, X, y, operators, seed):
        return factored_candidates(X, y, operators, seed=seed)
