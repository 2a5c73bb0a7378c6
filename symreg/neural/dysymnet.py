"""DySymNet: a controller RNN that designs symbolic networks (Li et al. 2024).

A symbolic network is a small feed-forward net whose activations are formula
operators (``sin``, ``square``, ``mul``, ...): every layer maps its inputs
linearly into operator slots, applies the operators, and the output is a linear
map of everything computed. Trained with a sparsity penalty and pruned, most of
its weights are zero and what remains reads off as a short formula.

DySymNet does not fix the architecture: a controller RNN samples it (the depth
and, per layer, how many units of each operator), each sampled network is
trained and read off, and the controller learns from the fit of the read-off
formulas by risk-seeking policy gradient (only the best samples of a batch
push the policy, Petersen et al. 2021).

The parts, top to bottom:

* :class:`DySymNetConfig` — every setting in one dataclass.
* :data:`UNITS` — the operators a network unit can be, with the protected forms
  used in training (a read-off formula uses the plain operator).
* :class:`BatchedSymbolicNetwork` — K architectures padded into one model. All
  parameters live in one ``[K, P]`` tensor; per layer there is one batched
  matrix product and one call per operator type, whatever K is, so training K
  networks costs about as much as training one (on a CPU the small tensors are
  overhead-bound; on a GPU one launch serves all K). Masks switch off the units
  an architecture does not have and the weights pruned away.
* :func:`train_networks` — Adam on MSE + a smoothed L0.5 penalty, prune at a
  threshold, retrain the survivors. The loss is a sum over architectures and
  Adam and the gradient clipping work per architecture, so each network trains
  as it would alone (to round-off).
* :class:`Controller` — an LSTM cell that emits the depth, then per layer the
  number of units of each operator type.
* :class:`DySymNetProposer` — the loop: sample a batch, train it, read every
  network off as an :class:`~symreg.expression.Expression` in a few ways (as
  trained; at a harsher threshold; keeping only each unit's strongest inputs),
  refit all constants with batched :func:`~symreg.constants.fit_constants`,
  drop the parts the refit made negligible and refit again, reward
  1/(1 + NRMSE), update the controller, keep a hall of the best.

The refit does the precise work: the trained net only has to get the structure
(which units, which inputs dominate) right; Levenberg–Marquardt then finds
constants exact to round-off where the structure is the law's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from ..constants import fit_constants
from ..evaluate import resolve_device
from ..expression import Expression
from ..operators import OPERATORS
from .proposer import Proposer

__all__ = [
    "DEFAULT_UNITS",
    "UNITS",
    "BatchedSymbolicNetwork",
    "Controller",
    "DySymNetConfig",
    "DySymNetProposer",
    "risk_seeking_loss",
    "train_networks",
]

# ----------------------------------------------------------------------------
# unit operators: protected training forms
# ----------------------------------------------------------------------------
# Training must never produce a non-finite number: an inf in a masked-out slot
# still turns its gradient into NaN (0 * inf). So every operator gets a form that
# is finite with finite derivatives everywhere and equals the true operator on
# its domain. The read-off writes the true operator; its fit is then measured on
# the true operator, so a network that leaned on the protection loses its reward.

_TINY = 1e-6


def _safe_den(z: torch.Tensor) -> torch.Tensor:
    """``z`` pushed away from 0 (keeping its sign) so that 1/z stays finite."""
    small = z.abs() < 1e-3
    return torch.where(small, torch.where(z < 0, -1e-3, 1e-3).to(z.dtype), z)


#: operator name -> (arity, training form). Addition, subtraction, negation and
#: the identity need no unit: the linear maps (and the skips) provide them.
UNITS: dict[str, tuple[int, Callable[..., torch.Tensor]]] = {
    "square": (1, lambda z: z * z),
    "cube": (1, lambda z: z * z * z),
    "sqrt": (1, lambda z: torch.sqrt(z.abs().clamp_min(_TINY))),
    "exp": (1, lambda z: torch.exp(z.clamp_max(20.0))),
    "log": (1, lambda z: torch.log(z.abs().clamp_min(_TINY))),
    "sin": (1, torch.sin),
    "cos": (1, torch.cos),
    "inv": (1, lambda z: 1.0 / _safe_den(z)),
    "tanh": (1, torch.tanh),
    "abs": (1, torch.abs),
    "atan": (1, torch.atan),
    "sinh": (1, lambda z: torch.sinh(z.clamp(-20.0, 20.0))),
    "cosh": (1, lambda z: torch.cosh(z.clamp(-20.0, 20.0))),
    "mul": (2, torch.mul),
    "div": (2, lambda a, b: a / _safe_den(b)),
}

#: the units used when the caller names no operators: what Nguyen-style laws are
#: made of (powers, roots, exp/log, trigonometry, products)
DEFAULT_UNITS: tuple[str, ...] = ("square", "cube", "sqrt", "exp", "log", "sin", "cos", "mul")

# the preactivations are clamped to this magnitude: cube(1e3) = 1e9 is still finite
# and no product of a few such layers overflows float64
_CLAMP = 1e3


# ----------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------
# the batched symbolic network
# ----------------------------------------------------------------------------

class BatchedSymbolicNetwork:
    """K symbolic networks of different architectures as one padded model.

    Every network has the same padded shape: ``max_layers`` hidden layers, each
    with ``max_units`` units of every operator type in ``units``. Layer ``l``
    reads all inputs and all outputs of the layers before it (dense skips, so
    the identity needs no unit and a polynomial's terms reach the output from any
    depth) through a linear map with bias into its operator slots (one per unary
    unit, two per binary one). The output is a linear map of all inputs and all
    unit outputs, plus a bias.

    An architecture is ``counts[k, l, t]``: the units of type ``t`` that network
    ``k`` has in layer ``l``. The units it lacks are masked: their weights are
    fixed at zero and their outputs multiplied by zero.

    All parameters of network ``k`` are row ``k`` of one tensor ``theta [K, P]``;
    ``mask [K, P]`` holds the architecture and the pruning. Forward is, per layer,
    one ``baddbmm`` and one call per operator type.

    Parameters
    ----------
    counts : array of int, shape (K, max_layers, n_units)
    n_features : int
    units : sequence of str
        Keys of :data:`UNITS`.
    max_units : int
    dtype, device : torch dtype and device
    generator : torch.Generator, optional
        Draws the initial weights.
    init_std : float
    init_sparse : bool
        Start every slot from one random feature with weight ±1 (plus noise of
        a tenth of ``init_std``) instead of dense Gaussian weights.
    """

    def __init__(self, counts: np.ndarray, n_features: int, units: Sequence[str],
                 max_units: int, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu", generator: torch.Generator | None = None,
                 init_std: float = 0.5, init_sparse: bool = False):
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape[2] == 0:  # no unit types at all: a linear model, no hidden layers
            counts = counts[:, :0]
        self.K, self.L, self.T = counts.shape
        self.counts = counts
        self.units = tuple(units)
        self.m = int(max_units)
        self.d = int(n_features)
        self.dtype, self.device = dtype, torch.device(device)
        arities = [UNITS[u][0] for u in self.units]
        self.U = self.T * self.m                      # unit outputs per layer
        self.S = self.m * sum(arities)               # slot inputs per layer
        # slot layout: type t owns slots [start_t, start_t + m*arity_t); a binary
        # unit i takes slots start_t + i and start_t + m + i
        self.slot_start = np.concatenate([[0], np.cumsum([self.m * a for a in arities])])[:-1]
        self.arities = arities

        # parameter layout in theta: per layer W [D_l, S], b [S]; then w_out [D_L], b_out
        self.layout: list[tuple[int, int, int]] = []   # (offset W, offset b, D_l)
        off = 0
        for l in range(self.L):
            D = self.d + l * self.U
            self.layout.append((off, off + D * self.S, D))
            off += D * self.S + self.S
        self.D_out = self.d + self.L * self.U
        self.off_out = off
        self.P = off + self.D_out + 1

        unit_mask = self._unit_mask()                  # [K, L, U] bool
        self.unit_mask = torch.as_tensor(unit_mask, dtype=dtype, device=self.device)
        arch = self._arch_mask(unit_mask)               # [K, P] bool
        self.arch_mask = torch.as_tensor(arch, dtype=dtype, device=self.device)
        self.prune_mask = torch.ones_like(self.arch_mask)
        theta = torch.randn(self.K, self.P, generator=generator, dtype=dtype) * init_std
        if init_sparse:
            # every slot starts as one random feature with weight ±1 plus small noise:
            # each network starts near a random formula of its architecture
            theta.mul_(0.1)
            for ow, _, D in self.layout:
                rows = torch.as_tensor(arch[:, ow:ow + D * self.S].reshape(self.K, D, self.S),
                                       dtype=dtype)
                score = torch.rand(self.K, D, self.S, generator=generator, dtype=dtype)
                pick = (score * rows).argmax(dim=1, keepdim=True)                # [K, 1, S]
                sign = torch.randint(0, 2, (self.K, 1, self.S), generator=generator) * 2 - 1
                W = theta[:, ow:ow + D * self.S].view(self.K, D, self.S)
                W.scatter_(1, pick, sign.to(dtype))
        # biases start at 0: a formula's inner offsets are mostly 0, and the
        # sparsity penalty should not have to fight a random start there
        bias = torch.as_tensor(self._bias_positions(), device=theta.device)
        theta[:, bias] = 0.0
        self.theta = (theta.to(self.device) * self.arch_mask).requires_grad_(True)

    # -- masks -------------------------------------------------------------------
    def _unit_mask(self) -> np.ndarray:
        i = np.arange(self.m)
        # unit (t, i) exists when i < counts[k, l, t]
        mask = i[None, None, None, :] < self.counts[..., None]       # [K, L, T, m]
        return mask.reshape(self.K, self.L, self.U)

    def _slot_mask(self, unit_mask_l: np.ndarray) -> np.ndarray:
        """[K, U] unit mask of one layer -> [K, S] mask of its slot inputs."""
        slots = np.zeros((self.K, self.S), dtype=bool)
        for t, a in enumerate(self.arities):
            s0 = self.slot_start[t]
            used = unit_mask_l[:, t * self.m:(t + 1) * self.m]
            for j in range(a):
                slots[:, s0 + j * self.m:s0 + (j + 1) * self.m] = used
        return slots

    def _feature_mask(self, unit_mask: np.ndarray, n_layers: int) -> np.ndarray:
        """[K, d + n_layers*U]: which features exist (inputs, then units of earlier layers)."""
        parts = [np.ones((self.K, self.d), dtype=bool)]
        parts += [unit_mask[:, j] for j in range(n_layers)]
        return np.concatenate(parts, axis=1)

    def _arch_mask(self, unit_mask: np.ndarray) -> np.ndarray:
        mask = np.zeros((self.K, self.P), dtype=bool)
        for l, (ow, ob, D) in enumerate(self.layout):
            rows = self._feature_mask(unit_mask, l)                  # [K, D]
            cols = self._slot_mask(unit_mask[:, l])                  # [K, S]
            mask[:, ow:ow + D * self.S] = (rows[:, :, None] & cols[:, None, :]).reshape(self.K, -1)
            mask[:, ob:ob + self.S] = cols
        mask[:, self.off_out:self.off_out + self.D_out] = self._feature_mask(unit_mask, self.L)
        mask[:, -1] = True
        return mask

    def _bias_positions(self) -> np.ndarray:
        pos = [np.arange(ob, ob + self.S) for _, ob, _ in self.layout] + [np.array([self.P - 1])]
        return np.concatenate(pos)

    def _weight_positions(self) -> np.ndarray:
        """Positions penalised by the sparsity term: all but the output bias."""
        return np.arange(self.P - 1)

    @property
    def mask(self) -> torch.Tensor:
        return self.arch_mask * self.prune_mask

    def effective(self) -> torch.Tensor:
        """The parameters as the forward pass uses them: ``theta`` times the masks."""
        return self.theta * self.mask

    # -- forward -----------------------------------------------------------------
    def forward(self, X: torch.Tensor, theta: torch.Tensor | None = None,
                exact: bool = False, features: bool = False) -> torch.Tensor:
        """Predictions ``[K, N]`` of all networks on ``X [N, d]``.

        ``exact`` uses the plain operators instead of the protected training forms
        and no clamping (to compare with a read-off formula). ``features`` returns
        the inputs of the output layer instead, ``[K, N, D_out]``.
        """
        th = self.effective() if theta is None else theta
        K = th.shape[0]
        H = X.unsqueeze(0).expand(K, -1, -1)
        m = self.m
        for l, (ow, ob, D) in enumerate(self.layout):
            W = th[:, ow:ow + D * self.S].view(K, D, self.S)
            b = th[:, ob:ob + self.S].unsqueeze(1)
            if exact:
                Z = _sparse_linear(H, W, b)
            else:
                Z = torch.baddbmm(b, H, W).clamp(-_CLAMP, _CLAMP)         # [K, N, S]
            outs = []
            for t, name in enumerate(self.units):
                s0 = int(self.slot_start[t])
                fn = OPERATORS[name].torch_fn if exact else UNITS[name][1]
                if self.arities[t] == 1:
                    outs.append(fn(Z[..., s0:s0 + m]))
                else:
                    outs.append(fn(Z[..., s0:s0 + m], Z[..., s0 + m:s0 + 2 * m]))
            O = torch.cat(outs, dim=-1)                                 # [K, N, U]
            mask = self.unit_mask[:K, l].unsqueeze(1)
            # absent units give 0; in exact mode they may be inf (log 0), and inf*0 is NaN
            O = torch.where(mask > 0, O, 0.0) if exact else O * mask
            H = torch.cat([H, O], dim=-1)
        if features:
            return H
        w = th[:, self.off_out:self.off_out + self.D_out].unsqueeze(-1)
        b = th[:, -1:].unsqueeze(-1)
        if exact:
            return _sparse_linear(H, w, b).squeeze(-1)
        return torch.baddbmm(b, H, w).squeeze(-1)

    def penalty(self, theta: torch.Tensor, smooth: float) -> torch.Tensor:
        """Smoothed L0.5 penalty of each network, ``[K]``.

        ``|w|^0.5`` above ``smooth``; below it a polynomial in w² that matches the
        value and slope there (Wu et al. 2014's smoothing, as DySymNet uses), so
        the gradient at 0 is finite.
        """
        w = theta[:, :-1]                                # the output bias is free
        a = smooth
        aw = w.abs()
        poly = -(w ** 4) / (8 * a ** 3) + 3 * w * w / (4 * a) + 3 * a / 8
        return torch.sqrt(torch.where(aw < a, poly, aw)).sum(dim=1)

    def prune(self, threshold: float) -> None:
        """Fix every parameter below ``threshold`` in magnitude at 0 (the output bias stays)."""
        with torch.no_grad():
            keep = (self.theta.abs() >= threshold).to(self.dtype)
            keep[:, -1] = 1.0
            self.prune_mask = self.prune_mask * keep
            self.theta.mul_(self.mask)

    # -- read-off ----------------------------------------------------------------
    def read_off(self, k: int, *, threshold: float = 0.0, x_scale: Sequence[float] | None = None,
                 y_scale: float = 1.0, y_offset: float = 0.0, max_nodes: int = 10_000,
                 max_terms: int | None = None, feature_rms: np.ndarray | None = None,
                 keep_bias: bool = True, output: tuple[np.ndarray, float] | None = None):
        """Network ``k`` as a nested-tuple tree (``float``, ``"x<i>"``, ``(op, ...)``).

        Weights below ``threshold`` in magnitude are dropped (on top of the masks).
        With ``max_terms``, the argument of every unit keeps only its
        ``max_terms`` most important terms, ``|weight| * feature_rms`` (the RMS
        of each feature on the data, ``[D_out]``), and its bias only when
        ``keep_bias``: the sparsest skeleton the network suggests, whose
        constants the refit then finds. The output layer is read in full.
        The network's input is ``x / x_scale`` and its output is rescaled to
        ``y_scale * out + y_offset``. Returns ``None`` when the tree would exceed
        ``max_nodes`` nodes (units feeding several others are copied).
        ``output`` replaces the trained output layer: ``(weights [D_out], bias)``
        in the network's (standardised) output units.
        """
        th = self.effective()[k].detach().cpu().numpy().astype(np.float64)
        if threshold > 0:
            th = np.where(np.abs(th) < threshold, 0.0, th)
            th[-1] = self.effective()[k, -1].item()
        x_scale = [1.0] * self.d if x_scale is None else list(x_scale)
        feats: list = []
        sizes: list[int] = []
        for j in range(self.d):
            if x_scale[j] == 1.0:
                feats.append(f"x{j}")
                sizes.append(1)
            else:
                feats.append(("mul", float(1.0 / x_scale[j]), f"x{j}"))
                sizes.append(3)
        unit_mask = self.unit_mask[k].cpu().numpy() > 0

        def linear(weights: np.ndarray, bias: float, n_feats: int, sparse: bool = False):
            terms = [(float(weights[r]), r) for r in range(n_feats) if weights[r] != 0.0]
            if sparse and max_terms is not None:
                rms = np.ones(n_feats) if feature_rms is None else feature_rms[:n_feats]
                terms.sort(key=lambda wr: -abs(wr[0]) * rms[wr[1]])
                terms = sorted(terms[:max_terms], key=lambda wr: wr[1])
                if not keep_bias:
                    bias = 0.0
            size = sum(2 + sizes[r] for _, r in terms) + len(terms)
            if size > max_nodes:
                return None, 0
            node = None
            for w, r in terms:
                term = feats[r] if w == 1.0 else ("mul", w, feats[r])
                node = term if node is None else ("add", node, term)
            if node is None:
                return float(bias), 1
            if bias != 0.0:
                node = ("add", node, float(bias))
            return node, size + (2 if bias != 0.0 else 0)

        for l, (ow, ob, D) in enumerate(self.layout):
            W = th[ow:ow + D * self.S].reshape(D, self.S)
            b = th[ob:ob + self.S]
            for t, name in enumerate(self.units):
                s0 = int(self.slot_start[t])
                for i in range(self.m):
                    if not unit_mask[l, t * self.m + i]:
                        # absent units still occupy their feature index
                        feats.append(0.0)
                        sizes.append(1)
                        continue
                    args = []
                    size = 1
                    for j in range(self.arities[t]):
                        s = s0 + j * self.m + i
                        node, n = linear(W[:, s], float(b[s]), D, sparse=True)
                        if node is None:
                            return None
                        args.append(node)
                        size += n
                    feats.append((name, *args))
                    sizes.append(size)
        w_out, b_out = ((th[self.off_out:self.off_out + self.D_out], float(th[-1]))
                        if output is None else output)
        node, _ = linear(np.asarray(w_out) * y_scale, float(b_out) * y_scale + y_offset,
                         self.D_out)
        return node


def _sparse_linear(H: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``H @ W + b`` where a zero weight ignores its feature even if that is inf or
    NaN, as the read-off formula (which omits the term) does."""
    prod = H.unsqueeze(-1) * W.unsqueeze(1)                            # [K, N, D, S]
    return torch.where(W.unsqueeze(1) != 0, prod, 0.0).sum(dim=2) + b


# ----------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------

def train_networks(net: BatchedSymbolicNetwork, X: torch.Tensor, y: torch.Tensor,
                   cfg: DySymNetConfig, deadline: float | None = None) -> np.ndarray:
    """Train all networks of ``net`` on ``(X, y)``: sparse phase, prune, fine-tune.

    The loss of network k is ``MSE_k + reg_weight * penalty_k``; their sum is what
    is differentiated, so no gradient crosses between networks, and Adam and the
    clipping (by each network's own gradient norm) act per network. A network
    whose loss turns non-finite stops moving (its gradient is zeroed).

    Returns the MSE of each network at the end, ``[K]`` (inf where not finite).
    Stops early, keeping what it has, when ``deadline`` (``time.perf_counter``)
    passes.
    """
    opt = torch.optim.Adam([net.theta], lr=cfg.lr)
    phases = [(cfg.steps_sparse, cfg.reg_weight), (cfg.steps_finetune, 0.0)]
    mse = torch.full((net.K,), math.inf, dtype=net.dtype)
    for phase, (steps, reg) in enumerate(phases):
        if phase == 1:
            net.prune(cfg.threshold)
            # the surviving weights restart Adam's moments: the pruned problem is new
            opt = torch.optim.Adam([net.theta], lr=cfg.lr)
        mask = net.mask
        for it in range(steps):
            if deadline is not None and it % 25 == 0 and time.perf_counter() > deadline:
                break
            opt.zero_grad(set_to_none=False)
            theta = net.theta * mask
            pred = net.forward(X, theta)
            mse = (pred - y).square().mean(dim=1)
            loss = mse + reg * net.penalty(theta, cfg.reg_smooth) if reg > 0 else mse
            bad = ~torch.isfinite(loss)
            loss = torch.where(bad, torch.zeros_like(loss), loss)
            loss.sum().backward()
            with torch.no_grad():
                g = net.theta.grad
                torch.nan_to_num_(g, nan=0.0, posinf=0.0, neginf=0.0)
                g.mul_((~bad).to(g.dtype).unsqueeze(1))
                norm = g.norm(dim=1, keepdim=True)
                g.mul_((cfg.max_grad_norm / (norm + 1e-12)).clamp(max=1.0))
            opt.step()
        if deadline is not None and time.perf_counter() > deadline and phase == 0:
            net.prune(cfg.threshold)
            break
    with torch.no_grad():
        mse = (net.forward(X) - y).square().mean(dim=1)
    out = mse.detach().cpu().numpy().astype(np.float64)
    out[~np.isfinite(out)] = np.inf
    return out


# ----------------------------------------------------------------------------
# the controller
# ----------------------------------------------------------------------------

class Controller(nn.Module):
    """An LSTM cell that samples architectures, one decision per step.

    Decision 0 is the depth (1..max_layers); then, for each layer and each unit
    type, the number of units (0..max_units). The input of each step is a learned
    embedding of the decision's position plus one of the previous choice. The
    decisions about layers beyond the sampled depth are drawn (the batch stays
    rectangular) but count neither in the log-probability nor in the entropy.
    """

    def __init__(self, max_layers: int, n_units: int, max_units: int, hidden: int = 32,
                 p_units: Sequence[float] = (0.55, 0.35, 0.1)):
        super().__init__()
        self.L, self.T, self.m = max_layers, n_units, max_units
        self.n_decisions = 1 + max_layers * n_units
        self.pos = nn.Embedding(self.n_decisions, hidden)
        self.prev = nn.Embedding(max(max_layers, max_units + 1) + 1, hidden)
        self.cell = nn.LSTMCell(hidden, hidden)
        self.depth_head = nn.Linear(hidden, max_layers)
        self.count_head = nn.Linear(hidden, max_units + 1)
        p = np.array(list(p_units)[: max_units + 1] + [0.05] * (max_units + 1 - len(p_units)))
        with torch.no_grad():
            # the prior favours small layers: a wide net is harder to prune clean
            self.count_head.bias.copy_(torch.as_tensor(np.log(p / p.sum()), dtype=torch.float32))
            self.count_head.weight.mul_(0.1)
            self.depth_head.weight.mul_(0.1)
            self.depth_head.bias.zero_()

    def sample(self, K: int, generator: torch.Generator | None = None):
        """Sample ``K`` architectures.

        Returns
        -------
        counts : ndarray of int, shape (K, max_layers, n_units)
            Units per layer and type (0 beyond the depth).
        depth : ndarray of int, shape (K,)
        log_prob, entropy : tensor of shape (K,)
        """
        hidden = self.cell.hidden_size
        h = torch.zeros(K, hidden)
        c = torch.zeros(K, hidden)
        prev = torch.full((K,), self.prev.num_embeddings - 1, dtype=torch.long)  # start token
        logp = torch.zeros(K)
        ent = torch.zeros(K)
        depth = None
        counts = torch.zeros(K, self.L, self.T, dtype=torch.long)
        for step in range(self.n_decisions):
            inp = self.pos.weight[step].unsqueeze(0) + self.prev(prev)
            h, c = self.cell(inp, (h, c))
            logits = self.depth_head(h) if step == 0 else self.count_head(h)
            log_probs = torch.log_softmax(logits, dim=-1)
            choice = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(1)
            lp = log_probs.gather(1, choice.unsqueeze(1)).squeeze(1)
            e = -(log_probs.exp() * log_probs).sum(dim=1)
            if step == 0:
                depth = choice + 1
                live = torch.ones(K, dtype=torch.bool)
            else:
                layer, t = divmod(step - 1, self.T)
                live = layer < depth
                counts[:, layer, t] = torch.where(live, choice, torch.zeros_like(choice))
            logp = logp + torch.where(live, lp, torch.zeros_like(lp))
            ent = ent + torch.where(live, e, torch.zeros_like(e))
            prev = choice
        return counts.numpy(), depth.numpy(), logp, ent


def risk_seeking_loss(rewards: np.ndarray, log_prob: torch.Tensor, entropy: torch.Tensor,
                      epsilon: float, entropy_weight: float) -> torch.Tensor:
    """The risk-seeking policy-gradient loss (Petersen et al. 2021).

    Only samples whose reward reaches the ``1 - epsilon`` quantile of the batch
    count, each weighted by how far it is above that quantile: the controller is
    trained to produce its best samples, not a good average.
    """
    r = torch.as_tensor(rewards, dtype=torch.float32)
    q = float(np.quantile(rewards, 1.0 - epsilon))
    top = r >= q
    adv = (r - q)[top]
    pg = -(adv * log_prob[top]).mean() if bool(top.any()) else torch.zeros(())
    return pg - entropy_weight * entropy.mean()


# ----------------------------------------------------------------------------
# the proposer
# ----------------------------------------------------------------------------

def _units_for(operators: Sequence[str] | None, configured: Sequence[str] | None
               ) -> tuple[str, ...]:
    """Unit types from the allowed operators (registry names) or the configuration."""
    if configured is not None:
        units = tuple(u for u in configured if u in UNITS)
    elif operators is None:
        units = DEFAULT_UNITS
    else:
        units = tuple(u for u in UNITS if u in set(operators))
    if operators is not None:
        units = tuple(u for u in units if u in set(operators))
    return units


class DySymNetProposer(Proposer):
    """Candidate formulas from symbolic networks designed by a controller RNN.

    Parameters
    ----------
    config : DySymNetConfig, optional
    device : str or torch.device, optional
        Where the networks train; ``None``: CPU (deterministic everywhere; the
        nets are small enough that a CPU is not slower for few points).
    **overrides
        Fields of :class:`DySymNetConfig` to change, e.g. ``batch_size=16``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 40).reshape(-1, 1)
    >>> exprs = DySymNetProposer().propose(X, X[:, 0]**2 + X[:, 0], time_budget=5)
    """

    name = "dysymnet"

    def __init__(self, config: DySymNetConfig | None = None, *,
                 device: str | torch.device | None = None, **overrides):
        cfg = config if config is not None else DySymNetConfig()
        self.config = replace(cfg, **overrides) if overrides else cfg
        self.device = torch.device("cpu") if device is None else resolve_device(device)
        #: per-step records of the last :meth:`propose` call (for benchmarks)
        self.history_: list[dict] = []

    # -- one controller step ---------------------------------------------------------
    def _step(self, counts: np.ndarray, data: dict, gen: torch.Generator, rng_seed: int,
              deadline: float, fit_reserve: float, best_loss: float = math.inf
              ) -> tuple[np.ndarray, list, dict]:
        """Train, read off and refit one batch of architectures.

        ``best_loss`` is the best loss found before this step: only formulas that
        beat it go through :meth:`_drop_terms`.

        Returns the reward of each architecture, the fitted candidates
        ``[(expr, loss)]`` and timings.
        """
        cfg = self.config
        t0 = time.perf_counter()
        net = BatchedSymbolicNetwork(counts, data["d"], data["units"], cfg.max_units,
                                     dtype=cfg.dtype, device=self.device, generator=gen,
                                     init_std=cfg.init_std, init_sparse=cfg.init_sparse)
        net_mse = train_networks(net, data["Xt"], data["yt"], cfg, deadline=deadline - fit_reserve)
        t1 = time.perf_counter()
        exprs, owner = self._read_off(net, data, order=np.argsort(net_mse, kind="stable"))
        rewards = np.zeros(net.K)
        fitted: list[tuple[Expression, float]] = []
        if exprs and time.perf_counter() < deadline:
            fitted_exprs, losses = self._refit(exprs, data, rng_seed, deadline)
            nrmse = np.sqrt(np.maximum(losses, 0.0)) / data["y_std"]
            for e, l, k, r in zip(fitted_exprs, losses, owner, nrmse):
                if np.isfinite(l):
                    rewards[k] = max(rewards[k], 1.0 / (1.0 + r))
                    fitted.append((e, float(l)))
            # the clean-up costs about one more refit: only when that fits
            if time.perf_counter() + (time.perf_counter() - t1) < deadline:
                fitted += self._clean_up(fitted, data, rng_seed, deadline)
            fitted += self._drop_terms(fitted, data, rng_seed, deadline, below=best_loss,
                                       top=cfg.drop_top_step)
        t2 = time.perf_counter()
        return rewards, fitted, {"train_s": t1 - t0, "fit_s": t2 - t1}

    def _clean_up(self, fitted: list[tuple[Expression, float]], data: dict, seed: int,
                  deadline: float | None = None) -> list[tuple[Expression, float]]:
        """Fitted formulas without their negligible parts, refitted; those that fit as well.

        After the refit, the parts of a read-off that the data do not need have
        coefficients near 0 (``1e-9*sin(40*x)``) or are constant on the data
        (``cos(1e-7*x)``). :func:`_without_negligible` drops them at two tolerances;
        a cleaned formula is kept when its refit loses (almost) nothing.
        """
        from ..simplify import fold_constants
        from ..tree import tree_to_expression

        cands: list[Expression] = []
        base: list[float] = []
        seen = {e.key() for e, _ in fitted}
        for e, loss in fitted:
            for tol in (1e-7, 1e-4):
                try:
                    tree = _without_negligible(e, data["X"], tol)
                    if tree is None:
                        continue
                    c = fold_constants(tree_to_expression(tree, data["names"]),
                                       operators=data["fold_ops"])
                except Exception:  # noqa: BLE001, S112 - an odd formula is just not cleaned
                    continue
                key = c.key()
                if key in seen or len(c) >= len(e):
                    continue
                seen.add(key)
                cands.append(c)
                base.append(loss)
        if not cands:
            return []
        refit, losses = self._refit(cands, data, seed, deadline)
        out = []
        for e, l, l0 in zip(refit, losses, base):
            if np.isfinite(l) and l <= max(l0 * (1 + 1e-6), data["exact"]):
                out.append((e, float(l)))
        return out

    def _drop_terms(self, fitted: list[tuple[Expression, float]], data: dict, seed: int,
                    deadline: float, below: float = math.inf, top: int | None = None
                    ) -> list[tuple[Expression, float]]:
        """The ``top`` (default ``drop_top``) best of ``fitted`` whose loss is below
        ``below``, with the
        terms the data do not need removed (:func:`symreg.reduce.drop_terms`).

        A network's skip connections leave terms beside the law that nearly cancel
        on the data (``-0.04*x + 0.12*sin(0.34*x)`` on [0, 1]); neither is small,
        so :meth:`_clean_up` keeps them, and with them the formula is not the law.
        Each removal round refits every variant, so only new bests that fit
        almost exactly (MSE at most ``drop_below`` times var(y)) pay for it: a
        formula that holds the law beside cancelling terms fits that well.
        """
        from ..reduce import drop_terms

        cfg = self.config
        n_top = cfg.drop_top if top is None else top
        if n_top <= 0 or not fitted or time.perf_counter() > deadline:
            return []
        limit = min(below, cfg.drop_below * data["y_var"])
        top = sorted(((e, l) for e, l in fitted if l < limit),
                     key=lambda el: (max(el[1], data["exact"]), el[0].complexity))
        chosen: list[tuple[Expression, float]] = []
        seen: set[str] = set()
        for e, loss in top:
            if len(chosen) >= n_top:
                break
            key = e.key()
            if key not in seen:
                seen.add(key)
                chosen.append((e, loss))
        if not chosen:
            return []
        reduced = drop_terms([e for e, _ in chosen], [l for _, l in chosen], data["X"],
                             data["y"], rounds=cfg.drop_rounds, floor=data["exact"],
                             operators=data["fold_ops"], max_points=cfg.max_points,
                             n_restarts=cfg.fit_restarts, max_iter=cfg.fit_iter,
                             device=self.device, seed=seed, deadline=deadline)
        return [(r, l) for (r, l), (e, _) in zip(reduced, chosen) if r is not e]

    def _read_off(self, net: BatchedSymbolicNetwork, data: dict,
                  order: Sequence[int] | None = None) -> tuple[list[Expression], list[int]]:
        """Every network read off in each of ``cfg.readoffs`` ways, and with its
        output layer refitted on its best few units (:func:`_best_subsets`), as
        Expressions, with the network each came from.

        A skeleton read off twice is kept once, from the network that comes first
        in ``order`` (best trained first): its constants are the refit's start,
        and a better-trained net starts it nearer the law. Roots and logs whose
        argument the trained net only used through the protection
        (:func:`_repair_domains`) are rewritten to be defined on the data.
        """
        from ..simplify import fold_constants
        from ..tree import tree_to_expression

        cfg = self.config
        exprs: list[Expression] = []
        owner: list[int] = []
        seen: set[str] = set()
        with torch.no_grad():
            H = net.forward(data["Xt"], features=True).cpu().numpy()
        feature_rms = np.sqrt(np.mean(H * H, axis=1))
        yt = data["yt"].cpu().numpy()
        order = range(net.K) if order is None else [int(k) for k in order]
        scaled = {"x_scale": data["x_scale"], "max_nodes": 4 * cfg.max_tokens}

        def trees():
            for k in order:
                ways = [{"threshold": thr, "max_terms": mt, "keep_bias": kb}
                        for thr, mt, kb in cfg.readoffs]
                # the output layer refitted on the few unit outputs that explain y best
                ways += [{"output": out}
                         for out in _best_subsets(H[k], yt, cfg.subset_size, cfg.subset_pool)]
                for way in ways:
                    yield k, _read_off_or_none(net, k, y_scale=data["y_std"],
                                               y_offset=data["y_mean"],
                                               feature_rms=feature_rms[k], **scaled, **way)

        for k, tree in trees():
            if tree is None:
                continue
            try:
                tree = _repair_domains(tree, data["X"])
                expr = fold_constants(tree_to_expression(tree, data["names"]),
                                      operators=data["fold_ops"])
            except (ValueError, OverflowError, ZeroDivisionError, RecursionError):
                continue
            if len(expr) > cfg.max_tokens or not np.isfinite(expr.constants).all():
                continue
            key = expr.key()
            if key in seen:
                continue
            seen.add(key)
            exprs.append(expr)
            owner.append(k)
        return exprs, owner

    def _refit(self, exprs: list[Expression], data: dict, seed: int,
               deadline: float | None = None) -> tuple[list[Expression], np.ndarray]:
        """Constants of ``exprs`` fitted (batched), in chunks of ``fit_chunk`` so that a
        ``deadline`` can stop it between chunks; the unfitted ones get loss inf."""
        from ..simplify import fold_constants

        cfg = self.config
        out = list(exprs)
        losses = np.full(len(exprs), np.inf)
        last = 0.0   # the time of the previous chunk: the next one is not started if it
        for lo in range(0, len(exprs), cfg.fit_chunk):  # would likely end past the deadline
            t0 = time.perf_counter()
            if deadline is not None and t0 + last > deadline:
                break
            chunk = exprs[lo:lo + cfg.fit_chunk]
            try:
                with np.errstate(all="ignore"):
                    fitted, loss = fit_constants(chunk, data["X"], data["y"],
                                                 n_restarts=cfg.fit_restarts,
                                                 max_iter=cfg.fit_iter, device=self.device,
                                                 max_points=cfg.max_points, seed=seed,
                                                 deadline=deadline)
            except Exception:  # noqa: BLE001, S112 - a failed refit costs this chunk only
                continue
            for i, e in enumerate(fitted):
                try:
                    out[lo + i] = fold_constants(e, operators=data["fold_ops"])
                except Exception:  # noqa: BLE001
                    out[lo + i] = e
            losses[lo:lo + len(chunk)] = np.asarray(loss, dtype=np.float64)
            last = time.perf_counter() - t0
        return out, losses

    # -- the search --------------------------------------------------------------------
    def propose(self, X: np.ndarray, y: np.ndarray, *, n: int = 32, time_budget: float = 10.0,
                seed: int = 0, operators: Sequence[str] | None = None,
                variable_names: Sequence[str] | None = None) -> list[Expression]:
        """Search architectures for ``time_budget`` seconds; the best ``n`` formulas.

        See :meth:`Proposer.propose`. Formulas come best first: by MSE (losses
        that are exact to round-off count as equal), then by complexity.
        """
        threads = torch.get_num_threads()
        if self.config.threads is not None and self.device.type == "cpu":
            torch.set_num_threads(self.config.threads)
        try:
            return self._propose(X, y, n, time_budget, seed, operators, variable_names)
        finally:
            torch.set_num_threads(threads)

    def _propose(self, X, y, n, time_budget, seed, operators, variable_names) -> list[Expression]:
        start = time.perf_counter()
        deadline = start + float(time_budget)
        self.history_ = []
        try:
            data = self._prepare(X, y, seed, operators, variable_names)
        except (ValueError, TypeError):
            return []
        if data is None:
            return []
        cfg = self.config
        hall: dict[str, tuple[float, int, Expression]] = {}

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            controller = Controller(cfg.max_layers, len(data["units"]), cfg.max_units,
                                    cfg.hidden, cfg.p_units)
        copt = torch.optim.Adam(controller.parameters(), lr=cfg.controller_lr)
        gen = torch.Generator().manual_seed(seed)
        # what the read-off and the refit of one step cost, guessed until measured
        fit_reserve = min(max(0.3 * float(time_budget), 0.1), 3.0)
        elite: list[tuple[float, np.ndarray]] = []
        step = 0
        try:
            while time.perf_counter() < deadline - 0.5 * fit_reserve:
                if cfg.max_steps is not None and step >= cfg.max_steps:
                    break
                n_elite = min(cfg.n_elite, len(elite), cfg.batch_size - 1)
                n_sampled = cfg.batch_size - n_elite
                counts, depth, logp, ent = controller.sample(n_sampled, gen)
                if n_elite:
                    counts = np.concatenate([counts, np.stack([c for _, c in elite[:n_elite]])])
                best = min((v[0] for v in hall.values()), default=math.inf)
                rewards, fitted, times = self._step(counts, data, gen, seed + step, deadline,
                                                    fit_reserve, best_loss=best)
                # the best architectures so far (by the best reward any of their runs had)
                for r, c in zip(rewards.tolist(), counts):
                    same = [i for i, (_, e) in enumerate(elite) if np.array_equal(e, c)]
                    if same:
                        i = same[0]
                        elite[i] = (max(elite[i][0], r), elite[i][1])
                    elif r > 0:
                        elite.append((r, c.copy()))
                elite.sort(key=lambda rc: -rc[0])
                del elite[max(cfg.n_elite, 0):]
                rewards = rewards[:n_sampled]
                fit_reserve = min(1.5 * times["fit_s"] + 0.05, 0.5 * float(time_budget))
                for e, loss in fitted:
                    key = e.key()
                    # a formula with constants for half the points or more can
                    # interpolate them (sin(6e4*x) does): not a law
                    if e.n_constants > data["max_constants"]:
                        continue
                    if key not in hall or loss < hall[key][0]:
                        hall[key] = (loss, e.complexity, e)
                if np.isfinite(rewards).all() and rewards.max() > 0:
                    copt.zero_grad()
                    loss = risk_seeking_loss(rewards, logp, ent, cfg.risk_epsilon,
                                             cfg.entropy_weight)
                    if torch.isfinite(loss):
                        loss.backward()
                        copt.step()
                best = min((v[0] for v in hall.values()), default=math.inf)
                self.history_.append({"step": step, "depth": depth.tolist(),
                                      "rewards": rewards.tolist(), "best_mse": best, **times})
                step += 1
                if cfg.stop_when_exact and best <= data["stop"]:
                    break
        except KeyboardInterrupt:  # Ctrl-C: the best so far
            pass

        ranked = sorted(hall.values(), key=lambda v: (max(v[0], data["exact"]), v[1]))
        return self._finish([(e, loss) for loss, _, e in ranked[:n]], data, seed, deadline)

    def _finish(self, ranked: list[tuple[Expression, float]], data: dict, seed: int,
                deadline: float) -> list[Expression]:
        """The best few without the terms the data do not need and simplified with
        sympy, while the budget allows; names set."""
        cfg = self.config
        # the search stops at the first exact formula, before its terms were tried
        reduced = self._drop_terms(ranked[:cfg.drop_top], data, seed, deadline)
        if reduced:
            n = len(ranked)
            pool: dict[str, tuple[Expression, float]] = {}
            for e, loss in reduced + ranked:
                pool.setdefault(e.key(), (e, loss))
            ranked = sorted(pool.values(),
                            key=lambda el: (max(el[1], data["exact"]), el[0].complexity))[:n]
        out = [e for e, _ in ranked]
        if cfg.simplify_top > 0 and deadline - time.perf_counter() > 1.0:
            from ..simplify import simplify

            for i in range(min(cfg.simplify_top, len(out))):
                left = deadline - time.perf_counter()
                if left < 0.5:
                    break
                try:
                    out[i] = simplify(out[i], timeout=min(1.0, left / 3), X=data["X"],
                                      operators=data["fold_ops"])
                except Exception:  # noqa: BLE001, S110 - keep the unsimplified formula
                    pass
        if data["allowed"] is not None:
            allowed = data["allowed"]
            out = [e for e in out if all(t not in _OPERATOR_TOKENS or t in allowed
                                         for t in e.tokens)]
        return [e.with_names(data["names"]) for e in out]

    def _prepare(self, X, y, seed: int, operators, variable_names) -> dict | None:
        """Data as tensors (subsampled, x scaled, y standardised) and the settings."""
        from ..operators import resolve_operators

        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if X.shape[0] != y.shape[0] or X.shape[0] == 0 or X.shape[1] == 0:
            return None
        ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
        X, y = X[ok], y[ok]
        if X.shape[0] < 2:
            return None
        allowed = None if operators is None else frozenset(resolve_operators(operators))
        units = _units_for(allowed, self.config.units)
        if allowed is not None and not {"add", "mul"} <= allowed:
            # every read-off formula is a weighted sum: nothing could be returned
            return None
        rng = np.random.default_rng(seed)
        if X.shape[0] > self.config.max_points:
            idx = np.sort(rng.choice(X.shape[0], self.config.max_points, replace=False))
        else:
            idx = np.arange(X.shape[0])
        # inputs far from unit scale are divided by their RMS (no shift: a shift
        # would turn every zero inner offset into a non-zero one)
        rms = np.sqrt(np.mean(X * X, axis=0))
        x_scale = np.where((rms > 10.0) | ((rms < 0.1) & (rms > 0)), rms, 1.0)
        y_mean = float(np.mean(y))
        y_std = float(np.std(y))
        if not np.isfinite(y_std) or not np.isfinite(y_mean):
            return None
        if y_std == 0.0:
            y_std = 1.0
        dev = self.device
        dt = self.config.dtype
        return {
            "X": X, "y": y, "d": X.shape[1], "units": units, "allowed": allowed,
            "fold_ops": None if allowed is None else tuple(allowed),
            "names": None if variable_names is None else tuple(variable_names),
            "x_scale": x_scale.tolist(), "y_mean": y_mean, "y_std": y_std,
            "Xt": torch.as_tensor(X[idx] / x_scale, dtype=dt, device=dev),
            "yt": torch.as_tensor((y[idx] - y_mean) / y_std, dtype=dt, device=dev),
            # an MSE this small is a fit to round-off (as the search's exactness test)
            "exact": 1e-16 * max(float(np.var(y)), 1e-300),
            "y_var": float(np.var(y)),
            # the search stops only at a fit to round-off proper (relative RMS error
            # 1e-12): on a few points, a formula of many constants can reach the
            # looser test above without being the law (-0.12x² - 0.37x
            # - 3.5cos³(0.34x + 0.53) + 2.3 is sin x on 20 points of [-1, 1])
            "stop": 1e-24 * max(float(np.var(y)), 1e-300),
            "max_constants": max(2, X.shape[0] // 2),
        }


_OPERATOR_TOKENS = frozenset(OPERATORS)


def _read_off_or_none(net: BatchedSymbolicNetwork, k: int, **kwargs):
    """:meth:`BatchedSymbolicNetwork.read_off`, or None where its numbers overflow."""
    try:
        return net.read_off(k, **kwargs)
    except (ValueError, OverflowError, ZeroDivisionError, RecursionError):
        return None


def _best_subsets(H: np.ndarray, y: np.ndarray, max_size: int, pool: int
                  ) -> list[tuple[np.ndarray, float]]:
    """For each size 1..``max_size``, the linear model ``y ≈ H[:, S] w + b`` with
    the subset ``S`` of columns that fits best (exhaustive least squares).

    A trained network's output layer mixes the law's units with others that
    make up the small remainder on a few points; the sparse fit finds the few
    units that carry ``y``. Only the ``pool`` columns most correlated with ``y``
    take part (non-constant and finite ones). Returns ``(weights [D], bias)``
    per size, stopping at the first exact fit; empty if no column qualifies.
    """
    from itertools import combinations

    if max_size <= 0 or H.size == 0:
        return []
    n, D = H.shape
    with np.errstate(all="ignore"):
        finite = np.isfinite(H).all(axis=0)
        Hc = H - H.mean(axis=0)
        sd = np.sqrt((Hc * Hc).mean(axis=0))
        # "constant" relative to the finite columns' scale: one overflowing unit
        # must not make every other column look constant
        scale = max(1.0, float(np.abs(H[:, finite]).max(initial=0.0)))
        ok = finite & (sd > 1e-9 * scale)
        yc = y - y.mean()
        corr = np.where(ok, np.abs(Hc.T @ yc) / (n * np.where(ok, sd, 1.0)), -1.0)
    cols = [int(c) for c in np.argsort(-corr)[:pool] if ok[c]]
    out: list[tuple[np.ndarray, float]] = []
    var = float(np.mean(yc * yc)) or 1.0
    for size in range(1, min(max_size, len(cols), n - 1) + 1):
        subsets = np.array(list(combinations(cols, size)))           # [C, size]
        A = np.concatenate([H[:, subsets].transpose(1, 0, 2),        # [C, n, size+1]
                            np.ones((len(subsets), n, 1))], axis=2)
        with np.errstate(all="ignore"):
            AtA = A.transpose(0, 2, 1) @ A + 1e-12 * np.eye(size + 1)
            Aty = A.transpose(0, 2, 1) @ y
            try:
                w = np.linalg.solve(AtA, Aty[..., None])[..., 0]     # [C, size+1]
            except np.linalg.LinAlgError:
                continue
            sse = (((A @ w[..., None])[..., 0] - y) ** 2).mean(axis=1)
        sse = np.where(np.isfinite(sse), sse, np.inf)
        best = int(np.argmin(sse))
        if not np.isfinite(sse[best]):
            continue
        weights = np.zeros(D)
        weights[subsets[best]] = w[best, :size]
        out.append((weights, float(w[best, size])))
        if sse[best] <= 1e-20 * var:
            break
    return out


# operators defined for a positive argument only; training used them on |z|
_POSITIVE_DOMAIN = frozenset({"sqrt", "log"})


def _repair_domains(tree, X: np.ndarray):
    """``tree`` with every root and log made defined on ``X`` where it can be.

    Training applies ``sqrt`` and ``log`` to ``|z|``, so a net may learn
    ``sqrt(-0.4 x)`` on positive ``x``, or ``sqrt(1.3 x - 0.2)`` whose argument
    dips below 0 at the smallest ``x``. Read off with the plain operator, such a
    formula is undefined there, its loss is inf and the refit cannot start from
    it. An argument negative on every row is negated (what ``|z|`` computed); one
    negative on some rows gets its bias raised until it is positive on all of
    them (a nearby start from which the refit can move). Subtrees the numpy forms
    cannot evaluate are left as they are.
    """
    n = X.shape[0]

    def walk(node):
        if isinstance(node, float):
            return np.full(n, node), node
        if isinstance(node, str):
            return X[:, int(node[1:])].astype(np.float64), node
        op = node[0]
        parts = [walk(child) for child in node[1:]]
        vals = [v for v, _ in parts]
        kids = [t for _, t in parts]
        if op in _POSITIVE_DOMAIN and np.isfinite(vals[0]).all():
            arg = vals[0]
            lo, hi = float(arg.min()), float(arg.max())
            if hi < 0:
                kids[0], vals[0] = ("neg", kids[0]), -arg
            elif lo <= 0:
                # a margin of a hundredth of the argument's range keeps log finite
                shift = 0.01 * (hi - lo) - lo
                kids[0], vals[0] = ("add", kids[0], float(shift)), arg + shift
        value = OPERATORS[op].numpy_fn(*vals)
        return value, (op, *kids)

    try:
        with np.errstate(all="ignore"):
            return walk(tree)[1]
    except (ValueError, IndexError, KeyError, TypeError):
        return tree


def _without_negligible(expr: Expression, X: np.ndarray, tol: float):
    """``expr``'s tree with the parts that do not matter on ``X`` removed, or None.

    Bottom-up over the tree (evaluated with the numpy forms): an operand of a sum
    whose RMS is at most ``tol`` times the sum's is dropped, and a subtree that
    holds a variable but is constant on ``X`` to ``tol`` (relative) becomes that
    constant. Returns None when nothing changed or a value is not finite.
    """
    from ..tree import expression_to_tree

    n = X.shape[0]
    changed = False

    def rms(v: np.ndarray) -> float:
        return float(np.sqrt(np.mean(v * v)))

    def walk(node):
        nonlocal changed
        if isinstance(node, float):
            return np.full(n, node), node, False
        if isinstance(node, str):
            return X[:, int(node[1:])].astype(np.float64), node, True
        op = node[0]
        parts = [walk(child) for child in node[1:]]
        vals = [p[0] for p in parts]
        kids = [p[1] for p in parts]
        has_var = any(p[2] for p in parts)
        value = OPERATORS[op].numpy_fn(*vals)
        if not np.all(np.isfinite(value)):
            raise FloatingPointError
        if op in ("add", "sub") and has_var:
            scale = max(rms(value), 1e-300)
            if rms(vals[1]) <= tol * scale:
                changed = True
                return vals[0], kids[0], parts[0][2]
            if rms(vals[0]) <= tol * scale:
                changed = True
                if op == "add":
                    return vals[1], kids[1], parts[1][2]
                return -vals[1], ("neg", kids[1]), parts[1][2]
        if has_var:
            mean = float(np.mean(value))
            if float(np.max(np.abs(value - mean))) <= tol * max(abs(mean), 1e-300):
                changed = True
                return np.full(n, mean), mean, False
        return value, (op, *kids), has_var

    try:
        with np.errstate(all="ignore"):
            _, tree, _ = walk(expression_to_tree(expr))
    except (FloatingPointError, ValueError, IndexError):
        return None
    return tree if changed else None
