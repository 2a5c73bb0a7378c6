"""Cheap structure for ratios: ``y = P(x) / Q(x)`` with sparse ``P`` and ``Q``.

Weighted means ``(m1·r1 + m2·r2)/(m1 + m2)``, relativistic velocity addition
``(u + v)/(1 + u·v/c²)`` and the Clausius–Mossotti factor are ratios of short
sums. Neither ``y`` nor a simple function of it is sparse in monomials, but
``y·Q = P`` is linear in the coefficients of both (the linearisation of
rational regression used by Padé-type fits): with ``Q = q₀ + Σ b_j q_j``,

    y·q₀ = Σ a_i p_i − Σ b_j (y·q_j),

a sparse regression of ``y·q₀`` on the library's monomials and on ``y`` times
them. :func:`rational_candidates` runs it for ``q₀`` = 1, each ``x_j`` and
each ``x_j²`` (one of them is usually a term of the true denominator) and
writes each selected model back as ``P/Q``. Constants are starting values
only: the search refits them on ``y``. Numpy only; nothing raises on data.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from ...expression import Expression
from ...tree import Disallowed, tree_to_expression
from .library import (
    Gram,
    laurent_library,
    monomial_values,
    prepared,
    refit,
    sum_tree,
    term_node,
    unit_columns,
)
from .registry import BaseTest, register

__all__ = ["Rational", "rational_candidates"]


def _best_numerators(A: np.ndarray, t: np.ndarray, max_terms: int) -> list[tuple[float, list[int]]]:
    """(residual sum of squares, columns) of the best single column, the best
    pair (exhaustively: greedy picks fail here, see below) and greedy
    additions to that pair up to ``max_terms``; ``A``'s columns have unit norm.

    Why exhaustive pairs: in a weighted mean ``y·m₁ = m₁r₁ + m₂r₂ − b·y·m₂``
    the single column that best matches the target is ``m₁²r₁`` or
    ``m₁√r₁``, not a term of the law, and no swap leads back from there."""
    g = Gram(A, t)
    G, b = g.G, g.b
    m = G.shape[0]
    out = []
    j = int(np.argmax(b * b))
    out.append((g.yy - float(b[j] ** 2), [j]))
    if m < 2 or max_terms < 2:
        return out
    i1, i2 = np.triu_indices(m, 1)
    with np.errstate(all="ignore"):
        gij = G[i1, i2]
        det = 1.0 - gij * gij
        explained = (b[i1] ** 2 + b[i2] ** 2 - 2.0 * gij * b[i1] * b[i2]) / det
        explained = np.where(det > 1e-10, explained, -np.inf)
    k = int(np.argmax(explained))
    if not np.isfinite(explained[k]):
        return out
    S = [int(i1[k]), int(i2[k])]
    out.append((g.rss(S), S))
    while len(S) < max_terms:
        j, rss = g.best_add(S)
        if j < 0:
            break
        S = S + [j]
        out.append((rss, S))
    return out


def rational_candidates(X, y, operators: Sequence[str] | None = None, *, max_terms: int = 4,
                        max_columns: int = 300, max_points: int = 300, max_runs: int = 400,
                        per_size: int = 2, seed: int = 0) -> list[Expression]:
    """Candidates ``P/Q`` from sparse regressions of ``y·q₀`` (see the module).

    The library holds integer-power Laurent monomials of one or two variables
    (total degree at most 3) and products of three or more variables to the
    power ±1 while they are few, at most ``max_columns`` in all. The
    denominator is ``q₀ + b·q`` for each normaliser ``q₀`` and each monomial
    ``q`` free of ``q₀``'s variables; with ``y·q`` forced in, the numerator
    is the best single term, the best pair (exhaustively) and greedy
    additions to it, chosen on at most ``max_points`` rows. Why not choose
    the denominator greedily too: each term of a ratio alone explains little
    of ``y·q₀`` (a tenth, for a weighted mean), so a greedy path never starts
    with it. At most ``max_runs`` (q₀, q) pairs, the simplest first; the
    ``per_size`` best models of each numerator size, by relative residual,
    are refitted on all rows and returned as ``P/Q``. Returns ``[]`` when
    ``div`` (or ``add``/``mul``) is not allowed or the data do not permit a
    fit.
    """
    data = prepared(X, y, operators, "mul", "add", "div")
    if data is None:
        return []
    X, y, build = data
    n, d = X.shape
    keys, M = laurent_library(X, 2, max_columns, with_logs=False, max_degree=3, max_wide=64)
    if not keys:
        return []
    rng = np.random.default_rng(seed)
    rows = (np.sort(rng.choice(n, size=max_points, replace=False)) if n > max_points
            else np.arange(n))
    # integer powers only: √ forms of the same monomial are nearly collinear
    # with it and crowd the law's own terms out of the best pairs
    integer = np.array([isinstance(k, dict) and all(p.denominator == 1 for p in k.values())
                        for k in keys])
    with np.errstate(all="ignore"):
        finite = np.all(np.isfinite(M), axis=0) & integer
    P, p_keep = unit_columns(M, rows, finite)
    if p_keep.size == 0:
        return []
    normalisers: list = [None]
    for j in range(d):
        if np.all(X[:, j] != 0):
            normalisers += [{j: Fraction(1)}, {j: Fraction(2)}]
    # the simplest denominators first: fewest variables, then lowest degree
    q_order = sorted(np.nonzero(finite)[0].tolist(),
                     key=lambda i: (len(keys[i]), sum(abs(p) for p in keys[i].values())))
    runs = [(q0, i) for q0 in normalisers for i in q_order
            if q0 is None or not (keys[i].keys() & q0.keys())][:max_runs]
    found: list[tuple[float, int, int, list[int], dict | None]] = []
    ys = y[rows]
    for q0_key, qi in runs:
        q0 = np.ones(len(rows)) if q0_key is None else monomial_values(X[rows], q0_key)
        with np.errstate(all="ignore"):
            t = ys * q0
            t = t - t.mean()
            a = ys * M[rows, qi]
            a = a - a.mean()
            na = float(np.sqrt(a @ a))
            tt = float(t @ t)
        if not (np.isfinite(na) and na > 1e-12 and np.isfinite(tt) and tt > 0):
            continue
        a = a / na
        # the forced column projected out of the target and of the numerator's columns
        t1 = t - a * (a @ t)
        P1 = P - np.outer(a, a @ P)
        n1 = np.sqrt(np.sum(P1 * P1, axis=0))
        ok = np.nonzero(n1 > 1e-8)[0]
        if ok.size == 0:
            continue
        A = P1[:, ok] / n1[ok]
        for rss, S in _best_numerators(A, t1, max_terms - 1):
            found.append((rss / tt, len(S), qi, [int(p_keep[ok[s]]) for s in S], q0_key))
    found.sort(key=lambda f: f[0])
    out: list[Expression] = []
    taken: dict[int, int] = {}
    for _, size, qi, num, q0_key in found:
        if taken.get(size, 0) >= per_size:
            continue
        taken[size] = taken.get(size, 0) + 1
        q0 = np.ones(n) if q0_key is None else monomial_values(X, q0_key)
        with np.errstate(all="ignore"):
            cols = np.concatenate([M[:, num], (y * M[:, qi])[:, None]], axis=1)
            coefs, intercept = refit(cols, y * q0)
        if not np.all(np.isfinite(coefs)):
            continue
        try:
            p_terms = [(float(c), term_node(build, keys[k], X)) for c, k in zip(coefs, num)]
            q_term = (-float(coefs[-1]), term_node(build, keys[qi], X))
            if q0_key is None:
                Q = sum_tree(build, [q_term], 1.0)
            else:
                Q = sum_tree(build, [(1.0, term_node(build, q0_key, X)), q_term], None)
            out.append(tree_to_expression(build("div", sum_tree(build, p_terms, intercept), Q)))
        except Disallowed:
            continue
    return out



@register
class Rational(BaseTest):
    """:func:`rational_candidates`, screened with the transformed targets in stage 1."""

    name = "rational"
    stage = 1
    order = 1
    needs = ("mul", "add", "div")

    def candidates(self, X, y, operators, seed):
        return rational_candidates(X, y, operators, seed=seed)
