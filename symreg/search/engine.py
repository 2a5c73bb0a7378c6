"""One search worker: cheap structure, exhaustive small expressions, then
evolutionary refinement, all scored through the batch evaluator.

Phases, inside one time budget:

1. **Seeds and cheap structure** (:mod:`~symreg.search.seeding`): expressions
   handed in (proposers, user guesses) and the registered structure tests
   (:mod:`~symreg.search.structure`: power laws, sparse polynomials, sparse
   Laurent models of 1/y, y² and log|y| written back through the inverse,
   ratios P/Q, the same after dividing out a power law, sums of monomials times
   sines and cosines), stage by stage; constants fitted in batches.
2. **Exhaustive enumeration** (same module) of every small expression (pruned by
   equivalence on probe points); the best of each size, and the best
   closed-form two-term sums and products of them, scored on the data.
3. **Evolution and tree search** (:mod:`~symreg.search.evolution`,
   :mod:`~symreg.search.treesearch`): a population refined by mutations and
   crossover. Every generation is scored in one evaluator call with
   closed-form linear scaling; candidates that would improve the hall of
   fame get their constants fitted (batched Levenberg–Marquardt) before they
   enter it. Every few generations a Monte Carlo tree search over structure
   (:mod:`~symreg.search.mcts`) picks an operator menu and a few base
   subtrees, and a layered exhaustive pass (:mod:`~symreg.search.layered`)
   evaluates every expression over them; its best are fitted, offered to the
   hall of fame and bred, and their subtrees feed the tree's pool.
4. **Polish** (:mod:`~symreg.search.polish`): the Pareto front is simplified
   and its constants snapped to nice values where the loss holds.

The fixed thresholds of all phases are named in :mod:`~symreg.search.tuning`.
Ctrl-C at any point ends the current phase and returns the best so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..constants import fit_constants
from ..evaluate import evaluate_batch
from ..expression import CONST, Expression
from ..pareto import EXACT_NMSE, HallOfFame
from ..simplify import fold_constants
from .evolution import Evolution
from .exchange import Exchange
from .mcts import StructureMCTS, StructurePrior
from .mutations import MutationContext
from .polish import Polish
from .seeding import SeedPhases
from .structure import get_structure_tests
from .treesearch import TreeSearch
from .tuning import (
    FIT_MAX_ITER,
    FIT_RESTARTS,
    POLISH_RESERVE_SECONDS,
    POLISH_RESERVE_SHARE,
    TUNE_ROWS,
)

__all__ = ["SearchConfig", "SearchProgress", "SearchResult", "search"]


@dataclass
class SearchConfig:
    """Settings of one search (see :class:`symreg.SymbolicRegressor`)."""

    operators: tuple[str, ...]
    maxsize: int = 30
    time_budget: float = 60.0
    max_evals: int | None = None
    seed: int = 0
    device: str | torch.device = "cpu"
    population_size: int = 600
    n_offspring: int = 600
    tournament_size: int = 5
    parsimony: float = 0.02
    max_fits_per_generation: int = 8
    tune_constants: bool = True
    max_tuned_per_generation: int = 64
    enumeration_fraction: float = 0.25
    enumeration_max_candidates: int = 3_000_000
    search_rows: int = 1024
    exact_nmse: float = EXACT_NMSE
    polish: bool = True
    # MCTS over structure + layered evaluation, interleaved with evolution:
    # every `mcts_every` generations, `mcts_simulations` layered passes
    mcts: bool = True
    mcts_every: int = 2
    mcts_simulations: int = 2
    structure_prior: StructurePrior | None = None
    # the cheap structure tests to run, by name (None: all; see
    # symreg.search.structure.list_structure_tests)
    structure_tests: tuple[str, ...] | None = None
    # hall-of-fame exchange between workers (set by the worker pool): every
    # `exchange_every` generations this worker swaps fronts through `exchange`
    exchange: Exchange | None = None
    worker: int = 0
    exchange_every: int = 5
    # in a pool of local workers (see .pool): "lead" fits the seeds and the first
    # structure stage and hands its state over through `exchange`; "follow" takes
    # that in; both share the other cheap stages by claims; "full" (alone) runs
    # every phase
    role: str = "full"


@dataclass
class SearchProgress:
    elapsed: float
    n_evals: int
    evals_per_second: float
    best_loss: float
    front_size: int
    phase: str
    #: the current Pareto front as (complexity, loss, expression), simplest first; the
    #: expressions name their variables x0, x1, ... (the display applies the names)
    front: list[tuple[int, float, Expression]] | None = None


@dataclass
class SearchResult:
    hall_of_fame: HallOfFame
    n_evals: int
    elapsed: float
    interrupted: bool = False
    stopped_early: bool = False
    phases: dict[str, float] = field(default_factory=dict)
    #: formulas received from other workers through the exchange
    n_received: int = 0


class _Budget:
    def __init__(self, seconds: float, max_evals: int | None):
        self.start = time.perf_counter()
        self.seconds = seconds
        self.max_evals = max_evals
        self.evals = 0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.seconds - self.elapsed

    def exhausted(self, reserve: float = 0.0) -> bool:
        if self.max_evals is not None and self.evals >= self.max_evals:
            return True
        return self.left() <= reserve


def search(X: np.ndarray, y: np.ndarray, config: SearchConfig,
           sample_weight: np.ndarray | None = None, seeds: Sequence[Expression] = (),
           callback: Callable[[SearchProgress], None] | None = None
           ) -> SearchResult:
    """Run one search worker and return its hall of fame."""
    return _Search(X, y, config, sample_weight, callback).run(seeds)


class _Search(SeedPhases, Evolution, TreeSearch, Polish):
    """One search worker: its state, shared helpers and the phase sequence; the
    phases themselves are the mixins (:mod:`.seeding`, :mod:`.evolution`,
    :mod:`.treesearch`, :mod:`.polish`)."""

    def __init__(self, X, y, config: SearchConfig, sample_weight, callback):
        self.cfg = config
        self.X = np.asarray(X, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.callback = callback
        self.rng = np.random.default_rng(config.seed)
        wts = np.ones_like(self.y) if self.w is None else self.w
        mean = np.average(self.y, weights=wts)
        var = float(np.average((self.y - mean) ** 2, weights=wts))
        self.var_y = var or 1.0
        self.hof = HallOfFame(config.maxsize, loss_floor=config.exact_nmse * self.var_y)
        # the mean heads the front, as in PySR: model selection scores the
        # simplest formula by how much it improves on the mean (its loss is var)
        self.hof.update([Expression([CONST], [float(mean)])], [var])
        self.ctx = MutationContext(self.X.shape[1], tuple(config.operators), config.maxsize)
        n = self.X.shape[0]
        if n > config.search_rows:
            rows = np.sort(self.rng.choice(n, config.search_rows, replace=False))
        else:
            rows = np.arange(n)
        self.Xs, self.ys = self.X[rows], self.y[rows]
        self.ws = None if self.w is None else self.w[rows]
        # a small random subset for the quick constant tuning of offspring (data
        # are often sorted, so not the first rows)
        self.tune_rows = np.sort(self.rng.choice(len(rows), min(len(rows), TUNE_ROWS),
                                                 replace=False))
        self.budget = _Budget(config.time_budget, config.max_evals)
        self.phases: dict[str, float] = {}
        self.population: list[Expression] = []
        self.pop_nmse = np.zeros(0)
        self.pop_keys: list[tuple] = []
        self.tree: StructureMCTS | None = None
        self.seed_exprs: list[Expression] = []
        self.n_received = 0
        # a follower whose lead has not handed over yet (see .seeding)
        self.awaiting_start = False
        # unknown names raise here, before any work
        self.structure_tests = get_structure_tests(config.structure_tests)

    # -- helpers ---------------------------------------------------------------
    def _progress(self, phase: str) -> None:
        if self.callback is None:
            return
        el = max(self.budget.elapsed, 1e-9)
        front = self.hof.front()
        self.callback(SearchProgress(el, self.budget.evals, self.budget.evals / el,
                                     self.hof.best_loss(), len(front), phase,
                                     [(c.complexity, c.loss, c.expr) for c in front]))

    def _exact(self) -> bool:
        return self.hof.best_loss() <= self.hof.loss_floor

    def _score(self, exprs: list[Expression]) -> np.ndarray:
        """Normalised MSE after linear scaling, on the search rows (float32)."""
        if not exprs:
            return np.zeros(0)
        losses = evaluate_batch(exprs, self.Xs, self.ys, sample_weight=self.ws, linear_scaling=True,
                                device=self.cfg.device)
        self.budget.evals += len(exprs)
        return losses / self.var_y

    def _fit_into_hof(self, exprs: list[Expression], n_restarts: int = FIT_RESTARTS,
                      max_iter: int = FIT_MAX_ITER,
                      deadline: float | None = None) -> tuple[list[Expression], np.ndarray]:
        """Fit ``a·f + b`` for each expression on all rows and offer the results
        to the hall of fame; returns the fitted expressions and their losses."""
        if not exprs:
            return [], np.zeros(0)
        # the fit stops at the budget's end (less the polish reserve) at the latest
        end = self.budget.start + self.cfg.time_budget - self._reserve()
        deadline = end if deadline is None else min(deadline, end)
        fitted, losses = fit_constants(exprs, self.X, self.y, self.w, linear_scaling=True,
                                       n_restarts=n_restarts, max_iter=max_iter,
                                       device=self.cfg.device, seed=int(self.rng.integers(1 << 31)),
                                       deadline=deadline)
        self.budget.evals += len(exprs) * (1 + n_restarts)
        self.hof.update([fold_constants(e) for e in fitted], losses)
        return fitted, losses

    # -- phases ------------------------------------------------------------------
    def run(self, seeds: Sequence[Expression]) -> SearchResult:
        interrupted = False
        try:
            self._phase("seeds", self._seed_phase, seeds)
            if (not self._exact() and not self.budget.exhausted(self._reserve())
                    and self._claim("enumerate")):
                self._phase("enumerate", self._enumeration_phase)
            if self.cfg.role == "lead":
                self._hand_over()
            if not self._exact() and not self.budget.exhausted(self._reserve()):
                self._phase("evolve", self._evolution_phase)
        except KeyboardInterrupt:
            interrupted = True
        if self.cfg.polish and not interrupted:
            try:
                self._phase("polish", self._polish_phase)
            except KeyboardInterrupt:
                interrupted = True
        self._progress("done")
        return SearchResult(self.hof, self.budget.evals, self.budget.elapsed, interrupted,
                            self._exact(), self.phases, self.n_received)

    def _reserve(self) -> float:
        # time kept back for the polish phase
        return (min(POLISH_RESERVE_SECONDS, POLISH_RESERVE_SHARE * self.cfg.time_budget)
                if self.cfg.polish else 0.0)

    def _phase(self, name: str, fn, *args) -> None:
        t0 = time.perf_counter()
        try:
            fn(*args)
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - t0
            self._progress(name)
