"""The proposer interface: a model that looks at (X, y) and returns candidate formulas.

Proposers (the pretrained transformer, LIES, DySymNet) never import the search or the
regressor: the regressor calls :meth:`Proposer.propose` before the search, fits the
candidates' constants in one batch, and hands the survivors to the search as seeds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from ..expression import Expression

__all__ = ["Proposer"]


class Proposer(ABC):
    """Something that proposes candidate expressions for a dataset.

    Subclasses store their settings in ``__init__`` and do all work in
    :meth:`propose`, which must honour ``time_budget`` (seconds), never raise on
    numerical trouble (a failed candidate is simply not returned), and give the
    same result for the same ``seed`` on the same device.
    """

    #: short name used by ``SymbolicRegressor(proposers=[...])`` and the CLI
    name: str = ""

    #: dimensionless groups (:class:`~symreg.neural.groups.Reduction`) that the
    #: last :meth:`propose` call found; the regressor searches ``f`` in ``y = M·f(g)``
    #: for each. Proposers that find none leave it empty.
    reductions_: Sequence = ()

    @abstractmethod
    def propose(self, X: np.ndarray, y: np.ndarray, *, n: int = 32, time_budget: float = 10.0,
                seed: int = 0, operators: Sequence[str] | None = None,
                variable_names: Sequence[str] | None = None) -> list[Expression]:
        """Return up to ``n`` candidate expressions over the columns of ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features), float64, all finite
        y : ndarray of shape (n_samples,), float64, all finite
        n : int
            Most candidates to return, best first.
        time_budget : float
            Wall-clock seconds the call may take.
        seed : int
            Seed of every random choice.
        operators : list of str, optional
            Operator names the candidates may use (canonical registry names);
            ``None``: the proposer's own vocabulary.
        variable_names : list of str, optional
            Display names of the columns (the tokens stay ``x0, x1, ...``).

        Returns
        -------
        list of Expression
            Candidates with their constants initialised (fitted where the
            proposer fits them); the regressor refits them.
        """
