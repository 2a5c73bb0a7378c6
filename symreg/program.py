"""Compiled batch programs: many expressions as one program over a buffer of rows.

A batch of prefix expressions is compiled (in numpy, without a Python loop
over expressions) into one program over a buffer of rows, each row holding one
node's values at all points of a chunk:

* rows ``0..d-1`` are the variables (the columns of X), shared by every
  expression;
* then one row per constant token;
* then one row per *distinct* operator node. Identical subtrees are
  hash-consed, so a subtree that many candidates contain (``x0**2``,
  ``sin(x1)``) is computed once for the whole batch.

Operator nodes are scheduled by height and grouped by operator into stages,
and the rows of a stage are numbered consecutively, so a stage is one gather of
its arguments into a scratch buffer and one tensor operation written straight
into its own block of rows (``out=``), for *all* nodes of that operator at that
height across the batch: a few hundred tensor operations for ten thousand
expressions, and no temporaries. :meth:`Program.run` runs the stages on a
buffer the caller keeps and reuses chunk after chunk (see
:mod:`symreg.evaluate`). Nothing here raises on bad numbers: out-of-domain
operations give NaN/inf.

The same program can carry forward-mode derivatives with respect to each
expression's constants (used by :mod:`symreg.constants`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter

import numpy as np
import torch

from . import kernels
from . import operators as ops
from .expression import CONST, Expression

__all__ = ["Program", "compile_batch"]

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

#: Bytes per row of a block from which :meth:`Program.run` calls a numpy kernel
#: node by node on the rows in place instead of gathering a stage's arguments.
ROW_CALL_BYTES = 16 << 10
_TOKENS = attrgetter("tokens")


def _rows_arg(rows: np.ndarray, tensor: torch.Tensor) -> torch.Tensor | slice:
    """The rows a stage reads for one argument: a slice when they are
    consecutive (no gather needed), else their index tensor."""
    n = rows.size
    if n and int(rows[-1]) - int(rows[0]) == n - 1 and (n == 1 or bool((np.diff(rows) == 1).all())):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return tensor


# ----------------------------------------------------------------------------
# compilation
# ----------------------------------------------------------------------------

@dataclass
class _Stage:
    op: ops.Operator
    out: torch.Tensor       # rows written (consecutive: lo .. hi-1)
    args: tuple[torch.Tensor, ...]  # rows read, one tensor per argument
    lo: int
    hi: int
    reads: tuple            # per argument: a slice of rows, or an index tensor to gather
    # subset (positions within this stage) whose subtree holds a constant,
    # with the tangent rows of those outputs and of their arguments
    const_sel: torch.Tensor | None
    tan_out: torch.Tensor | None = None
    tan_args: tuple[torch.Tensor, ...] = ()
    node_args: list | None = None  # per node: its argument rows (made when first needed)


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
    scratch_rows : int
        Rows of the scratch buffer :meth:`run` needs (gathered arguments).
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
    scratch_rows: int = 0   # rows of scratch that run() needs
    _consts: tuple | None = field(default=None, repr=False)
    _kernels: tuple | None = field(default=None, repr=False)

    # -- running ---------------------------------------------------------------
    def values(self, X: torch.Tensor, constants: torch.Tensor | None = None) -> torch.Tensor:
        """Predictions [B, n] for points X [n, d] (already on device)."""
        buf = self._buffer(X, constants)
        self.run(buf, torch.empty(self.scratch_rows, X.shape[0], dtype=X.dtype, device=X.device))
        return buf.index_select(0, self.roots)

    def run(self, buf: torch.Tensor, scratch: torch.Tensor) -> None:
        """Run the stages on ``buf`` [n_rows, m], whose leaf rows are filled
        (:meth:`fill_leaves`); ``scratch`` holds at least ``scratch_rows * m``
        values of the same dtype. Both are reused call after call, so a block
        of points allocates nothing."""
        m = buf.shape[1]
        key = (buf.dtype, buf.device.type)
        if self._kernels is None or self._kernels[0] != key:
            found = [kernels.kernel(st.op, *key) for st in self.stages]
            self._kernels = (key, found, any(on_numpy for _, on_numpy in found))
        flat = scratch.view(-1)
        # numpy views of the same memory, for the kernels numpy computes (CPU only)
        np_buf = buf.numpy() if self._kernels[2] else None
        np_flat = flat.numpy() if self._kernels[2] else None
        # long rows: a numpy call per node reads its arguments where they are,
        # cheaper than gathering them (a call costs about what copying 16 kB does)
        per_node = m * buf.element_size() >= ROW_CALL_BYTES
        with np.errstate(all="ignore"):
            for st, (fn, on_numpy) in zip(self.stages, self._kernels[1]):
                if on_numpy and per_node:
                    if st.node_args is None:
                        st.node_args = list(zip(*(a.tolist() for a in st.args)))
                    for j, rows in enumerate(st.node_args, st.lo):
                        fn(*[np_buf[r] for r in rows], np_buf[j])
                    continue
                g = st.hi - st.lo
                args = []
                used = 0
                for r in st.reads:
                    if isinstance(r, slice):
                        args.append(np_buf[r] if on_numpy else buf[r])
                        continue
                    # the rows read lie below the rows written, but torch refuses a
                    # gather whose output is a view of its input: gather to scratch
                    dst = flat[used: used + g * m].view(g, m)
                    torch.index_select(buf, 0, r, out=dst)
                    args.append(np_flat[used: used + g * m].reshape(g, m) if on_numpy else dst)
                    used += g * m
                fn(*args, np_buf[st.lo: st.hi] if on_numpy else buf[st.lo: st.hi])

    def fill_leaves(self, buf: torch.Tensor, X: torch.Tensor,
                    constants: torch.Tensor | None = None) -> None:
        """Write the variable rows (X [m, d] transposed) and the constant rows of ``buf``."""
        buf[: self.n_features].copy_(X.T)
        nc = len(self.const_values)
        if nc:
            if constants is None:
                constants = self._const_cache(X)
            buf[self.n_features: self.n_features + nc].copy_(
                constants.to(X.dtype).unsqueeze(1).expand(nc, X.shape[0]))

    def _const_cache(self, X: torch.Tensor) -> torch.Tensor:
        key = (X.dtype, X.device)
        if self._consts is None or self._consts[0] != key:
            self._consts = (key, torch.as_tensor(self.const_values, dtype=X.dtype, device=X.device))
        return self._consts[1]

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
        buf = torch.empty(self.n_rows, X.shape[0], dtype=X.dtype, device=X.device)
        self.fill_leaves(buf, X, constants)
        return buf


def compile_batch(exprs: Sequence[Expression], n_features: int,
                  device: torch.device | str = "cpu", share_subtrees: bool = True) -> Program:
    """Compile expressions into one :class:`Program` (see module docstring)."""
    device = torch.device(device)
    B = len(exprs)
    # map() over C-level callables: a generator costs several times more per token
    token_lists = list(map(_TOKENS, exprs))
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=B)
    total = int(lengths.sum())
    flat = np.fromiter(map(_CODES.__getitem__, chain.from_iterable(token_lists)), dtype=np.int64,
                       count=total)
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
    max_constants = int(np.bincount(const_expr, minlength=1).max()) if n_const else 0

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

    # compact the rows that remain, numbered stage by stage (height, then
    # operator) so that every stage writes one block of consecutive rows
    kept_ops = op_rows[keep[op_rows]]
    kept_ops = kept_ops[np.lexsort((op_code[kept_ops], height[kept_ops]))]
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
    scratch_rows = 0
    if kept_ops.size:
        keys = height[kept_ops] * len(_OP_LIST) + op_code[kept_ops]
        cuts = np.nonzero(np.diff(keys))[0] + 1
        for group in np.split(kept_ops, cuts):
            op = _OP_LIST[op_code[group[0]]]
            out_rows = new_index[group]
            arg_rows = [remap[child1[group]]] + ([remap[child2[group]]] if op.arity == 2 else [])
            args = tuple(torch.as_tensor(a, device=device) for a in arg_rows)
            reads = tuple(map(_rows_arg, arg_rows, args))
            scratch_rows = max(scratch_rows, group.size * sum(not isinstance(r, slice) for r in reads))
            common = {"op": op, "out": torch.as_tensor(out_rows, device=device), "args": args,
                      "lo": int(out_rows[0]), "hi": int(out_rows[-1]) + 1, "reads": reads}
            hc = has_const[group]
            if hc.any():
                dep = group[hc]
                tan_args = [torch.as_tensor(tangent_of[child1[dep]], device=device)]
                if op.arity == 2:
                    tan_args.append(torch.as_tensor(tangent_of[child2[dep]], device=device))
                stages.append(_Stage(**common, const_sel=torch.as_tensor(np.nonzero(hc)[0], device=device),
                                     tan_out=torch.as_tensor(tangent_index[dep], device=device),
                                     tan_args=tuple(tan_args)))
            else:
                stages.append(_Stage(**common, const_sel=None))

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
        scratch_rows=scratch_rows,
    )
