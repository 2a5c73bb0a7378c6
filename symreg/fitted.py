"""What a fit leaves behind, as plain data, and the one place its equations table is built.

:class:`FittedState` holds everything a fitted :class:`~symreg.SymbolicRegressor`
knows (its parameters, the variable names, the hall of fame, the equations
table, the chosen row and the fit's numbers) without being an estimator, so that
:mod:`symreg.io` can write and read it without knowing the estimator, and the
estimator can be rebuilt from it (``SymbolicRegressor.from_state``).

The equations table (``equations_``) is built by :func:`equations_table` alone:
from a hall of fame and the data after a fit or :func:`symreg.from_pysr`
(:func:`front_table`), and from the saved front when a run is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from .evaluate import evaluate_batch
from .expression import Expression
from .pareto import HallOfFame, front_scores, select_model

__all__ = ["EQUATION_COLUMNS", "FittedState", "equations_table", "front_table"]

#: the columns of ``SymbolicRegressor.equations_``, in order
EQUATION_COLUMNS = ("complexity", "loss", "score", "equation", "sympy", "expression")


@dataclass
class FittedState:
    """A fitted estimator as plain data.

    Parameters
    ----------
    params : dict
        The estimator's parameters (``get_params(deep=False)``).
    variable_names : list of str
        Names of the columns of X, as the formulas print them.
    n_features_in : int
        Number of columns of X.
    hall_of_fame : HallOfFame
        Best formula at every complexity.
    equations : pandas.DataFrame
        The Pareto front (see :func:`equations_table`).
    best_index : int
        The chosen row of ``equations``.
    feature_names_in : list of str, optional
        The column names of a DataFrame X.
    n_evals, search_time, interrupted, n_proposals, proposer_times
        The fit's numbers (``n_evals_`` and so on).
    dropped_features : pandas.DataFrame, optional
        Columns the screening dropped (``dropped_features_``; None: none).
    """

    params: dict[str, Any]
    variable_names: list[str]
    n_features_in: int
    hall_of_fame: HallOfFame
    equations: pd.DataFrame
    best_index: int
    feature_names_in: list[str] | None = None
    n_evals: int = 0
    search_time: float = 0.0
    interrupted: bool = False
    n_proposals: int = 0
    proposer_times: dict[str, float] = field(default_factory=dict)
    dropped_features: pd.DataFrame | None = None

    @property
    def best(self) -> Expression:
        """The chosen formula."""
        return self.equations["expression"].iloc[self.best_index]


def equations_table(exprs: Sequence[Expression], complexities: Sequence[int],
                    losses: Sequence[float], scores: Sequence[float]) -> pd.DataFrame:
    """The equations table: one row per front member, simplest first.

    Parameters
    ----------
    exprs : sequence of Expression
        The front's formulas, with the variable names they print with.
    complexities, losses, scores : sequences
        Their complexity, reported loss and score (see :func:`~symreg.pareto.front_scores`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EQUATION_COLUMNS`: ``equation`` is the formula's text,
        ``sympy`` its sympy form and ``expression`` the :class:`Expression`.
    """
    exprs = list(exprs)
    return pd.DataFrame({
        "complexity": complexities,
        "loss": losses,
        "score": scores,
        "equation": [str(e) for e in exprs],
        "sympy": [e.sympy() for e in exprs],
        "expression": exprs,
    })


def front_table(hall_of_fame: HallOfFame, X: np.ndarray, y: np.ndarray,
                sample_weight: np.ndarray | None, *, variable_names: Sequence[str],
                maxsize: int, loss: str | Callable = "mse", model_selection: str = "best",
                device: str | torch.device = "cpu") -> tuple[pd.DataFrame, int]:
    """The equations table of a hall of fame on the data, and the chosen row.

    The hall of fame holds least-squares losses; under another ``loss`` every
    member is evaluated again, and the front is the Pareto front under the
    reported loss. An empty hall of fame (nothing finite was found) first gets
    the mean of ``y``, in place.

    Parameters
    ----------
    hall_of_fame : HallOfFame
        The fit's hall of fame (least-squares losses).
    X, y, sample_weight : arrays
        The validated data.
    variable_names : sequence of str
        Names the formulas print with.
    maxsize : int
        Largest complexity of the front.
    loss : str or callable
        The reported loss (see :data:`symreg.evaluate.LOSSES`).
    model_selection : str
        How the row is chosen (see :func:`~symreg.pareto.select_model`).
    device : str or torch.device
        Where a loss other than ``"mse"`` is evaluated.

    Returns
    -------
    (pandas.DataFrame, int)
        The table (:func:`equations_table`) and the chosen row.
    """
    cands = hall_of_fame.candidates()
    if not cands:
        # nothing finite was found: fall back to the mean
        mean = float(np.average(y, weights=sample_weight))
        const = Expression(["C"], [mean])
        hall_of_fame.update([const], [float(np.average((y - mean) ** 2, weights=sample_weight))])
        cands = hall_of_fame.candidates()
    exprs = [c.expr.with_names(list(variable_names)) for c in cands]
    if loss == "mse":
        losses = np.array([c.loss for c in cands])
    else:
        losses = evaluate_batch(exprs, X, y, sample_weight=sample_weight, loss=loss,
                                dtype=torch.float64, device=device)
    # the Pareto front under the reported loss
    hof = HallOfFame(maxsize, loss_floor=hall_of_fame.loss_floor)
    hof.update(exprs, losses)
    front = hof.front()
    comp = [c.complexity for c in front]
    loss_values = [c.loss for c in front]
    scores = front_scores(loss_values, comp, hof.loss_floor)
    table = equations_table([c.expr for c in front], comp, loss_values, scores)
    best = select_model(loss_values, comp, model_selection, hof.loss_floor, n_samples=len(y))
    return table, best
