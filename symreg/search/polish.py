"""The search's last phase: polish the Pareto front.

A mixin of :class:`symreg.search.engine._Search`. Within the reserve kept back
for it: drop the terms the data do not need (:func:`symreg.reduce.drop_terms`),
snap constants to nice values where the loss holds, then simplify with sympy
the most accurate formulas first.
"""

from __future__ import annotations

import time

from ..constants import fit_constants
from ..reduce import drop_terms
from ..simplify import fold_constants, simplify, snap_constants
from .tuning import (
    DROP_CANDIDATES,
    DROP_RESERVE_SHARE,
    DROP_ROUNDS,
    DROP_WITHIN,
    POLISH_MARGIN,
    SIMPLIFY_MIN_LENGTH,
    SIMPLIFY_MIN_SECONDS,
    SIMPLIFY_SHARE,
    SIMPLIFY_TIMEOUT,
)

__all__: list[str] = []


class Polish:
    """The polish phase of a search."""

    def _polish_phase(self) -> None:
        end = self.budget.start + self.cfg.time_budget
        # also when exact: a formula can be exact with a term that is zero on the
        # data (x/(x + exp(-46·u)) - 1 beside the law)
        self._drop_terms(end)
        # snapping is cheap and decides exactness: it goes first
        for cand in self.hof.front():
            if time.perf_counter() > end - POLISH_MARGIN:
                return
            # (the mean alone stays as it is: √2 is no better a mean than 1.41547)
            if cand.expr.n_constants and cand.expr.n_variables:
                snapped, loss = snap_constants(cand.expr, self.X, self.y, cand.loss,
                                               sample_weight=self.w, device=self.cfg.device)
                if snapped is not cand.expr:
                    snapped = fold_constants(snapped)
                    if snapped.complexity == cand.complexity:
                        self.hof.replace(snapped, loss)   # within the allowance
                    else:
                        self.hof.update([snapped], [loss])
        # sympy is slow: it gets what is left, at most 10 % of the budget, the
        # most accurate formulas (the likely choices) first
        front = sorted((c for c in self.hof.front() if len(c.expr) > SIMPLIFY_MIN_LENGTH),
                       key=lambda c: c.loss)
        deadline = min(end, time.perf_counter()
                       + max(SIMPLIFY_MIN_SECONDS, SIMPLIFY_SHARE * self.cfg.time_budget))
        simplified = []
        for cand in front:
            left = deadline - time.perf_counter()
            if left < POLISH_MARGIN:
                break
            s = simplify(cand.expr, timeout=min(SIMPLIFY_TIMEOUT, left), X=self.Xs,
                         operators=self.cfg.operators)
            if s.tokens != cand.expr.tokens:
                simplified.append(s)
        if simplified:
            fitted, losses = fit_constants(simplified, self.X, self.y, self.w, n_restarts=0,
                                           device=self.cfg.device)
            self.hof.update(fitted, losses)

    def _drop_terms(self, end: float) -> None:
        """The most accurate formulas without the terms the data do not need.

        Every fitted formula carries the offset of linear scaling, and on noisy
        data its value stays a little off zero (``0.159·x₁x₂ + 0.0009``), as do
        small spurious terms: each lowers the loss by about the noise's share. The
        formula without them (then snapped) is often the law. Backward
        elimination (:func:`symreg.reduce.drop_terms`) tries that on the four
        simplest front members within 1.5 times the best loss, within half of
        the polish reserve. When a formula is exact these are the exact ones,
        and what goes is a term that is zero on the data (``x/(x + e^(−46u)) − 1``).
        """
        front = self.hof.front()
        if not front:
            return
        # the candidates of model selection (within 1.5 x the best loss), simplest
        # first: the law with a stray term sits just above it, not among the
        # many-term fits that are a hair more accurate
        best = min(self.hof.effective(c.loss) for c in front)
        cands = sorted((c for c in front if self.hof.effective(c.loss) <= DROP_WITHIN * best),
                       key=lambda c: c.complexity)[:DROP_CANDIDATES]
        deadline = min(end - POLISH_MARGIN,
                       time.perf_counter() + DROP_RESERVE_SHARE * self._reserve())
        reduced = drop_terms([c.expr for c in cands], [c.loss for c in cands], self.X, self.y,
                             sample_weight=self.w, rounds=DROP_ROUNDS, floor=self.hof.loss_floor,
                             operators=self.cfg.operators, device=self.cfg.device,
                             seed=int(self.rng.integers(1 << 31)), deadline=deadline)
        new = [(e, loss) for (e, loss), c in zip(reduced, cands) if e is not c.expr]
        if new:
            self.hof.update([e for e, _ in new], [loss for _, loss in new])

