"""The sympy-based simplifier for final results: :func:`simplify`.

It runs ``sympy.simplify`` (and a few cheaper sympy rewrites) on a final
result. Sympy can take unbounded time on unlucky inputs and a thread cannot be
stopped, so on Linux the work runs in a ``fork`` child that is killed at the
deadline; the cheap rewrites are streamed back first, so a timeout still yields
them. Elsewhere (no safe ``fork``) only the cheap, near-linear rewrites
(``powsimp``, ``together``) run, in process. A result is used only if it has
fewer tokens and evaluates the same on test points.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

import numpy as np

from .. import operators as ops
from ..expression import Expression
from ..processes import fork_stream
from .fold import fold_constants
from .rewrite import rewrite_operators

__all__ = ["simplify"]

_ARITY = {name: op.arity for name, op in ops.OPERATORS.items()}


def _sympy_candidates(sym, full: bool):
    """Sympy rewrites of ``sym``, cheapest first (a generator)."""
    import sympy

    yield sym
    yield sympy.powsimp(sym)
    yield sympy.together(sym)
    if full:
        yield sympy.simplify(sym)
        yield sympy.expand(sym)
        yield sympy.factor_terms(sym)


def _convert(cand, names) -> tuple[tuple[str, ...], list[float]] | None:
    try:
        e = Expression.from_sympy(cand, names)
    except Exception:  # noqa: BLE001 - anything sympy gives that we cannot read
        return None
    return e.tokens, e.constants.tolist()


_WARMED = False


def _warm_up() -> None:
    """Run ``sympy.simplify`` once in this process on a fixed small formula.

    Sympy loads and initialises much of its simplification machinery lazily,
    on first use; a forked child would redo that (~0.1 s) on every call.
    Done once per process (~0.2 s) it is inherited by every child.
    """
    global _WARMED
    _WARMED = True
    import sympy

    w = sympy.Symbol("w")
    sympy.simplify(sympy.sin(w) ** 2 + sympy.cos(w) ** 2 + w / (w + 1.5)
                   + sympy.exp(w) * sympy.log(w) + 2.5 * sympy.sqrt(w) ** 3)


def _child_candidates(sym, names):
    """The sympy rewrites of ``sym`` as (tokens, constants), cheapest first; run in
    the child of :func:`symreg.processes.fork_stream`, which streams each back."""
    for cand in _sympy_candidates(sym, full=True):
        conv = _convert(cand, names)
        if conv is not None:
            yield conv


def _test_points(n_features: int, X=None, seed: int = 12345) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = max(n_features, 1)
    parts = [rng.uniform(0.1, 3.0, size=(32, d)),
             rng.uniform(-3.0, 3.0, size=(32, d)),
             rng.choice([-1.0, 1.0], size=(32, d)) * 10.0 ** rng.uniform(-2, 3, size=(32, d))]
    if X is not None:
        Xa = np.asarray(X, dtype=np.float64)
        if Xa.ndim == 1:
            Xa = Xa.reshape(-1, 1)
        if Xa.ndim == 2 and Xa.shape[1] >= d and Xa.shape[0]:
            idx = rng.choice(Xa.shape[0], size=min(64, Xa.shape[0]), replace=False)
            parts.insert(0, Xa[idx, :d])
    return np.concatenate(parts, axis=0)


def _same_function(a: Expression, b: Expression, P: np.ndarray, rtol: float = 1e-6) -> bool:
    """Whether ``b`` equals ``a`` (to ``rtol``) wherever ``a`` is finite, on
    enough of the points ``P``."""
    try:
        va = a.evaluate(P)
        vb = b.evaluate(P)
    except Exception:  # noqa: BLE001
        return False
    ok = np.isfinite(va)
    if ok.sum() < 4:
        return False
    va, vb = va[ok], vb[ok]
    if not np.isfinite(vb).all():
        return False
    scale = np.max(np.abs(va))
    with np.errstate(all="ignore"):
        return bool(np.all(np.abs(va - vb) <= rtol * np.abs(va) + 1e-9 * (scale + 1e-300)))


def simplify(expr: Expression, timeout: float = 1.0, *, X=None,
             operators: Sequence[str] | None = None) -> Expression:
    """A shorter equivalent of ``expr`` found with sympy, or ``expr`` itself.

    ``sympy.simplify`` (plus ``powsimp``, ``together``, ``expand`` and
    ``factor_terms``) is applied to ``expr.sympy(exact_constants=False)`` and
    read back with the same variable names; each result then goes through
    :func:`fold_constants`. The shortest result (fewest tokens) is returned if
    it is shorter than ``expr`` and evaluates the same (relative 1e-6) on test
    points wherever ``expr`` is finite: random points of both signs and
    several magnitudes, plus up to 64 rows of ``X`` when given. With
    ``operators`` given, results using other operators (and not in ``expr``)
    are rejected.

    Hanging is impossible by construction: on Linux the sympy work runs in a
    ``fork`` child that is killed after ``timeout`` seconds (the cheap
    rewrites come back first, so they survive a timeout of ``simplify``
    itself); on platforms without a safe ``fork`` only ``powsimp`` and
    ``together`` run, in process. The first call with ``timeout >= 0.5`` in a
    process warms sympy up in the parent (~0.2 s, within the timeout), which
    makes later calls several times faster (typically 20-100 ms). Never
    raises on a bad expression; returns ``expr`` instead.
    """
    start = time.monotonic()
    try:
        names = expr.variable_names
        sym = expr.sympy(exact_constants=False)
        raw = None
        if sys.platform.startswith("linux") and hasattr(os, "fork"):
            if not _WARMED and timeout >= 0.5:
                _warm_up()
            left = max(float(timeout) - (time.monotonic() - start), 0.0)
            try:
                raw = fork_stream(_child_candidates(sym, names), left)
            except OSError:  # cannot fork (limits): the cheap rewrites in process
                raw = None
        if raw is None:
            raw = [c for c in (_convert(s, names) for s in _sympy_candidates(sym, full=False))
                   if c is not None]
    except Exception:  # noqa: BLE001 - sympy conversion of odd expressions
        return expr
    allowed = None
    if operators is not None:
        allowed = frozenset(operators) | frozenset(t for t in expr.tokens if t in _ARITY)
    best = expr
    folded = fold_constants(expr, operators=operators)
    points = None
    candidates = [folded] if len(folded) < len(expr) else []
    for tokens, consts in raw:
        try:
            cand = Expression(tokens, consts, names)
            if allowed is not None:
                cand = rewrite_operators(cand, allowed)
                if cand is None:
                    continue
            cand = fold_constants(cand, operators=operators)
        except Exception:  # noqa: BLE001, S112
            continue
        candidates.append(cand)
    candidates.sort(key=lambda e: (len(e), e.complexity, e.n_constants))
    for cand in candidates:
        if len(cand) >= len(best):
            break
        if allowed is not None and any(t in _ARITY and t not in allowed for t in cand.tokens):
            continue
        if points is None:
            n_feat = max(expr.n_variables, len(names) if names else 0)
            points = _test_points(n_feat, X)
        if cand.n_variables > max(points.shape[1], expr.n_variables):
            continue
        if _same_function(expr, cand, points):
            best = cand
            break
    return best

