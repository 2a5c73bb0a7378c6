"""Backward elimination of terms: formulas with the parts the data do not need removed.

A fitted formula often carries terms that cancel or nearly cancel on the data:
a symbolic network's read-off has skip terms such as ``-0.04*x + 0.12*sin(0.34*x)``
beside the law (they almost cancel on [0, 1]), and a search on noisy data keeps
a tiny offset because it lowers the loss a little. Neither is negligible on its
own, so a tolerance on each term's size cannot find them; removing the term and
refitting the rest can.

:func:`drop_terms` does that greedily. Every operand of every sum or difference
is a candidate for removal (so the terms inside a unary function's argument
are, too); all the variants of a round are refitted in one batched
:func:`~symreg.constants.fit_constants` call, and the best acceptable one
becomes the next round's formula. A removal is acceptable when the refitted
loss stays within the BIC allowance for the ``k`` constants it removes, a factor
``exp(k·ln(n)/n)`` on ``n`` points, or reaches round-off. On noiseless data a
removed term that the law needs raises the loss by orders of magnitude; on
noisy data a spurious term lowers it by about ``t²/n``, ``t`` being its
coefficient over its standard error. The BIC drops a spurious term unless
``t² > ln n`` (|t| > 2.6 on 1,000 points); the AIC's ``t² > 2`` would keep one
in six of them, and finding the law, not the best predictor, is the aim.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from .constants import fit_constants
from .expression import Expression
from .pareto import exact_floor
from .simplify import fold_constants
from .tree import expression_to_tree, tree_to_expression

__all__ = ["drop_terms", "term_deletions"]


def _deletions(node) -> list:
    """Every tree made from ``node`` by removing one operand of one add/sub node."""
    if not isinstance(node, tuple):
        return []
    op = node[0]
    out = []
    if op in ("add", "sub"):
        left, right = node[1], node[2]
        out.append(left)
        out.append(right if op == "add" else ("neg", right))
    for i, child in enumerate(node[1:], start=1):
        for variant in _deletions(child):
            out.append(node[:i] + (variant,) + node[i + 1:])
    return out


def term_deletions(expr: Expression, operators: Sequence[str] | None = None) -> list[Expression]:
    """The distinct formulas that ``expr`` becomes when one operand of one of its
    sums or differences is removed (constants folded; ``expr``'s names kept)."""
    seen = {expr.tokens}
    out = []
    for tree in _deletions(expression_to_tree(expr)):
        if not isinstance(tree, tuple) and not isinstance(tree, str):
            continue  # a bare constant is not a formula worth fitting
        try:
            e = fold_constants(tree_to_expression(tree, expr.variable_names),
                               operators=operators)
        except (ValueError, OverflowError, ZeroDivisionError):
            continue
        if e.tokens not in seen and e.n_variables > 0:
            seen.add(e.tokens)
            out.append(e)
    return out


def drop_terms(exprs: Sequence[Expression], losses: Sequence[float], X, y, *,
               sample_weight=None, rounds: int = 4, floor: float | None = None,
               operators: Sequence[str] | None = None, max_points: int | None = 1000,
               n_restarts: int = 1, max_iter: int = 30, device=None, seed: int = 0,
               deadline: float | None = None) -> list[tuple[Expression, float]]:
    """The formulas of ``exprs`` with the terms the data do not need removed.

    Parameters
    ----------
    exprs, losses : sequences of the same length
        Fitted formulas and their MSE on ``(X, y)`` (weighted like the refit).
    X, y : array-like
    rounds : int
        Removals at most per formula (one per round).
    floor : float, optional
        A loss at or below this is a fit to round-off and always acceptable;
        default :func:`~symreg.pareto.exact_floor` of ``y`` (``1e-16 * var(y)``).
    operators : sequence of str, optional
        The operators the constant folder may write.
    max_points, n_restarts, max_iter, device, seed
        Passed to :func:`~symreg.constants.fit_constants`.
    deadline : float, optional
        A ``time.perf_counter()`` value: no round starts after it.

    Returns
    -------
    list of (Expression, float)
        One per formula of ``exprs``, in order: the reduced formula and its loss,
        or the given formula and loss (the same objects) when no term could go.
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n = max(int(y.shape[0]), 1)
    if floor is None:
        # the search's exactness (a constant y counts as variance 1)
        floor = exact_floor(y)
    given = [(e, float(l)) for e, l in zip(exprs, losses)]
    current = dict(enumerate(given))
    active = {i for i, (_, l) in current.items() if math.isfinite(l)}
    for _ in range(rounds):
        if not active or (deadline is not None and time.perf_counter() > deadline):
            break
        variants: list[Expression] = []
        owner: list[int] = []
        for i in sorted(active):
            for v in term_deletions(current[i][0], operators):
                variants.append(v)
                owner.append(i)
        if not variants:
            break
        with np.errstate(all="ignore"):
            fitted, fit_losses = fit_constants(variants, X, y, sample_weight,
                                               n_restarts=n_restarts, max_iter=max_iter,
                                               max_points=max_points, device=device,
                                               seed=seed, deadline=deadline)
        best: dict[int, tuple[Expression, float]] = {}
        for i, e, loss in zip(owner, fitted, np.asarray(fit_losses, dtype=np.float64).tolist()):
            base_expr, base_loss = current[i]
            removed = max(base_expr.n_constants - e.n_constants, 0)
            bound = max(base_loss * math.exp(removed * math.log(n) / n), floor)
            if not (math.isfinite(loss) and loss <= bound):
                continue
            # the smallest acceptable loss wins (round-off counts as equal), then
            # the shorter formula
            rank = (max(loss, floor), e.complexity)
            if i not in best or rank < (max(best[i][1], floor), best[i][0].complexity):
                best[i] = (e, loss)
        active = set(best)
        for i, (e, loss) in best.items():
            try:
                e = fold_constants(e, operators=operators)
            except (ValueError, OverflowError, ZeroDivisionError):
                pass
            current[i] = (e, loss)
    return [current[i] for i in range(len(given))]
