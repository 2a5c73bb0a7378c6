"""SymbolicRegressor: the scikit-learn estimator that runs a whole fit."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import operators as ops
from . import screening
from .constants import fit_constants
from .evaluate import LOSSES, resolve_device
from .expression import Expression
from .fitted import FittedState, front_table
from .io import pysr_expressions, read_pysr_hall_of_fame, read_state
from .io import save as save_run
from .memory import release_memory
from .pareto import MODEL_SELECTIONS, HallOfFame, exact_floor
from .plan import FitPlan
from .rows import check_search_rows, plan_rows
from .search.engine import SearchConfig, SearchProgress
from .search.pool import BACKENDS
from .search.structure import get_structure_tests
from .threads import check_n_threads, fit_threads, limit_threads

__all__ = ["SymbolicRegressor", "from_pysr", "load"]

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
    a small reserve for the constant fit); model selection is the same. The
    whole schedule is :class:`symreg.plan.FitPlan`.

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
    n_threads : int, optional
        Threads of each search process (torch, BLAS, OpenMP; restored after the
        fit). ``None``: ``SYMREG_NUM_THREADS`` if set, else the cores free when
        the fit starts divided by ``n_jobs`` (see :mod:`symreg.threads`).
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
    structure_tests : list of str, optional
        Names of the cheap structure tests to run, ``None`` for all; see
        :func:`symreg.search.structure.list_structure_tests`.
    search_rows : "auto", int or None, default="auto"
        Rows the search sees on a big table: a deterministic subsample (from
        ``random_state``); afterwards the constants are refitted and the losses
        computed on all rows, out of the same ``time_budget``. ``"auto"``: a few
        thousand rows, more when the data look noisy and the budget allows (see
        :mod:`symreg.rows`); an integer: that many; None: all rows.
    feature_selection : "auto", None or list of str or int, default="auto"
        Screen the columns before the search and search only those that carry
        information about y (see :mod:`symreg.screening`: each column against
        shuffled copies, by mutual information, tree importances and a smooth
        model; a column goes only when all three find it no better than noise,
        and small tables keep everything). The formulas read the original
        columns. ``None`` or ``False``: keep all. A list: screen, but keep the
        columns it names (names or indices). Columns used by ``guesses`` or by
        the ``hypotheses``' subtrees are always kept.

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
    dropped_features_ : pandas.DataFrame
        Columns the screening dropped, one row each: ``feature``, ``index``,
        ``reason`` and the scores behind it (empty when none was dropped).
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
        structure_tests: Sequence[str] | None = None,
        n_threads: int | None = None,
        search_rows: int | str | None = "auto",
        feature_selection: str | Sequence[str | int] | None = "auto",
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
        self.structure_tests = structure_tests
        self.n_threads = n_threads
        self.search_rows = search_rows
        self.feature_selection = feature_selection

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
        check_n_threads(self.n_threads)
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
        tests = self.structure_tests
        if tests is not None and (isinstance(tests, str)
                                  or not all(isinstance(t, str) for t in tests)):
            raise ValueError(f"structure_tests must be a list of test names or None, got {tests!r}")
        if tests is not None:
            get_structure_tests(tests)   # unknown names: a ValueError that lists the known ones
        check_search_rows(self.search_rows)
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
        operators, hyp = self._operators_and_hypothesis(names)
        # an int seeds the search directly; None or a RandomState draws a seed
        if isinstance(self.random_state, (int, np.integer)):
            seed = int(self.random_state)
        else:
            seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        seeds = [g if isinstance(g, Expression) else Expression.parse(g, names)
                 for g in (self.guesses or [])]
        used = [j for e in [*seeds, *(Expression(s) for s in hyp.subtrees)] for j in e.variables]
        with limit_threads(threads := fit_threads(self.n_threads, self.n_jobs)):
            screen = screening.select_columns(self.feature_selection, X, y, w, names, seed,
                                              keep=used)
        # no copy of a big table when every column stays
        all_kept = list(screen.kept) == list(range(X.shape[1]))
        Xs, names_s = (X if all_kept else X[:, screen.kept]), [names[j] for j in screen.kept]
        seeds = [screening.restrict_expression(e, screen.kept, names_s) for e in seeds]
        # the screening's seconds come out of the budget (at most half of it), but not in
        # a fit bounded by max_evals: its budget must not depend on the clock
        budget = max(0.5 * self.time_budget,
                     self.time_budget - (0.0 if self.max_evals else screen.seconds))
        # a big table: the plan runs on a sample, checked on all rows after it
        rows = plan_rows(self.search_rows, Xs, y, w, time_budget=budget, seed=seed)
        config = SearchConfig(
            operators=operators, maxsize=int(self.maxsize), time_budget=budget - rows.reserve,
            max_evals=self.max_evals, seed=seed, device=resolve_device(self.device),
            population_size=int(self.population_size), n_offspring=int(self.population_size),
            structure_tests=None if self.structure_tests is None else tuple(self.structure_tests),
        )
        plan = FitPlan(config, tuple(self._make_proposers()), search=bool(self.search),
                       proposer_fraction=float(self.proposer_time_fraction),
                       n_jobs=int(self.n_jobs), backend=self.backend)
        with limit_threads(threads):   # the same share: the load is sampled once a fit
            result = plan.run(*rows.take(Xs, y, w), seeds=seeds, variable_names=names_s,
                              callback=screening.remap_callback(callback, screen.kept))
            hof = rows.recheck(result.hall_of_fame, Xs, y, w, device=config.device)
            hof = screening.remap_hall_of_fame(hof, screen.kept)
            table, best = front_table(hof, X, y, w, variable_names=names,
                                      maxsize=self.maxsize, loss=self.loss,
                                      model_selection=self.model_selection, device=config.device)
        self._set_results(FittedState(
            params=self.get_params(deep=False), variable_names=names, n_features_in=X.shape[1],
            hall_of_fame=hof, equations=table, best_index=best,
            n_evals=result.n_evals, search_time=result.search_time + rows.seconds,
            interrupted=result.interrupted, n_proposals=result.n_proposals,
            proposer_times=result.proposer_times, dropped_features=screen.dropped))
        # the fit's temporaries are freed; hand their pages back to the OS
        release_memory()
        return self

    # ------------------------------------------------------------------------
    def _set_results(self, state: FittedState) -> None:
        """The fitted attributes (all but ``n_features_in_`` and ``feature_names_in_``)."""
        self.variable_names_ = list(state.variable_names)
        self.hall_of_fame_ = state.hall_of_fame
        self.equations_ = state.equations
        self.best_index_ = int(state.best_index)
        self.best_ = state.best
        self.n_evals_ = int(state.n_evals)
        self.search_time_ = float(state.search_time)
        self.interrupted_ = bool(state.interrupted)
        self.n_proposals_ = int(state.n_proposals)
        self.proposer_times_ = dict(state.proposer_times)
        self.dropped_features_ = (screening.empty_dropped() if state.dropped_features is None
                                  else state.dropped_features)

    def to_state(self) -> FittedState:
        """The fitted estimator as plain data (what :func:`symreg.io.save` writes)."""
        check_is_fitted(self, "equations_")
        features = getattr(self, "feature_names_in_", None)
        return FittedState(
            params=self.get_params(deep=False), variable_names=list(self.variable_names_),
            n_features_in=int(self.n_features_in_),
            feature_names_in=None if features is None else [str(f) for f in features],
            hall_of_fame=self.hall_of_fame_, equations=self.equations_,
            best_index=int(self.best_index_), n_evals=int(getattr(self, "n_evals_", 0)),
            search_time=float(getattr(self, "search_time_", 0.0)),
            interrupted=bool(getattr(self, "interrupted_", False)),
            n_proposals=int(getattr(self, "n_proposals_", 0)),
            proposer_times=dict(getattr(self, "proposer_times_", {})),
            dropped_features=getattr(self, "dropped_features_", None))

    @classmethod
    def from_state(cls, state: FittedState) -> SymbolicRegressor:
        """A fitted estimator from its plain data (see :meth:`to_state`).

        Parameters this version does not know are ignored.
        """
        valid = cls().get_params(deep=False)
        model = cls(**{k: v for k, v in state.params.items() if k in valid})
        model.n_features_in_ = int(state.n_features_in)
        if state.feature_names_in is not None:
            model.feature_names_in_ = np.asarray(state.feature_names_in, dtype=object)
        model._set_results(state)
        return model

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
        return save_run(self.to_state(), path, metadata=metadata)

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


# ----------------------------------------------------------------------------
# fitted estimators from saved runs
# ----------------------------------------------------------------------------

def load(path: str | Path) -> SymbolicRegressor:
    """Read a saved run back into a fitted :class:`SymbolicRegressor`.

    Parameters
    ----------
    path : str or Path
        A run folder (as written by :func:`symreg.io.save`,
        ``SymbolicRegressor.save`` or ``symreg fit``) or its ``model.json``.

    Returns
    -------
    SymbolicRegressor
        Fitted: ``predict``, ``equations_``, ``best_``, ``sympy()`` and
        ``latex()`` work as they did on the saved estimator, and ``fit``
        starts a new search with the saved parameters.
    """
    return SymbolicRegressor.from_state(read_state(path))


def from_pysr(run_dir: str | Path, X, y, *, sample_weight=None,
              variable_names: Sequence[str] | None = None,
              **params: Any) -> SymbolicRegressor:
    """A fitted :class:`SymbolicRegressor` from a PySR run's hall of fame.

    Every equation of the hall of fame is parsed (variables by name, or
    ``x0, x1, ...``), its constants are refitted on ``X, y`` with
    :func:`symreg.constants.fit_constants`, and the results form the front,
    so PySR's laws can be re-ranked (``model_selection``), exported, or given
    to a new ``fit`` as ``guesses``.

    Parameters
    ----------
    run_dir : str or Path
        A PySR output folder holding ``hall_of_fame.csv`` (or the file itself).
        A symreg run folder works too: it carries the same file.
    X : array-like or DataFrame of shape (n_samples, n_features)
        The data, with the columns in PySR's order. A DataFrame's column
        names are the variable names.
    y : array-like of shape (n_samples,)
    sample_weight : array-like, optional
    variable_names : list of str, optional
        Names used in the equations when ``X`` is not a DataFrame.
    **params
        :class:`SymbolicRegressor` parameters (``model_selection``, ``loss``,
        ``maxsize``...). ``operators`` defaults to those the equations use.

    Raises
    ------
    ValueError
        When no equation can be read; equations that cannot be (an operator
        symreg lacks) are skipped with a warning.
    """
    table = read_pysr_hall_of_fame(run_dir)
    model = SymbolicRegressor(**params)
    Xv, yv, w, names = model._validate_input(X, y, sample_weight, variable_names)
    exprs = pysr_expressions(table, names, source=run_dir)
    if "operators" not in params:
        used = {t for e in exprs for t in e.tokens if t in ops.OPERATORS}
        model.operators = [op for op in ops.OPERATORS if op in used] or None
    if "maxsize" not in params:
        model.maxsize = max(model.maxsize, max(e.complexity for e in exprs))
    model._check_params()
    device = resolve_device(model.device)
    fitted, losses = fit_constants([e.with_names(None) for e in exprs], Xv, yv, w, device=device)
    hof = HallOfFame(int(model.maxsize), loss_floor=exact_floor(yv, w))  # the search's floor
    hof.update(fitted, losses)
    equations, best = front_table(hof, Xv, yv, w, variable_names=names, maxsize=model.maxsize,
                                  loss=model.loss, model_selection=model.model_selection,
                                  device=device)
    model._set_results(FittedState(model.get_params(deep=False), names, Xv.shape[1], hof,
                                   equations, best))
    return model
