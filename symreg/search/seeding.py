"""The search's first phases: seeds and cheap structure, then exhaustive enumeration.

In a pool of local workers the lead fits the seeds and the first stage; the
screened stages and the enumeration go to whichever worker claims each first
(:meth:`SeedPhases._claim`), and before each stage a worker takes the others'
fronts, so a law found by one stops all. The lead then hands its hall of fame and
population over (:meth:`SeedPhases._hand_over`); a follower takes them in
whenever they come (:meth:`SeedPhases._take_start`).

A mixin of :class:`symreg.search.engine._Search` (it uses the search's data, hall
of fame, budget and helpers). The structure tests come from the registry
(:mod:`symreg.search.structure`) and run stage by stage: the first stage is fitted
whole, each later stage is screened by its loss as it stands and only its best
few are refitted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from ..expression import Expression
from .enumerate import enumerate_expressions
from .structure import stages
from .structure.library import unique
from .tuning import (
    ENUMERATION_EVALS_PARTS,
    ENUMERATION_FITS_FACTOR,
    ENUMERATION_MAX_SIZE,
    ENUMERATION_MIN_CANDIDATES,
    ENUMERATION_MIN_UNDER_EVALS,
    ENUMERATION_PROBES,
    ENUMERATION_RATE,
    FIT_RESTARTS,
    SCREEN_DECIMALS,
    SCREEN_FLOOR,
    SEED_BUDGET_PARTS,
    SEED_MAX_ITER,
    SEED_RESTARTS,
)

#: the lead hands over at most this many population members per population_size
HANDOVER_POPULATION_FACTOR = 4

__all__: list[str] = []


class SeedPhases:
    """The seeds-and-structure phase and the enumeration phase of a search."""

    def _seed_phase(self, seeds: Sequence[Expression]) -> None:
        d = self.X.shape[1]
        given = [s.with_names(None) for s in seeds if s.n_variables <= d]
        self.seed_exprs = list(given)  # they enter the tree's pool too
        tests = stages(self.structure_tests)
        first = tests.pop(0) if tests and not tests[0][0].screen else []
        if self.cfg.role == "follow":
            # the lead has fitted the first stage and the seeds: they come with its
            # hand-over; the follower takes the screened stages the lead has not
            first, given = [], []
            self.population.extend(self.seed_exprs)
            self.awaiting_start = True
            self._take_start()
        cands = self._structure_candidates(first, seed=0)
        cands = [c for c in cands if c.n_variables <= d]
        if first:
            self._fit_into_hof(cands, n_restarts=first[0].n_restarts, max_iter=first[0].max_iter)
        self.population.extend(c for c in cands if c.complexity <= self.cfg.maxsize)
        if given and not self._exact():
            # the seeds after the cheap structure: a proposer's many-constant
            # candidates are slow to fit, so they get at most a third of the budget
            # and are skipped when the structure is already exact
            self._fit_into_hof(given, n_restarts=SEED_RESTARTS, max_iter=SEED_MAX_ITER,
                               deadline=self.budget.start
                               + self.cfg.time_budget / SEED_BUDGET_PARTS)
            self.population.extend(c for c in given if c.complexity <= self.cfg.maxsize)
        self._progress("seeds")
        if not tests or self._exact() or self.budget.exhausted(self._reserve()):
            return
        # the screened stages (models of 1/y, y², log|y| and ratios P/Q, then the
        # same after dividing out a power law, then sums with sines and cosines):
        # their constants come from the linearised fits, so scoring them as they
        # are is a fair screen; only the best few are refitted
        seed = int(self.rng.integers(1 << 31))
        for k, stage in enumerate(tests):
            if self._shared_exact() or self.budget.exhausted(self._reserve()):
                return
            if not self._claim(f"stage-{k}"):
                continue   # another worker of the pool runs this stage
            more = [c for c in self._structure_candidates(stage, seed) if c.n_variables <= d]
            if not more:
                continue
            nmse = self._score(more)
            # equally good (to a tenth of a decade, or both at round-off): the
            # smaller first, as one with spare round-off terms may not fit maxsize
            sizes = np.fromiter((c.complexity for c in more), dtype=np.float64, count=len(more))
            with np.errstate(divide="ignore", invalid="ignore"):
                level = np.round(np.log10(np.maximum(nmse, SCREEN_FLOOR)), SCREEN_DECIMALS)
            order = np.lexsort((sizes, np.where(np.isfinite(level), level, np.inf)))
            order = order[:stage[0].keep]
            self._fit_into_hof([more[i] for i in order if np.isfinite(nmse[i])],
                               n_restarts=stage[0].n_restarts, max_iter=stage[0].max_iter)
            self.population.extend(c for c in more if c.complexity <= self.cfg.maxsize)

    def _structure_candidates(self, stage, seed: int) -> list[Expression]:
        """The candidates of one stage's structure tests, in order (an unscreened
        stage's without repeats)."""
        out: list[Expression] = []
        for test in stage:
            if test.applies(self.X, self.y, self.cfg.operators):
                out += test.candidates(self.X, self.y, self.cfg.operators, seed)
        return out if not stage or stage[0].screen else unique(out)

    def _enumeration_phase(self) -> None:
        # sized from the configured budget, not the clock, so that a search bounded
        # by max_evals is reproducible
        seconds = self.cfg.enumeration_fraction * self.cfg.time_budget
        budget = int(min(self.cfg.enumeration_max_candidates,
                         max(ENUMERATION_MIN_CANDIDATES, ENUMERATION_RATE * seconds)))
        if self.cfg.max_evals is not None:
            budget = min(budget, max(ENUMERATION_MIN_UNDER_EVALS,
                                     self.cfg.max_evals // ENUMERATION_EVALS_PARTS))
        result = enumerate_expressions(self.Xs, self.ys, self.cfg.operators,
                                       max_size=min(self.cfg.maxsize, ENUMERATION_MAX_SIZE),
                                       max_candidates=budget, n_probe=ENUMERATION_PROBES,
                                       seed=int(self.rng.integers(1 << 31)))
        self.budget.evals += sum(result.counts.values())
        exprs = result.expressions + [p for p in result.pairs if p.complexity <= self.cfg.maxsize]
        nmse = self._score(exprs)
        order = np.argsort(nmse, kind="stable")
        n_best = ENUMERATION_FITS_FACTOR * self.cfg.max_fits_per_generation
        best = [exprs[i] for i in order[:n_best] if np.isfinite(nmse[i])]
        self._fit_into_hof(best, n_restarts=FIT_RESTARTS)
        self.population.extend(exprs)


    # -- a pool's shared beginning ----------------------------------------------
    def _hand_over(self) -> None:
        """The lead's state after the cheap phases, for the followers (whatever
        goes wrong, the lead goes on)."""
        front = self._front_items(self.hof.candidates())
        pop = self.population[:HANDOVER_POPULATION_FACTOR * self.cfg.population_size]
        start = {"front": front,
                 "population": [(list(e.tokens), e.constants.tolist()) for e in pop]}
        # a broken channel never stops the lead: the followers then evolve on their own
        with contextlib.suppress(Exception):
            self.cfg.exchange.hand_over(start)

    def _claim(self, name: str) -> bool:
        """Whether this worker runs the piece of cheap work ``name``: always alone;
        in a pool, the first worker to claim it (a broken channel: do it)."""
        if self.cfg.role == "full" or self.cfg.exchange is None:
            return True
        try:
            return bool(self.cfg.exchange.claim(name))
        except Exception:  # noqa: BLE001 - doing the work twice beats not doing it
            return True

    def _shared_exact(self) -> bool:
        """Whether the hall of fame is exact, in a pool after taking the others'
        fronts (a stage another worker ran may have found the law)."""
        if self.cfg.role != "full" and self.cfg.exchange is not None:
            if self.awaiting_start:
                self._take_start()
            self._exchange()
        return self._exact()

    def _take_start(self) -> bool:
        """Take the lead's hand-over into the hall of fame (same data, so the losses
        stand) and the population, if it has come; whether it had."""
        try:
            start = self.cfg.exchange.wait_for_start(0.0)
        except Exception:  # noqa: BLE001 - a broken channel never stops a worker
            start = None
        if start is None:
            return False
        self.awaiting_start = False
        exprs, losses = self._received(start.get("front", ()), with_loss=True)
        self.hof.update(exprs, np.asarray(losses, dtype=np.float64))
        population, _ = self._received(start.get("population", ()), with_loss=False)
        self.n_received += len(exprs) + len(population)
        self.population.extend(population)
        if self.pop_keys or len(self.pop_nmse):
            # evolving already: the newcomers are scored and join the ranks
            self.pop_keys += [self._key(e) for e in population]
            self.pop_nmse = np.concatenate([self.pop_nmse, self._score(population)])
        return True
