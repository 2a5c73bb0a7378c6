"""The symbolic network: unit operators and :class:`BatchedSymbolicNetwork`.

K architectures padded into one model whose parameters live in one ``[K, P]``
tensor; per layer one batched matrix product and one call per operator type.
:meth:`BatchedSymbolicNetwork.read_off` writes network ``k`` as a nested-tuple tree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ...operators import OPERATORS

__all__ = ["DEFAULT_UNITS", "UNITS", "BatchedSymbolicNetwork"]

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
