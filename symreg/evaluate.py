"""Batch evaluator: many expressions × many points in one call, CPU or CUDA.

How it works
------------
The expressions are compiled into one :class:`~symreg.program.Program` (per
chunk of expressions): variables, constants and every distinct operator node
are rows of one buffer, identical subtrees are computed once, and the operator
nodes run in stages, one tensor operation per operator and height for the
whole batch (see :mod:`symreg.program`).

The points are taken in blocks: the whole program runs on one block of
points, the loss of that block is added to each expression's total, and the
next block reuses the same buffers. A block holds about :data:`BLOCK_BYTES` of
values (between :data:`MIN_BLOCK` and :data:`MAX_BLOCK` points), which keeps a
program's buffer near the processor's cache instead of streaming rows × points
through memory, while each tensor operation still covers enough values to
repay its call; blocks also bound the memory at a million points and allocate
nothing per block.
The built-in losses are computed in place on the gathered predictions and
summed in float64.

Nothing here raises on bad numbers: out-of-domain operations give NaN/inf and
the loss of that candidate is +inf.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter

import numpy as np
import torch

from .expression import Expression
from .program import Program, compile_batch

__all__ = ["LOSSES", "Program", "compile_batch", "evaluate_batch", "resolve_device"]

# block sizes (see the module docstring), chosen with benchmarks/bench_evaluator.py:
# below ~1000 points the per-operation overhead shows; small programs gain up
# to ~8000 points; a buffer well beyond the caches loses
#: Values (rows × points × bytes) one block of a program aims at.
BLOCK_BYTES = 24 << 20
#: Fewest and most points in a block.
MIN_BLOCK, MAX_BLOCK = 1024, 8192


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"``: CUDA when available, else CPU."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
    return dev


# ----------------------------------------------------------------------------
# losses: elementwise, so they accumulate over chunks of points
# ----------------------------------------------------------------------------

def _mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.square(pred - y)


def _mae(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.abs(pred - y)


def _huber(pred: torch.Tensor, y: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    r = torch.abs(pred - y)
    return torch.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))


def _logcosh(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r = torch.abs(pred - y)
    return r + torch.nn.functional.softplus(-2.0 * r) - np.log(2.0)


#: Named elementwise losses; a callable ``(pred [B, n], y [n]) -> [B, n]`` works too.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": _mse, "mae": _mae, "huber": _huber, "logcosh": _logcosh,
}


def _resolve_loss(loss) -> Callable:
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; known losses: {', '.join(LOSSES)}")
    return LOSSES[loss]


# ----------------------------------------------------------------------------
# the public entry point
# ----------------------------------------------------------------------------

def _chunks_by_tokens(exprs: Sequence[Expression], max_tokens: int) -> list[tuple[int, int]]:
    lengths = np.fromiter(map(len, map(attrgetter("tokens"), exprs)), dtype=np.int64,
                          count=len(exprs))
    out = []
    start = 0
    acc = 0
    for i, n in enumerate(lengths):
        if acc + n > max_tokens and i > start:
            out.append((start, i))
            start, acc = i, 0
        acc += int(n)
    if start < len(exprs) or not out:
        out.append((start, len(exprs)))
    return out


def evaluate_batch(
    exprs: Sequence[Expression],
    X,
    y=None,
    *,
    sample_weight=None,
    loss: str | Callable = "mse",
    linear_scaling: bool = False,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    max_elements: int = 2**23,
    share_subtrees: bool = True,
) -> np.ndarray:
    """Evaluate many expressions on many points in one call.

    Parameters
    ----------
    exprs : sequence of Expression
    X : array-like, shape (n_samples, n_features)
    y : array-like, shape (n_samples,), optional
        When given, return one loss per expression instead of predictions.
    sample_weight : array-like, shape (n_samples,), optional
        Weights of the points in the loss.
    loss : {"mse", "mae", "huber", "logcosh"} or callable
        Elementwise loss ``(pred [B, n], y [n]) -> [B, n]``, averaged with the weights.
    linear_scaling : bool
        Score each expression after its best affine map ``a·f(x) + b``
        (closed form; MSE only).
    device : str or torch.device, optional
        ``None``/``"auto"``: CUDA when available, else CPU.
    dtype : torch.dtype
        ``torch.float32`` (default) or ``torch.float64``.
    max_elements : int
        Bound on the value buffer (rows × points) of one chunk.

    Returns
    -------
    numpy.ndarray
        Predictions [B, n_samples], or losses [B] (float64, +inf where the
        prediction is not finite) when ``y`` is given.
    """
    dev = resolve_device(device)
    X_np = np.asarray(X, dtype=np.float64)
    if X_np.ndim == 1:
        X_np = X_np.reshape(-1, 1)
    n, d = X_np.shape
    B = len(exprs)
    loss_fn = _resolve_loss(loss)
    if linear_scaling and loss != "mse":
        raise ValueError("linear_scaling is closed-form for the MSE loss only")
    if y is not None:
        y_np = np.asarray(y, dtype=np.float64).reshape(-1)
        if y_np.shape[0] != n:
            raise ValueError(f"y has {y_np.shape[0]} values but X has {n} rows")
        w_np = (np.ones(n) if sample_weight is None
                else np.asarray(sample_weight, dtype=np.float64).reshape(-1))
        if w_np.shape[0] != n:
            raise ValueError(f"sample_weight has {w_np.shape[0]} values but X has {n} rows")
    if B == 0:
        return np.zeros((0,) if y is not None else (0, n))
    if n == 0:
        if y is None:
            return np.zeros((B, 0))
        raise ValueError("X has no rows: there is no loss to compute")

    # a copy (X may be read-only), column by column: a block's variable rows are
    # then plain slices; Xt is its [n, d] view
    Xt = torch.tensor(np.ascontiguousarray(X_np.T), dtype=dtype, device=dev).T
    if y is not None:
        yt = torch.tensor(y_np, dtype=dtype, device=dev)
        wt = None if sample_weight is None else torch.tensor(w_np, dtype=dtype, device=dev)

    # tokens per program keep rows × points <= max_elements with the smallest block
    m_min = min(n, max(MIN_BLOCK // 4, min(MIN_BLOCK, max_elements // 4096)))
    max_tokens = max(64, max_elements // m_min)
    ws = _Workspace(dtype, dev)
    results = []
    with torch.no_grad():
        for b0, b1 in _chunks_by_tokens(exprs, max_tokens):
            prog = compile_batch(exprs[b0:b1], d, dev, share_subtrees)
            rows = max(prog.n_rows, 1)
            m = min(n, max(m_min, min(MAX_BLOCK, BLOCK_BYTES // (rows * Xt.element_size()),
                                      max_elements // rows)))
            if y is None:
                results.append(_predictions(prog, Xt, m, ws))
            elif linear_scaling:
                results.append(_scaled_mse(prog, Xt, yt, wt, m, ws))
            else:
                results.append(_blocked_loss(prog, Xt, yt, wt, m, loss_fn, ws))
    return np.concatenate(results, axis=0)


# ----------------------------------------------------------------------------
# running a program block by block
# ----------------------------------------------------------------------------

class _Workspace:
    """Buffers reused by every block of points and every program of one call:
    the value buffer, the scratch of gathered arguments and the predictions."""

    def __init__(self, dtype: torch.dtype, device: torch.device):
        self.dtype, self.device = dtype, device
        self._flat: dict[str, torch.Tensor] = {}

    def get(self, name: str, rows: int, cols: int) -> torch.Tensor:
        need = max(rows * cols, 1)
        flat = self._flat.get(name)
        if flat is None or flat.numel() < need:
            flat = torch.empty(need, dtype=self.dtype, device=self.device)
            self._flat[name] = flat
        return flat[: rows * cols].view(rows, cols)


def _blocks(prog: Program, X: torch.Tensor, m: int, ws: _Workspace):
    """Run ``prog`` on each block of ``m`` points; yield (start, predictions
    [B, block]), the predictions being a reused buffer valid until the next block."""
    B = prog.roots.shape[0]
    for i in range(0, X.shape[0], m):
        xb = X[i: i + m]
        k = xb.shape[0]
        buf = ws.get("values", prog.n_rows, k)
        prog.fill_leaves(buf, xb)
        prog.run(buf, ws.get("scratch", prog.scratch_rows, k))
        f = ws.get("pred", B, k)
        torch.index_select(buf, 0, prog.roots, out=f)
        yield i, f


def _predictions(prog: Program, X: torch.Tensor, m: int, ws: _Workspace) -> np.ndarray:
    out = torch.empty(prog.roots.shape[0], X.shape[0], dtype=torch.float64)
    for i, f in _blocks(prog, X, m, ws):
        out[:, i: i + f.shape[1]].copy_(f)
    return out.numpy()


def _in_place(loss_fn: Callable) -> Callable | None:
    """The in-place form of a built-in loss (same operations, no temporaries);
    None for a user's callable."""
    if loss_fn is _mse:
        return lambda f, y: f.sub_(y).square_()
    if loss_fn is _mae:
        return lambda f, y: f.sub_(y).abs_()
    return None


def _blocked_loss(prog: Program, X, y, w, m, loss_fn, ws: _Workspace) -> np.ndarray:
    """Loss per expression, summed block by block in float64."""
    B = prog.roots.shape[0]
    acc = torch.float64
    total = torch.zeros(B, dtype=acc, device=X.device)
    # the built-in losses are not finite where the prediction is not (their sum
    # then is not either); a user's callable might map inf to a finite loss
    check = loss_fn not in (_mse, _mae, _huber, _logcosh)
    finite = torch.ones(B, dtype=torch.bool, device=X.device) if check else None
    fused = _in_place(loss_fn)
    for i, f in _blocks(prog, X, m, ws):
        yb = y[i: i + f.shape[1]]
        if check:
            finite &= torch.isfinite(f).all(dim=1)
        r = fused(f, yb) if fused is not None else loss_fn(f, yb)
        if w is not None:  # unweighted: the weights were ones, and x*1 is x
            r = r.mul_(w[i: i + f.shape[1]]) if r is f else r * w[i: i + f.shape[1]]
        # a block's sum in the working dtype (torch sums cascaded, so float32
        # keeps its precision over a block), the blocks' sums in float64
        total += r.sum(1).to(acc)
    wsum = w.to(acc).sum() if w is not None else float(X.shape[0])
    out = total / wsum
    ok = torch.isfinite(out) if finite is None else finite & torch.isfinite(out)
    out = torch.where(ok, out, torch.full_like(out, float("inf")))
    return out.cpu().numpy()


def _scaled_mse(prog: Program, X, y, w, m, ws: _Workspace) -> np.ndarray:
    """MSE after the best affine map of each prediction, accumulated block by block."""
    B = prog.roots.shape[0]
    acc = torch.float64
    dev = X.device
    if w is None:
        w = torch.ones(X.shape[0], dtype=X.dtype, device=dev)
    finite = torch.ones(B, dtype=torch.bool, device=dev)
    # weighted means and centred sums of the least-squares fit y ≈ a f + b,
    # per block, merged with Chan et al.'s update: the textbook E[f²] - E[f]²
    # cancels catastrophically when f has a large mean and a small spread
    W = torch.zeros((), dtype=acc, device=dev)
    mf = torch.zeros(B, dtype=acc, device=dev)
    my = torch.zeros((), dtype=acc, device=dev)
    sff = torch.zeros(B, dtype=acc, device=dev)
    sfy = torch.zeros(B, dtype=acc, device=dev)
    syy = torch.zeros((), dtype=acc, device=dev)
    fmax = torch.zeros(B, dtype=acc, device=dev)
    for i, f in _blocks(prog, X, m, ws):
        k = f.shape[1]
        # in place on a float64 copy (or on the reused float64 block itself)
        f = f.to(acc)
        yy, ww = y[i: i + k].to(acc), w[i: i + k].to(acc)
        finite &= torch.isfinite(f).all(dim=1)
        torch.nan_to_num_(f, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = torch.aminmax(f, dim=1)
        fmax = torch.maximum(fmax, torch.maximum(hi, -lo))
        wc = ww.sum()
        wc_safe = torch.where(wc > 0, wc, torch.ones_like(wc))
        # the mean by torch's cascaded sum: a matrix-vector product sums in
        # sequence, and its rounding would make a constant f look varying
        mf_c = (f * ww).sum(1) / wc_safe
        my_c = (yy * ww).sum() / wc_safe
        df = f.sub_(mf_c.unsqueeze(1))
        dy = yy - my_c
        total_w = W + wc
        frac = wc / torch.where(total_w > 0, total_w, torch.ones_like(total_w))
        delta_f, delta_y = mf_c - mf, my_c - my
        sfy = sfy + df @ (ww * dy) + delta_f * delta_y * W * frac
        sff = sff + df.square_() @ ww + delta_f * delta_f * W * frac
        syy = syy + (ww * dy * dy).sum() + delta_y * delta_y * W * frac
        mf = mf + delta_f * frac
        my = my + delta_y * frac
        W = total_w
    # an f that is constant to the precision it was computed in explains the mean only
    eps = torch.finfo(X.dtype).eps
    varies = sff > W * torch.square(8.0 * eps * fmax)
    explained = torch.where(varies, sfy * sfy / torch.where(varies, sff, torch.ones_like(sff)),
                            torch.zeros_like(sff))
    mse = torch.clamp((syy - explained) / W, min=0.0)
    out = torch.where(finite & torch.isfinite(mse), mse, torch.full_like(mse, float("inf")))
    return out.cpu().numpy()
