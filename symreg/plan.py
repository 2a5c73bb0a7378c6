"""The schedule of one fit: proposers, searches and reduced problems, and their shares.

:class:`FitPlan` is the whole schedule of :meth:`SymbolicRegressor.fit
<symreg.SymbolicRegressor.fit>` in one place. With ``T`` the time budget and
``p`` the proposers' fraction (``proposer_time_fraction``), a fit runs:

1. **quick proposers** (the transformer), together ``p·T`` seconds; their
   candidates seed every search and the first one's beams become the search's
   structure prior;
2. with slow proposers and a search, **the first half of the search**:
   ``(1-p)·T/2`` seconds and half of ``max_evals``. Most laws fall to its cheap
   structure and enumeration within a second or two; an exact law (or Ctrl-C)
   there ends the fit without the slow proposers;
3. **the slow proposers** (LIES, DySymNet), one after the other, an equal share
   each of what is left of ``p·T``; right after each, **the reduced problems**
   it found (groups ``y = M·f(g)``, at most :data:`MAX_REDUCTIONS`) are searched,
   each with :data:`REDUCED_SHARE` of the budget and of ``max_evals`` (their time
   is the search's, not the other proposers'); an exact ``f`` stops the proposers;
4. **the rest of the search**, seeded by the guesses, the proposals and the
   first half's front: what is left of ``T`` (at least :data:`MIN_REST_SHARE`
   of it), or, bounded by ``max_evals`` after a first half, a fixed
   ``(1-p)·T/2`` seconds and the other half of ``max_evals``.

Without slow proposers, step 4 is the whole search. With ``search=False`` the
proposers alone share the budget, less a reserve for the constant fit, and
their candidates (and the guesses), fitted, are the hall of fame.

:meth:`FitPlan.run` returns a plain :class:`FitResult`. This module is the
wiring layer beside the regressor: it imports the search and the proposers'
interface; neither imports it.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .constants import fit_constants
from .evaluate import evaluate_batch
from .expression import Expression
from .neural.proposer import Proposer
from .pareto import HallOfFame, exact_floor
from .search.engine import SearchConfig, SearchProgress, SearchResult
from .search.pool import run_search
from .simplify import fold_constants, rewrite_operators

__all__ = ["MAX_REDUCTIONS", "MIN_REST_SHARE", "REDUCED_SHARE", "FitPlan", "FitResult",
           "search_reductions"]

#: candidates asked of each proposer
PROPOSALS_PER_PROPOSER = 32
#: reduced problems searched after one proposer, at most
MAX_REDUCTIONS = 2
#: each reduced search gets this share of the time budget (at least
#: REDUCED_MIN_SECONDS) and, in a fit bounded by max_evals, of max_evals
REDUCED_SHARE = 0.12
REDUCED_MIN_SECONDS = 3.0
#: ``f`` of a reduced problem is a few tokens that the enumeration lists outright
REDUCED_ENUMERATION_FRACTION = 0.8
#: the rest of the search gets at least this share of the time budget
MIN_REST_SHARE = 0.1
#: proposers alone leave min(ALONE_RESERVE_SECONDS, ALONE_RESERVE_SHARE × budget)
#: for the constant fit of their candidates
ALONE_RESERVE_SECONDS = 2.0
ALONE_RESERVE_SHARE = 0.1
#: the fit of the proposals alone always gets at least this many seconds
MIN_PROPOSAL_FIT_SECONDS = 0.5


@dataclass
class FitResult:
    """What a :class:`FitPlan` run produced."""

    hall_of_fame: HallOfFame
    n_evals: int
    search_time: float
    interrupted: bool = False
    n_proposals: int = 0
    proposer_times: dict[str, float] = field(default_factory=dict)


@dataclass
class _Run:
    """The state of one run of a plan, passed from phase to phase."""

    start: float
    variable_names: list[str] | None
    proposals: list[Expression] = field(default_factory=list)
    interrupted: bool = False
    proposer_times: dict[str, float] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.monotonic() - self.start


@dataclass(frozen=True)
class FitPlan:
    """The schedule of one fit (see the module docstring).

    Parameters
    ----------
    config : SearchConfig
        The search's settings for the whole fit: ``time_budget`` is the fit's
        budget ``T`` and ``max_evals`` its bound; each search gets a copy with
        its share.
    proposers : sequence of Proposer
        In the order given; a proposer whose ``quick`` is true runs first.
    search : bool
        Whether the tree search runs.
    proposer_fraction : float
        The proposers' share ``p`` of the budget.
    n_jobs : int
        Search workers.
    backend : str
        Where the workers run (see :func:`symreg.search.pool.run_search`).
    """

    config: SearchConfig
    proposers: tuple[Proposer, ...] = ()
    search: bool = True
    proposer_fraction: float = 0.3
    n_jobs: int = 1
    backend: str = "processes"

    @property
    def total(self) -> float:
        """The fit's time budget ``T``."""
        return float(self.config.time_budget)

    @property
    def quick(self) -> list[Proposer]:
        """Proposers that run before any search (the transformer)."""
        return [p for p in self.proposers if getattr(p, "quick", False)]

    @property
    def slow(self) -> list[Proposer]:
        """Proposers that only run when the first half of the search is not exact."""
        return [p for p in self.proposers if not getattr(p, "quick", False)]

    # -- the shares ------------------------------------------------------------
    def first_half(self, config: SearchConfig) -> SearchConfig:
        """The first search's settings: ``(1-p)·T/2`` seconds, half of ``max_evals``."""
        max_evals = self.config.max_evals
        half = None if max_evals is None else max(1, max_evals // 2)
        return dataclasses.replace(config, time_budget=self.total * (1 - self.proposer_fraction) / 2,
                                   max_evals=half)

    def rest(self, config: SearchConfig, after_first: bool, elapsed: float) -> SearchConfig:
        """The last search's settings, ``elapsed`` seconds into the fit."""
        max_evals = self.config.max_evals
        if after_first and max_evals is not None:
            # a fit bounded by max_evals gets a fixed share, since the search sizes
            # its enumeration from its budget and must not depend on the clock
            return dataclasses.replace(
                config, time_budget=self.total * (1 - self.proposer_fraction) / 2,
                max_evals=max(1, max_evals - max_evals // 2))
        # what is left of the budget (never less than a tenth)
        return dataclasses.replace(config, time_budget=max(self.total - elapsed,
                                                           MIN_REST_SHARE * self.total))

    def slow_budget(self, elapsed: float) -> float:
        """Seconds the slow proposers share, ``elapsed`` seconds into the fit."""
        if self.search:
            return self.total * self.proposer_fraction
        # alone, the proposers get the budget less a reserve for the constant fit
        return self.total - elapsed - min(ALONE_RESERVE_SECONDS, ALONE_RESERVE_SHARE * self.total)

    # -- running -----------------------------------------------------------------
    def run(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, *,
            seeds: Sequence[Expression] = (), variable_names: Sequence[str] | None = None,
            callback: Callable[[SearchProgress], None] | None = None) -> FitResult:
        """Run the schedule on validated data.

        Parameters
        ----------
        X, y, sample_weight : arrays
            The validated data.
        seeds : sequence of Expression
            Formulas every search starts from (the estimator's ``guesses``).
        variable_names : sequence of str, optional
            Handed to the proposers.
        callback : callable, optional
            Progress of the searches (not of the reduced ones).

        Returns
        -------
        FitResult
        """
        w = sample_weight
        seeds = list(seeds)
        run = _Run(time.monotonic(), None if variable_names is None else list(variable_names))
        config = self.config
        frac = self.proposer_fraction
        quick, slow = self.quick, self.slow
        if quick:
            run.proposals = self._propose(quick, X, y, self.total * frac, run)
            priors = [p.structure_prior() for p in quick if hasattr(p, "structure_prior")]
            if priors and self.search:
                config = dataclasses.replace(config, structure_prior=priors[0])
        first = None  # the search before the slow proposers, when both run
        if slow and self.search:
            first = self._search(X, y, w, self.first_half(config), seeds + run.proposals,
                                 callback)
            run.interrupted = first.interrupted
        done = first is not None and (first.stopped_early or first.interrupted)
        if slow and not done and not run.interrupted:
            self._slow_proposers(slow, X, y, w, config, run)
        # Ctrl-C in a quick proposer, before any search: fit what there is
        searched = self.search and not (run.interrupted and first is None)
        if searched:
            if done or run.interrupted:
                # exact already, or Ctrl-C (in the first search or the proposers):
                # keep what the first search found
                result = first
            else:
                carried = [] if first is None else [c.expr for c in first.hall_of_fame.front()]
                result = self._search(X, y, w, self.rest(config, first is not None, run.elapsed()),
                                      seeds + run.proposals + carried, callback)
                if first is not None:
                    # nothing the first search found is lost
                    kept = first.hall_of_fame.candidates()
                    result.hall_of_fame.update([c.expr for c in kept], [c.loss for c in kept])
                    result.n_evals += first.n_evals
            hof, n_evals = result.hall_of_fame, result.n_evals
            run.interrupted = run.interrupted or result.interrupted
        else:
            hof = HallOfFame(config.maxsize, loss_floor=exact_floor(y, w, rtol=config.exact_nmse))
            # without a search the proposals (and guesses) are the hall of fame; with
            # one, its seed phase has fitted them into its hall of fame already
            offered = seeds + run.proposals
            deadline = time.perf_counter() + max(MIN_PROPOSAL_FIT_SECONDS,
                                                 self.total - run.elapsed())
            exprs, losses = fit_proposals(offered, X, y, w, seed=config.seed,
                                          device=config.device, deadline=deadline)
            hof.update(exprs, losses)
            n_evals = 2 * len(offered)
        return FitResult(hof, n_evals, run.elapsed(), run.interrupted, len(run.proposals),
                         run.proposer_times)

    def _search(self, X, y, w, config: SearchConfig, seeds: list[Expression], callback
                ) -> SearchResult:
        return run_search(X, y, config, n_jobs=int(self.n_jobs), sample_weight=w, seeds=seeds,
                          callback=callback, backend=self.backend)

    def _slow_proposers(self, slow: list[Proposer], X, y, w, config: SearchConfig,
                        run: _Run) -> None:
        """Phase 3: the slow proposers, each followed by its reduced problems."""
        end = time.monotonic() + self.slow_budget(run.elapsed())
        for k, prop in enumerate(slow):
            share = max(end - time.monotonic(), 0.0) / (len(slow) - k)
            run.proposals += self._propose([prop], X, y, share, run)
            if run.interrupted:
                break
            if self.search:
                # the groups this proposer found, searched at once: their time is
                # not the other proposers' (it comes out of the search's)
                t0 = time.monotonic()
                reductions = list(getattr(prop, "reductions_", None) or [])
                reduced, exact, interrupted = search_reductions(reductions, X, y, w, config)
                run.interrupted = run.interrupted or interrupted
                end += time.monotonic() - t0
                run.proposals = reduced + run.proposals
                if exact or run.interrupted:
                    break   # an exact law: the other proposers are not needed

    def _propose(self, proposers: list[Proposer], X, y, budget: float, run: _Run
                 ) -> list[Expression]:
        """Candidates of ``proposers``, each within its share of ``budget`` seconds.

        A proposer that raises is skipped with a RuntimeWarning; Ctrl-C stops the
        proposers and keeps what they produced (``run.interrupted``).
        """
        out: list[Expression] = []
        deadline = time.monotonic() + budget
        for k, prop in enumerate(proposers):
            label = getattr(prop, "name", "") or type(prop).__name__
            # an equal share of what is left, so a proposer that stops early
            # leaves its time to the next ones
            share = max(deadline - time.monotonic(), 0.0) / (len(proposers) - k)
            t0 = time.monotonic()
            try:
                got = prop.propose(X, y, n=PROPOSALS_PER_PROPOSER, time_budget=share,
                                   seed=self.config.seed, operators=self.config.operators,
                                   variable_names=run.variable_names)
            except KeyboardInterrupt:
                run.interrupted = True
                break
            except Exception as exc:  # noqa: BLE001 - a proposer never costs the fit
                warnings.warn(f"proposer {label!r} failed and is skipped: {exc!r}", RuntimeWarning,
                              stacklevel=2)
                got = []
            finally:
                run.proposer_times[label] = time.monotonic() - t0
            for e in got or []:
                if isinstance(e, Expression) and e.n_variables <= X.shape[1]:
                    out.append(e.with_names(None))
        return out


def search_reductions(reductions: Sequence, X: np.ndarray, y: np.ndarray,
                      sample_weight: np.ndarray | None, config: SearchConfig
                      ) -> tuple[list[Expression], bool, bool]:
    """Formulas ``M·f(g)`` from dimensionless groups (``Proposer.reductions_``, see
    :mod:`symreg.neural.groups`): a short search for ``f`` on ``g`` (and ``1/g``)
    with the target ``y/M``, each candidate multiplied back.

    A law like ``n μ tanh(μB/(kT))`` is too large for the search to stumble on,
    while ``f`` on the reduced problem is a few tokens that its enumeration lists
    outright; hence the enumeration gets most of the short budget. At most
    :data:`MAX_REDUCTIONS` groups, each with :data:`REDUCED_SHARE` of the fit's
    budget ``config.time_budget`` (at least :data:`REDUCED_MIN_SECONDS`) and of
    its ``max_evals`` when it has one, stopping at an exact ``f``. Their
    evaluations are not counted in the fit's ``n_evals_``.

    Parameters
    ----------
    reductions : sequence of Reduction
        The groups, most promising first.
    X, y, sample_weight : arrays
        The fit's data.
    config : SearchConfig
        The fit's search settings (operators, budget, seed).

    Returns
    -------
    (list of Expression, bool, bool)
        The composed formulas (written with ``config.operators``), whether one
        of the searches was exact, and whether Ctrl-C stopped them.
    """
    w = sample_weight
    out: list[Expression] = []
    allowed = frozenset(config.operators)
    for red in list(reductions)[:MAX_REDUCTIONS]:
        g, z = red.reduce(X, y)
        ok = np.isfinite(g).all(axis=1) & np.isfinite(z)
        if ok.sum() < 10:
            continue
        # a fit bounded by max_evals bounds its reduced searches the same way, so
        # that they too give the same result for the same seed
        evals = None if config.max_evals is None else max(1, int(REDUCED_SHARE * config.max_evals))
        sub = dataclasses.replace(config, time_budget=max(REDUCED_MIN_SECONDS,
                                                          REDUCED_SHARE * config.time_budget),
                                  max_evals=evals,
                                  enumeration_fraction=REDUCED_ENUMERATION_FRACTION,
                                  structure_prior=None)
        try:
            found = run_search(g[ok], z[ok], sub, n_jobs=1,
                               sample_weight=None if w is None else w[ok])
        except Exception as exc:  # noqa: BLE001 - a reduction never costs the fit
            warnings.warn(f"the search on a reduced problem failed: {exc!r}", RuntimeWarning,
                          stacklevel=2)
            continue
        for cand in found.hall_of_fame.front():
            e = rewrite_operators(red.compose(cand.expr), allowed)
            if e is not None:
                out.append(e)
        if found.interrupted:
            return out, False, True
        if found.stopped_early:
            return out, True, False
    return out, False, False


def fit_proposals(exprs: list[Expression], X, y, w, *, seed: int,
                  device: str | torch.device = "cpu", deadline: float | None = None
                  ) -> tuple[list[Expression], np.ndarray]:
    """The proposals as given and with ``a·f + b`` fitted, with their losses.

    Both versions go to the hall of fame: the proposer's own constants may be
    snapped to exact values that a refit would blur.
    """
    if not exprs:
        return [], np.zeros(0)
    raw = evaluate_batch(exprs, X, y, sample_weight=w, dtype=torch.float64, device=device)
    try:
        fitted, losses = fit_constants(exprs, X, y, w, linear_scaling=True, n_restarts=2,
                                       max_iter=60, device=device, seed=seed, deadline=deadline)
        fitted = [fold_constants(e) for e in fitted]
    except Exception as exc:  # noqa: BLE001 - keep the proposals as they are
        warnings.warn(f"fitting the proposals failed: {exc!r}", RuntimeWarning, stacklevel=2)
        fitted, losses = [], np.zeros(0)
    return list(exprs) + list(fitted), np.concatenate([np.asarray(raw), np.asarray(losses)])
