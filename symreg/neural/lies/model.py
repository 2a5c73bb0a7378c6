"""The LIES network (:class:`LIESNet`) and its inputs (:func:`_features`).

Layer ``l`` sees every earlier feature through one weight matrix and applies one of
the primitive units (``id``, ``exp``, ``sin``, ``log``) to each pre-activation; the
inputs are the scaled columns, the standardised ``log|x_j|`` and a constant 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import LIESConfig

__all__ = ["LIESNet"]


class LIESNet(nn.Module):
    """Layers of log/identity/exp/sin units with dense skip connections.

    Parameters
    ----------
    n_inputs : int
        Input features, the constant 1 included (the caller appends it).
    kinds : sequence of str
        Unit kind of each unit of one layer (every layer has the same units).
    n_layers : int
    config : LIESConfig
    generator : torch.Generator
        Source of the initial weights.

    The weights of layer ``l`` form a matrix ``[len(kinds), n_inputs + l·len(kinds)]``;
    a mask of the same shape marks the weights that are still alive.
    """

    def __init__(self, n_inputs: int, kinds: Sequence[str], n_layers: int, config: LIESConfig,
                 generator: torch.Generator):
        super().__init__()
        self.kinds = tuple(kinds)
        self.n_inputs = int(n_inputs)
        self.cfg = config
        u = len(self.kinds)
        self.weights = nn.ParameterList()
        masks = []
        for layer in range(n_layers + 1):
            rows = 1 if layer == n_layers else u
            w = torch.randn(rows, n_inputs + layer * u, generator=generator,
                            dtype=torch.float64) * config.init_std
            if layer < n_layers:
                # log units start in their domain: a bias of 1 keeps z away from 0
                for k, kind in enumerate(self.kinds):
                    if kind == "log":
                        w[k, n_inputs - 1] = 1.0
            self.weights.append(nn.Parameter(w))
            masks.append(torch.ones_like(w))
        self.masks = masks
        # units of one kind are contiguous (the caller groups them): one slice each
        self._slices: list[tuple[str, int, int]] = []
        for k, kind in enumerate(self.kinds):
            if self._slices and self._slices[-1][0] == kind:
                self._slices[-1] = (kind, self._slices[-1][1], k + 1)
            else:
                self._slices.append((kind, k, k + 1))
        if len({s[0] for s in self._slices}) != len(self._slices):
            raise ValueError(f"units of one kind must be contiguous: {self.kinds}")

    @property
    def n_layers(self) -> int:
        return len(self.weights) - 1

    def effective(self, layer: int) -> torch.Tensor:
        return self.weights[layer] * self.masks[layer]

    def forward(self, F: torch.Tensor, pre: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Output ``[n]`` and the domain penalty (a scalar); ``pre`` collects the
        pre-activations of each layer when given."""
        cfg = self.cfg
        H = F
        penalty = F.new_zeros(())
        for layer in range(self.n_layers):
            Z = H @ self.effective(layer).T
            if pre is not None:
                pre.append(Z.detach())
            parts = []
            for kind, lo, hi in self._slices:
                z = Z[:, lo:hi]
                if kind == "id":
                    a = z
                elif kind == "sin":
                    a = torch.sin(z)
                elif kind == "exp":
                    a = torch.exp(torch.clamp(z, max=cfg.exp_max))
                    penalty = penalty + torch.relu(z - cfg.exp_max).mean()
                else:  # log: smooth at 0, and pushed to stay in z > δ
                    a = 0.5 * torch.log(z * z + cfg.log_eps ** 2)
                    penalty = penalty + torch.relu(cfg.log_margin - z).mean()
                parts.append(a)
            H = torch.cat([H, *parts], dim=1)
        out = H @ self.effective(self.n_layers).T
        return out[:, 0], penalty

    def l1(self) -> torch.Tensor:
        return sum(self.effective(k).abs().sum() for k in range(len(self.weights)))

    def n_active(self) -> int:
        return int(sum(int(m.sum()) for m in self.masks))

    def state(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """A snapshot: copies of the weights and the masks."""
        return ([w.detach().clone() for w in self.weights], [m.clone() for m in self.masks])

    def load(self, state) -> None:
        ws, ms = state
        with torch.no_grad():
            for p, w in zip(self.weights, ws):
                p.copy_(w)
        self.masks = [m.clone() for m in ms]


# ----------------------------------------------------------------------------
# features of the data
# ----------------------------------------------------------------------------

@dataclass
class _Features:
    """Network inputs and how to read them back: feature ``k`` equals
    ``a[k]·tree(base[k]) + b[k]``; the last feature is the constant 1 (base None)."""

    F: np.ndarray
    bases: list
    a: list[float]
    b: list[float]


def _scale(v: np.ndarray) -> float:
    """Root mean square, computed without overflow; 1 for an all-zero column."""
    m = float(np.max(np.abs(v))) if v.size else 0.0
    if not math.isfinite(m) or m == 0.0:
        return 1.0
    return float(m * np.sqrt(np.mean((v / m) ** 2)))


def _features(X: np.ndarray, use_log: bool) -> _Features:
    cols, bases, a, b = [], [], [], []
    for j in range(X.shape[1]):
        x = X[:, j]
        s = _scale(x)
        cols.append(x / s)
        bases.append(f"x{j}")
        a.append(1.0 / s)
        b.append(0.0)
    if use_log:
        for j in range(X.shape[1]):
            x = X[:, j]
            if np.any(x == 0):
                continue
            with np.errstate(all="ignore"):
                lx = np.log(np.abs(x))
            sd = float(np.std(lx))
            if not np.all(np.isfinite(lx)) or sd < 1e-9:
                continue
            m = float(np.mean(lx))
            if np.all(x > 0):
                arg = f"x{j}"
            elif np.all(x < 0):
                arg = ("neg", f"x{j}")
            else:
                arg = ("abs", f"x{j}")
            cols.append((lx - m) / sd)
            bases.append(("log", arg))
            a.append(1.0 / sd)
            b.append(-m / sd)
    cols.append(np.ones(X.shape[0]))
    bases.append(None)
    a.append(1.0)
    b.append(0.0)
    return _Features(np.stack(cols, axis=1), bases, a, b)
