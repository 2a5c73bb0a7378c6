"""Big tables: the rows a search sees, and the check of its results on all rows.

A search's time and memory grow with the rows it is handed (the structure tests
build term libraries over every row, every constant fit ends with a loss on
every row; a 30 s fit on 10⁶ rows took 320 s and 24 GB), while what it learns
from them levels off after a few thousand rows of clean data. So a fit on
a big table runs its whole plan (proposers and search) on a deterministic
subsample, as PySR's batching does, and afterwards checks the result on every
row:

1. :func:`plan_rows` sizes the sample (:func:`auto_search_rows`: from the time
   budget and the noise of the data, estimated by the Gamma test) and draws it,
   seeded by the fit's seed, with the sample weights taken along. It also sets
   aside the seconds the check will need out of the fit's budget.
2. :meth:`RowSample.recheck` refits the hall of fame's constants by
   Levenberg–Marquardt on a large subsample (:data:`REFIT_ROWS` rows; the
   search's own constant fits use 1000), keeps a refit when it beats the BIC
   allowance for its constants, then computes every member's loss on all rows
   (the evaluator accumulates losses over chunks of rows, so memory stays
   bounded) and returns a new hall of fame with those losses. The front, the scores
   and the chosen model are then built from those losses.

A table no larger than the sample is searched whole and nothing here changes
the fit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .constants import fit_constants
from .evaluate import evaluate_batch
from .pareto import EXACT_NMSE, HallOfFame, exact_floor

__all__ = ["AUTO", "RowSample", "auto_search_rows", "check_search_rows", "noise_ratio",
           "plan_rows"]

#: the value of ``search_rows`` that sizes the sample by :func:`auto_search_rows`
AUTO = "auto"

# -- the size of the sample ("auto") -----------------------------------------------
#: rows searched when the data look clean: a few times the 10³ rows or fewer of the
#: benchmark tables the search was tuned on, enough to tell a law from its near misses
CLEAN_ROWS = 4096
#: the most rows searched when the data look noisy (a loss difference between a law
#: and a near miss shrinks against the noise as 1/√rows; with 30 % noise on 10⁵ rows,
#: bench_scale's three laws at 30 s over three seeds were recovered 8/9 times on
#: 12,750 rows and 6/9 on 4,096; with 10 % noise 3/3 on either) ...
NOISY_ROWS = 16384
#: ... and at most this many rows per second of the budget, since the structure
#: tests and the constant fits of the search cost time in proportion to the rows
ROWS_PER_SECOND = 500
#: the data look noisy when the Gamma test's noise variance is above this share of
#: var(y), about 5 % noise in amplitude (on 8192 rows, clean laws of up to four
#: variables measure below 1.5e-3 and 10 % noise measures 1e-2; with many
#: irrelevant columns the nearest neighbours are no longer near and the estimate
#: means little: it then usually comes out 0, and the sample stays at CLEAN_ROWS)
NOISY_NSR = 3e-3
#: rows and neighbours of the Gamma test; fewer rows above NOISE_NARROW_COLUMNS
#: columns, where a k-d tree is no faster than comparing all pairs: ~0.1 s either way
NOISE_PROBE_ROWS = 8192
NOISE_PROBE_ROWS_WIDE = 2048
NOISE_NARROW_COLUMNS = 8
GAMMA_NEIGHBOURS = 10

# -- the check on all rows ---------------------------------------------------------
#: rows of the Levenberg–Marquardt refit of the hall of fame, and its iterations
REFIT_ROWS = 20_000
REFIT_MAX_ITER = 30
#: the refit stops this many times the (estimated) duration of the all-row
#: evaluation before the deadline, leaving the time for that evaluation
REFIT_EVAL_MARGIN = 1.2
#: the seconds set aside for the check: RESERVE_SECONDS plus RESERVE_SECONDS_PER_MROW
#: per million rows (an evaluation of a hall of fame of a few hundred tokens on
#: all rows takes about 1-1.5 s per million rows on one core in float64; the rest
#: is the refit's), at most RESERVE_MAX_SHARE of the budget
RESERVE_SECONDS = 0.5
RESERVE_SECONDS_PER_MROW = 4.0
RESERVE_MAX_SHARE = 0.25

#: a salt that keeps the sample's random stream apart from the search's (same seed)
_STREAM = 0x526F7773


def check_search_rows(value) -> None:
    """ValueError unless ``value`` is a valid ``search_rows``: ``"auto"``, None or
    an integer of at least 1."""
    if value is None or (isinstance(value, str) and value == AUTO):
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"search_rows must be 'auto', None or an integer >= 1, got {value!r}")


def noise_ratio(X: np.ndarray, y: np.ndarray, seed: int = 0,
                n_rows: int | None = None, k: int = GAMMA_NEIGHBOURS) -> float:
    """The share of ``var(y)`` that looks like noise, by the Gamma test.

    The Gamma test (Stefánsson, Končar & Jones 1997): on standardised columns,
    for the k-th nearest neighbours, ``γ_k = mean((y_nn(k) − y)²)/2`` against
    ``δ_k = mean(|x_nn(k) − x|²)``; for a smooth law ``γ`` grows linearly with
    ``δ`` from the noise variance, so the intercept of the line through the
    ``k`` points at ``δ = 0`` estimates it. Computed on at most ``n_rows`` rows
    (by default :data:`NOISE_PROBE_ROWS`, or :data:`NOISE_PROBE_ROWS_WIDE` for
    more than :data:`NOISE_NARROW_COLUMNS` columns). Returns a value in [0, 1]; 0 when
    ``y`` is constant or the estimate is negative.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n = len(y)
    if n_rows is None:
        n_rows = NOISE_PROBE_ROWS if X.shape[1] <= NOISE_NARROW_COLUMNS else NOISE_PROBE_ROWS_WIDE
    if n > n_rows:
        rows = np.sort(np.random.default_rng((seed, _STREAM, 1)).choice(n, n_rows, replace=False))
        X, y = X[rows], y[rows]
    var = float(np.var(y))
    k = min(k, len(y) - 1)
    if not (np.isfinite(var) and var > 0) or k < 2:
        return 0.0
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    dist2, idx = _neighbours(Z, k)
    delta = np.mean(dist2, axis=0)
    gamma = 0.5 * np.mean((y[idx] - y[:, None]) ** 2, axis=0)
    if not (np.all(np.isfinite(delta)) and np.all(np.isfinite(gamma))):
        return 0.0   # values too large to square: no estimate, as for clean data
    if np.ptp(delta) <= 0:
        return float(np.clip(gamma[0] / var, 0.0, 1.0))
    _, intercept = np.polyfit(delta, gamma, 1)
    return float(np.clip(intercept / var, 0.0, 1.0))


def _neighbours(Z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances and indices of the ``k`` nearest other rows of each row."""
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(Z).query(Z, k + 1)
    return dist[:, 1:] ** 2, idx[:, 1:]


def auto_search_rows(X: np.ndarray, y: np.ndarray, time_budget: float, seed: int = 0) -> int:
    """The rows a search gets under ``search_rows="auto"``.

    :data:`CLEAN_ROWS` when the data look clean (:func:`noise_ratio` at most
    :data:`NOISY_NSR`); when they look noisy, up to :data:`NOISY_ROWS`, at most
    :data:`ROWS_PER_SECOND` per second of ``time_budget``, never fewer than
    :data:`CLEAN_ROWS`.
    """
    if len(y) <= CLEAN_ROWS or noise_ratio(X, y, seed) <= NOISY_NSR:
        return CLEAN_ROWS
    return int(max(CLEAN_ROWS, min(NOISY_ROWS, ROWS_PER_SECOND * time_budget)))


def check_reserve(n_rows: int, time_budget: float) -> float:
    """Seconds set aside for :meth:`RowSample.recheck` on ``n_rows`` rows."""
    need = RESERVE_SECONDS + RESERVE_SECONDS_PER_MROW * n_rows / 1e6
    return float(min(need, RESERVE_MAX_SHARE * time_budget))


@dataclass
class RowSample:
    """The rows one fit searches, and the check of its results on all of them.

    Attributes
    ----------
    rows : numpy.ndarray or None
        Sorted indices of the searched rows; None when the search sees them all.
    n_total : int
        Rows of the table.
    reserve : float
        Seconds of the budget kept for :meth:`recheck` (0 without a sample).
    seed : int
        The fit's seed (the refit's subsample derives from it).
    deadline : float, optional
        ``time.perf_counter()`` at the end of the fit's budget: the refit stops in
        time for the all-row evaluation to end by then. A fit bounded by
        ``max_evals`` with a generous budget never reaches it, so its refit, like
        its search, does not depend on the clock.
    seconds : float
        Seconds the check took (set by :meth:`recheck`).
    """

    rows: np.ndarray | None
    n_total: int
    reserve: float = 0.0
    seed: int = 0
    deadline: float | None = None
    seconds: float = 0.0

    def take(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None):
        """The searched rows of ``X``, ``y`` and the weights (the arrays themselves
        without a sample)."""
        if self.rows is None:
            return X, y, sample_weight
        w = None if sample_weight is None else sample_weight[self.rows]
        return X[self.rows], y[self.rows], w

    def recheck(self, hall_of_fame: HallOfFame, X: np.ndarray, y: np.ndarray,
                sample_weight: np.ndarray | None, *, device: str | torch.device = "cpu"
                ) -> HallOfFame:
        """The hall of fame with constants refitted and losses computed on all rows.

        Without a sample, ``hall_of_fame`` itself. Otherwise the members' constants
        are refitted (Levenberg–Marquardt from their values, no restarts) on
        :data:`REFIT_ROWS` rows drawn afresh, the Pareto front first, until
        :attr:`deadline` less the time the all-row evaluation will take. On those rows a refit replaces its member when its
        loss is below the member's by more than the BIC allowance ``exp(k·ln m / m)``
        for its ``k`` constants, so that constants snapped to nice values stay
        unless the data say otherwise, while constants fitted on the search's
        small fitting subsets move. Then every member's loss is computed on all
        rows (one evaluation, accumulated over chunks of rows); a member whose
        loss is not finite there leaves. The exactness floor is that of all rows.
        Ctrl-C during the refit skips it; during the evaluation, it returns
        ``hall_of_fame`` as it was.
        """
        if self.rows is None:
            return hall_of_fame
        t0 = time.perf_counter()
        cands = hall_of_fame.candidates()
        hof = HallOfFame(hall_of_fame.maxsize, loss_floor=exact_floor(y, sample_weight,
                                                                      rtol=EXACT_NMSE))
        if not cands:
            self.seconds = time.perf_counter() - t0
            return hof
        exprs = [c.expr for c in cands]
        try:
            chosen = self._refit(hall_of_fame, exprs, X, y, sample_weight, device, self.deadline)
        except KeyboardInterrupt:
            chosen = exprs   # Ctrl-C: the constants as found, checked on all rows below
        try:
            # float64 like the search's hall-of-fame losses
            losses = evaluate_batch(chosen, X, y, sample_weight=sample_weight,
                                    dtype=torch.float64, device=device)
        except KeyboardInterrupt:
            self.seconds = time.perf_counter() - t0
            return hall_of_fame   # a second Ctrl-C: the search's result, its losses on the sample
        hof.update(chosen, losses)
        self.seconds = time.perf_counter() - t0
        return hof

    def _refit(self, hall_of_fame: HallOfFame, exprs: list, X, y, w, device,
               deadline: float | None) -> list:
        """``exprs`` with the constants refitted on :data:`REFIT_ROWS` rows where
        that beats the BIC allowance (see :meth:`recheck`)."""
        n = len(y)
        m = min(REFIT_ROWS, n)
        rng = np.random.default_rng((self.seed, _STREAM, 2))
        idx = np.sort(rng.choice(n, m, replace=False))
        Xr, yr, wr = X[idx], y[idx], None if w is None else w[idx]
        chosen = list(exprs)
        if wr is not None and not np.any(wr > 0):
            return chosen
        t = time.perf_counter()
        base = evaluate_batch(exprs, Xr, yr, sample_weight=wr, dtype=torch.float64, device=device)
        # the all-row evaluation after the refit takes about n/m times as long
        all_rows = (time.perf_counter() - t) * n / m
        fit_deadline = None if deadline is None else deadline - REFIT_EVAL_MARGIN * all_rows
        floor = exact_floor(yr, wr, rtol=EXACT_NMSE)
        on_front = {c.complexity for c in hall_of_fame.front()}
        todo = [i for i, e in enumerate(exprs) if e.n_constants and not base[i] <= floor]
        # the front first: it holds the formulas the table shows
        for part in ([i for i in todo if exprs[i].complexity in on_front],
                     [i for i in todo if exprs[i].complexity not in on_front]):
            if not part or (fit_deadline is not None and time.perf_counter() >= fit_deadline):
                continue
            fitted, losses = fit_constants(
                [exprs[i] for i in part], Xr, yr, wr, n_restarts=0, max_iter=REFIT_MAX_ITER,
                max_points=None, device=device, seed=int(rng.integers(1 << 31)),
                deadline=fit_deadline)
            for i, e, loss in zip(part, fitted, losses.tolist()):
                allowance = math.exp(exprs[i].n_constants * math.log(m) / m)
                if np.isfinite(loss) and (not np.isfinite(base[i]) or loss * allowance < base[i]):
                    chosen[i] = e
        return chosen


def plan_rows(search_rows, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None,
              *, time_budget: float, seed: int) -> RowSample:
    """The rows a fit searches and the seconds kept back to check its results.

    Parameters
    ----------
    search_rows : "auto", int or None
        The estimator's parameter: ``"auto"`` sizes the sample by
        :func:`auto_search_rows`, an integer is the sample's size, None searches
        all rows.
    X, y, sample_weight : arrays
        The validated table.
    time_budget : float
        The fit's budget in seconds.
    seed : int
        The fit's seed: the same seed draws the same rows.

    Returns
    -------
    RowSample
        ``rows`` None (and no reserve) when the table is no larger than the sample.
    """
    start = time.perf_counter()
    check_search_rows(search_rows)
    n = len(y)
    if search_rows is None:
        return RowSample(None, n, seed=seed)
    if isinstance(search_rows, str):
        size = auto_search_rows(X, y, time_budget - check_reserve(n, time_budget), seed)
    else:
        size = int(search_rows)
    if n <= size:
        return RowSample(None, n, seed=seed)
    rng = np.random.default_rng((seed, _STREAM))
    rows = np.sort(rng.choice(n, size, replace=False))
    if sample_weight is not None and not np.any(sample_weight[rows] > 0):
        return RowSample(None, n, seed=seed)   # weights on too few rows to sample
    return RowSample(rows, n, reserve=check_reserve(n, time_budget), seed=seed,
                     deadline=start + time_budget)
