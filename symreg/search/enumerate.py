"""Bottom-up exhaustive enumeration of small expressions.

Every expression up to a given size is built from the smaller ones, level by
level, on a small probe set of data points (numpy, vectorised over whole
levels). Two expressions that give the same values on the probe points are
the same function as far as this data can tell, so only the first (smallest)
one is kept: ``x0*x0`` is dropped once ``x0**2`` exists, ``x0 - x0`` and
``x0/x0`` are dropped as constants. This observational-equivalence pruning
keeps the levels small, and every kept expression is reused as a building
block of the next level (the layered idea of PSRN, on the CPU).

Each level is scored with closed-form linear scaling on the probe points and
its best expressions are returned for scoring on all the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import operators as ops
from ..expression import CONST, Expression

__all__ = ["EnumerationResult", "enumerate_expressions"]

_LEAF_VAR = -1
_LEAF_CONST = -2
_CONST_LEAF_VALUES = (1.0, 0.6180339887)
#: raw candidates built and pruned at a time: a bound on a level's temporaries
#: (2^17 rows of 32 probe values are 32 MB)
_CHUNK_ROWS = 1 << 17
_FIELDS = ("values", "op", "a_size", "a_idx", "b_size", "b_idx", "n_const")


@dataclass
class _Level:
    values: np.ndarray                 # [n, P]
    op: np.ndarray                     # operator index, or a leaf code
    a_size: np.ndarray                 # child 1: (level size, index) or leaf payload
    a_idx: np.ndarray
    b_size: np.ndarray
    b_idx: np.ndarray
    n_const: np.ndarray


@dataclass
class EnumerationResult:
    expressions: list[Expression] = field(default_factory=list)
    probe_nmse: np.ndarray = field(default_factory=lambda: np.zeros(0))
    counts: dict[int, int] = field(default_factory=dict)  # size -> kept expressions
    pairs: list[Expression] = field(default_factory=list)  # best two-term combinations


def _take(level: _Level, idx: np.ndarray) -> _Level:
    """The rows ``idx`` of a level."""
    return _Level(*[getattr(level, f)[idx] for f in _FIELDS])


def _keys(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One int64 per row, equal for rows whose values agree in sign, exponent
    and the top 26 mantissa bits (~8 significant digits): the float64 bit
    patterns with the low bits shifted out, hashed by a dot product with
    random odd 64-bit weights (wrapping arithmetic, so collisions between
    different rows are ~2^-64 events)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64) >> 26
    return bits @ weights


def _linear_nmse(values: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 - R² of the best affine map of each row onto y (1 for constant rows)."""
    yc = y - y.mean()
    syy = float(yc @ yc)
    if syy <= 0:
        return np.zeros(values.shape[0])
    out = np.empty(values.shape[0])
    # a block of rows at a time: the centred copy of a whole level is as big as it
    for r0 in range(0, values.shape[0], _CHUNK_ROWS):
        block = values[r0:r0 + _CHUNK_ROWS]
        vc = block - block.mean(axis=1, keepdims=True)
        sff = np.einsum("ij,ij->i", vc, vc)
        sfy = vc @ yc
        with np.errstate(all="ignore"):
            r2 = np.where(sff > 1e-300, sfy * sfy / (sff * syy), 0.0)
        out[r0:r0 + len(block)] = np.clip(1.0 - r2, 0.0, 1.0)
    return out


def enumerate_expressions(
    X: np.ndarray,
    y: np.ndarray,
    operators: Sequence[str],
    max_size: int = 7,
    max_candidates: int = 200_000,
    n_probe: int = 40,
    top_k: int = 64,
    use_constants: bool = True,
    max_constants: int = 1,
    pair_pool: int = 1500,
    seed: int = 0,
) -> EnumerationResult:
    """Enumerate expressions up to ``max_size`` tokens, pruned by equivalence.

    Parameters
    ----------
    X, y : arrays
        The data; a probe subset of ``n_probe`` rows is used.
    operators : sequence of str
        Registry names.
    max_size : int
        Largest expression, in tokens.
    max_candidates : int
        Stop before a level whose raw candidate count would pass this total.
    top_k : int
        Best expressions kept from each size.
    use_constants, max_constants : bool, int
        Whether constant leaves ``C`` are building blocks (two of them, valued
        1 and 0.618…, both refitted later), and how many one expression may hold.
    pair_pool : int
        About ``pair_pool`` expressions (the small ones first, then the best
        of the larger ones) are also combined in
        pairs, ``y ≈ a·f + b·g + c`` and ``y ≈ a·f·g + c``, each fitted in
        closed form (from one Gram matrix for the sums); the best pairs are
        returned in ``pairs``.
    """
    rng = np.random.default_rng(seed)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    probe = np.sort(rng.choice(n, size=min(n, n_probe), replace=False))
    Xp, yp = X[probe], y[probe]
    P = len(probe)
    weights = rng.integers(1, 2**62, size=P, dtype=np.int64) | 1
    op_list = [ops.OPERATORS[o] for o in operators]
    unary = [(i, o) for i, o in enumerate(op_list) if o.arity == 1]
    binary = [(i, o) for i, o in enumerate(op_list) if o.arity == 2]

    levels: dict[int, _Level] = {}
    seen = np.zeros(0, dtype=np.int64)   # the kept expressions' keys, sorted
    result = EnumerationResult()
    total = 0

    def prune(part: _Level) -> tuple[_Level, np.ndarray]:
        """The rows of one part of a level that may be kept, and their keys:
        finite, not constant (but for the constant leaves), the first of their
        key in the part, and equal to no expression of an earlier level."""
        v = part.values
        with np.errstate(all="ignore"):
            ok = np.isfinite(v).all(axis=1) & (np.abs(v).max(axis=1) < 1e15)
            spread = v.max(axis=1) - v.min(axis=1)
            not_const = spread > 1e-10 * (np.abs(v).max(axis=1) + 1e-300)
        ok &= not_const | (part.op == _LEAF_CONST)
        idx = np.nonzero(ok)[0]
        keys = _keys(v[idx], weights)
        _, first = np.unique(keys, return_index=True)
        first = np.sort(first)
        keys, idx = keys[first], idx[first]
        if len(seen):
            at = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
            fresh = seen[at] != keys
            keys, idx = keys[fresh], idx[fresh]
        return _take(part, idx), keys

    def keep_new(parts: list[tuple[_Level, np.ndarray]]) -> _Level:
        """A level from its pruned parts in order: the first row of each key. The
        same rows as pruning the whole level at once, without ever holding all
        its raw candidates (a long enumeration's were ~1 GB)."""
        nonlocal seen
        keys = np.concatenate([k for _, k in parts])
        _, first = np.unique(keys, return_index=True)
        keep = np.zeros(len(keys), dtype=bool)
        keep[first] = True
        seen = np.sort(np.concatenate([seen, keys[keep]]))
        # copied part by part into the level, each part let go once copied
        out = _Level(*[np.empty((int(keep.sum()),) + getattr(parts[0][0], f).shape[1:],
                                dtype=np.result_type(*[getattr(p, f) for p, _ in parts]))
                       for f in _FIELDS])
        start = pos = 0
        for i in range(len(parts)):
            part, k = parts[i]
            parts[i] = None
            rows = np.nonzero(keep[start:start + len(k)])[0]
            start += len(k)
            for f in _FIELDS:
                getattr(out, f)[pos:pos + len(rows)] = getattr(part, f)[rows]
            pos += len(rows)
        return out

    level_nmse: dict[int, np.ndarray] = {}

    def record(size: int, level: _Level) -> None:
        result.counts[size] = len(level.op)
        if not len(level.op):
            return
        nmse = _linear_nmse(level.values, yp)
        level_nmse[size] = nmse
        best = np.argsort(nmse, kind="stable")[:top_k]
        for j in best:
            result.expressions.append(_build(levels, size, int(j), operators))
        result.probe_nmse = np.concatenate([result.probe_nmse, nmse[best]])

    # size 1: the leaves
    leaf_vals = [Xp[:, j] for j in range(d)]
    leaf_op = [_LEAF_VAR] * d
    leaf_payload = list(range(d))
    if use_constants and max_constants > 0:
        # two constant leaves: 1 (exact in x + 1, 1/x ...) and a generic value,
        # so that C·x and exp(C·x) are not pruned as copies of x and exp(x)
        for value in _CONST_LEAF_VALUES:
            leaf_vals.append(np.full(P, value))
            leaf_op.append(_LEAF_CONST)
            leaf_payload.append(0)
    z = np.zeros(len(leaf_op), dtype=np.int64)
    levels[1] = keep_new([prune(_Level(np.array(leaf_vals), np.array(leaf_op), z.copy(),
                                       np.array(leaf_payload), z.copy(), z.copy(),
                                       (np.array(leaf_op) == _LEAF_CONST).astype(np.int64)))])
    record(1, levels[1])
    total += len(levels[1].op)

    for size in range(2, max_size + 1):
        # count first, so a level that would blow the budget is never built
        planned = len(unary) * len(levels[size - 1].op)
        for left in range(1, size - 1):
            right = size - 1 - left
            planned += len(binary) * len(levels[left].op) * len(levels[right].op)
        if total + planned > max_candidates:
            break
        # built and pruned a chunk at a time (see keep_new)
        parts: list[tuple[_Level, np.ndarray]] = []
        prev = levels[size - 1]
        with np.errstate(all="ignore"):
            for code, op in unary:
                for c0 in range(0, len(prev.op), _CHUNK_ROWS):
                    rows = np.arange(c0, min(len(prev.op), c0 + _CHUNK_ROWS))
                    m = len(rows)
                    parts.append(prune(_Level(op.numpy_fn(prev.values[rows]), np.full(m, code),
                                              np.full(m, size - 1), rows, np.zeros(m, np.int64),
                                              np.zeros(m, np.int64), prev.n_const[rows])))
                    total += m
            for left in range(1, size - 1):
                right = size - 1 - left
                A, Bv = levels[left], levels[right]
                ia, ib = np.meshgrid(np.arange(len(A.op)), np.arange(len(Bv.op)), indexing="ij")
                ia, ib = ia.ravel(), ib.ravel()
                nc = A.n_const[ia] + Bv.n_const[ib]
                allowed = nc <= max_constants
                for code, op in binary:
                    sel = allowed
                    if op.commutative and left > right:
                        continue  # the mirrored split covers it
                    if op.commutative and left == right:
                        sel = sel & (ia <= ib)
                    sel = np.nonzero(sel)[0]
                    for c0 in range(0, len(sel), _CHUNK_ROWS):
                        rows = sel[c0:c0 + _CHUNK_ROWS]
                        ja, jb = ia[rows], ib[rows]
                        m = len(rows)
                        parts.append(prune(_Level(op.numpy_fn(A.values[ja], Bv.values[jb]),
                                                  np.full(m, code), np.full(m, left), ja,
                                                  np.full(m, right), jb, nc[rows])))
                        total += m
        if not parts:
            break
        levels[size] = keep_new(parts)
        record(size, levels[size])
    if pair_pool > 1:
        exprs, F, sizes = _level_pool(levels, level_nmse, operators, pair_pool)
        result.pairs = _best_pairs(exprs, F, sizes, yp, top_k)
    return result


def _level_pool(levels: dict[int, _Level], level_nmse: dict[int, np.ndarray],
                operators: Sequence[str], pool: int) -> tuple[list[Expression], np.ndarray, np.ndarray]:
    """Pair material from the levels: small expressions (the likely terms of a
    sum) first, then the best of the larger ones."""
    sizes = np.concatenate([np.full(len(v), s) for s, v in level_nmse.items()])
    index = np.concatenate([np.arange(len(v)) for v in level_nmse.values()])
    nmse = np.concatenate(list(level_nmse.values()))
    is_leaf_const = np.concatenate([levels[s].op == _LEAF_CONST for s in level_nmse])
    nmse = np.where(is_leaf_const, np.inf, nmse)
    small = np.nonzero(sizes <= 5)[0]
    small = small[np.argsort(nmse[small], kind="stable")][: (2 * pool) // 3]
    rest = np.setdiff1d(np.argsort(nmse, kind="stable")[: pool], small)[: pool - len(small)]
    order = np.concatenate([small, rest])
    order = order[np.isfinite(nmse[order])]
    exprs = [_build(levels, int(sizes[i]), int(index[i]), operators) for i in order]
    F = (np.stack([levels[int(sizes[i])].values[int(index[i])] for i in order])
         if len(order) else np.zeros((0, 0)))
    return exprs, F, sizes[order]


def _best_pairs(exprs: list[Expression], F: np.ndarray, sizes: np.ndarray, yp: np.ndarray,
                top_k: int, n_product: int = 600) -> list[Expression]:
    """Best sums ``f + c·g`` and products ``f·g`` of the pool, each fitted in
    closed form (``a·(f + c·g) + b`` and ``a·f·g + b``) on the probe points."""
    if len(exprs) < 2:
        return []
    # smallest first, so that of affine-equivalent terms (f, 1 - f, 2·f) the
    # smallest is kept: a sum a·f + b·g + c does not tell them apart
    order = np.argsort(sizes, kind="stable")
    F, sizes = F[order], sizes[order]
    exprs = [exprs[i] for i in order]
    Fc = F - F.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", Fc, Fc))
    with np.errstate(all="ignore"):
        unit = Fc / norm[:, None]
        lead = np.sign(unit[np.arange(len(unit)), np.argmax(np.abs(unit) > 1e-9, axis=1)])
        unit *= lead[:, None]
    ok = np.isfinite(unit).all(axis=1) & (norm > 1e-12 * (np.abs(F).max(axis=1) + 1e-300))
    _, first = np.unique(np.round(unit[ok], 9), axis=0, return_index=True)
    keep = np.sort(np.nonzero(ok)[0][first])
    F, Fc, sizes = F[keep], Fc[keep], sizes[keep]
    exprs = [exprs[i] for i in keep]
    if len(exprs) < 2:
        return []
    yc = yp - yp.mean()
    syy = float(yc @ yc)
    if syy <= 0:
        return []
    # sums: the 2x2 normal equations of every pair from one Gram matrix,
    # a block of rows at a time to bound memory
    M = len(exprs)
    gi = np.einsum("ij,ij->i", Fc, Fc)
    b = Fc @ yc
    best_sum: list[tuple[float, int, int, int]] = []
    for r0 in range(0, M, 512):
        r1 = min(M, r0 + 512)
        G = Fc[r0:r1] @ Fc.T
        with np.errstate(all="ignore"):
            gr = gi[r0:r1, None]
            br = b[r0:r1, None]
            det = gr * gi[None, :] - G * G
            a1 = (gi[None, :] * br - G * b[None, :]) / det
            a2 = (gr * b[None, :] - G * br) / det
            sum_nmse = 1.0 - (a1 * br + a2 * b[None, :]) / syy
        bad = ~np.isfinite(sum_nmse) | (det <= 1e-10 * gr * gi[None, :])
        bad |= np.arange(M)[None, :] <= np.arange(r0, r1)[:, None]
        sum_nmse[bad] = np.inf
        k = min(top_k, sum_nmse.size)
        flat = np.argpartition(sum_nmse, k - 1, axis=None)[:k]
        for f in flat:
            i, j = np.unravel_index(f, sum_nmse.shape)
            if np.isfinite(sum_nmse[i, j]):
                size = int(sizes[r0 + int(i)] + sizes[int(j)])
                # equal fits (to 3 digits, or both exact) go to the smaller pair
                q = float(f"{max(sum_nmse[i, j], 1e-14):.3g}")
                best_sum.append((q, size, r0 + int(i), int(j)))
    best_sum.sort()
    # products: every pair of the smallest expressions, multiplied, then an affine fit
    iu = np.triu_indices(min(M, n_product))
    prod_nmse = np.empty(len(iu[0]))
    for r0 in range(0, len(iu[0]), _CHUNK_ROWS // 4):   # 180,000 products: a chunk at a time
        r1 = min(len(iu[0]), r0 + _CHUNK_ROWS // 4)
        with np.errstate(all="ignore"):
            prod = F[iu[0][r0:r1]] * F[iu[1][r0:r1]]
            nmse = _linear_nmse(np.nan_to_num(prod, nan=0.0, posinf=0.0, neginf=0.0), yp)
        nmse[~np.isfinite(prod).all(axis=1)] = np.inf
        prod_nmse[r0:r1] = nmse

    out: list[Expression] = []
    for _, _, i, j in best_sum[:top_k]:
        f, g = exprs[i], exprs[j]
        # the weight c of f + c·g is refitted with the rest
        out.append(Expression(("add",) + f.tokens + ("mul", CONST) + g.tokens,
                              np.concatenate([f.constants, [1.0], g.constants]), check=False))
    for k in np.argsort(prod_nmse, kind="stable")[:top_k]:
        if not np.isfinite(prod_nmse[k]):
            break
        f, g = exprs[iu[0][k]], exprs[iu[1][k]]
        out.append(Expression(("mul",) + f.tokens + g.tokens,
                              np.concatenate([f.constants, g.constants]), check=False))
    return out


def _build(levels: dict[int, _Level], size: int, idx: int, operators: Sequence[str]) -> Expression:
    tokens: list[str] = []
    consts: list[float] = []
    _emit(levels, operators, size, idx, tokens, consts)
    return Expression(tokens, consts, check=False)


def _emit(levels: dict[int, _Level], operators: Sequence[str], s: int, i: int,
          tokens: list[str], consts: list[float]) -> None:
    """Append the prefix tokens and constants of expression ``i`` of level ``s``.

    A module function rather than a closure inside ``_build``: a closure that
    calls itself is a reference cycle, and through its cells it would keep every
    level's value array (hundreds of MB at the end of a long enumeration) alive
    until the garbage collector's next full pass, one such cycle per expression
    built."""
    lv = levels[s]
    code = int(lv.op[i])
    if code == _LEAF_VAR:
        tokens.append(f"x{int(lv.a_idx[i])}")
    elif code == _LEAF_CONST:
        tokens.append(CONST)
        consts.append(float(lv.values[i][0]))
    else:
        name = operators[code]
        tokens.append(name)
        _emit(levels, operators, int(lv.a_size[i]), int(lv.a_idx[i]), tokens, consts)
        if ops.OPERATORS[name].arity == 2:
            _emit(levels, operators, int(lv.b_size[i]), int(lv.b_idx[i]), tokens, consts)
