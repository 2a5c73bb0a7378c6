"""Random equations and point sets for pretraining the transformer (NeSymReS-style).

A sample is drawn in five steps:

1. a tree shape with ``n`` operator nodes, uniformly over unary–binary trees
   (Lample & Charton 2019, appendix C), each tree weighted by the summed
   operator weights of its arities (so operator labellings are uniform too);
2. operators by ``operator_weights``, never a unary op directly inside its
   inverse, nested trigonometry or ``exp(exp(…))``;
3. leaves: every one of the ``k`` variables, some ``C``;
4. additive and multiplicative constants around the whole formula and each
   unary argument (``C*f + C``), concrete values, then :func:`fold_constants`
   merges chains such as ``C*(C*x)`` so the skeleton is canonical;
5. points from varied per-variable ranges, evaluated in numpy; samples with too
   many undefined points, huge or constant ``y`` are rejected.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np

from .. import operators as ops
from ..expression import CONST, Expression, is_variable
from ..simplify import fold_constants
from ..tree import subtree_ends
from .vocab import TRANSFORMER_OPERATORS, Hypothesis

__all__ = ["EquationGenerator", "GeneratorConfig", "Sample", "ShapeSampler",
           "random_hypothesis", "unique_samples"]

# physics formulas are mostly sums and products; rarer functions get less weight
_DEFAULT_WEIGHTS = {"add": 10.0, "mul": 10.0, "sub": 5.0, "div": 5.0, "pow": 1.0,
                    "square": 4.0, "sin": 3.0, "cos": 3.0, "sqrt": 3.0, "exp": 3.0,
                    "log": 2.0, "inv": 3.0, "cube": 1.5, "neg": 0.5}

_TRIG = ("sin", "cos", "tan")
# (parent, child) unary pairs that collapse or make nonsense: f(f^-1(x)), sin(cos(x)), exp(exp(x))
_FORBIDDEN = frozenset(
    [("exp", "log"), ("log", "exp"), ("sqrt", "square"), ("square", "sqrt"), ("inv", "inv"),
     ("neg", "neg"), ("exp", "exp"), ("asin", "sin"), ("acos", "cos"), ("atan", "tan")]
    + [(a, b) for a in _TRIG for b in _TRIG])
# a constant inside neg is the same as one outside it (fold_constants moves it out)
_NO_INNER = frozenset({"neg"})


@dataclass
class GeneratorConfig:
    """What equations and point sets :class:`EquationGenerator` draws.

    ``unary_weight`` tilts shapes toward (>1) or away from (<1) unary nodes;
    at 1 a unary node weighs the summed unary operator weights and a binary node
    the summed binary ones, as in Lample & Charton. Operators missing from
    ``operator_weights`` weigh 1.
    """

    operators: tuple[str, ...] = TRANSFORMER_OPERATORS
    operator_weights: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    unary_weight: float = 1.0
    min_vars: int = 1
    max_vars: int = 3
    #: relative weights of ``min_vars … max_vars`` variables; None: uniform
    var_weights: tuple[float, ...] | None = None
    min_ops: int = 1
    max_ops: int = 6
    leaf_const_prob: float = 0.1
    mul_const_prob: float = 0.3
    add_const_prob: float = 0.3
    int_const_prob: float = 0.2
    n_points: int = 100
    max_tokens: int = 40
    max_abs_y: float = 1e6
    max_nonfinite_frac: float = 0.2


@dataclass
class Sample:
    """One training example: a concrete formula, its skeleton and its points."""

    expr: Expression
    skeleton: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray


class ShapeSampler:
    """Uniform unary–binary tree shapes (Lample & Charton 2019, appendix C).

    ``count(e, n)`` is the weighted number of ways to grow ``n`` operator nodes
    from ``e`` empty slots, ``D(e, n) = D(e-1, n) + p1 D(e, n-1) + p2 D(e+1, n-1)``
    with ``D(0, n>0) = 0`` and ``D(e, 0) = 1``; a tree with ``u`` unary and ``b``
    binary nodes is drawn with probability proportional to ``p1**u * p2**b``.
    """

    def __init__(self, max_ops: int, p1: float = 1.0, p2: float = 1.0):
        if p2 <= 0 and p1 <= 0:
            raise ValueError("at least one of p1 (unary) and p2 (binary) must be positive")
        self.max_ops, self.p1, self.p2 = max_ops, float(p1), float(p2)
        # computed once, so a draw costs O(e) per node; sampling only visits e + n <= max_ops + 1, and D(e, n) needs D(e+1, n-1):
        # each entry depends on entries with the same or a smaller e + n
        top = max_ops + 2
        D = [[0.0] * (max_ops + 1) for _ in range(top + 1)]
        for e in range(top + 1):
            D[e][0] = 1.0
        for n in range(1, max_ops + 1):
            for e in range(1, top - n + 1):
                D[e][n] = D[e - 1][n] + self.p1 * D[e][n - 1] + self.p2 * D[e + 1][n - 1]
        self._D = D

    def count(self, e: int, n: int) -> float:
        """Weighted number of trees with ``n`` operators grown from ``e`` empty slots."""
        return self._D[e][n]

    def sample(self, rng: np.random.Generator, n_ops: int) -> list[int]:
        """Arities of a tree with ``n_ops`` operators, in prefix order (0 = leaf)."""
        if not 0 <= n_ops <= self.max_ops:
            raise ValueError(f"n_ops must be in [0, {self.max_ops}], got {n_ops}")
        D, p1, p2 = self._D, self.p1, self.p2
        out: list[int] = []
        e, n = 1, n_ops
        while n > 0:
            # choose how many pending slots become leaves (k) and the next node's arity (a)
            u = rng.random() * D[e][n]
            k, a = e - 1, 2 if p2 > 0 else 1   # fallback only absorbs round-off
            for kk in range(e):
                w1 = p1 * D[e - kk][n - 1]
                if u < w1:
                    k, a = kk, 1
                    break
                u -= w1
                w2 = p2 * D[e - kk + 1][n - 1]
                if u < w2:
                    k, a = kk, 2
                    break
                u -= w2
            out.extend([0] * k)
            out.append(a)
            e, n = e - k - 1 + a, n - 1
        out.extend([0] * e)
        return out


class EquationGenerator:
    """Draws valid :class:`Sample` s for a :class:`GeneratorConfig` (picklable)."""

    def __init__(self, config: GeneratorConfig | None = None):
        cfg = self.config = config or GeneratorConfig()
        names = tuple(ops.get(o).name for o in cfg.operators)
        weight = {o: float(cfg.operator_weights.get(o, 1.0)) for o in names}
        self.unary = [o for o in names if ops.OPERATORS[o].arity == 1 and weight[o] > 0]
        self.binary = [o for o in names if ops.OPERATORS[o].arity == 2 and weight[o] > 0]
        if cfg.max_vars > 1 and not self.binary:
            raise ValueError("more than one variable needs a binary operator")
        # k variables need k leaves: k-1 binary nodes and 2k-1 tokens; else sample() never ends
        if (not 1 <= cfg.min_vars <= cfg.max_vars or cfg.max_tokens < 2 * cfg.max_vars - 1
                or cfg.max_ops < max(cfg.min_ops, cfg.max_vars - 1)):
            raise ValueError("need 1 <= min_vars <= max_vars, max_tokens >= 2*max_vars - 1 "
                             "and max_ops >= max(min_ops, max_vars - 1)")
        self._var_p = None
        if cfg.var_weights is not None:
            vw = np.asarray(cfg.var_weights, dtype=float)
            if vw.shape != (cfg.max_vars - cfg.min_vars + 1,) or vw.min() < 0 or vw.sum() <= 0:
                raise ValueError("var_weights needs one non-negative weight per variable count "
                                 "min_vars..max_vars")
            self._var_p = vw / vw.sum()
        self.operators = names
        w1 = sum(weight[o] for o in self.unary)
        self.shapes = ShapeSampler(cfg.max_ops, cfg.unary_weight * w1,
                                   sum(weight[o] for o in self.binary))
        # cumulative weights for bisect: one table per (arity, unary parent) context
        cum = lambda opts: (opts, list(accumulate(weight[o] for o in opts)))
        self._binary = cum(self.binary)
        self._unary = {None: cum(self.unary)}
        for p in self.unary:
            self._unary[p] = cum([o for o in self.unary if (p, o) not in _FORBIDDEN])
        self._mul = "mul" in names    # wrapping must not bring in operators outside the set
        self._add = "add" in names

    # -- the pieces -------------------------------------------------------------------------
    @staticmethod
    def _pick(rng: np.random.Generator, table) -> str | None:
        opts, cum = table
        if not opts:
            return None
        return opts[min(bisect_right(cum, rng.random() * cum[-1]), len(opts) - 1)]

    def _tokens(self, rng: np.random.Generator, k: int) -> list[str] | None:
        """Prefix tokens with operators, leaves and constant placeholders, or None."""
        cfg = self.config
        lo = max(cfg.min_ops, k - 1)      # k leaves need at least k-1 binary nodes
        for _ in range(10):
            arities = self.shapes.sample(rng, int(rng.integers(lo, cfg.max_ops + 1)))
            n_leaves = arities.count(0)
            if n_leaves >= k:
                break
        else:
            return None
        # leaves: constants first (never so many that a variable cannot fit), then
        # every variable once on random leaves and uniform variables elsewhere;
        # a plain uniform draw rejected until all k appear would almost never
        # succeed for 10 variables
        is_c = rng.random(n_leaves) < cfg.leaf_const_prob
        if n_leaves - int(is_c.sum()) < k:
            is_c[:] = False
        slots = np.flatnonzero(~is_c)
        var = rng.integers(k, size=len(slots))
        var[rng.permutation(len(slots))[:k]] = np.arange(k)
        leaves = iter(np.where(is_c, -1, 0).tolist())
        var_it = iter(var.tolist())
        # operators in prefix order; a stack of [op, pending children] tracks each parent
        toks: list = []
        stack: list = []
        for a in arities:
            parent = stack[-1][0] if stack else None
            if a == 0:
                toks.append(CONST if next(leaves) < 0 else f"x{next(var_it)}")
            else:
                op = (self._pick(rng, self._binary) if a == 2 else
                      self._pick(rng, self._unary[parent if parent in self._unary else None]))
                if op is None:
                    return None
                toks.append(op)
            if stack:
                stack[-1][1] -= 1
                if stack[-1][1] == 0:     # parent full: the next node belongs higher up
                    stack.pop()
            if a:
                stack.append([toks[-1], a])
        return self._wrap(rng, toks)

    def _wrap(self, rng: np.random.Generator, toks: list[str]) -> list[str]:
        """``C*f + C`` around the whole formula and (sometimes) each unary argument."""
        cfg = self.config
        stack: list[list[str]] = []
        for tok in reversed(toks):
            n = ops.OPERATORS[tok].arity if tok in ops.OPERATORS else 0
            if n == 0:
                stack.append([tok])
            elif n == 2:
                a = stack.pop()
                stack.append([tok, *a, *stack.pop()])
            else:
                arg = stack.pop()
                if self._mul and tok not in _NO_INNER and rng.random() < cfg.mul_const_prob:
                    arg = ["mul", CONST, *arg]
                if self._add and tok not in _NO_INNER and rng.random() < cfg.add_const_prob:
                    arg = ["add", *arg, CONST]
                stack.append([tok, *arg])
        out = stack[0]
        if self._mul and rng.random() < cfg.mul_const_prob:
            out = ["mul", CONST, *out]
        if self._add and rng.random() < cfg.add_const_prob:
            out = ["add", *out, CONST]
        return out

    def _constants(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Magnitudes log-uniform in [0.1, 10] with random signs; some small integers."""
        mag = 10.0 ** rng.uniform(-1.0, 1.0, n)
        ints = rng.random(n) < self.config.int_const_prob
        mag[ints] = rng.integers(1, 6, int(ints.sum()))
        return np.where(rng.random(n) < 0.5, -mag, mag)

    @staticmethod
    def _ranges(rng: np.random.Generator, k: int):
        """Per variable ``(lo, hi, log_spaced)``: positive ``[a, a*r]`` (sometimes
        log-spaced), symmetric ``[-a, a]`` or shifted, so formulas see varied scales
        and signs (and the model does not learn one range)."""
        kind = rng.random(k)
        a = 10.0 ** rng.uniform(-1.0, 1.0, k)
        lo = np.where(kind < 0.5, a, np.where(kind < 0.75, -a, rng.uniform(-10.0, 10.0, k)))
        hi = np.where(kind < 0.5, a * rng.uniform(1.5, 20.0, k),
                      np.where(kind < 0.75, a, lo + 10.0 ** rng.uniform(0.0, 1.3, k)))
        return lo, hi, (kind < 0.5) & (rng.random(k) < 0.3)

    @staticmethod
    def _points(rng: np.random.Generator, m: int, ranges) -> np.ndarray:
        lo, hi, log_spaced = ranges
        U = rng.random((m, len(lo)))
        with np.errstate(all="ignore"):  # the log branch is computed for every column
            return np.where(log_spaced, lo * (hi / lo) ** U, lo + (hi - lo) * U)

    def _data(self, rng: np.random.Generator, expr: Expression, k: int):
        """(X, y) of ``n_points`` finite points, or None."""
        cfg = self.config
        n = cfg.n_points
        ranges = self._ranges(rng, k)
        drawn, have, Xs, ys = 0, 0, [], []
        for _ in range(4):            # undefined points are redrawn a few times
            # the first round draws n; later ones the missing count, scaled by the loss rate
            m = n - have if not drawn else math.ceil((n - have) * drawn / max(have, 1) * 1.2) + 2
            X = self._points(rng, m, ranges)
            y = expr.evaluate(X)
            ok = np.isfinite(y)
            drawn += m
            Xs.append(X[ok])
            ys.append(y[ok])
            have += int(ok.sum())
            if have >= n or (drawn - have) > cfg.max_nonfinite_frac * drawn:
                break
        if have < n or (drawn - have) > cfg.max_nonfinite_frac * drawn:
            return None
        X, y = np.concatenate(Xs)[:n], np.concatenate(ys)[:n]
        if np.abs(y).max() > cfg.max_abs_y or y.std() <= 1e-8 * (1.0 + np.abs(y).mean()):
            return None
        return X, y

    # -- public ---------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Sample:
        """One valid sample; draws again until every check passes (never raises)."""
        cfg = self.config
        while True:
            k = (int(rng.integers(cfg.min_vars, cfg.max_vars + 1)) if self._var_p is None
                 else cfg.min_vars + int(rng.choice(len(self._var_p), p=self._var_p)))
            toks = self._tokens(rng, k)
            if toks is None:
                continue
            raw = Expression(toks, self._constants(rng, toks.count(CONST)), check=False)
            expr = fold_constants(raw, operators=self.operators)
            skel = expr.tokens
            if (len(skel) > cfg.max_tokens or not any(t in ops.OPERATORS for t in skel)
                    or len({t for t in skel if is_variable(t)}) != k or _self_cancelling(skel)):
                continue
            for _ in range(2):        # a second set of ranges before giving the formula up
                data = self._data(rng, expr, k)
                if data is not None:
                    return Sample(expr, skel, *data)

    def samples(self, n: int, seed: int) -> list[Sample]:
        """``n`` samples, reproducible from ``seed``."""
        rng = np.random.default_rng(seed)
        return [self.sample(rng) for _ in range(n)]


def unique_samples(n: int, seed: int, config: GeneratorConfig | None = None,
                   exclude_keys: frozenset[str] | set[str] = frozenset(),
                   max_draws: int | None = None) -> list[Sample]:
    """``n`` samples with distinct skeletons (by :meth:`Expression.key`), none in
    ``exclude_keys``: a validation or test set that neither repeats itself nor the
    training skeletons given. RuntimeError after ``max_draws`` (default 50n + 1000)."""
    gen, rng = EquationGenerator(config), np.random.default_rng(seed)
    seen, out = set(exclude_keys), []
    limit = max_draws if max_draws is not None else 50 * n + 1000
    for _ in range(limit):
        if len(out) >= n:
            break
        s = gen.sample(rng)
        key = Expression(s.skeleton).key()
        if key not in seen:
            seen.add(key)
            out.append(s)
    if len(out) < n:
        raise RuntimeError(f"found only {len(out)} distinct skeletons of {n} in {limit} draws")
    return out


def _self_cancelling(tokens: Sequence[str]) -> bool:
    """Whether some ``f - f`` or ``f / f`` (f without constants) is in ``tokens``:
    a constant in disguise, which would teach the model dead subtrees."""
    ends = None
    for i, tok in enumerate(tokens):
        if tok == "sub" or tok == "div":
            ends = ends or subtree_ends(tokens)
            mid = ends[i + 1]
            a, b = tokens[i + 1:mid], tokens[mid:ends[mid]]
            if a == b and CONST not in a:
                return True
    return False


def _subtrees(skeleton: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Proper subtrees of at least 3 tokens that contain a variable."""
    ends = subtree_ends(skeleton)
    return [sub for i in range(1, len(skeleton))
            if len(sub := skeleton[i:ends[i]]) >= 3 and any(is_variable(t) for t in sub)]


def random_hypothesis(rng: np.random.Generator, skeleton: Sequence[str],
                      operators: Sequence[str] = TRANSFORMER_OPERATORS,
                      max_complexity: int = 40, p_empty: float = 0.5, p_include: float = 0.4,
                      p_exclude: float = 0.4, p_subtree: float = 0.3,
                      p_complexity: float = 0.4) -> Hypothesis:
    """A hypothesis that is true of ``skeleton``, for training with hypotheses.

    Empty with probability ``p_empty``; otherwise each part with its own
    probability (at least one): 1–2 operators that appear (include), 1–3 of
    ``operators`` that do not (exclude), one proper subtree of >= 3 tokens with
    a variable, and the exact length capped at ``max_complexity``.
    """
    skeleton = tuple(skeleton)
    present = sorted({t for t in skeleton if t in ops.OPERATORS})
    absent = [o for o in operators if o not in present]
    subs = _subtrees(skeleton)
    parts = {"include": (p_include, bool(present)), "exclude": (p_exclude, bool(absent)),
             "subtrees": (p_subtree, bool(subs)), "complexity": (p_complexity, True)}
    avail = [name for name, (_, ok) in parts.items() if ok]
    if rng.random() < p_empty:
        return Hypothesis()
    chosen = [name for name in avail if rng.random() < parts[name][0]]
    if not chosen:
        chosen = [avail[int(rng.integers(len(avail)))]]

    def some(pool, most):
        m = int(rng.integers(1, min(most, len(pool)) + 1))
        return tuple(pool[i] for i in sorted(rng.choice(len(pool), m, replace=False)))

    return Hypothesis(
        include=some(present, 2) if "include" in chosen else (),
        exclude=some(absent, 3) if "exclude" in chosen else (),
        subtrees=(subs[int(rng.integers(len(subs)))],) if "subtrees" in chosen else (),
        complexity=min(len(skeleton), max_complexity) if "complexity" in chosen else None)
