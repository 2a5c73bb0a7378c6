"""SymbolicRegressor: the scikit-learn estimator that runs a whole fit."""

from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import operators as ops
from .constants import fit_constants
from .evaluate import LOSSES, evaluate_batch, resolve_device
from .expression import Expression
from .pareto import MODEL_SELECTIONS, HallOfFame, front_scores, select_model
from .search.engine import SearchConfig, SearchProgress
from .search.pool import BACKENDS, run_search

__all__ = ["SymbolicRegressor"]

MIN_SAMPLES = 5


def _drop_nonfinite_rows(X, y, sample_weight):
    """Rows of X, y (and weights) where everything is finite."""
    try:
        Xa = np.asarray(X, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64).reshape(len(Xa), -1)
    except (TypeError, ValueError):
        return X, y, sample_weight  # validation proper reports the problem
    keep = np.isfinite(Xa.reshape(len(Xa), -1)).all(axis=1) & np.isfinite(ya).all(axis=1)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if sample_weight.shape[0] == len(keep):
            keep &= np.isfinite(sample_weight)
            sample_weight = sample_weight[keep]
    X = X.iloc[keep] if isinstance(X, pd.DataFrame) else Xa[keep]
    y = y.iloc[keep] if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)[keep]
    return X, y, sample_weight


class SymbolicRegressor(RegressorMixin, BaseEstimator):
    """Find closed-form formulas that fit the data.

    The search combines cheap structure tests (power laws, sparse
    polynomials), exhaustive enumeration of small expressions and an
    evolutionary refinement, all scored by a batch evaluator (CUDA when
    available), with batched constant fitting. The result is a Pareto front of
    formulas from simplest to most accurate, in :attr:`equations_`.

    Neural proposers (``proposers=["transformer", "lies", "dysymnet"]``) can
    join in. The pretrained transformer is quick (well under a second): it runs
    first, and its candidates seed the search and its beams weight the tree
    search's choice of subtrees. For the slower LIES and DySymNet, with
    a search, half of the search's share of the budget runs first; only if it
    has found no exact formula (most laws fall to its cheap structure and
    enumeration within a second or two) do the proposers run, with an equal
    share each of ``proposer_time_fraction × time_budget`` seconds, and the
    second half of the search starts from their candidates and the first half's
    front. When LIES finds a dimensionless group ``g`` with ``y = M·f(g)``, a
    short search for ``f`` on the columns ``g`` and ``1/g`` runs at once and its
    formulas, multiplied back, join the candidates. With ``search=False`` the
    proposers alone produce the hall of fame (they share the whole budget, less
    a small reserve for the constant fit); model selection is the same.

    Parameters
    ----------
    operators : list of str or str, optional
        Operator names or aliases, e.g. ``["+", "*", "/", "sin", "exp"]`` or
        ``"+,*,/,sin"``. ``None``: :data:`symreg.operators.DEFAULT_OPERATORS`.
    maxsize : int, default=30
        Largest complexity (number of nodes) of a formula.
    time_budget : float, default=60
        Wall-clock seconds for the search.
    max_evals : int, optional
        Stop after about this many candidate evaluations. With a large
        ``time_budget`` this makes a fit reproducible: the same seed gives the
        same result on the CPU.
    random_state : int, optional
        Seed. ``None`` draws one.
    n_jobs : int, default=1
        Search workers (processes, or Ray tasks with ``backend="ray"``).
    device : str, optional
        ``"cpu"``, ``"cuda"`` or ``None``/``"auto"`` (CUDA when available).
    model_selection : {"best", "accuracy", "score", "bic"}, default="best"
        How :attr:`best_index_` is chosen from the front (see
        :mod:`symreg.pareto`). ``"bic"`` suits small noisy tables.
    loss : {"mse", "mae", "huber", "logcosh"} or callable, default="mse"
        Loss reported in :attr:`equations_` and used to build the front and
        select the model. Constants are always fitted by least squares.
    guesses : list of str or Expression, optional
        Formulas to start from (parsed with the variable names).
    population_size : int, default=600
        Population of the evolutionary phase.
    drop_nonfinite : bool, default=False
        Drop rows with NaN or inf instead of rejecting the data.
    backend : {"processes", "ray"}, default="processes"
        Where the ``n_jobs`` workers run: local processes, or Ray tasks on the
        cluster ``ray.init()`` connects to (``RAY_ADDRESS``, else a local
        instance; needs ``pip install ray``). Workers share one wall-clock
        deadline, so the machines' clocks should agree.
    proposers : list of str or Proposer, optional
        Neural proposers run before the search, by name (``"lies"``,
        ``"dysymnet"``; see :data:`symreg.neural.PROPOSERS`) or as
        :class:`~symreg.neural.proposer.Proposer` instances. A proposer that
        fails is skipped with a warning; the fit goes on.
    hypotheses : dict, optional
        What you believe about the formula, for the transformer (controllable
        neural SR): ``{"include": ["sin"], "exclude": ["exp"], "subtrees":
        ["x0*x1"], "complexity": 9}``. Excluded operators are also removed from
        the search, so they never appear; the other parts condition the
        transformer's proposals.
    search : bool, default=True
        Run the tree search. ``False``: only the proposers (and ``guesses``)
        are fitted; needs at least one of them.
    proposer_time_fraction : float, default=0.3
        Share of ``time_budget`` the proposers get together when the search
        runs (split equally between them; a proposer that stops early leaves
        its time to the search).

    Attributes
    ----------
    equations_ : pandas.DataFrame
        The Pareto front: ``complexity``, ``loss``, ``score``, ``equation``,
        ``sympy`` and ``expression`` (an :class:`Expression`).
    best_index_ : int
        Row of :attr:`equations_` chosen by ``model_selection``.
    best_ : Expression
        The chosen formula.
    hall_of_fame_ : HallOfFame
        Best formula at every complexity (on the least-squares loss).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Present when X had string column names.
    variable_names_ : list of str
    n_evals_ : int
        Candidates evaluated.
    search_time_ : float
        Seconds the fit took: proposers, search and the fit of the proposals.
    interrupted_ : bool
        Whether the fit was stopped with Ctrl-C (the best so far is kept).
    proposer_times_ : dict
        Seconds each proposer took, by name (empty without proposers).
    n_proposals_ : int
        Candidates the proposers returned.
    """

    def __init__(
        self,
        operators: Sequence[str] | str | None = None,
        maxsize: int = 30,
        time_budget: float = 60.0,
        max_evals: int | None = None,
        random_state: int | None = None,
        n_jobs: int = 1,
        device: str | None = None,
        model_selection: str = "best",
        loss: str | Callable = "mse",
        guesses: Sequence[str | Expression] | None = None,
        population_size: int = 600,
        drop_nonfinite: bool = False,
        backend: str = "processes",
        proposers: Sequence[str] | None = None,
        search: bool = True,
        proposer_time_fraction: float = 0.3,
        hypotheses: dict | None = None,
    ):
        self.operators = operators
        self.maxsize = maxsize
        self.time_budget = time_budget
        self.max_evals = max_evals
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.device = device
        self.model_selection = model_selection
        self.loss = loss
        self.guesses = guesses
        self.population_size = population_size
        self.drop_nonfinite = drop_nonfinite
        self.backend = backend
        self.proposers = proposers
        self.search = search
        self.proposer_time_fraction = proposer_time_fraction
        self.hypotheses = hypotheses

    # ------------------------------------------------------------------------
    def _check_params(self) -> tuple[str, ...]:
        operators = ops.resolve_operators(self.operators)
        if not isinstance(self.maxsize, (int, np.integer)) or self.maxsize < 1:
            raise ValueError(f"maxsize must be an integer >= 1 (the size of one variable), got {self.maxsize!r}")
        if not (isinstance(self.time_budget, (int, float)) and self.time_budget > 0):
            raise ValueError(f"time_budget must be a positive number of seconds, got {self.time_budget!r}")
        if self.max_evals is not None and self.max_evals < 1:
            raise ValueError(f"max_evals must be >= 1, got {self.max_evals!r}")
        if not isinstance(self.n_jobs, (int, np.integer)) or self.n_jobs < 1:
            raise ValueError(f"n_jobs must be an integer >= 1, got {self.n_jobs!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.model_selection not in MODEL_SELECTIONS:
            raise ValueError(f"model_selection must be one of {MODEL_SELECTIONS}, got {self.model_selection!r}")
        if not callable(self.loss) and self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; known losses: {', '.join(LOSSES)}")
        resolve_device(self.device)
        if not (isinstance(self.proposer_time_fraction, (int, float))
                and 0 < self.proposer_time_fraction < 1):
            raise ValueError("proposer_time_fraction must be a number between 0 and 1, "
                             f"got {self.proposer_time_fraction!r}")
        self._make_proposers()
        if not self.search and not self.proposers and not self.guesses:
            raise ValueError("search=False needs proposers (e.g. proposers=['lies']) or guesses: "
                             "nothing would produce a formula")
        return operators

    def _make_proposers(self) -> list:
        """The proposer objects of ``self.proposers``; ValueError for an unknown name."""
        from .neural import get_proposer
        from .neural.proposer import Proposer

        if self.proposers is None:
            return []
        items = [self.proposers] if isinstance(self.proposers, (str, Proposer)) else self.proposers
        out = []
        for item in items:
            if isinstance(item, Proposer):
                if self.hypotheses is not None and getattr(item, "hypothesis", False) is None:
                    item = copy.copy(item)  # the user's object stays as it was
                    item.hypothesis = self.hypotheses
                out.append(item)
                continue
            if not isinstance(item, str):
                raise TypeError(f"proposers must be names or Proposer objects, got {item!r}")
            if item.strip().lower() == "transformer":
                out.append(get_proposer(item, hypothesis=self.hypotheses))
            else:
                out.append(get_proposer(item))
        return out

    def _operators_and_hypothesis(self, names):
        """The search's operators (less the hypothesis' exclusions) and the hypothesis."""
        from .neural.vocab import Hypothesis

        operators = ops.resolve_operators(self.operators)
        hyp = Hypothesis.from_dict(self.hypotheses, names)
        kept = tuple(o for o in operators if o not in hyp.exclude)
        if not kept:
            raise ValueError("the hypothesis excludes every operator the search may use")
        return kept, hyp

    def _run_proposers(self, proposers, X, y, w, operators, seed: int, budget: float,
                       names) -> list[Expression]:
        """Candidates of ``proposers``, each within its share of ``budget`` seconds.

        A proposer that raises is skipped with a RuntimeWarning; Ctrl-C stops the
        proposers and keeps what they produced (``interrupted_``).
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
                got = prop.propose(X, y, n=32, time_budget=share, seed=seed, operators=operators,
                                   variable_names=names)
            except KeyboardInterrupt:
                self.interrupted_ = True
                break
            except Exception as exc:  # noqa: BLE001 - a proposer never costs the fit
                warnings.warn(f"proposer {label!r} failed and is skipped: {exc!r}", RuntimeWarning,
                              stacklevel=3)
                got = []
            finally:
                self.proposer_times_[label] = time.monotonic() - t0
            for e in got or []:
                if isinstance(e, Expression) and e.n_variables <= X.shape[1]:
                    out.append(e.with_names(None))
        return out

    def _search_reductions(self, proposers, X, y, w, config: SearchConfig, total: float
                           ) -> tuple[list[Expression], bool]:
        """Formulas ``M·f(g)`` from the groups the proposers found (``reductions_``,
        see :mod:`symreg.neural.groups`): a short search for ``f`` on ``g`` (and
        ``1/g``) with the target ``y/M``, each candidate multiplied back.

        A law like ``n μ tanh(μB/(kT))`` is too large for the search to stumble
        on, while ``f`` on the reduced problem is a few tokens that its
        enumeration lists outright; hence the enumeration gets most of the short
        budget. At most two groups, each with at most ``max(3, 0.12·time_budget)``
        seconds, stopping at an exact ``f``.
        """
        from .simplify import rewrite_operators

        reductions = [r for p in proposers for r in getattr(p, "reductions_", None) or []][:2]
        out: list[Expression] = []
        exact = False
        allowed = frozenset(config.operators)
        for red in reductions:
            g, z = red.reduce(X, y)
            ok = np.isfinite(g).all(axis=1) & np.isfinite(z)
            if ok.sum() < 10:
                continue
            sub = dataclasses.replace(config, time_budget=max(3.0, 0.12 * total), max_evals=None,
                                      enumeration_fraction=0.8, structure_prior=None)
            try:
                found = run_search(g[ok], z[ok], sub, n_jobs=1,
                                   sample_weight=None if w is None else w[ok])
            except Exception as exc:  # noqa: BLE001 - a reduction never costs the fit
                warnings.warn(f"the search on a reduced problem failed: {exc!r}", RuntimeWarning,
                              stacklevel=3)
                continue
            for cand in found.hall_of_fame.front():
                e = rewrite_operators(red.compose(cand.expr), allowed)
                if e is not None:
                    out.append(e)
            if found.interrupted:
                self.interrupted_ = True
                break
            if found.stopped_early:
                exact = True
                break
        return out, exact

    def _fit_proposals(self, exprs: list[Expression], X, y, w, seed: int,
                       deadline: float | None = None) -> tuple[list[Expression], np.ndarray]:
        """The proposals as given and with ``a·f + b`` fitted, with their losses.

        Both versions go to the hall of fame: the proposer's own constants may be
        snapped to exact values that a refit would blur.
        """
        from .simplify import fold_constants

        if not exprs:
            return [], np.zeros(0)
        dev = resolve_device(self.device)
        raw = evaluate_batch(exprs, X, y, sample_weight=w, dtype=torch.float64, device=dev)
        try:
            fitted, losses = fit_constants(exprs, X, y, w, linear_scaling=True, n_restarts=2,
                                           max_iter=60, device=dev, seed=seed, deadline=deadline)
            fitted = [fold_constants(e) for e in fitted]
        except Exception as exc:  # noqa: BLE001 - keep the proposals as they are
            warnings.warn(f"fitting the proposals failed: {exc!r}", RuntimeWarning, stacklevel=3)
            fitted, losses = [], np.zeros(0)
        return list(exprs) + list(fitted), np.concatenate([np.asarray(raw), np.asarray(losses)])

    def _validate_input(self, X, y, sample_weight, variable_names):
        if isinstance(X, pd.DataFrame):
            bad = [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])
                   or pd.api.types.is_bool_dtype(X[c])]
            if bad:
                raise ValueError(f"non-numeric column(s) in X: {', '.join(bad)}")
        if isinstance(y, (pd.DataFrame, pd.Series)) and not all(
                pd.api.types.is_numeric_dtype(t) for t in np.atleast_1d(getattr(y, "dtypes", y.dtype))):
            raise ValueError("y must be numeric")
        if self.drop_nonfinite:
            X, y, sample_weight = _drop_nonfinite_rows(X, y, sample_weight)
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64, ensure_min_samples=1)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1:
            raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if w.shape[0] != X.shape[0]:
                raise ValueError(f"sample_weight has {w.shape[0]} values but X has {X.shape[0]} rows")
            if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
                raise ValueError("sample_weight must be finite, non-negative and not all zero")
        if X.shape[0] < MIN_SAMPLES:
            n = X.shape[0]
            raise ValueError(f"need at least {MIN_SAMPLES} samples to fit, got {n} sample{'s' * (n != 1)}")
        names = self._variable_names(X.shape[1], variable_names)
        return X, y, w, names

    def _variable_names(self, n_features: int, variable_names) -> list[str]:
        if variable_names is None:
            if hasattr(self, "feature_names_in_"):
                variable_names = [str(c) for c in self.feature_names_in_]
            else:
                return [f"x{i}" for i in range(n_features)]
        names = [str(v) for v in variable_names]
        if len(names) != n_features:
            raise ValueError(f"variable_names has {len(names)} names but X has {n_features} columns")
        if len(set(names)) != len(names):
            raise ValueError("variable_names must be unique")
        return names

    # ------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None, variable_names: Sequence[str] | None = None,
            callback: Callable[[SearchProgress], None] | None = None) -> SymbolicRegressor:
        """Search for formulas that map X to y.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Column names of a DataFrame become the variable names.
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        variable_names : list of str, optional
        callback : callable, optional
            Called with a :class:`~symreg.search.engine.SearchProgress` now
            and then (single worker only).

        Returns
        -------
        self
        """
        self._check_params()
        X, y, w, names = self._validate_input(X, y, sample_weight, variable_names)
        self.variable_names_ = names
        operators, _ = self._operators_and_hypothesis(names)
        # an int seeds the search directly; None or a RandomState draws a seed
        if isinstance(self.random_state, (int, np.integer)):
            seed = int(self.random_state)
        else:
            seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        seeds = [g if isinstance(g, Expression) else Expression.parse(g, names) for g in (self.guesses or [])]
        start = time.monotonic()
        total = float(self.time_budget)
        self.interrupted_ = False
        self.proposer_times_ = {}
        proposals: list[Expression] = []
        config = SearchConfig(
            operators=operators, maxsize=int(self.maxsize), time_budget=total,
            max_evals=self.max_evals, seed=seed, device=resolve_device(self.device),
            population_size=int(self.population_size), n_offspring=int(self.population_size),
        )
        frac = float(self.proposer_time_fraction)
        all_proposers = self._make_proposers()
        # quick proposers (the transformer) run before any search and seed it;
        # the slow ones (LIES, DySymNet) only run if a first search is not exact
        quick = [p for p in all_proposers if getattr(p, "quick", False)]
        slow = [p for p in all_proposers if not getattr(p, "quick", False)]
        if quick:
            proposals = self._run_proposers(quick, X, y, w, operators, seed, total * frac, names)
            priors = [p.structure_prior() for p in quick if hasattr(p, "structure_prior")]
            if priors and self.search:
                config.structure_prior = priors[0]
        first = None  # the search before the slow proposers, when both run
        if slow and self.search:
            # half of the search's share first: most laws fall to its cheap structure
            # and enumeration within a second or two, and then the proposers (which
            # take their whole share) would only have delayed them
            half = None if self.max_evals is None else max(1, self.max_evals // 2)
            first = run_search(X, y, dataclasses.replace(config, time_budget=total * (1 - frac) / 2,
                                                         max_evals=half),
                               n_jobs=int(self.n_jobs), sample_weight=w, seeds=seeds + proposals,
                               callback=callback, backend=self.backend)
            self.interrupted_ = first.interrupted
        done = first is not None and (first.stopped_early or first.interrupted)
        if slow and not done and not self.interrupted_:
            # alone, the proposers get the budget less a reserve for the constant fit
            budget = (total * frac if self.search
                      else total - (time.monotonic() - start) - min(2.0, 0.1 * total))
            end = time.monotonic() + budget
            for k, prop in enumerate(slow):
                share = max(end - time.monotonic(), 0.0) / (len(slow) - k)
                proposals += self._run_proposers([prop], X, y, w, operators, seed, share, names)
                if self.interrupted_:
                    break
                if self.search:
                    # the groups this proposer found, searched at once: their time is
                    # not the other proposers' (it comes out of the search's)
                    t0 = time.monotonic()
                    reduced, exact = self._search_reductions([prop], X, y, w, config, total)
                    end += time.monotonic() - t0
                    proposals = reduced + proposals
                    if exact or self.interrupted_:
                        break   # an exact law: the other proposers are not needed
        self.n_proposals_ = len(proposals)
        # Ctrl-C in a quick proposer, before any search: fit what there is
        searched = bool(self.search) and not (self.interrupted_ and first is None)
        if searched:
            if done or self.interrupted_:
                # exact already, or Ctrl-C (in the first search or the proposers):
                # keep what the first search found
                result = first
            else:
                carried = [] if first is None else [c.expr for c in first.hall_of_fame.front()]
                # what is left of the budget (never less than a tenth); a fit bounded
                # by max_evals gets a fixed share instead, since the search sizes its
                # enumeration from its budget and must not depend on the clock
                if first is not None and self.max_evals is not None:
                    config.time_budget = total * (1 - frac) / 2
                    config.max_evals = max(1, self.max_evals - self.max_evals // 2)
                else:
                    config.time_budget = max(total - (time.monotonic() - start), 0.1 * total)
                result = run_search(X, y, config, n_jobs=int(self.n_jobs), sample_weight=w,
                                    seeds=seeds + proposals + carried, callback=callback,
                                    backend=self.backend)
                if first is not None:
                    # nothing the first search found is lost
                    kept = first.hall_of_fame.candidates()
                    result.hall_of_fame.update([c.expr for c in kept], [c.loss for c in kept])
                    result.n_evals += first.n_evals
            self.hall_of_fame_ = result.hall_of_fame
            self.n_evals_ = result.n_evals
            self.interrupted_ = self.interrupted_ or result.interrupted
        else:
            var_y = float(np.average((y - np.average(y, weights=w)) ** 2, weights=w)) or 1.0
            self.hall_of_fame_ = HallOfFame(config.maxsize, loss_floor=config.exact_nmse * var_y)
            self.n_evals_ = 0
        if not searched:
            # without a search the proposals (and guesses) are the hall of fame; with
            # one, its seed phase has fitted them into its hall of fame already
            offered = seeds + proposals
            exprs, losses = self._fit_proposals(offered, X, y, w, seed,
                                                deadline=time.perf_counter() + max(
                                                    0.5, total - (time.monotonic() - start)))
            self.hall_of_fame_.update(exprs, losses)
            self.n_evals_ += 2 * len(offered)
        self.search_time_ = time.monotonic() - start
        self._build_table(X, y, w)
        return self

    def _build_table(self, X, y, w) -> None:
        cands = self.hall_of_fame_.candidates()
        if not cands:
            # nothing finite was found: fall back to the mean
            mean = float(np.average(y, weights=w))
            const = Expression(["C"], [mean])
            self.hall_of_fame_.update([const], [float(np.average((y - mean) ** 2, weights=w))])
            cands = self.hall_of_fame_.candidates()
        exprs = [c.expr.with_names(self.variable_names_) for c in cands]
        if self.loss == "mse":
            losses = np.array([c.loss for c in cands])
        else:
            losses = evaluate_batch(exprs, X, y, sample_weight=w, loss=self.loss, dtype=torch.float64,
                                    device=resolve_device(self.device))
        # the Pareto front under the reported loss
        hof = HallOfFame(self.maxsize, loss_floor=self.hall_of_fame_.loss_floor)
        hof.update(exprs, losses)
        front = hof.front()
        comp = [c.complexity for c in front]
        loss = [c.loss for c in front]
        scores = front_scores(loss, comp, hof.loss_floor)
        self.equations_ = pd.DataFrame({
            "complexity": comp,
            "loss": loss,
            "score": scores,
            "equation": [str(c.expr) for c in front],
            "sympy": [c.expr.sympy() for c in front],
            "expression": [c.expr for c in front],
        })
        self.best_index_ = select_model(loss, comp, self.model_selection, hof.loss_floor,
                                        n_samples=len(y))
        self.best_ = front[self.best_index_].expr

    # ------------------------------------------------------------------------
    def _expression(self, index: int | None) -> Expression:
        check_is_fitted(self, "equations_")
        if index is None:
            return self.best_
        if not 0 <= index < len(self.equations_):
            raise IndexError(f"equation index {index} out of range 0..{len(self.equations_) - 1}")
        return self.equations_["expression"].iloc[index]

    def predict(self, X, index: int | None = None) -> np.ndarray:
        """Predictions of the chosen formula (or row ``index`` of the front)."""
        expr = self._expression(index)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return expr.evaluate(X)

    def sympy(self, index: int | None = None):
        """The chosen formula (or row ``index``) as a sympy expression."""
        return self._expression(index).sympy()

    def latex(self, index: int | None = None, precision: int = 4) -> str:
        """The chosen formula (or row ``index``) as LaTeX."""
        return self._expression(index).latex(precision=precision)

    # thin wrappers over symreg.io and symreg.export
    def save(self, path, metadata: dict | None = None):
        """Write the fitted model to the run folder ``path`` (see :func:`symreg.io.save`);
        :func:`symreg.load` reads it back. Returns the folder as a ``Path``."""
        from .io import save

        return save(self, path, metadata=metadata)

    def torch(self, index: int | None = None):
        """The chosen formula (or row ``index``) as a ``torch.nn.Module`` whose
        constants are trainable parameters (see :func:`symreg.export.to_torch`)."""
        from .export import to_torch

        return to_torch(self, index)

    def numpy_function(self, index: int | None = None):
        """The chosen formula (or row ``index``) as a numpy callable ``f(X)``."""
        from .export import to_numpy

        return to_numpy(self, index)

    def latex_table(self, precision: int = 3, target: str = "y") -> str:
        """The Pareto front as a LaTeX table, the chosen row in bold."""
        from .export import latex_table

        return latex_table(self, precision=precision, target=target)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        tags.non_deterministic = self.random_state is None
        return tags

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        base = super().__repr__(N_CHAR_MAX)
        if hasattr(self, "best_"):
            return f"{base}\n  best: {self.best_}"
        return base
