"""Batch evaluator: many expressions × many points in one call, CPU or CUDA.

How it works
------------
A batch of prefix expressions is compiled (in numpy, without a Python loop
over expressions) into one program over a buffer of rows, each row holding one
node's values at all points:

* rows ``0..d-1`` are the variables (the columns of X), shared by every
  expression;
* then one row per constant token;
* then one row per *distinct* operator node. Identical subtrees are
  hash-consed, so a subtree that many candidates contain (``x0**2``,
  ``sin(x1)``) is computed once for the whole batch.

Operator nodes are scheduled by height and grouped by operator, so a stage is
one gather, one tensor operation and one scatter for *all* nodes of that
operator at that height across the batch: a few hundred tensor operations for
ten thousand expressions. Memory is bounded by chunking over expressions and
points. Nothing here raises on bad numbers: out-of-domain operations give
NaN/inf and the loss of that candidate is +inf.

The same program can carry forward-mode derivatives with respect to each
expression's constants (used by :mod:`symreg.constants`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import operators as ops
from .expression import CONST, Expression

__all__ = ["LOSSES", "Program", "compile_batch", "evaluate_batch", "resolve_device"]

_OP_LIST = list(ops.OPERATORS.values())
_OP_CODE = {op.name: i for i, op in enumerate(_OP_LIST)}
_ARITY = np.array([op.arity for op in _OP_LIST] + [0], dtype=np.int64)  # last: leaves
_CONST_CODE = -1
_PAD = -(10**9)


def _token_code(token: str) -> int:
    code = _OP_CODE.get(token)
    if code is not None:
        return code
    if token == CONST:
        return _CONST_CODE
    return -2 - int(token[1:])  # variable x<i>


class _CodeCache(dict):
    def __missing__(self, token: str) -> int:
        code = _token_code(token)
        self[token] = code
        return code


_CODES = _CodeCache()


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
# compilation
# ----------------------------------------------------------------------------

@dataclass
class _Stage:
    op: ops.Operator
    out: torch.Tensor       # rows written
    args: tuple[torch.Tensor, ...]  # rows read, one tensor per argument
    # subset (positions within this stage) whose subtree holds a constant,
    # with the tangent rows of those outputs and of their arguments
    const_sel: torch.Tensor | None
    tan_out: torch.Tensor | None = None
    tan_args: tuple[torch.Tensor, ...] = ()


@dataclass
class Program:
    """A compiled batch: see the module docstring.

    Attributes
    ----------
    n_features : int
        Number of variable rows.
    n_rows : int
        Rows of the value buffer.
    roots : torch.Tensor
        Row of each expression's result, [B].
    const_values : np.ndarray
        Value of each constant row, in expression order, [n_const].
    const_expr, const_slot : np.ndarray
        For each constant row: its expression and its index among that
        expression's constants.
    stages : list of _Stage
    """

    n_features: int
    n_rows: int
    roots: torch.Tensor
    const_values: np.ndarray
    const_expr: np.ndarray
    const_slot: np.ndarray
    max_constants: int
    stages: list
    device: torch.device
    n_nodes: int  # operator nodes before sharing (for throughput reports)
    # tangents are kept only for rows that depend on a constant; row 0 of the
    # tangent buffer is all zeros and stands for every other row
    n_tangent_rows: int = 1
    root_tangent: torch.Tensor | None = None

    # -- running ---------------------------------------------------------------
    def values(self, X: torch.Tensor, constants: torch.Tensor | None = None) -> torch.Tensor:
        """Predictions [B, n] for points X [n, d] (already on device)."""
        buf = self._buffer(X, constants)
        for stage in self.stages:
            args = [buf.index_select(0, a) for a in stage.args]
            buf.index_copy_(0, stage.out, stage.op.torch_fn(*args))
        return buf.index_select(0, self.roots)

    def values_and_tangents(self, X: torch.Tensor, constants: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictions [B, n] and their derivatives [B, K, n] with respect to
        each expression's constants (K = most constants in one expression)."""
        buf = self._buffer(X, constants)
        n = X.shape[0]
        K = max(self.max_constants, 1)
        tan = torch.empty(self.n_tangent_rows, K, n, dtype=X.dtype, device=X.device)
        tan[0] = 0.0
        nc = len(self.const_values)
        if nc:
            rows = torch.arange(1, nc + 1, device=X.device)
            slots = torch.as_tensor(self.const_slot, device=X.device)
            tan[1: nc + 1] = 0.0
            tan[rows, slots] = 1.0
        for stage in self.stages:
            args = [buf.index_select(0, a) for a in stage.args]
            out = stage.op.torch_fn(*args)
            buf.index_copy_(0, stage.out, out)
            if stage.const_sel is None:
                continue
            sel = stage.const_sel
            sub_args = [a.index_select(0, sel) for a in args]
            partials = stage.op.torch_partials(sub_args, out.index_select(0, sel))
            acc = None
            for p, rows in zip(partials, stage.tan_args):
                t = tan.index_select(0, rows)
                # where a constant does not reach an argument its tangent is 0, and
                # so is the term, even where the partial is infinite (d/dc x**c at
                # x = 0: the partial in x is inf, and inf*0 would make it NaN)
                term = torch.where(t == 0, torch.zeros_like(t), p.unsqueeze(1) * t)
                acc = term if acc is None else acc + term
            tan.index_copy_(0, stage.tan_out, acc)
        return buf.index_select(0, self.roots), tan.index_select(0, self.root_tangent)

    def _buffer(self, X: torch.Tensor, constants: torch.Tensor | None) -> torch.Tensor:
        n = X.shape[0]
        buf = torch.empty(self.n_rows, n, dtype=X.dtype, device=X.device)
        buf[: self.n_features] = X.T
        nc = len(self.const_values)
        if nc:
            if constants is None:
                constants = torch.as_tensor(self.const_values, dtype=X.dtype, device=X.device)
            buf[self.n_features: self.n_features + nc] = constants.to(X.dtype).unsqueeze(1)
        return buf


def compile_batch(exprs: Sequence[Expression], n_features: int,
                  device: torch.device | str = "cpu", share_subtrees: bool = True) -> Program:
    """Compile expressions into one :class:`Program` (see module docstring)."""
    device = torch.device(device)
    B = len(exprs)
    lengths = np.fromiter((len(e.tokens) for e in exprs), dtype=np.int64, count=B)
    total = int(lengths.sum())
    flat = np.fromiter((_CODES[t] for e in exprs for t in e.tokens), dtype=np.int64, count=total)
    if total and flat.min() < -1 and -2 - flat.min() >= n_features:
        raise ValueError(f"an expression uses x{-2 - flat.min()} but X has {n_features} columns")
    const_values = (np.concatenate([e.constants for e in exprs]) if B else np.zeros(0)).astype(np.float64)
    L = int(lengths.max()) if B else 0

    # position of each flat token in the [B, L] grid
    expr_of = np.repeat(np.arange(B), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if B else np.zeros(0, np.int64)
    pos_of = np.arange(total) - starts[expr_of]

    is_const = flat == _CONST_CODE
    is_var = flat < -1
    is_op = flat >= 0
    n_const = int(is_const.sum())
    n_ops = int(is_op.sum())
    # row of each token: variables share rows 0..d-1, constants and ops get their own
    row = np.empty(total, dtype=np.int64)
    row[is_var] = -2 - flat[is_var]
    row[is_const] = n_features + np.arange(n_const)
    row[is_op] = n_features + n_const + np.arange(n_ops)
    const_expr = expr_of[is_const]
    const_first = np.concatenate([[0], np.cumsum(np.bincount(const_expr, minlength=B))[:-1]]) if B else []
    const_slot = np.arange(n_const) - (np.asarray(const_first)[const_expr] if n_const else 0)
    max_constants = int(max((e.n_constants for e in exprs), default=0))

    codes = np.full((B, L), _PAD, dtype=np.int64)
    rows = np.zeros((B, L), dtype=np.int64)
    codes[expr_of, pos_of] = flat
    rows[expr_of, pos_of] = row

    n_rows = n_features + n_const + n_ops
    child1 = np.full(n_rows, -1, dtype=np.int64)
    child2 = np.full(n_rows, -1, dtype=np.int64)
    height = np.zeros(n_rows, dtype=np.int64)
    has_const = np.zeros(n_rows, dtype=bool)
    has_const[n_features: n_features + n_const] = True

    # run the prefix sequences right to left as stack machines, all at once
    stack = np.zeros((B, max(L, 1)), dtype=np.int64)
    sp = np.zeros(B, dtype=np.int64)
    for t in range(L - 1, -1, -1):
        c = codes[:, t]
        active = np.nonzero(c != _PAD)[0]
        if active.size == 0:
            continue
        c = c[active]
        r = rows[active, t]
        ar = np.where(c >= 0, _ARITY[np.maximum(c, 0)], 0)
        s = sp[active]
        un = ar >= 1
        bi = ar == 2
        # the left argument is on top of the stack
        if un.any():
            child1[r[un]] = stack[active[un], s[un] - 1]
        if bi.any():
            child2[r[bi]] = stack[active[bi], s[bi] - 2]
        opm = ar >= 1
        if opm.any():
            ro = r[opm]
            h1 = height[child1[ro]]
            h2 = np.where(child2[ro] >= 0, height[np.maximum(child2[ro], 0)], 0)
            height[ro] = 1 + np.maximum(h1, h2)
            hc = has_const[child1[ro]] | np.where(child2[ro] >= 0, has_const[np.maximum(child2[ro], 0)], False)
            has_const[ro] = hc
        s = s - ar
        stack[active, s] = r
        sp[active] = s + 1
    roots = stack[:, 0].copy() if B else np.zeros(0, np.int64)

    # ---- share identical subtrees, level by level -----------------------------
    op_rows = np.arange(n_features + n_const, n_rows)
    op_code = np.empty(n_rows, dtype=np.int64)
    op_code[op_rows] = flat[is_op]
    canon = np.arange(n_rows)
    keep = np.ones(n_rows, dtype=bool)
    if share_subtrees and n_ops:
        order = op_rows[np.argsort(height[op_rows], kind="stable")]
        hs = height[order]
        bounds = np.searchsorted(hs, np.arange(1, hs[-1] + 2))
        span = np.int64(n_rows + 1)
        for h in range(len(bounds) - 1):
            level = order[bounds[h]: bounds[h + 1]]
            if level.size == 0:
                continue
            c1 = canon[child1[level]]
            c2 = np.where(child2[level] >= 0, canon[np.maximum(child2[level], 0)], -1) + 1
            key = (op_code[level] * span + c1) * span + c2
            _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
            canon[level] = level[first][inverse.reshape(-1)]
        keep[op_rows] = canon[op_rows] == op_rows
        roots = canon[roots]

    # compact the rows that remain
    kept_ops = op_rows[keep[op_rows]]
    new_index = np.full(n_rows, -1, dtype=np.int64)
    base = n_features + n_const
    new_index[:base] = np.arange(base)
    new_index[kept_ops] = base + np.arange(kept_ops.size)
    remap = new_index[canon]
    canon_roots = canon[roots]
    roots = remap[roots]

    # tangent rows: constants first (1..n_const), then kept operator rows that
    # depend on a constant; everything else reads the zero row 0
    tangent_index = np.zeros(n_rows, dtype=np.int64)
    tangent_index[n_features: base] = 1 + np.arange(n_const)
    dep_ops = kept_ops[has_const[kept_ops]]
    tangent_index[dep_ops] = 1 + n_const + np.arange(dep_ops.size)
    tangent_of = tangent_index[canon]  # through sharing, as rows are
    stages: list[_Stage] = []
    if kept_ops.size:
        h = height[kept_ops]
        cd = op_code[kept_ops]
        order = np.lexsort((cd, h))
        kept_sorted = kept_ops[order]
        keys = h[order] * len(_OP_LIST) + cd[order]
        cuts = np.nonzero(np.diff(keys))[0] + 1
        for group in np.split(kept_sorted, cuts):
            op = _OP_LIST[op_code[group[0]]]
            out = torch.as_tensor(new_index[group], device=device)
            args = [torch.as_tensor(remap[child1[group]], device=device)]
            if op.arity == 2:
                args.append(torch.as_tensor(remap[child2[group]], device=device))
            hc = has_const[group]
            if hc.any():
                dep = group[hc]
                tan_args = [torch.as_tensor(tangent_of[child1[dep]], device=device)]
                if op.arity == 2:
                    tan_args.append(torch.as_tensor(tangent_of[child2[dep]], device=device))
                stages.append(_Stage(op, out, tuple(args),
                                     torch.as_tensor(np.nonzero(hc)[0], device=device),
                                     torch.as_tensor(tangent_index[dep], device=device),
                                     tuple(tan_args)))
            else:
                stages.append(_Stage(op, out, tuple(args), None))

    return Program(
        n_features=n_features,
        n_rows=base + kept_ops.size,
        roots=torch.as_tensor(roots, device=device),
        const_values=const_values,
        const_expr=const_expr,
        const_slot=np.asarray(const_slot, dtype=np.int64),
        max_constants=max_constants,
        stages=stages,
        device=device,
        n_nodes=total,
        n_tangent_rows=1 + n_const + dep_ops.size,
        root_tangent=torch.as_tensor(tangent_of[canon_roots], device=device),
    )


# ----------------------------------------------------------------------------
# the public entry point
# ----------------------------------------------------------------------------

def _chunks_by_tokens(exprs: Sequence[Expression], max_tokens: int) -> list[tuple[int, int]]:
    lengths = np.fromiter((len(e.tokens) for e in exprs), dtype=np.int64, count=len(exprs))
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

    Xt = torch.tensor(X_np, dtype=dtype, device=dev)  # a copy: X may be read-only
    if y is not None:
        yt = torch.tensor(y_np, dtype=dtype, device=dev)
        wt = torch.tensor(w_np, dtype=dtype, device=dev)

    # points per chunk and tokens per chunk keep rows × points <= max_elements
    n_chunk = min(n, max(256, max_elements // 4096))
    max_tokens = max(64, max_elements // max(n_chunk, 1))
    results = []
    with torch.no_grad():
        for b0, b1 in _chunks_by_tokens(exprs, max_tokens):
            prog = compile_batch(exprs[b0:b1], d, dev, share_subtrees)
            if y is None:
                parts = [prog.values(Xt[i: i + n_chunk]) for i in range(0, n, n_chunk)]
                results.append(torch.cat(parts, dim=1).to(torch.float64).cpu().numpy())
                continue
            results.append(_chunked_loss(prog, Xt, yt, wt, n_chunk, loss_fn, linear_scaling))
    return np.concatenate(results, axis=0)


def _chunked_loss(prog: Program, X, y, w, n_chunk, loss_fn, linear_scaling) -> np.ndarray:
    """Loss per expression, accumulated over chunks of points in float64."""
    B = prog.roots.shape[0]
    acc = torch.float64
    finite = torch.ones(B, dtype=torch.bool, device=X.device)
    if linear_scaling:
        # weighted means and centred sums of the least-squares fit y ≈ a f + b,
        # per chunk, merged with Chan et al.'s update: the textbook E[f²] - E[f]²
        # cancels catastrophically when f has a large mean and a small spread
        W = torch.zeros((), dtype=acc, device=X.device)
        mf = torch.zeros(B, dtype=acc, device=X.device)
        my = torch.zeros((), dtype=acc, device=X.device)
        sff = torch.zeros(B, dtype=acc, device=X.device)
        sfy = torch.zeros(B, dtype=acc, device=X.device)
        syy = torch.zeros((), dtype=acc, device=X.device)
        fmax = torch.zeros(B, dtype=acc, device=X.device)
        for i in range(0, X.shape[0], n_chunk):
            f = prog.values(X[i: i + n_chunk]).to(acc)
            yy, ww = y[i: i + n_chunk].to(acc), w[i: i + n_chunk].to(acc)
            finite &= torch.isfinite(f).all(dim=1)
            f = torch.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0)
            fmax = torch.maximum(fmax, f.abs().amax(dim=1))
            wc = ww.sum()
            wc_safe = torch.where(wc > 0, wc, torch.ones_like(wc))
            mf_c = (f * ww).sum(1) / wc_safe
            my_c = (yy * ww).sum() / wc_safe
            df, dy = f - mf_c.unsqueeze(1), yy - my_c
            total_w = W + wc
            frac = wc / torch.where(total_w > 0, total_w, torch.ones_like(total_w))
            delta_f, delta_y = mf_c - mf, my_c - my
            sff = sff + (ww * df * df).sum(1) + delta_f * delta_f * W * frac
            sfy = sfy + (ww * df * dy).sum(1) + delta_f * delta_y * W * frac
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
    total = torch.zeros(B, dtype=acc, device=X.device)
    wsum = 0.0
    for i in range(0, X.shape[0], n_chunk):
        f = prog.values(X[i: i + n_chunk])
        ww = w[i: i + n_chunk]
        finite &= torch.isfinite(f).all(dim=1)
        total += (loss_fn(f, y[i: i + n_chunk]) * ww).to(acc).sum(1)
        wsum = wsum + ww.to(acc).sum()
    out = total / wsum
    out = torch.where(finite & torch.isfinite(out), out, torch.full_like(out, float("inf")))
    return out.cpu().numpy()
