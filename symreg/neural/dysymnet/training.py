"""Training of a :class:`~symreg.neural.dysymnet.model.BatchedSymbolicNetwork`:
sparse phase, prune, fine-tune, all K networks at once."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from .config import DySymNetConfig
from .model import BatchedSymbolicNetwork

__all__ = ["train_networks"]


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
