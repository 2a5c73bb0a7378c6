"""The toolkit every structure test uses: data preparation, term libraries,
sparse subset selection, refits and writing models as trees.

A structure test (:mod:`symreg.search.structure`) follows one recipe: clean the
data (:func:`prepared`), build a library of candidate terms as columns
(:func:`monomial_columns`, :func:`laurent_library`, or the test's own),
normalise them (:func:`unit_columns`), choose sparse subsets
(:func:`select_subsets` over a :class:`Gram` matrix), refit each subset on all
rows (:func:`refit`) and write the model with the allowed operators
(:func:`sum_tree`, :func:`term_node`, :func:`poly_tree`, a
:class:`~symreg.tree.TreeBuilder`). This module holds those steps; a test adds
only what is its own (its transform, library or read-back).

Numpy only; nothing raises on data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from ...expression import Expression
from ...pareto import ROUNDOFF_RTOL, exact_floor
from ...tree import Disallowed, TreeBuilder

__all__ = [
    "Gram", "clean", "laurent_library", "library_degree", "monomial_columns",
    "monomial_exponents", "monomial_tree", "monomial_values", "monomials_direct", "poly_tree",
    "prepared", "refit", "scaled", "select_subsets", "sum_tree", "term_node", "unique",
    "unit_columns",
]

#: the integer and half powers of one variable in a Laurent monomial
LAURENT_POWERS = (Fraction(-2), Fraction(-1), Fraction(-1, 2), Fraction(1, 2), Fraction(1),
                  Fraction(2), Fraction(3))
#: fewest finite rows for a library fit
MIN_ROWS = 8
#: a normalised column whose centred norm is below this is constant
CONSTANT_COLUMN = 1e-12
#: a subset whose residual is below this share of the target's sum of squares is an
#: exact fit: the forward selection stops there
EXACT_SUBSET = 1e-13


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------

def clean(X, y) -> tuple[np.ndarray, np.ndarray] | None:
    """``X`` (2-d) and ``y`` as float arrays without their non-finite rows, or
    ``None`` when the shapes disagree or fewer than three rows remain."""
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


def prepared(X, y, operators: Sequence[str] | None, *needed: str
             ) -> tuple[np.ndarray, np.ndarray, TreeBuilder] | None:
    """Cleaned data and the operator builder for a library fit, or ``None``
    when there are no variables, fewer than :data:`MIN_ROWS` finite rows, or
    one of the ``needed`` operators is not allowed."""
    data = clean(X, y)
    if data is None:
        return None
    X, y = data
    build = TreeBuilder(operators)
    if X.shape[1] == 0 or X.shape[0] < MIN_ROWS or not build.ok(*needed):
        return None
    return X, y, build


def unit_columns(M: np.ndarray, rows: np.ndarray | None = None,
                 usable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The library's columns centred and scaled to unit norm on ``rows`` (all
    when ``None``), for the subset selection; returns them and the indices
    of the columns kept: finite on every row, not constant on ``rows``, and
    ``usable`` (a boolean mask) where given."""
    Ms = M if rows is None else M[rows]
    with np.errstate(all="ignore"):
        Mc = Ms - Ms.mean(axis=0)
        norms = np.sqrt(np.sum(Mc * Mc, axis=0))
        ok = np.all(np.isfinite(M), axis=0) & np.isfinite(norms) & (norms > CONSTANT_COLUMN)
    if usable is not None:
        ok &= usable
    keep = np.nonzero(ok)[0]
    return Mc[:, keep] / norms[keep], keep


# ----------------------------------------------------------------------------
# term libraries
# ----------------------------------------------------------------------------

def library_degree(d: int, max_degree: int, max_library: int) -> int:
    """The highest total degree ``<= max_degree`` whose monomial library in ``d``
    variables has at most ``max_library`` terms (at least 1)."""
    deg = max(1, max_degree)
    while deg > 1 and math.comb(d + deg, deg) - 1 > max_library:
        deg -= 1
    return deg


def monomial_exponents(d: int, degree: int) -> list[tuple[int, ...]]:
    """Exponent tuples of all monomials of total degree 1..degree."""
    out = []
    for total in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(d), total):
            e = [0] * d
            for j in combo:
                e[j] += 1
            out.append(tuple(e))
    return out


def monomial_columns(X: np.ndarray, exps: list[tuple[int, ...]]) -> np.ndarray:
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


def monomials_direct(X: np.ndarray, exps: list[tuple[int, ...]]) -> np.ndarray:
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


def laurent_library(X: np.ndarray, max_factors: int, max_columns: int, with_logs: bool,
                    max_degree: int = 4, max_wide: int = 600) -> tuple[list, np.ndarray]:
    """Laurent monomials of up to ``max_factors`` variables as columns, with their
    exponents ``{var: power}`` (powers from :data:`LAURENT_POWERS`) and total
    degree (sum of |powers|) at most ``max_degree``, then up to ``max_wide``
    monomials of more variables with powers ±1; plus ``log|x_j|`` columns (key
    ``("log", j)``). Returns the keys and the columns."""
    n, d = X.shape
    positive = [bool(np.all(X[:, j] > 0)) for j in range(d)]
    nonzero = [bool(np.all(X[:, j] != 0)) for j in range(d)]

    def allowed(j: int, p: Fraction) -> bool:
        if p.denominator != 1:
            return positive[j]
        return p > 0 or nonzero[j]

    def monomials(k: int) -> list[dict]:
        out = []
        for vars_ in itertools.combinations(range(d), k):
            for powers in itertools.product(LAURENT_POWERS, repeat=k):
                if sum(abs(p) for p in powers) <= max_degree and all(
                        allowed(j, p) for j, p in zip(vars_, powers)):
                    out.append(dict(zip(vars_, powers)))
        return out

    # terms of one, two, ... variables while the library stays within max_columns
    terms: list[dict] = []
    included = 0
    for factors in range(1, min(max_factors, d) + 1):
        more = monomials(factors)
        if terms and len(terms) + len(more) + d > max_columns:
            break
        terms += more
        included = factors
    # "wide" monomials: more variables than above, each to the power ±1 (a
    # Boltzmann factor m*g*x/(k*T), a Coulomb term q/(eps*r*c)), while they stay few
    usable = [j for j in range(d) if nonzero[j]]
    wide: list[dict] = []
    for k in range(included + 1, len(usable) + 1):
        count = len(wide) + math.comb(len(usable), k) * 2**k
        if count > max_wide:
            break
        for vars_ in itertools.combinations(usable, k):
            for signs in itertools.product((Fraction(-1), Fraction(1)), repeat=k):
                wide.append(dict(zip(vars_, signs)))
    terms += wide
    keys: list = list(terms)
    cols = []
    with np.errstate(all="ignore"):
        cols += [monomial_values(X, t) for t in terms]
        if with_logs:
            for j in range(d):
                if nonzero[j]:
                    keys.append(("log", j))
                    cols.append(np.log(np.abs(X[:, j])))
    if not cols:
        return [], np.zeros((n, 0))
    return keys, np.stack(cols, axis=1)


def monomial_values(X: np.ndarray, key: dict) -> np.ndarray:
    """The monomial ``{var: power}`` on the rows of ``X`` (half powers through √)."""
    out = np.ones(X.shape[0])
    for j, p in key.items():
        p = Fraction(p)
        out = out * (X[:, j] ** float(p) if p.denominator == 1 else np.sqrt(X[:, j]) ** p.numerator)
    return out


# ----------------------------------------------------------------------------
# sparse selection and refits
# ----------------------------------------------------------------------------

class Gram:
    """Subset least squares on normalised, centred columns via the Gram matrix."""

    def __init__(self, A: np.ndarray, yc: np.ndarray):
        self.G = A.T @ A
        self.b = A.T @ yc
        self.yy = float(yc @ yc)

    def rss(self, S: list[int]) -> float:
        """The residual sum of squares of the fit on the columns ``S``."""
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


def select_subsets(A: np.ndarray, yc: np.ndarray, max_terms: int) -> list[list[int]]:
    """Forward selection with swap refinement: the best subset found of each
    size 1..max_terms (stops early at an exact fit); then backward elimination
    from the largest, whose subsets join the list where they beat the forward
    one of their size.

    Why both: a greedy first pick can be a column that the law does not hold
    but that correlates with all its terms (``x0²·√(x1·x3)`` for
    ``x0²(x1² + x2² + x3²)``); the forward path then reaches an exact fit only
    with that column and a spare one on board, and the law's own three-term
    subset is met on the way back down."""
    g = Gram(A, yc)
    if g.yy <= 0:
        return []
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
        if rss <= EXACT_SUBSET * g.yy:
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


def refit(M: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Least squares of y on the columns of M, with an intercept unless
    dropping it costs less than the AIC allowance of one parameter (or leaves
    the residual at round-off); returns the coefficients and the intercept
    (``None`` when dropped)."""
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
        floor = n * exact_floor(y, rtol=ROUNDOFF_RTOL, centred=False)
    if rss0 <= rss1 * (1.0 + 2.0 / n) + floor:
        return c0 / scale, None
    return c1[1:] / scale, float(c1[0])


# ----------------------------------------------------------------------------
# writing models as trees
# ----------------------------------------------------------------------------

def monomial_tree(build: TreeBuilder, num: list, den: list):
    """The products of the numerator and denominator factors, ``(N, D)``;
    either is ``None`` when it has no factor (combined by :func:`scaled`)."""
    N = build.product(num) if num else None
    D = build.product(den) if den else None
    return (N, D)


def scaled(build: TreeBuilder, c: float, body) -> object:
    """``c * N / D`` with the allowed operators, for ``body = (N, D)``."""
    N, D = body
    if D is None:
        return build("mul", c, N) if N is not None else c
    if build.ok("div"):
        return build("div", build("mul", c, N) if N is not None else c, D)
    if build.ok("inv"):
        inv = ("inv", D)
        return build("mul", c, build("mul", N, inv) if N is not None else inv)
    raise Disallowed("div")


def sum_tree(build: TreeBuilder, terms: list[tuple[float, object]], intercept: float | None):
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


def poly_tree(build: TreeBuilder, terms: list[tuple[float, tuple[int, ...]]],
              intercept: float | None):
    """``Σ c_j m_j (+ c0)`` as a tuple tree for monomials given as exponent
    tuples; terms in the given order."""
    nodes = []
    for coef, e in terms:
        factors = []
        for j, p in enumerate(e):
            if p:
                x = f"x{j}"
                factors.append(x if p == 1 else build.power(x, Fraction(p)))
        nodes.append((coef, build.product(factors)))
    return sum_tree(build, nodes, intercept)


def term_node(build: TreeBuilder, key, X: np.ndarray):
    """The tree of one :func:`laurent_library` term: a monomial ``{var: power}``
    (a ratio when it has negative powers) or ``("log", j)``."""
    if isinstance(key, tuple):  # ("log", j)
        j = key[1]
        x = f"x{j}"
        return build("log", x if np.all(X[:, j] > 0) else build("abs", x))
    num, den = [], []
    for j, p in sorted(key.items()):
        x = f"x{j}"
        node = x if abs(p) == 1 else build.power(x, abs(p))
        (num if p > 0 else den).append(node)
    N, D = monomial_tree(build, num, den)
    if D is None:
        return N
    if build.ok("div"):
        return build("div", N if N is not None else 1.0, D)
    inv = build("inv", D)
    return inv if N is None else build("mul", N, inv)


def unique(exprs: Sequence[Expression]) -> list[Expression]:
    """``exprs`` without repeats (same tokens and constants to 12 digits), in order."""
    seen = set()
    out = []
    for e in exprs:
        k = e.key(constants=True, digits=12)
        if k not in seen:
            seen.add(k)
            out.append(e)
    return out
