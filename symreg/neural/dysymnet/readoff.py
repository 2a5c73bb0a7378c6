"""From trained networks to formulas: sparse output refits, domain repair, clean-up.

:func:`_best_subsets` refits a network's output layer on its few best units,
:func:`_repair_domains` makes roots and logs defined on the data, and
:func:`_without_negligible` drops the parts of a fitted formula the data do not need.
"""

from __future__ import annotations

import numpy as np

from ...expression import Expression
from ...operators import OPERATORS
from ...pareto import ROUNDOFF_RTOL, exact_floor
from ...tree import expression_to_tree
from .model import BatchedSymbolicNetwork


def _read_off_or_none(net: BatchedSymbolicNetwork, k: int, **kwargs):
    """:meth:`BatchedSymbolicNetwork.read_off`, or None where its numbers overflow."""
    try:
        return net.read_off(k, **kwargs)
    except (ValueError, OverflowError, ZeroDivisionError, RecursionError):
        return None


def _best_subsets(H: np.ndarray, y: np.ndarray, max_size: int, pool: int
                  ) -> list[tuple[np.ndarray, float]]:
    """For each size 1..``max_size``, the linear model ``y ≈ H[:, S] w + b`` with
    the subset ``S`` of columns that fits best (exhaustive least squares).

    A trained network's output layer mixes the law's units with others that
    make up the small remainder on a few points; the sparse fit finds the few
    units that carry ``y``. Only the ``pool`` columns most correlated with ``y``
    take part (non-constant and finite ones). Returns ``(weights [D], bias)``
    per size, stopping at the first exact fit; empty if no column qualifies.
    """
    from itertools import combinations

    if max_size <= 0 or H.size == 0:
        return []
    n, D = H.shape
    with np.errstate(all="ignore"):
        finite = np.isfinite(H).all(axis=0)
        Hc = H - H.mean(axis=0)
        sd = np.sqrt((Hc * Hc).mean(axis=0))
        # "constant" relative to the finite columns' scale: one overflowing unit
        # must not make every other column look constant
        scale = max(1.0, float(np.abs(H[:, finite]).max(initial=0.0)))
        ok = finite & (sd > 1e-9 * scale)
        yc = y - y.mean()
        corr = np.where(ok, np.abs(Hc.T @ yc) / (n * np.where(ok, sd, 1.0)), -1.0)
    cols = [int(c) for c in np.argsort(-corr)[:pool] if ok[c]]
    out: list[tuple[np.ndarray, float]] = []
    floor = exact_floor(y, rtol=ROUNDOFF_RTOL)   # 1e-20 × var(y): an exact least-squares fit
    for size in range(1, min(max_size, len(cols), n - 1) + 1):
        subsets = np.array(list(combinations(cols, size)))           # [C, size]
        A = np.concatenate([H[:, subsets].transpose(1, 0, 2),        # [C, n, size+1]
                            np.ones((len(subsets), n, 1))], axis=2)
        with np.errstate(all="ignore"):
            AtA = A.transpose(0, 2, 1) @ A + 1e-12 * np.eye(size + 1)
            Aty = A.transpose(0, 2, 1) @ y
            try:
                w = np.linalg.solve(AtA, Aty[..., None])[..., 0]     # [C, size+1]
            except np.linalg.LinAlgError:
                continue
            sse = (((A @ w[..., None])[..., 0] - y) ** 2).mean(axis=1)
        sse = np.where(np.isfinite(sse), sse, np.inf)
        best = int(np.argmin(sse))
        if not np.isfinite(sse[best]):
            continue
        weights = np.zeros(D)
        weights[subsets[best]] = w[best, :size]
        out.append((weights, float(w[best, size])))
        if sse[best] <= floor:
            break
    return out


# operators defined for a positive argument only; training used them on |z|
_POSITIVE_DOMAIN = frozenset({"sqrt", "log"})


def _repair_domains(tree, X: np.ndarray):
    """``tree`` with every root and log made defined on ``X`` where it can be.

    Training applies ``sqrt`` and ``log`` to ``|z|``, so a net may learn
    ``sqrt(-0.4 x)`` on positive ``x``, or ``sqrt(1.3 x - 0.2)`` whose argument
    dips below 0 at the smallest ``x``. Read off with the plain operator, such a
    formula is undefined there, its loss is inf and the refit cannot start from
    it. An argument negative on every row is negated (what ``|z|`` computed); one
    negative on some rows gets its bias raised until it is positive on all of
    them (a nearby start from which the refit can move). Subtrees the numpy forms
    cannot evaluate are left as they are.
    """
    try:
        with np.errstate(all="ignore"):
            return _repair(tree, X)[1]
    except (ValueError, IndexError, KeyError, TypeError):
        return tree


def _repair(node, X: np.ndarray):
    """(values on ``X``, repaired tree) of ``node``, bottom-up (see
    :func:`_repair_domains`). A module function, not a closure calling itself:
    that would be a reference cycle keeping ``X`` alive after the call."""
    if isinstance(node, float):
        return np.full(X.shape[0], node), node
    if isinstance(node, str):
        return X[:, int(node[1:])].astype(np.float64), node
    op = node[0]
    parts = [_repair(child, X) for child in node[1:]]
    vals = [v for v, _ in parts]
    kids = [t for _, t in parts]
    if op in _POSITIVE_DOMAIN and np.isfinite(vals[0]).all():
        arg = vals[0]
        lo, hi = float(arg.min()), float(arg.max())
        if hi < 0:
            kids[0], vals[0] = ("neg", kids[0]), -arg
        elif lo <= 0:
            # a margin of a hundredth of the argument's range keeps log finite
            shift = 0.01 * (hi - lo) - lo
            kids[0], vals[0] = ("add", kids[0], float(shift)), arg + shift
    value = OPERATORS[op].numpy_fn(*vals)
    return value, (op, *kids)


def _without_negligible(expr: Expression, X: np.ndarray, tol: float):
    """``expr``'s tree with the parts that do not matter on ``X`` removed, or None.

    Bottom-up over the tree (evaluated with the numpy forms): an operand of a sum
    whose RMS is at most ``tol`` times the sum's is dropped, and a subtree that
    holds a variable but is constant on ``X`` to ``tol`` (relative) becomes that
    constant. Returns None when nothing changed or a value is not finite.
    """
    changed = [False]
    try:
        with np.errstate(all="ignore"):
            _, tree, _ = _drop_negligible(expression_to_tree(expr), X, tol, changed)
    except (FloatingPointError, ValueError, IndexError):
        return None
    return tree if changed[0] else None


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(v * v)))


def _drop_negligible(node, X: np.ndarray, tol: float, changed: list[bool]):
    """(values on ``X``, tree, holds a variable) of ``node`` with its negligible
    parts removed (see :func:`_without_negligible`); ``changed[0]`` is set when
    something was. A module function, not a closure calling itself: that would
    be a reference cycle keeping ``X`` alive after the call."""
    n = X.shape[0]
    if isinstance(node, float):
        return np.full(n, node), node, False
    if isinstance(node, str):
        return X[:, int(node[1:])].astype(np.float64), node, True
    op = node[0]
    parts = [_drop_negligible(child, X, tol, changed) for child in node[1:]]
    vals = [p[0] for p in parts]
    kids = [p[1] for p in parts]
    has_var = any(p[2] for p in parts)
    value = OPERATORS[op].numpy_fn(*vals)
    if not np.all(np.isfinite(value)):
        raise FloatingPointError
    if op in ("add", "sub") and has_var:
        scale = max(_rms(value), 1e-300)
        if _rms(vals[1]) <= tol * scale:
            changed[0] = True
            return vals[0], kids[0], parts[0][2]
        if _rms(vals[0]) <= tol * scale:
            changed[0] = True
            if op == "add":
                return vals[1], kids[1], parts[1][2]
            return -vals[1], ("neg", kids[1]), parts[1][2]
    if has_var:
        mean = float(np.mean(value))
        if float(np.max(np.abs(value - mean))) <= tol * max(abs(mean), 1e-300):
            changed[0] = True
            return np.full(n, mean), mean, False
    return value, (op, *kids), has_var
