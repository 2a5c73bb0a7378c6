"""The search's evolution phase: a population bred by mutation and crossover.

A mixin of :class:`symreg.search.engine._Search`. Every generation is scored in
one evaluator call with closed-form linear scaling; promising offspring get a few
constant-tuning steps, and those that could improve the hall of fame a full fit
(a Lamarckian step). Every few generations the hall of fame rejoins the
population, fronts are swapped with other workers (:mod:`.exchange`) and a tree
search pass (:mod:`.treesearch`) adds its finds.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..constants import fit_constants
from ..expression import CONST, Expression
from ..generate import random_expression
from .mutations import crossover, mutate
from .tuning import (
    BREED_ATTEMPTS,
    CROSSOVER_BELOW,
    ELITE_EVERY,
    EXCHANGE_LENGTH_FACTOR,
    FITNESS_FLOOR,
    KEY_DIGITS,
    OFFER_CONSTANT_SLACK,
    OFFER_GAIN,
    OFFER_MAX_ITER,
    OFFER_RESTARTS,
    OFFER_SCALING_TOKENS,
    RANDOM_BELOW,
    RANDOM_MAX_TOKENS,
    TUNE_MAX_ITER,
    TUNE_QUANTILE,
)

__all__: list[str] = []


class Evolution:
    """The evolution phase of a search and its steps."""

    def _evolution_phase(self) -> None:
        cfg = self.cfg
        rng = self.rng
        # fill the population with random expressions
        while len(self.population) < cfg.population_size:
            self.population.append(random_expression(rng, self.ctx.n_features, cfg.operators,
                                                     max_tokens=min(cfg.maxsize,
                                                                    RANDOM_MAX_TOKENS)))
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
            if generation % ELITE_EVERY == 0:
                # bring the hall of fame back in as breeding material
                elite = [c.expr for c in self.hof.front()]
                self.population += elite
                self.pop_keys += [self._key(e) for e in elite]
                self.pop_nmse = np.concatenate([self.pop_nmse, self._score(elite)])
            if self.awaiting_start:
                self._take_start()
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
        try:
            got = self.cfg.exchange.swap(self.cfg.worker, self._front_items(self.hof.front()))
        except Exception:  # noqa: BLE001 - a broken channel never stops a worker
            return
        exprs, losses = self._received(got, with_loss=True)
        if not exprs:
            return
        self.n_received += len(exprs)
        self.hof.update(exprs, np.asarray(losses))
        self.population += exprs
        self.pop_keys += [self._key(e) for e in exprs]
        self.pop_nmse = np.concatenate([self.pop_nmse, self._score(exprs)])

    @staticmethod
    def _front_items(candidates) -> list:
        """Hall-of-fame candidates as the exchange's ``(tokens, constants, loss)`` items."""
        return [(list(c.expr.tokens), c.expr.constants.tolist(), float(c.loss))
                for c in candidates]

    def _received(self, items, with_loss: bool) -> tuple[list[Expression], list[float]]:
        """Expressions (and losses) from another worker (a swap or the lead's
        hand-over), the malformed and the too large left out."""
        exprs, losses = [], []
        for item in items:
            try:
                expr = Expression(item[0], item[1])
                loss = float(item[2]) if with_loss else 0.0
            except (TypeError, ValueError, IndexError):
                continue
            if (expr.n_variables <= self.X.shape[1]
                    and len(expr) <= EXCHANGE_LENGTH_FACTOR * self.cfg.maxsize):
                exprs.append(expr)
                losses.append(loss)
        return exprs, losses

    # -- evolution steps -----------------------------------------------------------
    def _fitness(self, nmse: np.ndarray, exprs: list[Expression]) -> np.ndarray:
        comp = np.fromiter((e.complexity for e in exprs), dtype=np.float64, count=len(exprs))
        with np.errstate(divide="ignore"):
            f = np.log10(np.maximum(nmse, FITNESS_FLOOR)) + self.cfg.parsimony * comp
        return np.where(np.isfinite(nmse), f, np.inf)

    @staticmethod
    def _key(e: Expression) -> tuple:
        # cheap identity for de-duplication: tokens and constants to 6 digits
        return (e.tokens, np.round(e.constants, KEY_DIGITS).tobytes())

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
        while len(out) < n and attempts < BREED_ATTEMPTS * n:
            attempts += 1
            contenders = rng.integers(m, size=self.cfg.tournament_size)
            parent = self.population[int(contenders[np.argmin(fit[contenders])])]
            r = rng.random()
            if r < CROSSOVER_BELOW:
                contenders = rng.integers(m, size=self.cfg.tournament_size)
                other = self.population[int(contenders[np.argmin(fit[contenders])])]
                child = crossover(rng, parent, other)
                if child is not None and child.complexity > self.cfg.maxsize:
                    child = None
            elif r < RANDOM_BELOW:
                child = random_expression(rng, self.ctx.n_features, self.cfg.operators,
                                          max_tokens=min(self.cfg.maxsize, RANDOM_MAX_TOKENS))
            else:
                child = mutate(rng, parent, self.ctx)
            if child is not None:
                out.append(child)
        return out

    def _tune(self, exprs: list[Expression], nmse: np.ndarray
              ) -> tuple[list[Expression], np.ndarray]:
        """A few Levenberg–Marquardt steps for the promising offspring that hold
        constants, on a small subsample: a skeleton is judged by what its
        constants can do, not by the values it inherited."""
        finite = np.isfinite(nmse)
        if not finite.any():
            return exprs, nmse
        cut = np.quantile(nmse[finite], TUNE_QUANTILE)
        picked = [i for i in np.argsort(nmse, kind="stable")
                  if nmse[i] <= cut and exprs[i].n_constants][: self.cfg.max_tuned_per_generation]
        if not picked:
            return exprs, nmse
        rows = self.tune_rows
        fitted, _ = fit_constants([exprs[i] for i in picked], self.Xs[rows], self.ys[rows],
                                  None if self.ws is None else self.ws[rows],
                                  linear_scaling=True, n_restarts=0, max_iter=TUNE_MAX_ITER,
                                  max_points=None,
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

    def _offer(self, exprs: list[Expression], nmse: np.ndarray
               ) -> tuple[list[Expression], np.ndarray]:
        """Fit the constants of offspring that could improve the hall of fame.

        Returns the offspring with the fitted inner constants written back
        (a Lamarckian step) and their updated scores.
        """
        # best_upto[c]: the lowest hall-of-fame nmse at complexity <= c
        best_upto = np.full(self.cfg.maxsize + OFFER_SCALING_TOKENS + 1, math.inf)
        for cand in self.hof.candidates():
            best_upto[cand.complexity] = min(best_upto[cand.complexity], cand.loss / self.var_y)
        best_upto = np.minimum.accumulate(best_upto)
        gain = []
        for i, e in enumerate(exprs):
            if not np.isfinite(nmse[i]):
                continue
            # fitting adds at most the scale and offset: compare at that size
            ref = best_upto[min(e.complexity + OFFER_SCALING_TOKENS, len(best_upto) - 1)]
            if nmse[i] < ref * OFFER_GAIN or (CONST in e.tokens
                                             and nmse[i] < OFFER_CONSTANT_SLACK * ref):
                gain.append((nmse[i] / max(ref, 1e-300) if np.isfinite(ref) else 0.0, i))
        if not gain:
            return exprs, nmse
        gain.sort()
        picked = [i for _, i in gain[: self.cfg.max_fits_per_generation]]
        fitted, losses = self._fit_into_hof([exprs[i] for i in picked], n_restarts=OFFER_RESTARTS,
                                            max_iter=OFFER_MAX_ITER)
        exprs = list(exprs)
        nmse = nmse.copy()
        for i, f, loss in zip(picked, fitted, losses):
            if exprs[i].n_constants and np.isfinite(loss):
                exprs[i] = exprs[i].with_constants(f.constants[1:-1])
                nmse[i] = loss / self.var_y
        return exprs, nmse

