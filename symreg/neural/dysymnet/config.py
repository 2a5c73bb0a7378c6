"""DySymNet settings: :class:`DySymNetConfig`, every knob of the proposer in one dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["DySymNetConfig"]


@dataclass
class DySymNetConfig:
    """Settings of the DySymNet proposer.

    Attributes
    ----------
    batch_size : int
        Architectures sampled per controller step, trained together.
    max_layers : int
        Most hidden layers of a network (the controller picks 1..max_layers).
    max_units : int
        Most units of one operator type in one layer (the controller picks
        0..max_units).
    units : tuple of str, optional
        Operator types of the units; ``None``: :data:`DEFAULT_UNITS`, or those of
        the ``operators`` passed to :meth:`DySymNetProposer.propose`.
    max_points : int
        Training rows at most (a fixed random subset of larger data).
    steps_sparse, steps_finetune : int
        Adam steps with the sparsity penalty, then after pruning without it.
    lr : float
        Adam learning rate of the networks (the target is standardised).
    init_std : float
        Standard deviation of the initial weights (biases start at 0).
    init_sparse : bool
        Start each slot from one random input with weight ±1 (see
        :class:`BatchedSymbolicNetwork`).
    reg_weight : float
        Weight of the smoothed L0.5 penalty.
    reg_smooth : float
        Below this magnitude the L0.5 penalty is a smooth polynomial (no infinite
        slope at 0).
    threshold : float
        Pruning threshold on the weights' magnitude.
    readoffs : tuple of (float, int or None, bool)
        The ways each network is read off, as ``(threshold, max_terms, keep_bias)``
        of :meth:`BatchedSymbolicNetwork.read_off`: harsher thresholds and
        sparser unit arguments than the trained net has; the constant refit of
        every read-off decides which skeleton fits.
    max_grad_norm : float
        Gradient clipping, per architecture.
    max_tokens : int
        Read-off formulas longer than this are dropped.
    hidden : int
        LSTM width of the controller.
    controller_lr : float
        Adam learning rate of the controller.
    risk_epsilon : float
        Risk-seeking policy gradient: only the best ``risk_epsilon`` fraction of a
        batch (rewards above the 1 - epsilon quantile) enters the update.
    entropy_weight : float
        Entropy bonus of the controller's loss.
    p_units : tuple of float
        Initial probabilities of 0, 1, 2, ... units of a type (the controller's
        starting prior; it favours small networks). Padded/cut to ``max_units + 1``.
    n_elite : int
        Of the ``batch_size`` networks of a step, this many re-train the best
        architectures so far from fresh initial weights (whether a net prunes to
        the law depends on its start as much as on its architecture); the
        controller learns from the others. 0 from the first step until an
        architecture has a reward.
    fit_restarts, fit_iter : int
        ``n_restarts`` and ``max_iter`` of the constant refit. No restarts by
        default: a read-off's constants come from its trained net, a random
        restart seldom does better, and it doubles the cost of a step's refit.
    drop_top_step, drop_top, drop_rounds, drop_below : int, int, int, float
        After each step, the ``drop_top_step`` best new formulas lose the terms
        the data do not need, one per round for at most ``drop_rounds`` rounds
        (:func:`symreg.reduce.drop_terms`); so do the final ``drop_top``. Only
        formulas whose MSE is at most ``drop_below`` times var(y) are tried.
    subset_size, subset_pool : int
        Each network is also read off with its output layer refitted by least
        squares on its best 1..``subset_size`` unit outputs, chosen exhaustively
        among the ``subset_pool`` most correlated with y.
    fit_chunk : int
        Formulas per :func:`~symreg.constants.fit_constants` call (the budget is
        checked between calls).
    max_steps : int, optional
        Controller steps at most; with it (and a generous budget) a run is
        deterministic.
    stop_when_exact : bool
        End the search once a formula fits to round-off (relative RMS error
        1e-12).
    simplify_top : int
        At the end, this many of the best formulas go through sympy's simplify
        (when at least a second of the budget is left).
    dtype : torch.dtype
        Of the networks (float64: the fits are tight and the nets are tiny).
    threads : int, optional
        Torch CPU threads while proposing (restored after). The tensors are tiny:
        one thread avoids the synchronisation that makes two threads several
        times slower on a busy machine. ``None``: leave torch's setting alone.
    """

    batch_size: int = 10
    max_layers: int = 3
    max_units: int = 2
    units: tuple[str, ...] | None = None
    max_points: int = 256
    steps_sparse: int = 400
    steps_finetune: int = 150
    lr: float = 0.02
    init_std: float = 1.0
    init_sparse: bool = True
    reg_weight: float = 3e-3
    reg_smooth: float = 0.01
    threshold: float = 0.05
    readoffs: tuple[tuple[float, int | None, bool], ...] = (
        (0.0, None, True), (0.15, None, True), (0.0, 1, False), (0.0, 2, True))
    max_grad_norm: float = 5.0
    max_tokens: int = 120
    hidden: int = 32
    controller_lr: float = 5e-3
    risk_epsilon: float = 0.5
    entropy_weight: float = 0.005
    p_units: tuple[float, ...] = (0.55, 0.35, 0.1)
    n_elite: int = 3
    fit_restarts: int = 0
    fit_iter: int = 30
    fit_chunk: int = 32
    subset_size: int = 3
    subset_pool: int = 12
    drop_top_step: int = 1
    drop_top: int = 2
    drop_rounds: int = 4
    drop_below: float = 1e-6
    max_steps: int | None = None
    stop_when_exact: bool = True
    simplify_top: int = 3
    dtype: torch.dtype = field(default=torch.float64)
    threads: int | None = 1
