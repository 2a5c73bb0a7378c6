"""Column screening: which columns of a wide table can the search do without.

A table with dozens of columns of which a few matter makes every part of the
search slower and its choices worse, so :func:`screen_features` looks at the
columns once, before the search, and keeps those that carry information about
``y``. Every test compares a column with *shadows*: copies of the columns with
their rows shuffled, which keep their distribution and lose any relation to
``y`` (the Boruta idea), so the thresholds come from the data, not from fixed
cutoffs. All three run on ranks or logs (robust to heavy tails) and use
scikit-learn and scipy:

* univariate: the mutual information of the column with ``y``
  (``mutual_info_regression``) against a high quantile of the shadows';
* multivariate: extra-trees impurity importances over the columns and fresh
  shadows, in several rounds; the share of shadows at least as important as the
  column, averaged over the rounds (about 1/2 for an irrelevant column). A
  column that acts only through an interaction (``y = x0·x1`` with symmetric
  inputs) has no mutual information alone and is kept by the trees;
* smooth: laws are smooth, so a least-squares polynomial (a full cubic in the
  columns the trees found, cubes and products with the top three for the
  others; logs of positive columns and of a one-signed ``y``) fits them
  closely, and a Wald test of each column's terms, with the
  heteroscedasticity-robust (HC3) covariance since the residual is the
  model's misfit rather than noise, finds a column whose share of the variance
  is too small for the trees to see.

A column is dropped only when all three tests find it no better than noise.
When in doubt it is kept: tables with fewer than ``min_rows`` usable rows, or
with at most ``MIN_COLUMNS`` columns, keep everything, and so does a table where
every column would go. Constant columns are dropped without tests. The tests run
on a row subsample (``max_rows``), so their cost does not grow with the table.

:func:`remap_expression` and :func:`remap_hall_of_fame` rewrite formulas found
on the kept columns to the original column indices, so they evaluate on the
full ``X``; :func:`select_columns` is ``SymbolicRegressor(feature_selection=)``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2, rankdata

from .expression import Expression
from .operators import renumber_variables
from .pareto import HallOfFame

__all__ = ["DROPPED_COLUMNS", "ScreeningResult", "empty_dropped", "remap_callback",
           "remap_expression", "remap_hall_of_fame", "restrict_expression", "screen_features",
           "select_columns"]

#: the columns of ``SymbolicRegressor.dropped_features_``
DROPPED_COLUMNS = ("feature", "index", "reason", "mutual_info", "mi_threshold", "importance",
                   "shadow_share", "smooth_pvalue")

#: below this many usable rows the tests cannot tell a weak column from noise: keep all
#: (at 100 rows of the Feynman laws 11 of 468 columns went, at 500 rows 3)
MIN_ROWS = 200
#: rows the tests look at; more rows cost time and tell little more
MAX_ROWS = 1000
#: at most this many columns are kept without tests (screening them gains nothing)
MIN_COLUMNS = 3
#: shadows per round (and twice as many for the mutual information)
N_SHADOWS = 10
#: extra-trees rounds, each with fresh shadows, and trees per round
N_ROUNDS = 6
N_TREES = 8
#: share of the columns each split of the trees chooses from
MAX_FEATURES = 0.5
#: rows the mutual information looks at
MI_ROWS = 600
#: the MI test keeps a column above this quantile of the shadows' MI
MI_QUANTILE = 0.95
#: the trees reject a column when, on average over the rounds, more than this share
#: of the shadows is at least as important (an irrelevant column: 1/2 on average)
DROP_SHARE = 0.25
#: the smooth model keeps a column whose Wald-test p-value is below this
SMOOTH_ALPHA = 0.1
#: columns whose share is at most this are the smooth model's core (beyond doubt relevant)
STRONG_SHARE = 0.05
#: the smallest residual the smooth model's test believes, relative to y's spread
RESIDUAL_FLOOR = 1e-6
#: at most this many columns (those the trees find) in the smooth model's full cubic
N_CORE = 9


@dataclass
class ScreeningResult:
    """What :func:`screen_features` decided.

    Attributes
    ----------
    kept : list of int
        Indices of the kept columns, in their original order.
    dropped : pandas.DataFrame
        One row per dropped column: :data:`DROPPED_COLUMNS` (name, index,
        reason, the mutual information and its shadow threshold, the mean tree
        importance, the share of shadows at least as important, the smooth
        model's p-value); the scores are NaN for a constant column.
    note : str
        Why nothing was screened, when nothing was ("" otherwise).
    seconds : float
        Wall-clock time the screening took.
    scores : pandas.DataFrame
        The same scores for every column (empty when nothing was tested).
    """

    kept: list[int]
    dropped: pd.DataFrame = field(default_factory=lambda: empty_dropped())
    note: str = ""
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: float = 0.0


def empty_dropped() -> pd.DataFrame:
    """A ``dropped_features_`` table with no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object if c in ("feature", "reason") else float)
                         for c in DROPPED_COLUMNS})


def screen_features(X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
                    names: Sequence[str] | None = None, seed: int = 0, *,
                    keep: Sequence[int] = (), max_rows: int = MAX_ROWS,
                    min_rows: int = MIN_ROWS, n_rounds: int = N_ROUNDS) -> ScreeningResult:
    """Columns of ``X`` that carry information about ``y``, and why the others do not.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite values.
    y : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,), optional
        Rows of weight 0 are ignored; the trees weigh the others.
    names : sequence of str, optional
        Column names for the report (default ``x0, x1, ...``).
    seed : int
        Seeds the row subsample, the shadows and the trees.
    keep : sequence of int
        Columns kept whatever the tests say.
    max_rows : int
        Rows the tests look at (a random subsample when there are more).
    min_rows : int
        Fewer usable rows than this: nothing is tested, everything kept.
    n_rounds : int
        Extra-trees rounds, each with fresh shadows.

    Returns
    -------
    ScreeningResult
    """
    start = time.perf_counter()
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n, p = X.shape
    names = [f"x{i}" for i in range(p)] if names is None else [str(s) for s in names]
    forced = {int(i) for i in keep}
    rows = np.arange(n) if sample_weight is None else np.flatnonzero(np.asarray(sample_weight) > 0)
    rng = np.random.default_rng(seed)
    sub = np.sort(rng.choice(rows, max_rows, replace=False)) if len(rows) > max_rows else rows
    # a column that never changes carries nothing; one constant on the subsample is
    # checked on all rows (a rare value counts)
    spread = np.ptp(X[sub], axis=0) if len(sub) else np.ones(p)
    for j in np.flatnonzero(spread == 0):
        spread[j] = np.ptp(X[rows, j])
    constant = [j for j in range(p) if j not in forced and spread[j] == 0]
    if len(constant) == p:
        return ScreeningResult(list(range(p)), note="every column is constant")
    tested = [j for j in range(p) if j not in constant]
    dropped = {j: "constant" for j in constant}
    kept = tested
    note = ""
    scores = pd.DataFrame()
    if len(rows) < min_rows:
        note = f"{len(rows)} rows: too few to tell (screening needs {min_rows})"
    elif len(tested) <= MIN_COLUMNS:
        note = f"{len(tested)} columns: nothing to screen"
    elif np.ptp(y[rows]) == 0:
        note = "y is constant"
    else:
        rows = sub
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[rows]
        scores = _column_scores(X[np.ix_(rows, tested)], y[rows], w, rng, n_rounds)
        scores.insert(0, "index", tested)
        scores.insert(0, "feature", [names[j] for j in tested])
        reject = _rejected(scores) & ~scores["index"].isin(forced).to_numpy()
        if reject.all():
            note = "no column stands out from its shadows: all kept"
        else:
            kept = [j for j, r in zip(tested, reject) if not r]
            dropped.update({int(j): "below shadows" for j in scores["index"][reject]})
    table = _dropped_table(dropped, names, scores)
    return ScreeningResult(sorted(kept), table, note, scores, time.perf_counter() - start)


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] along the first axis (ties share a rank)."""
    return (rankdata(a, axis=0) - 1.0) / max(len(a) - 1, 1)


def _column_scores(X: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                   rng: np.random.Generator, n_rounds: int) -> pd.DataFrame:
    """Mutual information and tree importance of each column against shuffled shadows."""
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.feature_selection import mutual_info_regression

    n, p = X.shape
    Xr, yr = _ranks(X), _ranks(y)
    # ranks give every continuous column the same distribution, so the shadows of any
    # columns make one null; each column is shadowed in turn
    order = np.concatenate([rng.permutation(p) for _ in range(-(-N_SHADOWS * (n_rounds + 2) // p))])

    def shadows(k: int) -> np.ndarray:
        cols = order[k * N_SHADOWS:(k + 1) * N_SHADOWS]
        return np.column_stack([Xr[rng.permutation(n), j] for j in cols])

    # univariate, on at most MI_ROWS rows (the kNN estimate is the costly part)
    # (random rows: a table sorted by some column must not bias them)
    sub = np.sort(rng.choice(n, MI_ROWS, replace=False)) if n > MI_ROWS else np.arange(n)
    mi = mutual_info_regression(np.hstack([Xr, shadows(0), shadows(1)])[sub], yr[sub],
                                n_neighbors=3, random_state=int(rng.integers(2**31)))
    mi_null = mi[p:]
    # multivariate: per round, the share of shadows at least as important as the column
    share = np.zeros(p)
    imp = np.zeros(p)
    for k in range(n_rounds):
        trees = ExtraTreesRegressor(n_estimators=N_TREES, max_features=MAX_FEATURES,
                                    min_samples_leaf=2, n_jobs=1,
                                    random_state=int(rng.integers(2**31)))
        trees.fit(np.hstack([Xr, shadows(k + 2)]), yr, sample_weight=w)
        fi = trees.feature_importances_
        share += (fi[p:][None, :] >= fi[:p][:, None]).mean(axis=1) / n_rounds
        imp += fi[:p] / n_rounds
    pv = _smooth_pvalues(X, y, w, imp, share <= STRONG_SHARE)
    return pd.DataFrame({"mutual_info": mi[:p],
                         "mi_threshold": float(np.quantile(mi_null, MI_QUANTILE)),
                         "importance": imp, "shadow_share": share, "smooth_pvalue": pv})


def _smooth_pvalues(X: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                    importance: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """P-values of a robust Wald test per column in a least-squares polynomial model.

    Laws are smooth, so a polynomial of the columns (of their logs where they are
    positive, of ``log|y|`` where ``y`` keeps one sign: products become sums) fits
    them closely, and a column whose terms (its powers and its products with other
    columns) explain more than chance matters, however small its share of the
    variance. The model is a full cubic in the ``strong`` columns (at most
    ``N_CORE``, by ``importance``), plus each other column's powers and its products
    with the top three. An irrelevant column is independent of the residual, so the
    test holds its level with the robust covariance.
    """
    n, p = X.shape
    Z = np.where((X > 0).all(axis=0), np.log(np.where(X > 0, X, 1.0)), X)
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    t = np.log(np.abs(y)) if (y > 0).all() or (y < 0).all() else y
    t = (t - t.mean()) / (t.std() or 1.0)
    # a full cubic in the most important columns, cubes and products with the top 3
    # for the others
    ranked = [int(j) for j in np.argsort(-importance) if strong[j]][:N_CORE]
    # the core's cubic must leave rows to spare: C(c + 3, 3) - 1 terms for c columns
    while ranked and math.comb(len(ranked) + 3, 3) + 6 * (p - len(ranked)) > n / 3:
        ranked.pop()
    core = sorted(ranked)
    powers = [e for e in itertools.product(range(4), repeat=len(core)) if 0 < sum(e) <= 3]
    cols, group = [np.ones(n)], [[] for _ in range(p)]

    def add(column: np.ndarray, members) -> None:
        for j in set(members):
            group[j].append(len(cols))
        cols.append(column)

    for e in powers:
        add(np.prod([Z[:, c] ** k for c, k in zip(core, e)], axis=0),
            [c for c, k in zip(core, e) if k])
    for j in (j for j in range(p) if j not in core):
        for d in (1, 2, 3):
            add(Z[:, j] ** d, [j])
        for c in ranked[:3]:
            add(Z[:, j] * Z[:, c], [j, c])
    B = np.column_stack(cols)
    df = n - B.shape[1]
    if df < max(30, B.shape[1]):
        return np.zeros(p)  # too few rows for the model: every column counts as relevant
    if w is not None:
        sw = np.sqrt(w / w.mean())
        B, t = B * sw[:, None], t * sw
    G = B.T @ B
    G += 1e-10 * np.trace(G) / len(G) * np.eye(len(G))  # keeps collinear terms solvable
    Gi = np.linalg.inv(G)
    beta = Gi @ (B.T @ t)
    e = t - B @ beta
    # the residual is the other columns' misfit, not noise: its size varies with them,
    # so the covariance of beta is the heteroscedasticity-robust one (HC3, which holds
    # its level with many terms)
    leverage = np.einsum("ij,jk,ik->i", B, Gi, B)
    # a residual at round-off (the cubic is exact, as for a product in logs) tells
    # nothing: it is floored at RESIDUAL_FLOOR of y's spread
    e2 = (e / np.maximum(1.0 - leverage, 1e-3)) ** 2 + RESIDUAL_FLOOR ** 2
    meat = B.T @ (B * e2[:, None])
    cov = Gi @ meat @ Gi
    pv = np.empty(p)
    for j, g in enumerate(group):
        try:
            wald = float(beta[g] @ np.linalg.solve(cov[np.ix_(g, g)], beta[g]))
        except np.linalg.LinAlgError:
            wald = np.inf  # a degenerate block: no evidence either way, so keep
        pv[j] = chi2.sf(wald, len(g)) if np.isfinite(wald) else 0.0
    return pv


def _rejected(scores: pd.DataFrame) -> np.ndarray:
    """Columns every test rejects: MI within the shadows', importance among the
    shadows', no significant share in the smooth model."""
    return ((scores["mutual_info"] <= scores["mi_threshold"])
            & (scores["shadow_share"] > DROP_SHARE)
            & (scores["smooth_pvalue"] > SMOOTH_ALPHA)).to_numpy()


def _dropped_table(dropped: dict[int, str], names: list[str], scores: pd.DataFrame) -> pd.DataFrame:
    if not dropped:
        return empty_dropped()
    by_index = scores.set_index("index") if len(scores) else None
    rows = []
    for j in sorted(dropped):
        row = {"feature": names[j], "index": j, "reason": dropped[j]}
        if by_index is not None and j in by_index.index:
            row.update({c: by_index.at[j, c] for c in DROPPED_COLUMNS[3:]})
        rows.append(row)
    return pd.DataFrame(rows, columns=list(DROPPED_COLUMNS))


# ----------------------------------------------------------------------------
# formulas found on the kept columns, written for all columns
# ----------------------------------------------------------------------------

def remap_expression(expr: Expression, kept: Sequence[int],
                     variable_names: Sequence[str] | None = None) -> Expression:
    """``expr`` over ``X[:, kept]`` rewritten over ``X``: variable ``i`` becomes ``kept[i]``.

    ``variable_names`` are the names of all columns (``None``: no names).
    """
    return Expression(renumber_variables(expr.tokens, kept), expr.constants,
                      None if variable_names is None else list(variable_names), check=False)


def remap_hall_of_fame(hof: HallOfFame, kept: Sequence[int]) -> HallOfFame:
    """A copy of ``hof`` whose formulas read the original columns (see
    :func:`remap_expression`); ``hof`` itself when every column was kept in order."""
    if list(kept) == list(range(len(kept))):
        return hof
    out = HallOfFame(hof.maxsize, loss_floor=hof.loss_floor)
    for cand in hof.candidates():
        out.replace(remap_expression(cand.expr, kept), cand.loss)
    return out


def restrict_expression(expr: Expression, kept: Sequence[int],
                        variable_names: Sequence[str] | None = None) -> Expression:
    """``expr`` over ``X`` rewritten over ``X[:, kept]`` (the inverse of
    :func:`remap_expression`); every variable it reads must be kept."""
    position = {int(j): i for i, j in enumerate(kept)}
    return Expression(renumber_variables(expr.tokens, position), expr.constants,
                      None if variable_names is None else list(variable_names), check=False)


def remap_callback(callback: Callable | None, kept: Sequence[int]) -> Callable | None:
    """``callback`` for a search on ``X[:, kept]``, shown the front over all columns."""
    if callback is None:
        return None

    def on_progress(progress):
        if progress.front:
            front = [(c, loss, remap_expression(e, kept)) for c, loss, e in progress.front]
            progress = dataclasses.replace(progress, front=front)
        return callback(progress)

    return on_progress


def select_columns(option, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None,
                   names: Sequence[str], seed: int, keep: Iterable[int] = ()) -> ScreeningResult:
    """``SymbolicRegressor(feature_selection=option)`` applied to validated data.

    Parameters
    ----------
    option : "auto", True, None, False, or list of str or int
        ``"auto"``/``True``: screen every column; ``None``/``False``: keep all;
        a list: screen, but keep the columns it names (names or indices).
    X, y, sample_weight, names, seed
        As :func:`screen_features`.
    keep : iterable of int
        Columns kept whatever the tests say (those the guesses use).

    Raises
    ------
    ValueError
        For an option of another kind, or a list naming a column X lacks.
    """
    p = X.shape[1]
    if option is None or option is False:
        return ScreeningResult(list(range(p)), note="feature_selection is off")
    forced = {int(j) for j in keep}
    if isinstance(option, (list, tuple, np.ndarray)):
        for item in option:
            if isinstance(item, str) and item in names:
                forced.add(list(names).index(item))
            elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < p:
                forced.add(int(item))
            else:
                raise ValueError(f"feature_selection names a column X lacks: {item!r}")
    elif not (option is True or (isinstance(option, str) and option == "auto")):
        raise ValueError("feature_selection must be 'auto', None, or a list of columns to keep, "
                         f"got {option!r}")
    return screen_features(X, y, sample_weight, names, seed, keep=sorted(forced))
