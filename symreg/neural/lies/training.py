"""Training and pruning of a :class:`~symreg.neural.lies.model.LIESNet`.

:func:`train` is Adam on the weighted squared error plus L1 and the domain
penalties; :func:`prune` removes the least important weights in rounds, retraining
after each, and keeps one snapshot per sparsity level.
"""

from __future__ import annotations

import math
import time

import torch

from .model import LIESNet

__all__ = ["prune", "train"]


def _nmse(net: LIESNet, F: torch.Tensor, t: torch.Tensor) -> float:
    with torch.no_grad():
        out, _ = net(F)
        v = float(torch.mean((out - t) ** 2))
    return v if math.isfinite(v) else math.inf


def train(net: LIESNet, F: torch.Tensor, t: torch.Tensor, steps: int, *, l1: float,
          warmup: int = 0, deadline: float = math.inf) -> float:
    """Adam on the weighted squared error + L1 + domain penalties.

    The worst-fit ``oversample_frac`` of the rows get weight ``oversample_weight``,
    recomputed every ``resample_every`` steps. A non-finite loss rolls the weights
    back to the last finite state and halves the learning rate. Returns the final
    (unweighted) normalised MSE; stops early at ``deadline`` (``time.monotonic``).
    """
    cfg = net.cfg
    params = [p for p in net.weights]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    n = F.shape[0]
    weights = torch.ones(n, dtype=F.dtype)
    k_worst = max(1, round(cfg.oversample_frac * n))
    good = net.state()
    lr = cfg.lr
    for step in range(steps):
        if step % 50 == 0 and time.monotonic() > deadline:
            break
        if cfg.oversample_weight > 1 and step % cfg.resample_every == 0:
            with torch.no_grad():
                out, _ = net(F)
                r = (out - t) ** 2
                if torch.isfinite(r).all():
                    worst = torch.topk(r, k_worst).indices
                    weights = torch.ones(n, dtype=F.dtype)
                    weights[worst] = cfg.oversample_weight
                    weights = weights / weights.mean()
        # L1 ramps in linearly over the steps after the warm-up
        ramp = 0.0 if step < warmup else min(1.0, (step - warmup + 1) / max(1, (steps - warmup) // 2))
        out, pen = net(F)
        loss = torch.mean(weights * (out - t) ** 2) + cfg.penalty * pen
        if l1 > 0 and ramp > 0:
            loss = loss + l1 * ramp * net.l1()
        if not torch.isfinite(loss):
            net.load(good)
            lr *= 0.5
            if lr < 1e-5:
                break
            opt = torch.optim.Adam(params, lr=lr)
            continue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p, m in zip(net.weights, net.masks):
            if p.grad is not None:
                p.grad.mul_(m)          # pruned weights stay at 0
                torch.nan_to_num_(p.grad, nan=0.0, posinf=0.0, neginf=0.0)
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        if step % 50 == 49:
            good = net.state()
    return _nmse(net, F, t)


def _importance(net: LIESNet, F: torch.Tensor, t: torch.Tensor) -> list[tuple[float, int, int, int]]:
    """(loss increase when zeroed, layer, row, column) of every surviving weight."""
    base = _nmse(net, F, t)
    out = []
    with torch.no_grad():
        for layer, m in enumerate(net.masks):
            for r, c in torch.nonzero(m).tolist():
                m[r, c] = 0.0
                loss = _nmse(net, F, t)
                m[r, c] = 1.0
                out.append((loss - base, layer, r, c))
    out.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
    return out


def prune(net: LIESNet, F: torch.Tensor, t: torch.Tensor, *, deadline: float = math.inf
          ) -> list[tuple[float, tuple]]:
    """Hard-threshold pruning with retraining; returns ``(nmse, state)`` snapshots,
    densest first (the state as given is the first)."""
    cfg = net.cfg
    with torch.no_grad():
        # weights that are already negligible go at once (hard threshold)
        for w, m in zip(net.weights, net.masks):
            m[(w.abs() < 1e-6)] = 0.0
    best = train(net, F, t, cfg.retrain_steps, l1=0.0, deadline=deadline)
    snaps = [(best, net.state())]
    frac = cfg.prune_fraction
    bulk = True          # until a removal fails, every negligible weight goes at once
    sub = F if F.shape[0] <= 256 else F[:256]     # importances on a subset: cheaper
    tsub = t[: sub.shape[0]]
    for _ in range(cfg.prune_rounds):
        if time.monotonic() > deadline or net.n_active() <= 1:
            break
        order = _importance(net, sub, tsub)
        k = max(1, int(frac * len(order)))
        if bulk:
            # weights into dead units and the like: their removal costs nothing
            negligible = sum(1 for d, *_ in order if d <= 1e-3 * cfg.prune_abs)
            k = max(k, min(negligible, len(order) - 1))
        before = net.state()
        with torch.no_grad():
            for _, layer, r, c in order[:k]:
                net.masks[layer][r, c] = 0.0
                net.weights[layer][r, c] = 0.0
        loss = train(net, F, t, cfg.retrain_steps, l1=0.0, deadline=deadline)
        if loss <= best * (1 + cfg.prune_tol) + cfg.prune_abs:
            best = min(best, loss)
            snaps.append((loss, net.state()))
        else:
            # the failed state can still be the right formula for a better fit
            snaps.append((loss, net.state()))
            net.load(before)
            if k == 1:
                break
            if bulk:
                bulk = False
            else:
                frac = max(frac / 2, 0.5 / len(order))
    return snaps
