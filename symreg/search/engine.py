"""One search worker: cheap structure, exhaustive small expressions, then
evolutionary refinement, all scored through the batch evaluator.

Phases, inside one time budget:

1. **Seeds and cheap structure**: expressions handed in (proposers, user
   guesses), power laws, sparse polynomials, and sparse Laurent models of
   1/y, y² and log|y| written back through the inverse
   (:mod:`~symreg.search.transforms`), sparse ratios P/Q
   (:mod:`~symreg.search.rational`) and sums of monomials times sines and
   cosines (:mod:`~symreg.search.trig`); constants fitted in one batch.
2. **Exhaustive enumeration** of every small expression (pruned by
   equivalence on probe points); the best of each size, and the best
   closed-form two-term sums and products of them, scored on the data.
3. **Evolution and tree search**: a population refined by mutations and
   crossover. Every generation is scored in one evaluator call with
   closed-form linear scaling; candidates that would improve the hall of
   fame get their constants fitted (batched Levenberg–Marquardt) before they
   enter it. Every few generations a Monte Carlo tree search over structure
   (:mod:`~symreg.search.mcts`) picks an operator menu and a few base
   subtrees, and a layered exhaustive pass (:mod:`~symreg.search.layered`)
   evaluates every expression over them; its best are fitted, offered to the
   hall of fame and bred, and their subtrees feed the tree's pool.
4. **Polish**: the Pareto front is simplified and its constants snapped to
   nice values where the loss holds.

Ctrl-C at any point ends the current phase and returns the best so far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..constants import fit_constants
from ..evaluate import evaluate_batch
from ..expression import CONST, Expression
from ..generate import random_expression
from ..pareto import HallOfFame
from ..reduce import drop_terms
from ..simplify import fold_constants, simplify, snap_constants
from .enumerate import enumerate_expressions
from .exchange import Exchange
from .layered import layered_evaluate
from .mcts import StructureMCTS, StructurePrior, mine_subtrees, reward
from .mutations import MutationContext, crossover, mutate
from .structure import get_structure_tests, stages
from .structure.library import unique

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
    exact_nmse: float = 1e-16
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


def search(X: np.ndarray, y: np.ndarray, config: SearchConfig, sample_weight: np.ndarray | None = None,
           seeds: Sequence[Expression] = (), callback: Callable[[SearchProgress], None] | None = None
           ) -> SearchResult:
    """Run one search worker and return its hall of fame."""
    return _Search(X, y, config, sample_weight, callback).run(seeds)


class _Search:
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
        self.tune_rows = np.sort(self.rng.choice(len(rows), min(len(rows), 128), replace=False))
        self.budget = _Budget(config.time_budget, config.max_evals)
        self.phases: dict[str, float] = {}
        self.population: list[Expression] = []
        self.pop_nmse = np.zeros(0)
        self.pop_keys: list[tuple] = []
        self.tree: StructureMCTS | None = None
        self.seed_exprs: list[Expression] = []
        self.n_received = 0
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

    def _fit_into_hof(self, exprs: list[Expression], n_restarts: int = 2, max_iter: int = 40,
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
            if not self._exact() and not self.budget.exhausted(self._reserve()):
                self._phase("enumerate", self._enumeration_phase)
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
        return min(3.0, 0.1 * self.cfg.time_budget) if self.cfg.polish else 0.0

    def _phase(self, name: str, fn, *args) -> None:
        t0 = time.perf_counter()
        try:
            fn(*args)
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - t0
            self._progress(name)

    def _seed_phase(self, seeds: Sequence[Expression]) -> None:
        d = self.X.shape[1]
        given = [s.with_names(None) for s in seeds if s.n_variables <= d]
        self.seed_exprs = list(given)  # they enter the tree's pool too
        tests = stages(self.structure_tests)
        first = tests.pop(0) if tests and not tests[0][0].screen else []
        cands = self._structure_candidates(first, seed=0)
        cands = [c for c in cands if c.n_variables <= d]
        if first:
            self._fit_into_hof(cands, n_restarts=first[0].n_restarts, max_iter=first[0].max_iter)
        self.population.extend(c for c in cands if c.complexity <= self.cfg.maxsize)
        if given and not self._exact():
            # the seeds after the cheap structure: a proposer's many-constant
            # candidates are slow to fit, so they get at most a third of the budget
            # and are skipped when the structure is already exact
            self._fit_into_hof(given, n_restarts=4, max_iter=60,
                               deadline=self.budget.start + self.cfg.time_budget / 3)
            self.population.extend(c for c in given if c.complexity <= self.cfg.maxsize)
        self._progress("seeds")
        if not tests or self._exact() or self.budget.exhausted(self._reserve()):
            return
        # the screened stages (models of 1/y, y², log|y| and ratios P/Q, then the
        # same after dividing out a power law, then sums with sines and cosines):
        # their constants come from the linearised fits, so scoring them as they
        # are is a fair screen; only the best few are refitted
        seed = int(self.rng.integers(1 << 31))
        for stage in tests:
            if self._exact() or self.budget.exhausted(self._reserve()):
                return
            more = [c for c in self._structure_candidates(stage, seed) if c.n_variables <= d]
            if not more:
                continue
            nmse = self._score(more)
            # equally good (to a tenth of a decade, or both at round-off): the
            # smaller first, as one with spare round-off terms may not fit maxsize
            sizes = np.fromiter((c.complexity for c in more), dtype=np.float64, count=len(more))
            with np.errstate(divide="ignore", invalid="ignore"):
                level = np.round(np.log10(np.maximum(nmse, 1e-13)), 1)
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
        # roughly 600k raw candidates a second on one CPU core
        budget = int(min(self.cfg.enumeration_max_candidates, max(20_000, 600_000 * seconds)))
        if self.cfg.max_evals is not None:
            budget = min(budget, max(1000, self.cfg.max_evals // 4))
        result = enumerate_expressions(self.Xs, self.ys, self.cfg.operators,
                                       max_size=min(self.cfg.maxsize, 12), max_candidates=budget,
                                       n_probe=32, seed=int(self.rng.integers(1 << 31)))
        self.budget.evals += sum(result.counts.values())
        exprs = result.expressions + [p for p in result.pairs if p.complexity <= self.cfg.maxsize]
        nmse = self._score(exprs)
        order = np.argsort(nmse, kind="stable")
        best = [exprs[i] for i in order[: 4 * self.cfg.max_fits_per_generation] if np.isfinite(nmse[i])]
        self._fit_into_hof(best, n_restarts=2)
        self.population.extend(exprs)

    def _evolution_phase(self) -> None:
        cfg = self.cfg
        rng = self.rng
        # fill the population with random expressions
        while len(self.population) < cfg.population_size:
            self.population.append(random_expression(rng, self.ctx.n_features, cfg.operators,
                                                     max_tokens=min(cfg.maxsize, 15)))
        self.population = self._dedupe(self.population)
        self.pop_keys = [self._key(e) for e in self.population]
        self.pop_nmse = self._score(self.population)
        self._select()
        reserve = self._reserve()
        generation = 0
        while not self.budget.exhausted(reserve) and not self._exact():
            generation += 1
            offspring = self._breed(cfg.n_offspring)
            nmse = self._score(offspring)
            if cfg.tune_constants:
                offspring, nmse = self._tune(offspring, nmse)
            offspring, nmse = self._offer(offspring, nmse)
            self.population = self.population + offspring
            self.pop_keys += [self._key(e) for e in offspring]
            self.pop_nmse = np.concatenate([self.pop_nmse, nmse])
            if generation % 10 == 0:
                # bring the hall of fame back in as breeding material
                elite = [c.expr for c in self.hof.front()]
                self.population += elite
                self.pop_keys += [self._key(e) for e in elite]
                self.pop_nmse = np.concatenate([self.pop_nmse, self._score(elite)])
            if cfg.exchange is not None and generation % cfg.exchange_every == 0:
                self._exchange()
            if cfg.mcts and generation % cfg.mcts_every == 0:
                t0 = time.perf_counter()
                found, found_nmse = self._tree_search(cfg.mcts_simulations, reserve)
                self.phases["mcts"] = self.phases.get("mcts", 0.0) + time.perf_counter() - t0
                self.population += found
                self.pop_keys += [self._key(e) for e in found]
                self.pop_nmse = np.concatenate([self.pop_nmse, found_nmse])
            self._select()
            self._progress("evolve")

    def _exchange(self) -> None:
        """Swap fronts with the other workers; theirs join the hall of fame (same
        data, so their losses stand) and the population."""
        front = [(list(c.expr.tokens), c.expr.constants.tolist(), float(c.loss))
                 for c in self.hof.front()]
        try:
            got = self.cfg.exchange.swap(self.cfg.worker, front)
        except Exception:  # noqa: BLE001 - a broken channel never stops a worker
            return
        exprs, losses = [], []
        for item in got:
            try:
                tokens, constants, loss = item
                expr = Expression(tokens, constants)
            except (TypeError, ValueError):
                continue
            if expr.n_variables <= self.ctx.n_features and len(expr) <= 4 * self.cfg.maxsize:
                exprs.append(expr)
                losses.append(float(loss))
        if not exprs:
            return
        self.n_received += len(exprs)
        self.hof.update(exprs, np.asarray(losses))
        self.population += exprs
        self.pop_keys += [self._key(e) for e in exprs]
        self.pop_nmse = np.concatenate([self.pop_nmse, self._score(exprs)])

    # -- tree search over structure ------------------------------------------------
    def _layered_limits(self) -> tuple[int, int]:
        """(nodes a stored layer may keep, bytes of one chunk) for this device:
        a depth-3 pass costs about 4·max_stored² candidates."""
        if torch.device(self.cfg.device).type == "cuda":
            return 20_000, 2 << 30
        return 600, 48 << 20

    def _tree_search(self, n_simulations: int, reserve: float
                     ) -> tuple[list[Expression], np.ndarray]:
        """Run a few MCTS simulations, each one layered pass over the slots the
        tree picks; returns the passes' best expressions and their scores."""
        cfg = self.cfg
        if self.tree is None:
            self.tree = StructureMCTS(self.X.shape[1], cfg.operators, self.rng,
                                      prior=cfg.structure_prior)
            self._mine(self.seed_exprs)
        self._mine([c.expr for c in self.hof.front()])
        max_stored, memory = self._layered_limits()
        out: list[Expression] = []
        out_nmse: list[np.ndarray] = []
        for _ in range(n_simulations):
            if self.budget.exhausted(reserve) or self._exact():
                break
            path, menu, slots = self.tree.select()
            res = layered_evaluate(slots, self.Xs, self.ys, menu.operators(self.tree.binary),
                                   depth=menu.depth, top_k=16, max_stored=max_stored,
                                   memory_budget=memory, device=cfg.device,
                                   seed=int(self.rng.integers(1 << 31)))
            self.budget.evals += res.n_evaluated
            exprs = [e for e in res.expressions if e.complexity <= cfg.maxsize]
            if not exprs:
                self.tree.backup(path, 0.0)
                continue
            nmse = self._score(exprs)
            order = [i for i in np.argsort(nmse, kind="stable")[:3] if np.isfinite(nmse[i])]
            fitted, losses = self._fit_into_hof([exprs[i] for i in order], n_restarts=1,
                                                max_iter=30)
            r = max((reward(loss / self.var_y, e.complexity, cfg.maxsize)
                     for e, loss in zip(fitted, losses)), default=0.0)
            self.tree.backup(path, r)
            out += exprs
            out_nmse.append(nmse)
            self._mine([exprs[i] for i in order])
        return out, (np.concatenate(out_nmse) if out_nmse else np.zeros(0))

    def _mine(self, exprs: Sequence[Expression]) -> None:
        """Offer the subtrees of ``exprs`` to the tree's pool, scored on their own."""
        subs = [e for e in mine_subtrees(exprs, max_size=max(3, self.cfg.maxsize // 3))
                if e.n_variables <= self.X.shape[1]]
        if subs:
            self.tree.add_to_pool(subs, self._score(subs))

    def _polish_phase(self) -> None:
        end = self.budget.start + self.cfg.time_budget
        # also when exact: a formula can be exact with a term that is zero on the
        # data (x/(x + exp(-46·u)) - 1 beside the law)
        self._drop_terms(end)
        # snapping is cheap and decides exactness: it goes first
        for cand in self.hof.front():
            if time.perf_counter() > end - 0.05:
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
        front = sorted((c for c in self.hof.front() if len(c.expr) > 3), key=lambda c: c.loss)
        deadline = min(end, time.perf_counter() + max(0.3, 0.1 * self.cfg.time_budget))
        simplified = []
        for cand in front:
            left = deadline - time.perf_counter()
            if left < 0.05:
                break
            s = simplify(cand.expr, timeout=min(1.0, left), X=self.Xs, operators=self.cfg.operators)
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
        cands = sorted((c for c in front if self.hof.effective(c.loss) <= 1.5 * best),
                       key=lambda c: c.complexity)[:4]
        deadline = min(end - 0.05, time.perf_counter() + 0.5 * self._reserve())
        reduced = drop_terms([c.expr for c in cands], [c.loss for c in cands], self.X, self.y,
                             sample_weight=self.w, rounds=3, floor=self.hof.loss_floor,
                             operators=self.cfg.operators, device=self.cfg.device,
                             seed=int(self.rng.integers(1 << 31)), deadline=deadline)
        new = [(e, loss) for (e, loss), c in zip(reduced, cands) if e is not c.expr]
        if new:
            self.hof.update([e for e, _ in new], [loss for _, loss in new])

    # -- evolution steps -----------------------------------------------------------
    def _fitness(self, nmse: np.ndarray, exprs: list[Expression]) -> np.ndarray:
        comp = np.fromiter((e.complexity for e in exprs), dtype=np.float64, count=len(exprs))
        with np.errstate(divide="ignore"):
            f = np.log10(np.maximum(nmse, 1e-18)) + self.cfg.parsimony * comp
        return np.where(np.isfinite(nmse), f, np.inf)

    @staticmethod
    def _key(e: Expression) -> tuple:
        # cheap identity for de-duplication: tokens and constants to 6 digits
        return (e.tokens, np.round(e.constants, 6).tobytes())

    def _dedupe(self, exprs: list[Expression]) -> list[Expression]:
        seen: set[tuple] = set()
        out = []
        for e in exprs:
            k = self._key(e)
            if k not in seen:
                seen.add(k)
                out.append(e)
        return out

    def _select(self) -> None:
        """Keep the best per complexity, then the fittest, up to the population size."""
        keys = self.pop_keys
        fit = self._fitness(self.pop_nmse, self.population)
        order = np.argsort(fit, kind="stable")
        chosen: list[int] = []
        seen_keys: set[tuple] = set()
        seen_size: set[int] = set()
        for i in order:  # elites: the best at each complexity
            c = self.population[i].complexity
            if c not in seen_size and np.isfinite(fit[i]) and keys[i] not in seen_keys:
                seen_size.add(c)
                seen_keys.add(keys[i])
                chosen.append(i)
        for i in order:
            if len(chosen) >= self.cfg.population_size:
                break
            if keys[i] not in seen_keys and np.isfinite(fit[i]):
                seen_keys.add(keys[i])
                chosen.append(i)
        self.population = [self.population[i] for i in chosen]
        self.pop_keys = [keys[i] for i in chosen]
        self.pop_nmse = self.pop_nmse[chosen]

    def _breed(self, n: int) -> list[Expression]:
        rng = self.rng
        fit = self._fitness(self.pop_nmse, self.population)
        m = len(self.population)
        out: list[Expression] = []
        attempts = 0
        while len(out) < n and attempts < 4 * n:
            attempts += 1
            contenders = rng.integers(m, size=self.cfg.tournament_size)
            parent = self.population[int(contenders[np.argmin(fit[contenders])])]
            r = rng.random()
            if r < 0.2:
                contenders = rng.integers(m, size=self.cfg.tournament_size)
                other = self.population[int(contenders[np.argmin(fit[contenders])])]
                child = crossover(rng, parent, other)
                if child is not None and child.complexity > self.cfg.maxsize:
                    child = None
            elif r < 0.23:
                child = random_expression(rng, self.ctx.n_features, self.cfg.operators,
                                          max_tokens=min(self.cfg.maxsize, 15))
            else:
                child = mutate(rng, parent, self.ctx)
            if child is not None:
                out.append(child)
        return out

    def _tune(self, exprs: list[Expression], nmse: np.ndarray) -> tuple[list[Expression], np.ndarray]:
        """A few Levenberg–Marquardt steps for the promising offspring that hold
        constants, on a small subsample: a skeleton is judged by what its
        constants can do, not by the values it inherited."""
        finite = np.isfinite(nmse)
        if not finite.any():
            return exprs, nmse
        cut = np.quantile(nmse[finite], 0.25)
        picked = [i for i in np.argsort(nmse, kind="stable")
                  if nmse[i] <= cut and exprs[i].n_constants][: self.cfg.max_tuned_per_generation]
        if not picked:
            return exprs, nmse
        rows = self.tune_rows
        fitted, _ = fit_constants([exprs[i] for i in picked], self.Xs[rows], self.ys[rows],
                                  None if self.ws is None else self.ws[rows],
                                  linear_scaling=True, n_restarts=0, max_iter=8, max_points=None,
                                  device=self.cfg.device)
        self.budget.evals += 2 * len(picked)
        exprs = list(exprs)
        nmse = nmse.copy()
        tuned = [exprs[i].with_constants(f.constants[1:-1]) for i, f in zip(picked, fitted)]
        new = self._score(tuned)
        for i, e, v in zip(picked, tuned, new):
            if v < nmse[i]:
                exprs[i], nmse[i] = e, v
        return exprs, nmse

    def _offer(self, exprs: list[Expression], nmse: np.ndarray) -> tuple[list[Expression], np.ndarray]:
        """Fit the constants of offspring that could improve the hall of fame.

        Returns the offspring with the fitted inner constants written back
        (a Lamarckian step) and their updated scores.
        """
        # best_upto[c]: the lowest hall-of-fame nmse at complexity <= c
        best_upto = np.full(self.cfg.maxsize + 5, math.inf)
        for cand in self.hof.candidates():
            best_upto[cand.complexity] = min(best_upto[cand.complexity], cand.loss / self.var_y)
        best_upto = np.minimum.accumulate(best_upto)
        gain = []
        for i, e in enumerate(exprs):
            if not np.isfinite(nmse[i]):
                continue
            # fitting adds at most the scale and offset: compare at that size
            ref = best_upto[min(e.complexity + 4, len(best_upto) - 1)]
            if nmse[i] < ref * 0.999 or (CONST in e.tokens and nmse[i] < 2 * ref):
                gain.append((nmse[i] / max(ref, 1e-300) if np.isfinite(ref) else 0.0, i))
        if not gain:
            return exprs, nmse
        gain.sort()
        picked = [i for _, i in gain[: self.cfg.max_fits_per_generation]]
        fitted, losses = self._fit_into_hof([exprs[i] for i in picked], n_restarts=1, max_iter=30)
        exprs = list(exprs)
        nmse = nmse.copy()
        for i, f, loss in zip(picked, fitted, losses):
            if exprs[i].n_constants and np.isfinite(loss):
                exprs[i] = exprs[i].with_constants(f.constants[1:-1])
                nmse[i] = loss / self.var_y
        return exprs, nmse
