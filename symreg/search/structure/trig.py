"""Cheap structure for modulated sums: ``y = Σ c_k m_k(x)·f_k(a_k(x))``.

Interference ``I₁ + I₂ + 2√(I₁I₂)·cos δ``, a driven oscillator
``x·(cos ωt + α·cos² ωt)`` and, through ``y²``, the law of cosines
``r₁² + r₂² − 2r₁r₂·cos(θ₁ − θ₂)`` are short sums whose terms are a monomial
times a sine or cosine of a simple argument. :func:`trig_candidates` builds a
library of such products (arguments ``x_j``, ``x_i·x_j`` and ``x_i − x_j``;
``sin``, ``cos`` and ``cos²``; multipliers ``1``, ``x_j^p`` and ``x_i^p·x_j^q``
for p, q in ½, 1, −1) beside the Laurent monomials, and selects sparse models
of ``y`` and, for data of one sign, of ``y²``. Constants are starting values:
the search refits them. Numpy only; nothing raises on data.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from ...expression import Expression
from ...tree import Disallowed, TreeBuilder, tree_to_expression
from .library import (
    laurent_library,
    monomial_values,
    prepared,
    refit,
    select_subsets,
    sum_tree,
    term_node,
    unit_columns,
)
from .registry import BaseTest, register

__all__ = ["Trig", "trig_candidates"]

_MULTIPLIER_POWERS = (Fraction(1, 2), Fraction(1), Fraction(-1))


def _arguments(X: np.ndarray, max_pairs_d: int) -> list[tuple]:
    d = X.shape[1]
    args: list[tuple] = [("var", j) for j in range(d)]
    if d <= max_pairs_d:
        for i, j in itertools.combinations(range(d), 2):
            args += [("mul", i, j), ("sub", i, j)]
    return args


def _argument_values(X: np.ndarray, arg: tuple) -> np.ndarray:
    if arg[0] == "var":
        return X[:, arg[1]]
    if arg[0] == "mul":
        return X[:, arg[1]] * X[:, arg[2]]
    return X[:, arg[1]] - X[:, arg[2]]


def _argument_node(build: TreeBuilder, arg: tuple):
    if arg[0] == "var":
        return f"x{arg[1]}"
    return build(arg[0], f"x{arg[1]}", f"x{arg[2]}")


def _multipliers(X: np.ndarray, limit: int) -> list[dict]:
    """1, then products of one or two variables, at most ``limit``: plain
    powers first (``x_j``, ``x_i·x_j``), then ratios and inverses, then square
    roots, so that a cut keeps the common ones."""
    d = X.shape[1]
    positive = [bool(np.all(X[:, j] > 0)) for j in range(d)]
    nonzero = [bool(np.all(X[:, j] != 0)) for j in range(d)]

    def ok(j: int, p: Fraction) -> bool:
        return positive[j] if p.denominator != 1 else (p > 0 or nonzero[j])

    def rank(powers: tuple) -> int:
        return sum(0 if p == 1 else 1 if p == -1 else 2 for p in powers)

    found: list[tuple[int, int, dict]] = []
    for k in (1, 2):
        for vars_ in itertools.combinations(range(d), k):
            for powers in itertools.product(_MULTIPLIER_POWERS, repeat=k):
                if all(ok(j, p) for j, p in zip(vars_, powers)):
                    found.append((rank(powers), k, dict(zip(vars_, powers))))
    found.sort(key=lambda f: (f[0], f[1]))
    return [{}] + [m for _, _, m in found][: max(0, limit - 1)]


def trig_candidates(X, y, operators: Sequence[str] | None = None, *, max_terms: int = 7,
                    max_columns: int = 1500, max_points: int = 500, max_pairs_d: int = 5,
                    seed: int = 0) -> list[Expression]:
    """Candidates ``T⁻¹(c₀ + Σ c_k m_k·f_k(a_k))`` for ``T`` in ``y`` and ``y²``.

    The library (see the module) holds at most ``max_columns`` columns: the
    multipliers are cut, simplest first, to fit. Pairs of variables enter
    the arguments only for at most ``max_pairs_d`` variables. Terms are chosen
    greedily with swaps and backward elimination on at most ``max_points``
    rows, the plain part of each model is chosen again around its
    trigonometric terms (:func:`_reselect_plain`), and each model, refitted
    on all rows without its round-off terms, is one candidate.
    Returns ``[]`` when neither ``sin`` nor ``cos`` is allowed, or the data
    do not permit a fit.
    """
    data = prepared(X, y, operators, "mul", "add")
    if data is None:
        return []
    X, y, build = data
    n = X.shape[0]
    funcs = [f for f in ("sin", "cos") if build.ok(f)]
    if not funcs:
        return []
    if build.ok("cos", "square"):
        funcs.append("cos2")
    args = _arguments(X, max_pairs_d)
    plain_keys, plain = laurent_library(X, 2, max_columns // 3, with_logs=False, max_degree=2,
                                        max_wide=0)
    # integer powers only in the plain part: √(x0·x1) stands in for (x0 + x1)/2
    # well enough to lead the selection away from x0 + x1 + 2√(x0·x1)·cos δ
    integer = [i for i, k in enumerate(plain_keys) if all(p.denominator == 1 for p in k.values())]
    plain_keys, plain = [plain_keys[i] for i in integer], plain[:, integer]
    n_trig = len(funcs) * len(args)
    mults = _multipliers(X, max(1, (max_columns - len(plain_keys)) // n_trig))
    keys: list = list(plain_keys)
    cols = [plain[:, i] for i in range(plain.shape[1])]
    with np.errstate(all="ignore"):
        mult_values = [monomial_values(X, m) for m in mults]
        for arg in args:
            a = _argument_values(X, arg)
            for f in funcs:
                v = np.sin(a) if f == "sin" else np.cos(a)
                if f == "cos2":
                    v = v * v
                for m, mv in zip(mults, mult_values):
                    keys.append(("trig", f, arg, m))
                    cols.append(mv * v)
    M = np.stack(cols, axis=1)
    rng = np.random.default_rng(seed)
    rows = (np.sort(rng.choice(n, size=max_points, replace=False)) if n > max_points
            else np.arange(n))
    targets = [("identity", y)]
    if (np.all(y > 0) or np.all(y < 0)) and build.ok("sqrt"):
        targets.append(("square", y * y))
    A, keep = unit_columns(M, rows)
    if keep.size == 0:
        return []
    n_plain = int(np.sum(keep < len(plain_keys)))     # keep is sorted: plain columns first
    out: list[Expression] = []
    seen: set[tuple] = set()
    for name, t in targets:
        ts = t[rows]
        if not np.all(np.isfinite(t)) or np.ptp(ts) <= 0:
            continue
        tc = ts - ts.mean()
        subsets = select_subsets(A, tc, min(max_terms, len(rows) - 2))
        for S in _reselect_plain(A, tc, subsets, n_plain):
            if not any(isinstance(keys[keep[s]], tuple) for s in S):
                continue            # no trigonometric term: the other tests cover it
            chosen = [int(keep[s]) for s in S]
            coefs, intercept = refit(M[:, chosen], t)
            if not np.all(np.isfinite(coefs)):
                continue
            # terms at round-off level (1e-15 · cos(x0 - x1) beside an exact fit) go
            scale = np.sqrt(np.mean(t * t))
            size = np.abs(coefs) * np.sqrt(np.mean(M[:, chosen] ** 2, axis=0))
            if np.any(size < 1e-9 * scale) and np.any(size >= 1e-9 * scale):
                chosen = [k for k, z in zip(chosen, size) if z >= 1e-9 * scale]
                coefs, intercept = refit(M[:, chosen], t)
            key = tuple(sorted(chosen)) + (name,)
            if key in seen or not np.all(np.isfinite(coefs)):
                continue
            seen.add(key)
            try:
                terms = [(float(c), _trig_node(build, keys[k], X)) for c, k in zip(coefs, chosen)]
                body = sum_tree(build, terms, intercept)
                out.append(tree_to_expression(build("sqrt", body) if name == "square" else body))
            except Disallowed:
                continue
    return out


def _reselect_plain(A: np.ndarray, t: np.ndarray, subsets: list[list[int]], n_plain: int,
                    max_plain: int = 6) -> list[list[int]]:
    """``subsets`` and, for each distinct set of trigonometric columns in
    them and each such column alone, those columns with the plain part
    chosen anew (columns below ``n_plain`` are plain).

    Why: the selection finds ``2√(x0·x1)·cos δ`` at once, but its plain part
    goes astray (``x0 + x1`` is approximated by ``√(x0·x1)``, ``1/(x0·x1)``
    and friends); with the trigonometric terms projected out, the rest is a
    small sparse regression over the plain columns alone, which the greedy
    selection does well."""
    out = [list(S) for S in subsets]
    if n_plain == 0:
        return out
    # each subset's trigonometric columns, and each such column alone (the
    # law's one term can come with spurious companions in every subset)
    sets = [tuple(sorted(s for s in S if s >= n_plain)) for S in subsets]
    sets += [(s,) for S in subsets for s in S if s >= n_plain]
    seen: set[tuple] = set()
    for trig in sets:
        if not trig or trig in seen:
            continue
        seen.add(trig)
        Q, _ = np.linalg.qr(A[:, list(trig)])
        t1 = t - Q @ (Q.T @ t)
        P1 = A[:, :n_plain] - Q @ (Q.T @ A[:, :n_plain])
        n1 = np.sqrt(np.sum(P1 * P1, axis=0))
        ok = np.nonzero(n1 > 1e-8)[0]
        out.append(list(trig))
        if ok.size == 0 or not np.any(t1):
            continue
        for P in select_subsets(P1[:, ok] / n1[ok], t1, max_plain):
            out.append(sorted([int(ok[p]) for p in P] + list(trig)))
    return out


def _trig_node(build: TreeBuilder, key, X: np.ndarray):
    if isinstance(key, dict):
        return term_node(build, key, X)
    _, f, arg, mult = key
    a = _argument_node(build, arg)
    node = build("square", build("cos", a)) if f == "cos2" else build(f, a)
    return node if not mult else build("mul", term_node(build, mult, X), node)


@register
class Trig(BaseTest):
    """:func:`trig_candidates`, screened on their own in stage 3, the last."""

    name = "trig"
    stage = 3
    needs = ("mul", "add")

    def applies(self, X, y, operators):
        build = TreeBuilder(operators)
        return build.ok(*self.needs) and (build.ok("sin") or build.ok("cos"))

    def candidates(self, X, y, operators, seed):
        return trig_candidates(X, y, operators, seed=seed)
