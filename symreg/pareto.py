"""Hall of fame, Pareto front and model selection.

The hall of fame keeps the best expression found at each complexity. Its
Pareto front is the subset where each step up in complexity buys a lower
loss. Model selection follows PySR's conventions:

* ``"accuracy"``: the lowest loss;
* ``"score"``: the highest score, where ``score_i = -Δ ln(loss) / Δ complexity``
  between a front member and its simpler neighbour (0 for the simplest);
* ``"best"``: the highest score among members with loss ≤ 1.5 × the lowest;
* ``"bic"``: the lowest ``n·ln(loss) + complexity·ln(n)`` (a Bayesian information
  criterion with one parameter per node): on small noisy tables it stops at the
  formula that explains the data to within its noise, where ``"best"`` may keep
  buying small gains with large formulas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .expression import Expression

__all__ = ["EXACT_NMSE", "MODEL_SELECTIONS", "ROUNDOFF_RTOL", "Candidate", "HallOfFame", "exact_floor",
           "front_scores", "select_model"]

MODEL_SELECTIONS = ("best", "accuracy", "score", "bic")


#: an MSE at or below ``EXACT_NMSE × var(y)`` counts as exact: the formula is the law
#: up to float64 round-off (the search stops, the hall of fame ties such losses)
EXACT_NMSE = 1e-16
#: the round-off level of a least-squares residual relative to the mean square of
#: its target (sparse selection and read-offs treat a residual below it as zero)
ROUNDOFF_RTOL = 1e-20


def exact_floor(y, sample_weight=None, *, rtol: float = EXACT_NMSE, centred: bool = True
                ) -> float:
    """The mean squared error at or below which a fit of ``y`` counts as exact.

    Parameters
    ----------
    y : array-like
        The target.
    sample_weight : array-like, optional
        Weights of the rows.
    rtol : float
        The relative level: :data:`EXACT_NMSE` for a formula's loss,
        :data:`ROUNDOFF_RTOL` for the residual of a linear least-squares fit.
    centred : bool
        Relative to the (weighted) variance of ``y`` (True; a constant ``y``
        counts as variance 1), or to its mean square (False).

    Returns
    -------
    float
        ``rtol × var(y)`` or ``rtol × mean(y²)``; multiply by the number of rows
        for a floor on a sum of squares.
    """
    y = np.asarray(y, dtype=np.float64)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if centred:
        mean = np.average(y, weights=w)
        scale = float(np.average((y - mean) ** 2, weights=w)) or 1.0
    else:
        scale = float(np.average(y * y, weights=w))
    return rtol * scale


@dataclass(frozen=True)
class Candidate:
    expr: Expression
    loss: float
    complexity: int


class HallOfFame:
    """Best expression per complexity, up to ``maxsize``.

    Parameters
    ----------
    maxsize : int
        Largest complexity kept.
    loss_floor : float
        Losses below this count as exact: they are raised to it, so that
        round-off never makes a larger formula look better than an exact
        smaller one.
    """

    def __init__(self, maxsize: int, loss_floor: float = 0.0):
        self.maxsize = int(maxsize)
        self.loss_floor = float(loss_floor)
        self._best: dict[int, Candidate] = {}
        self._keys: set[str] = set()

    def __len__(self) -> int:
        return len(self._best)

    def effective(self, loss: float) -> float:
        return max(float(loss), self.loss_floor)

    def update(self, exprs: Iterable[Expression], losses: Iterable[float]) -> int:
        """Offer candidates; returns how many entries improved."""
        improved = 0
        for expr, loss in zip(exprs, losses):
            loss = float(loss)
            if not np.isfinite(loss):
                continue
            c = expr.complexity
            if c > self.maxsize:
                continue
            cur = self._best.get(c)
            if cur is None or loss < cur.loss:
                self._best[c] = Candidate(expr, loss, c)
                improved += 1
        return improved

    def replace(self, expr: Expression, loss: float) -> None:
        """Put ``expr`` at its complexity even when its loss is a little higher
        than the entry's there: for a snapped version of that entry, whose loss
        the caller has judged acceptable (a nice constant raises the loss of a fit
        to noisy data a little, and is still the better formula)."""
        loss = float(loss)
        c = expr.complexity
        if np.isfinite(loss) and c <= self.maxsize:
            self._best[c] = Candidate(expr, loss, c)

    def candidates(self) -> list[Candidate]:
        """All entries, by complexity."""
        return [self._best[c] for c in sorted(self._best)]

    def front(self) -> list[Candidate]:
        """Pareto front: by complexity, each strictly better than all simpler ones."""
        out: list[Candidate] = []
        best = np.inf
        for cand in self.candidates():
            eff = self.effective(cand.loss)
            if eff < best:
                out.append(cand)
                best = eff
        return out

    def best_loss(self) -> float:
        return min((c.loss for c in self._best.values()), default=np.inf)


def front_scores(losses: Sequence[float], complexities: Sequence[int], loss_floor: float = 0.0) -> np.ndarray:
    """``-Δ ln(loss) / Δ complexity`` against the simpler neighbour; 0 for the first."""
    losses = np.maximum(np.asarray(losses, dtype=np.float64), max(loss_floor, np.finfo(float).tiny))
    comp = np.asarray(complexities, dtype=np.float64)
    scores = np.zeros(len(losses))
    if len(losses) > 1:
        scores[1:] = -np.diff(np.log(losses)) / np.maximum(np.diff(comp), 1.0)
    return scores


def select_model(losses: Sequence[float], complexities: Sequence[int], method: str = "best",
                 loss_floor: float = 0.0, n_samples: int | None = None) -> int:
    """Index of the chosen front member (see the module docstring).

    ``n_samples`` is needed by ``"bic"``.
    """
    if method not in MODEL_SELECTIONS:
        raise ValueError(f"model_selection must be one of {MODEL_SELECTIONS}, got {method!r}")
    if len(losses) == 0:
        raise ValueError("no candidates to select from")
    eff = np.maximum(np.asarray(losses, dtype=np.float64), loss_floor)
    if method == "accuracy":
        return int(np.argmin(eff))
    if method == "bic":
        if not n_samples or n_samples < 2:
            raise ValueError("model_selection='bic' needs the number of samples")
        floor = max(loss_floor, np.finfo(float).tiny)
        bic = n_samples * np.log(np.maximum(eff, floor)) + np.asarray(complexities) * np.log(n_samples)
        return int(np.argmin(bic))
    scores = front_scores(losses, complexities, loss_floor)
    if method == "score":
        return int(np.argmax(scores))
    ok = eff <= 1.5 * eff.min()
    return int(np.argmax(np.where(ok, scores, -np.inf)))
