"""Constant snapping: :func:`nice_values` and :func:`snap_constants`.

Constants are replaced by nearby "nice" values (integers, fractions p/q with
q <= 12, rational multiples of π and a few other irrational factors of physics
constants) when the loss holds; all variants are scored in batched evaluator
calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..expression import NICE_FACTORS, Expression
from ..pareto import exact_floor

__all__ = ["nice_values", "snap_constants"]

# plain fractions first, then fractions of the irrational factors of physics constants
_NICE_FACTORS = (1.0,) + tuple(value for value, _ in NICE_FACTORS)
# the fractions p/q each irrational factor takes: (largest |p|, largest q); see nice_values
_FACTOR_FRACTIONS = {factor: ((8, 4) if i < 3 else (2, 2))
                     for i, factor in enumerate(_NICE_FACTORS[1:])}


def nice_values(c: float, max_denominator: int = 12, max_rel_change: float = 0.05
                ) -> list[float]:
    """"Nice" values near ``c``, nicest first.

    Candidates: 0 (when |c| <= 0.01), for each q = 1..max_denominator the
    nearest fraction p/q in lowest terms, for q = 1..4 the nearest p/q with
    |p| <= 8 times π, π² and 1/π, and for q = 1, 2 the nearest p/q with
    |p| <= 2 times √π, 1/√π, √2, √(2π) and 1/√(2π). Only values within
    ``max_rel_change`` (relative) of ``c`` are kept, and ``c`` itself is never
    returned. Ordered by denominator, then by factor in that order.

    The irrational factors take only small fractions because with all of them
    the candidates are so dense that one lies within any noisy constant's
    error: 1.0004 would become 22/(7π) and 0.9974 5/(2√(2π)), which no law
    holds. The constants of physics formulas (1/(4π), 4π/3, 8π, 1/√(2π)) are
    small fractions of these factors.
    """
    c = float(c)
    if not math.isfinite(c):
        return []
    out: list[float] = []
    seen = {c}
    radius = max_rel_change * abs(c)
    if abs(c) <= 0.01 and c != 0.0:
        out.append(0.0)
        seen.add(0.0)
    for q in range(1, max_denominator + 1):
        for factor in _NICE_FACTORS:
            max_p, max_q = _FACTOR_FRACTIONS.get(factor, (None, max_denominator))
            if q > max_q:
                continue
            p = round(c * q / factor)
            if p == 0 or math.gcd(int(p), q) != 1:
                continue
            if max_p is not None and abs(p) > max_p:
                continue
            v = (p / q) * factor if factor != 1.0 else p / q
            if v in seen or abs(v - c) > radius:
                continue
            seen.add(v)
            out.append(v)
    return out


def snap_constants(expr: Expression, X, y, loss: float | None = None, rel_tol: float | None = None,
                   *, sample_weight=None, metric: str | Callable = "mse",
                   floor: float | None = None, max_denominator: int = 12,
                   device=None) -> tuple[Expression, float]:
    """Snap constants to nearby nice values when the loss holds.

    Each constant is tried at the values of :func:`nice_values` (integers,
    fractions p/q with q <= ``max_denominator``, rational multiples of π;
    within 5%). A set of k snaps is acceptable when the loss on (X, y) stays
    at most ``(1 + rel_tol)`` times the loss of ``expr`` or below ``floor``
    (default ``1e-18 * mean(y**2)`` for the MSE: a relative RMS error of
    1e-9). The default ``rel_tol=None`` is the BIC allowance for removing k
    free constants from a fit to n points, a factor ``exp(k·ln(n)/n)`` (as
    :func:`symreg.reduce.drop_terms`): on noisy data the true value of a
    constant is within it unless it is more than about √(ln n) standard errors
    from the fit, while on noiseless data a wrong snap raises the loss by
    orders of magnitude. Each
    constant takes its nicest acceptable value; then the snaps are combined
    in order of their own losses, and the largest combination that is still
    acceptable is kept.

    All variants are scored in one batched float64 call of
    :func:`symreg.evaluate.evaluate_batch` (and the combinations in a second).

    Parameters
    ----------
    loss : float, optional
        The loss of ``expr`` as the caller knows it; returned unchanged when
        nothing is snapped. Decisions use the loss evaluated here (the same
        metric, points and weights as the variants).
    metric : str or callable
        The loss function of :func:`~symreg.evaluate.evaluate_batch`.

    Returns
    -------
    (Expression, float)
        The snapped expression (``expr`` itself when nothing was snapped) and
        its loss.
    """
    import torch

    from ..evaluate import evaluate_batch

    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    base = expr.constants
    variants: list[Expression] = []
    owner: list[tuple[int, float]] = []
    for i, c in enumerate(base.tolist()):
        for v in nice_values(c, max_denominator):
            new = base.copy()
            new[i] = v
            variants.append(expr.with_constants(new))
            owner.append((i, v))

    def score(exprs):
        return evaluate_batch(exprs, X, y, sample_weight=sample_weight, loss=metric,
                              dtype=torch.float64, device=device)

    if not variants:
        if loss is None:
            loss = float(score([expr])[0])
        return expr, float(loss)
    losses = score([expr] + variants)
    ref = float(losses[0])
    if floor is None:
        with np.errstate(all="ignore"):
            if metric == "mse":
                # a relative RMS error of 1e-9 (stricter than the search's exactness)
                floor = exact_floor(y, rtol=1e-18, centred=False)
            else:
                floor = 1e-9 * float(np.mean(np.abs(y)))
    if not math.isfinite(ref):
        return expr, float(loss) if loss is not None else ref
    n = max(int(y.shape[0]), 1)

    def bound(k: int) -> float:
        factor = math.exp(k * math.log(n) / n) if rel_tol is None else 1.0 + rel_tol
        return max(ref * factor, floor)

    chosen: dict[int, tuple[float, float]] = {}   # constant -> (value, loss)
    for (i, v), L in zip(owner, losses[1:].tolist()):
        if i not in chosen and math.isfinite(L) and L <= bound(1):
            chosen[i] = (v, L)  # the first acceptable is the nicest
    if not chosen:
        return expr, float(loss) if loss is not None else ref
    order = sorted(chosen, key=lambda i: chosen[i][1])
    combos: list[Expression] = []
    new = base.copy()
    for i in order:
        new[i] = chosen[i][0]
        combos.append(expr.with_constants(new.copy()))
    if len(combos) == 1:
        return combos[0], chosen[order[0]][1]
    combo_losses = score(combos)
    for k in range(len(combos) - 1, -1, -1):
        L = float(combo_losses[k])
        if math.isfinite(L) and L <= bound(k + 1):
            return combos[k], L
    return combos[0], chosen[order[0]][1]
