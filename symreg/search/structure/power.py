"""Power laws: ``y ≈ c·∏ x_i^a_i`` from one least-squares fit in log space.

:func:`power_law` is the structure test (exponents snapped to integers, halves
or thirds where the fit holds); :func:`power_law_factor` is the integer
monomial that the factored test (:mod:`~symreg.search.structure.factored`)
divides out. Both rest on :mod:`symreg.loglinear`. Numpy only; nothing raises on
data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from ... import loglinear
from ...expression import Expression
from ...pareto import ROUNDOFF_RTOL
from ...tree import Disallowed, TreeBuilder, tree_to_expression
from .library import clean, monomial_tree, scaled
from .registry import BaseTest, register

__all__ = ["PowerLaw", "power_law", "power_law_factor"]


def power_law(X, y, *, operators: Sequence[str] | None = None) -> Expression | None:
    """Fit ``y ≈ c·∏ x_i^a_i`` by least squares in log space.

    Applies when y is nonzero with one sign; a column enters when it has no
    zeros and is not constant (columns of mixed sign enter as ``|x_i|``,
    written ``x_i`` when the exponent is an even integer and ``abs(x_i)``
    otherwise, when ``abs`` is allowed). Each exponent then snaps to the
    nearest integer, half or third (tried in that order, greedily, most
    snappable first) when the residual sum of squares in log space stays
    within the AIC allowance ``exp(2k/n)`` for k snapped exponents (or below
    a round-off floor); exponents that snap to 0 are dropped. The constant
    ``c`` (carrying the sign of y) is then refitted by least squares on y.

    Powers use ``square``, ``cube``, ``sqrt`` (``x^1.5`` is ``sqrt(cube(x))``),
    ``mul``, ``div`` and ``inv`` when allowed, ``pow(x, C)`` otherwise.

    Returns None when the test does not apply (zeros or mixed signs in y, no
    usable column, a needed operator not allowed) or when the result is not
    finite on the data or explains less than a constant would.
    """
    data = clean(X, y)
    if data is None:
        return None
    X, y = data
    n = X.shape[0]
    if not loglinear.one_signed(y):
        return None
    build = TreeBuilder(operators)
    L = loglinear.log_abs(y)
    cols = loglinear.usable_columns(X, spread="log")
    if not cols:
        return None
    mixed = [not np.all(X[:, j] > 0) for j in cols]
    F = loglinear.log_abs(X[:, cols])
    k = F.shape[1]
    if n <= k + 1:
        return None

    def fit(fixed: dict[int, Fraction]) -> tuple[np.ndarray, float]:
        """Exponents with ``fixed`` ones held, the rest by least squares; RSS."""
        target = L.copy()
        for i, v in fixed.items():
            target -= float(v) * F[:, i]
        free = [i for i in range(k) if i not in fixed]
        coef, r = loglinear.fit(F[:, free], target)
        a = np.zeros(k)
        for i, v in fixed.items():
            a[i] = float(v)
        a[free] = coef[1:]
        return a, float(r @ r)

    a_free, rss_free = fit({})
    if not np.all(np.isfinite(a_free)):
        return None
    # a round-off floor on the sum of squares of log|y| (the 1 + keeps it above
    # zero when log|y| is near 0)
    floor = ROUNDOFF_RTOL * n * (1.0 + float(np.mean(L * L)))
    fixed: dict[int, Fraction] = {}
    order = sorted(range(k), key=lambda i: abs(a_free[i] - round(a_free[i] * 6) / 6))
    a_cur = a_free
    for i in order:
        for v in loglinear.nice_exponents(a_cur[i]):
            trial = dict(fixed)
            trial[i] = v
            a_try, rss = fit(trial)
            if rss <= rss_free * math.exp(2.0 * len(trial) / n) + floor:
                fixed, a_cur = trial, a_try
                break
    exps: list[tuple[int, object]] = []   # (column, exponent as Fraction or float)
    for i in range(k):
        e = fixed.get(i, float(a_cur[i]))
        if e == 0:
            continue
        exps.append((i, e))
    if not exps:
        return None

    try:
        num, den = [], []
        for i, e in exps:
            x = f"x{cols[i]}"
            even = isinstance(e, Fraction) and e.denominator == 1 and e.numerator % 2 == 0
            if mixed[i] and not even:
                x = build("abs", x)
            node = build.power(x, abs(e)) if abs(e) != 1 else x
            (num if e > 0 else den).append(node)
        body = monomial_tree(build, num, den)
    except Disallowed:
        return None

    # c by least squares on y
    with np.errstate(all="ignore"):
        m = np.ones(n)
        for i, e in exps:
            m = m * np.abs(X[:, cols[i]]) ** float(e) if mixed[i] else m * X[:, cols[i]] ** float(e)
        mm = float(m @ m)
        if not np.all(np.isfinite(m)) or not math.isfinite(mm) or mm == 0.0:
            return None
        c = float(m @ y) / mm
    if not math.isfinite(c) or c == 0.0:
        return None
    try:
        tree = scaled(build, c, body)
    except Disallowed:
        return None
    expr = tree_to_expression(tree)
    pred = expr.evaluate(X)
    if not np.all(np.isfinite(pred)):
        return None
    with np.errstate(all="ignore"):
        sse = float(np.sum((pred - y) ** 2))
        sst = float(np.sum((y - y.mean()) ** 2))
    if not math.isfinite(sse) or (sst > 0 and sse >= sst):
        return None
    return expr


def power_law_factor(X: np.ndarray, y: np.ndarray, tol: float = 0.1) -> dict[int, Fraction] | None:
    """The monomial ``{j: power}`` of the exponents of the log-linear fit that lie
    within ``tol`` of a nonzero integer; ``None`` when ``y`` is not one-signed
    and nonzero, no column is usable, or no exponent qualifies."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = X.shape[0]
    if not loglinear.one_signed(y):
        return None
    usable = loglinear.usable_columns(X, spread="value")
    if not usable or n <= len(usable) + 1:
        return None
    coef, _ = loglinear.fit(loglinear.log_abs(X[:, usable]), loglinear.log_abs(y))
    coef = coef[1:]
    if not np.all(np.isfinite(coef)):
        return None
    key = {usable[i]: p for i, p in loglinear.near_integers(coef, tol).items()}
    return key or None


@register
class PowerLaw(BaseTest):
    """:func:`power_law`, fitted whole in the first stage."""

    name = "power_law"
    stage = 0
    screen = False
    n_restarts = 4

    def candidates(self, X, y, operators, seed):
        pl = power_law(X, y, operators=operators)
        return [] if pl is None else [pl]
