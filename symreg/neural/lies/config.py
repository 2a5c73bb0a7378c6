"""LIES settings: the unit kinds and :class:`LIESConfig` (network, training, pruning)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UNITS", "LIESConfig"]

#: the unit kinds and the operator each needs in the read-off formula
UNITS: dict[str, str | None] = {"id": None, "exp": "exp", "sin": "sin", "log": "log"}


@dataclass
class LIESConfig:
    """Settings of one LIES network and its training.

    Attributes
    ----------
    n_layers : int
        Hidden layers of primitive units.
    width : int
        Units of each kind per layer.
    units : tuple of str
        Unit kinds, from ``"id"``, ``"exp"``, ``"sin"``, ``"log"``.
    steps : int
        Adam steps of the dense phase.
    lr : float
        Adam learning rate.
    l1 : float
        Weight of the L1 penalty on all weights (reached after ``warmup``).
    warmup : float
        Fraction of ``steps`` trained without L1 before it is ramped in.
    init_std : float
        Standard deviation of the initial weights.
    log_eps : float
        ε of the smoothed ``log(sqrt(z² + ε²))``.
    log_margin : float
        δ: a log pre-activation below it pays ``penalty · (δ - z)``.
    exp_max : float
        Largest exp argument; above it the argument is clamped and pays the penalty.
    penalty : float
        Weight of the domain penalties.
    oversample_frac : float
        Share of rows counted as the worst-fit region.
    oversample_weight : float
        Weight of those rows in the loss (the others have weight 1).
    resample_every : int
        Steps between recomputations of the worst-fit rows.
    grad_clip : float
        Gradient norm clip.
    prune_rounds : int
        Most removal attempts of the pruning phase.
    prune_fraction : float
        Share of the surviving weights removed in one attempt (halved after a failure).
    retrain_steps : int
        Adam steps after each removal.
    prune_tol : float
        A removal is kept while the loss stays below ``(1 + prune_tol)`` times the
        best loss so far plus ``prune_abs`` (normalised MSE).
    prune_abs : float
        See ``prune_tol``. Generous on purpose: a few hundred Adam steps rarely
        regain the precision of the dense fit, while a removal that breaks the
        formula costs far more than 1e-3; every level is a candidate anyway, and the
        exact constant fit decides.
    max_rows : int
        Training rows (a fixed random subset of larger tables).
    """

    n_layers: int = 2
    width: int = 1
    units: tuple[str, ...] = ("id", "exp", "sin", "log")
    steps: int = 1000
    lr: float = 0.03
    l1: float = 2e-3
    warmup: float = 0.25
    init_std: float = 0.3
    log_eps: float = 1e-4
    log_margin: float = 1e-2
    exp_max: float = 8.0
    penalty: float = 1.0
    oversample_frac: float = 0.1
    oversample_weight: float = 4.0
    resample_every: int = 25
    grad_clip: float = 10.0
    prune_rounds: int = 12
    prune_fraction: float = 0.3
    retrain_steps: int = 100
    prune_tol: float = 1.0
    prune_abs: float = 1e-3
    max_rows: int = 512
