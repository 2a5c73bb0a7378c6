"""Batched constant fitting.

All expressions of a batch are fitted at once: one compiled program carries
every expression (and every restart of it), forward-mode derivatives give the
Jacobian with respect to each expression's own constants, and each
Levenberg–Marquardt iteration solves all the small normal equations in one
batched ``torch.linalg.solve``.

* With ``linear_scaling=True`` every expression ``f`` becomes ``a·f + b``;
  ``a`` and ``b`` start at their closed-form least-squares values, so an
  expression without constants of its own is fitted in closed form.
* Constants that enter linearly (reached from the root through ``+ - ×``,
  negation and numerators only) need no restarts. Expressions with other
  constants get ``n_restarts`` extra starting points, and the best is kept.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .evaluate import compile_batch, resolve_device
from .expression import CONST, Expression, arity

__all__ = ["fit_constants", "linear_scaled", "nonlinear_constant_mask"]


def linear_scaled(expr: Expression, scale: float = 1.0, offset: float = 0.0) -> Expression:
    """``scale * expr + offset`` as a new expression with two more constants."""
    tokens = ("add", "mul", CONST) + expr.tokens + (CONST,)
    consts = np.concatenate([[scale], expr.constants, [offset]])
    return Expression(tokens, consts, expr.variable_names, check=False)


def nonlinear_constant_mask(expr: Expression) -> np.ndarray:
    """True for each constant that does not enter the expression linearly."""
    linear_ops = {"add", "sub", "mul", "neg"}
    mask = []
    # walk the prefix sequence keeping, for each open argument, whether the
    # path from the root to it is linear
    pending: list[bool] = [True]
    for tok in expr.tokens:
        linear = pending.pop()
        if tok == CONST:
            mask.append(not linear)
            continue
        n = arity(tok)
        if n == 0:
            continue
        if tok == "div":
            child_linear = [linear, False]       # numerator, denominator
        else:
            child_linear = [linear and tok in linear_ops] * n
        pending.extend(reversed(child_linear))  # first argument on top
    return np.array(mask, dtype=bool)


def fit_constants(
    exprs: Sequence[Expression],
    X,
    y,
    sample_weight=None,
    *,
    linear_scaling: bool = False,
    n_restarts: int = 4,
    max_iter: int = 60,
    max_points: int | None = 1000,
    device: str | torch.device | None = "cpu",
    seed: int = 0,
    max_elements: int = 2**23,
) -> tuple[list[Expression], np.ndarray]:
    """Fit the constants of many expressions at once.

    Parameters
    ----------
    exprs : sequence of Expression
        Current constant values are the first starting point.
    X, y : array-like
        Data, [n_samples, n_features] and [n_samples].
    sample_weight : array-like, optional
    linear_scaling : bool
        Fit ``a·f + b`` instead of ``f`` (the returned expressions carry the
        wrapper).
    n_restarts : int
        Extra random starting points for expressions whose constants enter
        non-linearly.
    max_iter : int
        Levenberg–Marquardt iterations.
    max_points : int or None
        Fit on at most this many points (a fixed random subset); the returned
        losses are on all points.
    device : str or torch.device
        Where to run. Fitting is in float64.
    seed : int
        Seed of the restarts and the subset.

    Returns
    -------
    fitted : list of Expression
    losses : numpy.ndarray
        Weighted MSE of each fitted expression on all points (+inf where the
        prediction is not finite).
    """
    dev = resolve_device(device)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    rng = np.random.default_rng(seed)
    exprs = [linear_scaled(e) for e in exprs] if linear_scaling else list(exprs)
    if not exprs:
        return [], np.zeros(0)

    if max_points is not None and X.shape[0] > max_points:
        idx = np.sort(rng.choice(X.shape[0], max_points, replace=False))
        Xf, yf, wf = X[idx], y[idx], w[idx]
    else:
        Xf, yf, wf = X, y, w

    # starting points: the given constants, then restarts for non-linear ones
    starts: list[Expression] = []
    owner: list[int] = []
    for i, e in enumerate(exprs):
        starts.append(e)
        owner.append(i)
        if e.n_constants == 0:
            continue
        nonlinear = nonlinear_constant_mask(e)
        if not nonlinear.any():
            continue
        for _ in range(n_restarts):
            c = e.constants.copy()
            k = nonlinear.sum()
            if rng.random() < 0.5:
                c[nonlinear] = rng.normal(0.0, 2.0, size=k)
            else:
                c[nonlinear] = c[nonlinear] * np.exp(rng.normal(0.0, 1.0, size=k)) * rng.choice([-1.0, 1.0], size=k)
            starts.append(e.with_constants(c))
            owner.append(i)

    Xt = torch.as_tensor(Xf, dtype=torch.float64, device=dev)
    yt = torch.as_tensor(yf, dtype=torch.float64, device=dev)
    wt = torch.as_tensor(wf / wf.sum(), dtype=torch.float64, device=dev)

    fitted_consts: list[np.ndarray] = []
    fitted_loss: list[float] = []
    n = Xf.shape[0]
    max_k = max(e.n_constants for e in starts)
    rows_per_chunk = max(16, max_elements // (n * max(max_k, 1) * 24))
    for c0 in range(0, len(starts), rows_per_chunk):
        chunk = starts[c0: c0 + rows_per_chunk]
        consts, losses = _levenberg_marquardt(chunk, Xt, yt, wt, max_iter, linear_scaling)
        fitted_consts.extend(consts)
        fitted_loss.extend(losses)

    best: dict[int, int] = {}
    for j, i in enumerate(owner):
        if i not in best or _better(fitted_loss[j], fitted_loss[best[i]]):
            best[i] = j
    out = [exprs[i].with_constants(fitted_consts[best[i]]) for i in range(len(exprs))]

    # final losses on all points
    from .evaluate import evaluate_batch
    losses = evaluate_batch(out, X, y, sample_weight=w, device=dev, dtype=torch.float64)
    return out, losses


def _better(a: float, b: float) -> bool:
    if not np.isfinite(b):
        return np.isfinite(a) or a < b
    return np.isfinite(a) and a < b


def _levenberg_marquardt(exprs: list[Expression], X, y, w, max_iter: int, linear_scaling: bool):
    """Batched LM over the constants of ``exprs``; returns constants and losses."""
    dev = X.device
    prog = compile_batch(exprs, X.shape[1], dev, share_subtrees=True)
    M = len(exprs)
    K = max(prog.max_constants, 1)
    const_expr = torch.as_tensor(prog.const_expr, device=dev)
    const_slot = torch.as_tensor(prog.const_slot, device=dev)
    params = torch.zeros(M, K, dtype=torch.float64, device=dev)
    if len(prog.const_values):
        params[const_expr, const_slot] = torch.as_tensor(prog.const_values, dtype=torch.float64, device=dev)
    valid = torch.zeros(M, K, dtype=torch.bool, device=dev)
    valid[const_expr, const_slot] = True
    sqrt_w = torch.sqrt(w)

    def flat(p):
        return p[const_expr, const_slot]

    def loss_of(pred):
        r = (pred - y) * sqrt_w
        loss = (r * r).sum(1)
        return torch.where(torch.isfinite(loss), loss, torch.full_like(loss, float("inf")))

    if linear_scaling and len(prog.const_values):
        # closed form for a and b (first and last constant of each expression)
        first = torch.zeros(M, dtype=torch.long, device=dev)
        last = torch.as_tensor([e.n_constants - 1 for e in exprs], device=dev)
        pred, tang = prog.values_and_tangents(X, flat(params))
        f = tang[torch.arange(M, device=dev), first]          # d pred / d a = inner value
        mf = (w * f).sum(1)
        my = (w * y).sum()
        var = (w * f * f).sum(1) - mf * mf
        cov = (w * f * y).sum(1) - mf * my
        ok = torch.isfinite(var) & torch.isfinite(cov) & (var > 1e-300)
        a = torch.where(ok, cov / torch.where(ok, var, torch.ones_like(var)), torch.ones_like(var))
        b = my - a * mf
        b = torch.where(torch.isfinite(b), b, torch.zeros_like(b))
        params[torch.arange(M, device=dev), first] = a
        params[torch.arange(M, device=dev), last] = b

    if not len(prog.const_values):
        loss = loss_of(prog.values(X))
        return [np.zeros(0)] * M, loss.cpu().tolist()

    lam = torch.full((M,), 1e-3, dtype=torch.float64, device=dev)
    eye = torch.eye(K, dtype=torch.float64, device=dev).expand(M, K, K)
    pred, J = prog.values_and_tangents(X, flat(params))
    loss = loss_of(pred)
    active = torch.ones(M, dtype=torch.bool, device=dev)
    for _ in range(max_iter):
        r = (pred - y) * sqrt_w                                  # [M, n]
        Jw = J * sqrt_w                                          # [M, K, n]
        good = torch.isfinite(Jw).all(dim=(1, 2)) & torch.isfinite(r).all(dim=1)
        Jw = torch.where(good[:, None, None], Jw, torch.zeros_like(Jw))
        r = torch.where(good[:, None], r, torch.zeros_like(r))
        JtJ = Jw @ Jw.transpose(1, 2)
        g = (Jw @ r.unsqueeze(2)).squeeze(2)
        diag = torch.diagonal(JtJ, dim1=1, dim2=2)
        damp = lam[:, None] * (diag + 1e-12 * diag.amax(1, keepdim=True) + 1e-30)
        A = JtJ + torch.diag_embed(damp)
        A = torch.where(valid[:, :, None] & valid[:, None, :], A, eye)
        g = torch.where(valid, g, torch.zeros_like(g))
        step = torch.linalg.solve(A, -g.unsqueeze(2)).squeeze(2)
        step = torch.where(torch.isfinite(step), step, torch.zeros_like(step))
        trial = params + torch.where((active & good)[:, None], step, torch.zeros_like(step))
        new_pred, new_J = prog.values_and_tangents(X, flat(trial))
        new_loss = loss_of(new_pred)
        accept = active & good & (new_loss < loss)
        rel = (loss - new_loss) / torch.clamp(loss, min=1e-300)
        params = torch.where(accept[:, None], trial, params)
        pred = torch.where(accept[:, None], new_pred, pred)
        J = torch.where(accept[:, None, None], new_J, J)
        # converged: a tiny relative gain, or the loss is at round-off
        done = accept & ((rel < 1e-10) | (new_loss < 1e-28 * (y * y).mean()))
        loss = torch.where(accept, new_loss, loss)
        lam = torch.where(accept, lam * 0.3, lam * 8.0).clamp(1e-12, 1e12)
        active = active & ~done & (lam < 1e12) & torch.isfinite(loss)
        if not bool(active.any()):
            break
    p = params.cpu().numpy()
    counts = [e.n_constants for e in exprs]
    return [p[i, :counts[i]].copy() for i in range(M)], loss.cpu().tolist()
