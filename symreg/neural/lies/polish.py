"""Polish of read-off formulas: exponents rounded, zero terms dropped, operators allowed.

:func:`snap_exponents` rounds near-integer and half-integer constant exponents when
the refitted loss holds; :func:`_tidy` removes terms whose factor is exactly 0 and
takes constants out of exponentials; :func:`_allowed_ok` rewrites a formula with
the operators a search allows, or rejects it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...constants import fit_constants
from ...evaluate import evaluate_batch
from ...expression import Expression
from ...pareto import ROUNDOFF_RTOL, exact_floor
from ...tree import expression_to_tree, integer_power, tree_to_expression

__all__ = ["snap_exponents"]


# ----------------------------------------------------------------------------
# exponents
# ----------------------------------------------------------------------------

def _nice_exponent(e: float, tol: float = 0.12) -> float | None:
    """The nearest integer or half-integer to ``e`` within ``tol`` (integers first)."""
    if not math.isfinite(e) or abs(e) > 8:
        return None
    r = round(e)
    if abs(e - r) <= tol:
        return float(r)
    h = round(2 * e) / 2
    if abs(e - h) <= tol / 2:
        return float(h)
    return None


def _structural_power(g, e: float):
    """``g ** e`` for an integer or half-integer ``e`` without a constant exponent."""
    if e == 0:
        return 1.0
    m = abs(e)
    if m != int(m):
        node = ("sqrt", integer_power(g, round(2 * m)))
    else:
        node = integer_power(g, int(m))
    return ("inv", node) if e < 0 else node


def _pow_sites(tree, path=()) -> list[tuple[tuple, object, float]]:
    """(path, base, exponent) of every ``pow(g, constant)`` node."""
    if not isinstance(tree, tuple):
        return []
    out = []
    if tree[0] == "pow" and type(tree[2]) is float:
        out.append((path, tree[1], tree[2]))
    for i, child in enumerate(tree[1:], start=1):
        out.extend(_pow_sites(child, path + (i,)))
    return out


def _replace(tree, path: tuple, new):
    if not path:
        return new
    i = path[0]
    return tree[:i] + (_replace(tree[i], path[1:], new),) + tree[i + 1:]


def snap_exponents(expr: Expression, X: np.ndarray, y: np.ndarray, loss: float, *,
                   seed: int = 0) -> tuple[Expression, float]:
    """Round near-integer and half-integer constant exponents when the fit holds.

    Every ``pow(g, c)`` whose ``c`` is within 0.12 of an integer (0.06 of a half)
    is written as that power without a constant (``square``, ``sqrt``, ``inv``,
    ...), and the remaining constants are refitted. All exponents at once are tried
    first, then each alone and the passing ones together. A version with ``k``
    rounded exponents is kept when its loss is at most ``exp(2k/n)`` times ``loss``
    (the AIC allowance) or at the round-off floor.
    """
    from ...simplify import fold_constants

    tree = expression_to_tree(expr)
    sites = [(p, g, _nice_exponent(e)) for p, g, e in _pow_sites(tree)]
    sites = [(p, g, v) for p, g, v in sites if v is not None]
    if not sites or not math.isfinite(loss):
        return expr, loss
    n = max(len(y), 1)
    floor = exact_floor(y, rtol=ROUNDOFF_RTOL, centred=False)   # round-off of a fit

    def ok(value: float, k: int) -> bool:
        return math.isfinite(value) and value <= max(loss * math.exp(2.0 * k / n), floor)

    def variant(chosen) -> Expression:
        t = tree
        # deepest paths first so that earlier replacements do not move later ones
        for p, g, v in sorted(chosen, key=lambda s: -len(s[0])):
            t = _replace(t, p, _structural_power(g, v))
        return fold_constants(tree_to_expression(t, expr.variable_names))

    def fit(variants: list[Expression]) -> tuple[list[Expression], np.ndarray]:
        with_c = [i for i, v in enumerate(variants) if v.n_constants]
        out = list(variants)
        losses = np.array(evaluate_batch(variants, X, y, dtype=torch.float64, device="cpu"))
        if with_c:
            fitted, fl = fit_constants([variants[i] for i in with_c], X, y, n_restarts=1,
                                       max_iter=60, seed=seed)
            for i, f, lo in zip(with_c, fitted, fl.tolist()):
                if lo < losses[i] or not math.isfinite(losses[i]):
                    out[i], losses[i] = f, lo
        return out, losses

    try:
        singles = [[s] for s in sites] if len(sites) > 1 else []
        cands, losses = fit([variant(sites)] + [variant(s) for s in singles])
        if ok(losses[0], len(sites)):
            return cands[0], float(losses[0])
        passing = [s[0] for s, lo in zip(singles, losses[1:]) if ok(lo, 1)]
        if not passing:
            return expr, loss
        if len(passing) == 1:
            i = singles.index([passing[0]]) + 1
            return cands[i], float(losses[i])
        both, bl = fit([variant(passing)])
        if ok(bl[0], len(passing)):
            return both[0], float(bl[0])
        i = 1 + int(np.argmin(losses[1:]))
        return cands[i], float(losses[i])
    except Exception:  # noqa: BLE001 - never lose the unsnapped candidate
        return expr, loss


def _tidy(expr: Expression) -> Expression:
    """``expr`` without terms whose factor is exactly 0 (``0*g`` -> 0, ``g + 0`` -> g)
    and with constants taken out of exponentials (``exp(g + c)`` -> ``e^c·exp(g)``).

    :func:`~symreg.simplify.fold_constants` keeps ``0*g`` because it changes
    the domain; here ``expr`` is known to be finite on the data, and a snapped
    weight of 0 means the term does not belong to the formula. The constant inside
    an exponential duplicates the factor in front, which the fold then merges.
    """
    from ...simplify import fold_constants

    def walk(node):
        if not isinstance(node, tuple):
            return node
        args = tuple(walk(a) for a in node[1:])
        op = node[0]
        if op == "mul" and (args[0] == 0.0 or args[1] == 0.0):
            return 0.0
        if op == "div" and args[0] == 0.0:
            return 0.0
        if op in ("add", "sub") and args[1] == 0.0:
            return args[0]
        if op == "add" and args[0] == 0.0:
            return args[1]
        if op == "sub" and args[0] == 0.0:
            return ("neg", args[1])
        if (op == "exp" and isinstance(args[0], tuple) and args[0][0] == "add"
                and type(args[0][2]) is float and abs(args[0][2]) < 700):
            return ("mul", math.exp(args[0][2]), ("exp", args[0][1]))
        return (op,) + args

    try:
        tree = walk(expression_to_tree(expr))
        return fold_constants(tree_to_expression(tree if isinstance(tree, (tuple, str))
                                                 else float(tree), expr.variable_names))
    except Exception:  # noqa: BLE001
        return expr


def _allowed_ok(expr: Expression, allowed: frozenset[str] | None) -> Expression | None:
    """``expr`` written with the allowed operators (``pow`` as ``exp(c·log g)``
    when needed), or None."""
    if allowed is None:
        return expr
    from ...simplify import rewrite_operators

    if "pow" in expr.tokens and "pow" not in allowed:
        def walk(node):
            if not isinstance(node, tuple):
                return node
            args = tuple(walk(a) for a in node[1:])
            if node[0] == "pow" and type(args[1]) is float and args[1] != int(args[1]):
                return ("exp", ("mul", args[1], ("log", args[0])))
            return (node[0],) + args
        expr = tree_to_expression(walk(expression_to_tree(expr)), expr.variable_names)
    out = rewrite_operators(expr, allowed)
    if out is None or any(t in _OPERATOR_NAMES and t not in allowed for t in out.tokens):
        return None
    return out


def _operator_names() -> frozenset[str]:
    from ... import operators as ops

    return frozenset(ops.OPERATORS)


_OPERATOR_NAMES = _operator_names()
