"""Cheap structure tests: candidate formulas from the data in milliseconds.

* :func:`power_law`: a least-squares fit of ``log|y|`` on ``log|x_i|`` finds
  ``c·∏ x_i^a_i`` exactly when the law is a monomial; exponents snap to
  integers, halves or thirds when the fit holds.
* :func:`sparse_polynomial`: greedy sparse regression (orthogonal matching
  pursuit with swap refinement) over a library of monomials finds sums of
  a few polynomial terms (SINDy / FFX style).
* :func:`structure_candidates`: all of the above that apply, written only with
  the allowed operators.

Everything here is numpy; non-finite rows are dropped, and a test that does
not apply returns ``None`` or ``[]``, never raises on data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from .. import operators as ops
from ..expression import Expression
from ..tree import tree_to_expression

__all__ = ["power_law", "sparse_polynomial", "structure_candidates"]


class _Disallowed(Exception):
    """The candidate needs an operator outside the allowed set."""


class _Ops:
    """Builds nested-tuple nodes (see :mod:`symreg.simplify`) with only
    the allowed operators."""

    def __init__(self, operators: Sequence[str] | None):
        self.allowed = None if operators is None else frozenset(ops.resolve_operators(operators))

    def ok(self, *names: str) -> bool:
        return self.allowed is None or all(n in self.allowed for n in names)

    def __call__(self, op: str, *args):
        if not self.ok(op):
            raise _Disallowed(op)
        return (op, *args)

    # -- powers ----------------------------------------------------------------------
    def _chains(self, x) -> dict[int, object]:
        """x^k for k reachable by up to three square/cube steps: {k: node}."""
        out: dict[int, object] = {1: x}
        frontier = {1: x}
        for _ in range(3):
            nxt = {}
            for k, node in frontier.items():
                for name, m in (("square", 2), ("cube", 3)):
                    if self.ok(name) and k * m not in out and k * m not in nxt:
                        nxt[k * m] = (name, node)
            out.update(nxt)
            frontier = nxt
        return out

    def power(self, x, p) -> object:
        """The shortest node for x^p, p > 0 (a Fraction or a float).

        Ties prefer forms without a constant (``square(square(x))`` over
        ``pow(x, 4)``). Raises :class:`_Disallowed` when nothing is possible.
        """
        options: list = []
        if isinstance(p, Fraction) and p.denominator in (1, 2):
            chains = self._chains(x)
            if p.denominator == 1:
                k = int(p)
                if k in chains:
                    options.append(chains[k])
                if k - 1 in chains and self.ok("mul"):
                    options.append(("mul", x, chains[k - 1]))
            else:
                k = p.numerator                    # x^(k/2), k odd
                if self.ok("sqrt"):
                    if k in chains:
                        options.append(("sqrt", chains[k]))
                    if (k - 1) // 2 in chains and self.ok("mul"):
                        options.append(("mul", chains[(k - 1) // 2], ("sqrt", x)))
        if self.ok("pow"):
            options.append(("pow", x, float(p)))
        if not options:
            raise _Disallowed("pow")
        return min(options, key=lambda n: (_size(n), _has_const(n)))

    def product(self, factors: list) -> object:
        node = factors[0]
        for f in factors[1:]:
            node = self("mul", node, f)
        return node


def _size(node) -> int:
    if type(node) is tuple:
        return 1 + sum(_size(c) for c in node[1:])
    return 1


def _has_const(node) -> bool:
    if type(node) is float:
        return True
    if type(node) is tuple:
        return any(_has_const(c) for c in node[1:])
    return False


def _clean(X, y) -> tuple[np.ndarray, np.ndarray] | None:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        return None
    keep = np.isfinite(y) & np.isfinite(X).all(axis=1)
    if not keep.all():
        X, y = X[keep], y[keep]
    if y.shape[0] < 3:
        return None
    return X, y


def _prepared(X, y, operators: Sequence[str] | None, *needed: str
              ) -> tuple[np.ndarray, np.ndarray, _Ops] | None:
    """Cleaned data and the operator builder for a library fit, or ``None``
    when there are no variables, fewer than 8 finite rows, or one of the
    ``needed`` operators is not allowed."""
    data = _clean(X, y)
    if data is None:
        return None
    X, y = data
    build = _Ops(operators)
    if X.shape[1] == 0 or X.shape[0] < 8 or not build.ok(*needed):
        return None
    return X, y, build


def _unit_columns(M: np.ndarray, rows: np.ndarray | None = None,
                  usable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The library's columns centred and scaled to unit norm on ``rows`` (all
    when ``None``), for the subset selection; returns them and the indices
    of the columns kept: finite on every row, not constant on ``rows``, and
    ``usable`` (a boolean mask) where given."""
    Ms = M if rows is None else M[rows]
    with np.errstate(all="ignore"):
        Mc = Ms - Ms.mean(axis=0)
        norms = np.sqrt(np.sum(Mc * Mc, axis=0))
        ok = np.all(np.isfinite(M), axis=0) & np.isfinite(norms) & (norms > 1e-12)
    if usable is not None:
        ok &= usable
    keep = np.nonzero(ok)[0]
    return Mc[:, keep] / norms[keep], keep


# ----------------------------------------------------------------------------
# power laws
# ----------------------------------------------------------------------------

def _nice_exponents(a: float) -> list[Fraction]:
    """The nearest integer, half and third to ``a``, nicest first, no repeats."""
    out: list[Fraction] = []
    for q in (1, 2, 3):
        f = Fraction(round(a * q), q)
        if f not in out:
            out.append(f)
    return out


def power_law(X, y, *, operators: Sequence[str] | None = None) -> Expression | None:
    """Fit ``y ≈ c·∏ x_i^a_i`` by least squares in log space.

    Applies when y is nonzero with one sign; a column enters when it has no
    zeros and is not constant (columns of mixed sign enter as ``|x_i|``,
    written ``x_i`` when the exponent is an even integer and ``abs(x_i)``
    otherwise, when ``abs`` is allowed). Each exponent then snaps to the
    nearest integer, half or third (tried in that order, greedily, most
    snappable first) when the residual sum of squares in log space stays
    within the AIC allowance ``exp(2k/n)`` for k snapped exponents (or below
    a round-off floor); exponents that snap to 0 are dropped. The constant
    ``c`` (carrying the sign of y) is then refitted by least squares on y.

    Powers use ``square``, ``cube``, ``sqrt`` (``x^1.5`` is ``sqrt(cube(x))``),
    ``mul``, ``div`` and ``inv`` when allowed, ``pow(x, C)`` otherwise.

    Returns None when the test does not apply (zeros or mixed signs in y, no
    usable column, a needed operator not allowed) or when the result is not
    finite on the data or explains less than a constant would.
    """
    data = _clean(X, y)
    if data is None:
        return None
    X, y = data
    n, d = X.shape
    if not (np.all(y > 0) or np.all(y < 0)):
        return None
    build = _Ops(operators)
    with np.errstate(all="ignore"):
        L = np.log(np.abs(y))
        cols, logs, mixed = [], [], []
        for j in range(d):
            xj = X[:, j]
            if np.any(xj == 0):
                continue
            lj = np.log(np.abs(xj))
            if not np.all(np.isfinite(lj)) or np.ptp(lj) <= 1e-12 * (1.0 + np.max(np.abs(lj))):
                continue
            cols.append(j)
            logs.append(lj)
            mixed.append(not np.all(xj > 0))
    if not cols:
        return None
    F = np.stack(logs, axis=1)
    k = F.shape[1]
    if n <= k + 1:
        return None

    def fit(fixed: dict[int, Fraction]) -> tuple[np.ndarray, float]:
        """Exponents with ``fixed`` ones held, the rest by least squares; RSS."""
        target = L.copy()
        for i, v in fixed.items():
            target -= float(v) * F[:, i]
        free = [i for i in range(k) if i not in fixed]
        A = np.concatenate([np.ones((n, 1)), F[:, free]], axis=1)
        coef, *_ = np.linalg.lstsq(A, target, rcond=None)
        a = np.zeros(k)
        for i, v in fixed.items():
            a[i] = float(v)
        a[free] = coef[1:]
        r = target - A @ coef
        return a, float(r @ r)

    a_free, rss_free = fit({})
    if not np.all(np.isfinite(a_free)):
        return None
    floor = 1e-20 * n * (1.0 + float(np.mean(L * L)))
    fixed: dict[int, Fraction] = {}
    order = sorted(range(k), key=lambda i: abs(a_free[i] - round(a_free[i] * 6) / 6))
    a_cur = a_free
    for i in order:
        for v in _nice_exponents(a_cur[i]):
            trial = dict(fixed)
            trial[i] = v
            a_try, rss = fit(trial)
            if rss <= rss_free * math.exp(2.0 * len(trial) / n) + floor:
                fixed, a_cur = trial, a_try
                break
    exps: list[tuple[int, object]] = []   # (column, exponent as Fraction or float)
    for i in range(k):
        e = fixed.get(i, float(a_cur[i]))
        if e == 0:
            continue
        exps.append((i, e))
    if not exps:
        return None

    try:
        num, den = [], []
        for i, e in exps:
            x = f"x{cols[i]}"
            even = isinstance(e, Fraction) and e.denominator == 1 and e.numerator % 2 == 0
            if mixed[i] and not even:
                x = build("abs", x)
            node = build.power(x, abs(e)) if abs(e) != 1 else x
            (num if e > 0 else den).append(node)
        body = _monomial_tree(build, num, den)
    except _Disallowed:
        return None

    # c by least squares on y
    with np.errstate(all="ignore"):
        m = np.ones(n)
        for i, e in exps:
            m = m * np.abs(X[:, cols[i]]) ** float(e) if mixed[i] else m * X[:, cols[i]] ** float(e)
        mm = float(m @ m)
        if not np.all(np.isfinite(m)) or not math.isfinite(mm) or mm == 0.0:
            return None
        c = float(m @ y) / mm
    if not math.isfinite(c) or c == 0.0:
        return None
    try:
        tree = _scaled(build, c, body)
    except _Disallowed:
        return None
    expr = tree_to_expression(tree)
    pred = expr.evaluate(X)
    if not np.all(np.isfinite(pred)):
        return None
    with np.errstate(all="ignore"):
        sse = float(np.sum((pred - y) ** 2))
        sst = float(np.sum((y - y.mean()) ** 2))
    if not math.isfinite(sse) or (sst > 0 and sse >= sst):
        return None
    return expr


def _monomial_tree(build: _Ops, num: list, den: list):
    """The products of the numerator and denominator factors, ``(N, D)``;
    either is ``None`` when it has no factor (combined by :func:`_scaled`)."""
    N = build.product(num) if num else None
    D = build.product(den) if den else None
    return (N, D)


def _scaled(build: _Ops, c: float, body) -> object:
    """``c * N / D`` with the allowed operators."""
    N, D = body
    if D is None:
        return build("mul", c, N) if N is not None else c
    if build.ok("div"):
        return build("div", build("mul", c, N) if N is not None else c, D)
    if build.ok("inv"):
        inv = ("inv", D)
        return build("mul", c, build("mul", N, inv) if N is not None else inv)
    raise _Disallowed("div")


# ----------------------------------------------------------------------------
# sparse polynomials
# ----------------------------------------------------------------------------

def _library_degree(d: int, max_degree: int, max_library: int) -> int:
    deg = max(1, max_degree)
    while deg > 1 and math.comb(d + deg, deg) - 1 > max_library:
        deg -= 1
    return deg


def _monomial_exponents(d: int, degree: int) -> list[tuple[int, ...]]:
    """Exponent tuples of all monomials of total degree 1..degree."""
    out = []
    for total in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(d), total):
            e = [0] * d
            for j in combo:
                e[j] += 1
            out.append(tuple(e))
    return out


def _monomial_columns(X: np.ndarray, exps: list[tuple[int, ...]]) -> np.ndarray:
    """Columns of the monomials, each built from a lower-degree one."""
    n, d = X.shape
    M = np.empty((n, len(exps)))
    index = {}
    with np.errstate(all="ignore"):
        for c, e in enumerate(exps):
            j = next(i for i in range(d - 1, -1, -1) if e[i])   # drop one power of x_j
            lower = e[:j] + (e[j] - 1,) + e[j + 1:]
            M[:, c] = X[:, j] if sum(lower) == 0 else M[:, index[lower]] * X[:, j]
            index[e] = c
    return M


def _monomials_direct(X: np.ndarray, exps: list[tuple[int, ...]]) -> np.ndarray:
    """Columns of the given monomials, each computed on its own."""
    M = np.ones((X.shape[0], len(exps)))
    with np.errstate(all="ignore"):
        for c, e in enumerate(exps):
            for j, p in enumerate(e):
                if p == 1:
                    M[:, c] *= X[:, j]
                elif p:
                    M[:, c] *= X[:, j] ** p
    return M


class _Gram:
    """Subset least squares on normalised, centred columns via the Gram matrix."""

    def __init__(self, A: np.ndarray, yc: np.ndarray):
        self.G = A.T @ A
        self.b = A.T @ yc
        self.yy = float(yc @ yc)

    def rss(self, S: list[int]) -> float:
        if not S:
            return self.yy
        c = np.linalg.lstsq(self.G[np.ix_(S, S)], self.b[S], rcond=None)[0]
        return self.yy - float(self.b[S] @ c)

    def best_add(self, S: list[int]) -> tuple[int, float]:
        """The column whose addition to S lowers the RSS most, and that RSS."""
        G, b = self.G, self.b
        if not S:
            gain = b * b / np.maximum(np.diag(G), 1e-300)
            j = int(np.argmax(gain))
            return j, self.yy - float(gain[j])
        Gss = G[np.ix_(S, S)]
        Gs = G[S, :]
        sol = np.linalg.lstsq(Gss, np.concatenate([b[S, None], Gs], axis=1), rcond=None)[0]
        c, Z = sol[:, 0], sol[:, 1:]
        proj = b - Gs.T @ c                      # a_j · residual
        norm2 = np.diag(G) - np.einsum("ij,ij->j", Gs, Z)
        with np.errstate(all="ignore"):
            gain = np.where(norm2 > 1e-10, proj * proj / norm2, -np.inf)
        gain[S] = -np.inf
        j = int(np.argmax(gain))
        if not np.isfinite(gain[j]):
            return -1, self.rss(S)
        return j, self.rss(S) - float(gain[j])


def _select_subsets(A: np.ndarray, yc: np.ndarray, max_terms: int) -> list[list[int]]:
    """Forward selection with swap refinement: the best subset found of each
    size 1..max_terms (stops early at an exact fit); then backward elimination
    from the largest, whose subsets join the list where they beat the forward
    one of their size.

    Why both: a greedy first pick can be a column that the law does not hold
    but that correlates with all its terms (``x0²·√(x1·x3)`` for
    ``x0²(x1² + x2² + x3²)``); the forward path then reaches an exact fit only
    with that column and a spare one on board, and the law's own three-term
    subset is met on the way back down."""
    g = _Gram(A, yc)
    if g.yy <= 0:
        return []
    exact = 1e-20 * g.yy
    S: list[int] = []
    rss = g.yy
    out: list[list[int]] = []
    for _ in range(min(max_terms, A.shape[1])):
        j, new_rss = g.best_add(S)
        if j < 0:
            break
        S = S + [j]
        rss = new_rss
        for _ in range(3):          # swap passes
            improved = False
            for pos in range(len(S)):
                rest = S[:pos] + S[pos + 1:]
                j2, r2 = g.best_add(rest)
                if j2 >= 0 and j2 != S[pos] and r2 < rss - 1e-9 * rss - 1e-14 * g.yy:
                    S = rest + [j2]
                    rss = g.rss(S)
                    improved = True
            if not improved:
                break
        out.append(sorted(S))
        if rss <= max(exact, 1e-13 * g.yy):
            break
    if len(S) > 2:
        forward = {len(T): g.rss(T) for T in out}
        while len(S) > 1:
            drops = [(g.rss(S[:i] + S[i + 1:]), i) for i in range(len(S))]
            rss, i = min(drops)
            S = S[:i] + S[i + 1:]
            if rss < forward.get(len(S), math.inf) * (1 - 1e-9) - 1e-14 * g.yy:
                out.append(sorted(S))
    return out


def _poly_tree(build: _Ops, terms: list[tuple[float, tuple[int, ...]]], intercept: float | None):
    """``Σ c_j m_j (+ c0)`` as a tuple tree; terms in the given order."""
    nodes = []
    for coef, e in terms:
        factors = []
        for j, p in enumerate(e):
            if p:
                x = f"x{j}"
                factors.append(x if p == 1 else build.power(x, Fraction(p)))
        nodes.append((coef, build.product(factors)))
    return _sum_tree(build, nodes, intercept)


def _sum_tree(build: _Ops, terms: list[tuple[float, object]], intercept: float | None):
    """``Σ c_j t_j (+ c0)`` as a tuple tree (``sub`` for negative coefficients
    after the first term, when allowed); terms in the given order."""
    node = None
    for coef, term in terms:
        if node is None:
            node = build("mul", coef, term)
        elif coef < 0 and build.ok("sub"):
            node = build("sub", node, build("mul", -coef, term))
        else:
            node = build("add", node, build("mul", coef, term))
    if intercept is not None:
        if node is None:
            return intercept
        if intercept < 0 and build.ok("sub"):
            return build("sub", node, -intercept)
        return build("add", node, intercept)
    return node


def _refit(M: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Least squares of y on the columns of M, with an intercept unless
    dropping it costs less than the AIC allowance of one parameter."""
    n = y.shape[0]
    with np.errstate(all="ignore"):
        scale = np.sqrt(np.sum(M * M, axis=0))
        scale[~(scale > 0)] = 1.0
        Ms = M / scale
        A1 = np.concatenate([np.ones((n, 1)), Ms], axis=1)
        c1 = np.linalg.lstsq(A1, y, rcond=None)[0]
        r1 = y - A1 @ c1
        c0 = np.linalg.lstsq(Ms, y, rcond=None)[0]
        r0 = y - Ms @ c0
        rss1, rss0 = float(r1 @ r1), float(r0 @ r0)
        floor = 1e-20 * float(y @ y)
    if rss0 <= rss1 * (1.0 + 2.0 / n) + floor:
        return c0 / scale, None
    return c1[1:] / scale, float(c1[0])


def sparse_polynomial(X, y, max_degree: int = 6, max_terms: int = 8, *,
                      operators: Sequence[str] | None = None, max_library: int = 300,
                      max_points: int = 5000, seed: int = 0) -> list[Expression]:
    """Sparse polynomial models ``y ≈ c0 + Σ c_j m_j``, one per sparsity level.

    The library holds all monomials of total degree 1..D in the variables,
    with D <= ``max_degree`` lowered until the library has at most
    ``max_library`` terms (D = 6 for one or two variables, 3 for ten).
    Subsets are chosen greedily (orthogonal matching pursuit on normalised
    centred columns, using the Gram matrix) and refined after each step by
    swapping single terms while that lowers the residual; selection runs on at
    most ``max_points`` rows. Each subset is then refitted by least squares on
    all rows; the intercept is kept only when dropping it would cost more
    than the AIC allowance of one parameter (so it is absent when it is ≈ 0).

    Monomials are written compactly (``x0**3 -> cube(x0)``,
    ``x0*x1**2 -> mul(x0, square(x1))``, ``x0**4 -> square(square(x0))``),
    every term carries a coefficient constant, negative coefficients after
    the first term use ``sub``. Returns the model of each sparsity level
    1..max_terms (fewer after an exact fit), or ``[]`` when the data do not
    allow a fit or ``add``/``mul`` are not allowed.
    """
    data = _clean(X, y)
    if data is None:
        return []
    X, y = data
    n, d = X.shape
    max_terms = min(int(max_terms), n - 2)
    if d == 0 or max_terms < 1:
        return []
    build = _Ops(operators)
    if not build.ok("mul"):
        return []
    degree = _library_degree(d, max_degree, max_library)
    exps = _monomial_exponents(d, degree)

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=max_points, replace=False)) if n > max_points else None
    Xs, ys = (X[idx], y[idx]) if idx is not None else (X, y)
    M = _monomial_columns(Xs, exps)
    with np.errstate(all="ignore"):
        ok = np.all(np.isfinite(M), axis=0)
        Mc = M - M.mean(axis=0)
        norms = np.sqrt(np.sum(Mc * Mc, axis=0))
        scale = np.max(np.abs(M), axis=0)
        tiny = 1e-10 * np.sqrt(Xs.shape[0]) * np.where(scale > 0, scale, 1.0)
        ok &= np.isfinite(norms) & (norms > tiny)
    keep = np.nonzero(ok)[0]
    if keep.size == 0:
        return []
    A = Mc[:, keep] / norms[keep]
    yc = ys - ys.mean()
    if not np.all(np.isfinite(A)) or not np.isfinite(yc).all():
        return []
    subsets = _select_subsets(A, yc, max_terms)

    out: list[Expression] = []
    seen = set()
    for S in subsets:
        terms_e = [exps[keep[s]] for s in S]
        key = tuple(sorted(terms_e))
        if key in seen:
            continue
        seen.add(key)
        Mfull = _monomials_direct(X, terms_e)
        if not np.all(np.isfinite(Mfull)):
            continue
        coefs, intercept = _refit(Mfull, y)
        if not np.all(np.isfinite(coefs)):
            continue
        # highest degree first, then by variable
        order = sorted(range(len(terms_e)),
                       key=lambda t: (-sum(terms_e[t]), tuple(-v for v in terms_e[t])))
        terms = [(float(coefs[t]), terms_e[t]) for t in order]
        try:
            tree = _poly_tree(build, terms, intercept)
        except _Disallowed:
            continue
        out.append(tree_to_expression(tree))
    return out


# ----------------------------------------------------------------------------
# everything
# ----------------------------------------------------------------------------

def structure_candidates(X, y, operators: Sequence[str] | None = None, *,
                         max_degree: int = 6, max_terms: int = 8) -> list[Expression]:
    """Candidates from all cheap structure tests that apply: the power law and
    the sparse polynomials of each total degree 2..``max_degree``, written only
    with ``operators`` (registry names or aliases; ``None``: any).
    De-duplicated; milliseconds for thousands of rows."""
    out: list[Expression] = []
    pl = power_law(X, y, operators=operators)
    if pl is not None:
        out.append(pl)
    # greedy term selection can be led astray by a large library on few rows
    # (Nguyen-12 on 20 points picks x0**5 over x0**4 - x0**3 at degree 6), so
    # every degree up to max_degree gets its own pass: milliseconds each
    for degree in range(2, max_degree + 1):
        out.extend(sparse_polynomial(X, y, degree, max_terms, operators=operators))
    seen = set()
    unique = []
    for e in out:
        k = e.key(constants=True, digits=12)
        if k not in seen:
            seen.add(k)
            unique.append(e)
    return unique
