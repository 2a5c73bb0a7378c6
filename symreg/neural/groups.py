"""Dimensionless groups read off trained networks: ``y = M(x) · f(g(x))``.

Physical laws are often a power-law prefactor ``M`` times a function of one
group ``g``, a product of integer powers of the inputs: ``n μ tanh(μB/(kT))``,
``I₀ (exp(qV/(kT)) - 1)``, ``n₀ / (exp(μB/(kT)) + exp(-μB/(kT)))``. The whole law
is hard to find (its size is the group written twice, plus the prefactor), but
``f`` alone is a function of one variable that a short search finds at once.

A network trained on ``log|x|`` features (LIES) learns the group as the weight
vector of a unit: an ``exp`` unit whose argument is ``Σ b_j log|x_j|`` computes
``∏ x_j^b_j``, a ``sin`` or ``log`` unit of such a sum is a function of it. The
network's exponents are smeared (``1.26, 1.27, -1.27, -1.26``) and their scale
is arbitrary, so :func:`snap_group` divides by one of them and rounds; then
:func:`find_reductions` keeps a group only when the data say that ``log|y|`` is
a power law plus a smooth function of ``log g`` (a linear least-squares fit with
a polynomial basis in ``log g``) far better than a power law alone, and reads
the integer prefactor ``M`` from the same fit. The regressor then searches ``f``
on ``(g, y/M)`` and multiplies back (:meth:`Reduction.compose`).

Numpy only; nothing raises on data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import loglinear
from ..expression import Expression
from ..tree import TreeBuilder, expression_to_tree, integer_power, tree_to_expression

__all__ = ["Reduction", "find_reductions", "snap_group"]

#: degree of the polynomial in the standardised ``log g`` that stands for ``log|f|``
_DEGREE = 9
# the group monomials are written with the search's spelling, whatever the operator set
_EVERY_OPERATOR = TreeBuilder(None)


@dataclass(frozen=True)
class Reduction:
    """``y = M · f(g)`` with ``M = ∏ x_j^prefactor[j]`` and ``g = ∏ x_j^group[j]``.

    Attributes
    ----------
    prefactor, group : tuple of int
        Integer exponents, one per column of ``X``.
    nmse : float
        Normalised residual of ``log|y|`` in the screening fit (smaller is better).
    """

    prefactor: tuple[int, ...]
    group: tuple[int, ...]
    nmse: float

    def reduce(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The reduced problem: the columns ``g`` and ``1/g``, and ``y / M``.

        Both orientations, because the sign of a group is arbitrary and ``f`` is
        often small in only one of them: ``1/(exp(g) + exp(-g))`` has 7 tokens,
        the same function of ``1/g`` has 9.
        """
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            g = _power_product(X, self.group)
            z = np.asarray(y, dtype=np.float64) / _power_product(X, self.prefactor)
            return np.stack([g, 1.0 / g], axis=1), z

    def compose(self, f: Expression) -> Expression:
        """``M · f(g, 1/g)`` for a formula ``f`` in ``x0 = g`` and ``x1 = 1/g``."""
        inverse = tuple(-p for p in self.group)

        def substitute(node):
            if node == "x0":
                return _monomial_tree(self.group)
            if node == "x1":
                return _monomial_tree(inverse)
            if isinstance(node, tuple):
                return (node[0], *(substitute(c) for c in node[1:]))
            return node

        body = substitute(expression_to_tree(f.with_names(None)))
        if any(self.prefactor):
            body = ("mul", _monomial_tree(self.prefactor), body)
        return tree_to_expression(body)


def _power_product(X: np.ndarray, powers: Sequence[int]) -> np.ndarray:
    out = np.ones(X.shape[0])
    for j, p in enumerate(powers):
        if p:
            out = out * X[:, j] ** float(p)
    return out


def _monomial_tree(powers: Sequence[int]):
    """``∏ x_j^p_j`` as a tree: numerator over denominator, each power spelt
    with ``square``, ``cube`` and ``mul`` (the search's own spelling)."""
    def power(j: int, p: int):
        return integer_power(f"x{j}", p)

    product = _EVERY_OPERATOR.product

    num = [power(j, p) for j, p in enumerate(powers) if p > 0]
    den = [power(j, -p) for j, p in enumerate(powers) if p < 0]
    if not den:
        return product(num) if num else 1.0
    return ("div", product(num) if num else 1.0, product(den))


def snap_group(exponents: Sequence[float], *, tol: float = 0.15, max_power: int = 3
               ) -> tuple[int, ...] | None:
    """Integer exponents proportional to ``exponents``, or ``None``.

    The scale of a group is free (``f`` absorbs it), so the vector is divided by
    each of its larger entries in turn (times 1 or 2, for half-powers) and
    rounded; the candidate with the smallest total power whose entries all lie
    within ``tol`` of the integers wins. The sign is normalised so that the
    first nonzero exponent is positive. A group of fewer than two variables is
    ``None``: a function of one variable is the search's everyday work.
    """
    e = np.asarray(exponents, dtype=np.float64)
    if e.size == 0 or not np.all(np.isfinite(e)):
        return None
    top = float(np.max(np.abs(e)))
    if top == 0.0:
        return None
    best = None
    for j in np.flatnonzero(np.abs(e) >= 0.2 * top):
        for k in (1, 2):
            w = e / abs(e[j]) * k
            r = np.round(w)
            if np.max(np.abs(w - r)) > tol or np.max(np.abs(r)) > max_power:
                continue
            if np.count_nonzero(r) < 2:
                continue
            if best is None or np.abs(r).sum() < np.abs(best).sum():
                best = r
    if best is None:
        return None
    first = best[np.flatnonzero(best)[0]]
    return tuple(int(v) for v in (best if first > 0 else -best))


def _design(L: np.ndarray, u: np.ndarray | None) -> np.ndarray:
    """Columns ``log|x_j|`` and, given ``u = log g``, Chebyshev polynomials
    of degree 1…_DEGREE in ``u`` scaled to ``[-1, 1]`` (the intercept is
    :func:`symreg.loglinear.fit`'s)."""
    cols = [*L.T]
    if u is not None:
        lo, hi = float(np.min(u)), float(np.max(u))
        s = (2.0 * u - (lo + hi)) / (hi - lo)
        cols += list(np.polynomial.chebyshev.chebvander(s, _DEGREE)[:, 1:].T)
    return np.stack(cols, axis=1) if cols else np.empty((L.shape[0], 0))


def _residual(F: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared residual and coefficients (intercept first) of the log-linear
    fit of ``t`` on the columns ``F``."""
    coef, r = loglinear.fit(F, t)
    return float(np.mean(r * r)), coef


def _prefactor(a: np.ndarray, group: np.ndarray, tol: float = 0.2) -> tuple[int, ...] | None:
    """Integer prefactor exponents from the fit's ``a``: only ``a + t·group`` is
    determined (``f`` absorbs any power of ``g``), so every shift that zeroes one
    of the group's entries is tried, and the integer vector of least total power
    among those within ``tol`` of ``a + t·group`` wins."""
    shifts = [0.0] + [-a[j] / group[j] for j in np.flatnonzero(group)]
    best = None
    for t in shifts:
        r = loglinear.integer_vector(a + t * group, tol)
        if r is not None and (best is None or np.abs(r).sum() < np.abs(best).sum()):
            best = r
    return None if best is None else tuple(int(v) for v in best)


def find_reductions(X: np.ndarray, y: np.ndarray, exponent_vectors: Iterable[Sequence[float]],
                    *, max_reductions: int = 2, gain: float = 1e-3, max_nmse: float = 1e-4
                    ) -> list[Reduction]:
    """The groups among ``exponent_vectors`` that the data support, best first.

    Parameters
    ----------
    X, y : arrays
        The data. ``y`` must be one-signed and nonzero and the group's columns
        nonzero; otherwise there is nothing to test and the list is empty.
    exponent_vectors : iterable of sequences of float
        Candidate groups, e.g. a network's learned weights on ``log|x_j|``;
        each is snapped with :func:`snap_group`.
    max_reductions : int
        Most reductions returned.
    gain, max_nmse : float
        A group is kept when ``log|y|`` as a power law plus a polynomial in
        ``log g`` leaves a normalised residual below ``max_nmse`` and below
        ``gain`` times that of a power law alone.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or len(y) != X.shape[0] or len(y) < 4 * (X.shape[1] + _DEGREE):
        return []
    if not loglinear.one_signed(y):
        return []
    # columns without zeros and finite: their log|x_j| can enter the fit
    usable = np.zeros(X.shape[1], dtype=bool)
    usable[loglinear.usable_columns(X, spread="none")] = True
    L = np.where(usable, loglinear.log_abs(np.where(usable, X, 1.0)), 0.0)
    t = loglinear.log_abs(y)
    var = float(np.var(t))
    if not np.all(np.isfinite(t)) or var <= 0:
        return []
    base, _ = _residual(_design(L[:, usable], None), t)
    seen: set[tuple[int, ...]] = set()
    found: list[Reduction] = []
    for vec in exponent_vectors:
        group = snap_group(vec)
        if group is None or group in seen:
            continue
        seen.add(group)
        b = np.asarray(group, dtype=np.float64)
        if np.any((b != 0) & ~usable):
            continue
        u = L @ b
        if np.ptp(u) <= 0:
            continue
        nmse, coef = _residual(_design(L, u), t)
        nmse /= var
        if not (nmse < max_nmse and nmse < gain * base / var):
            continue
        pre = _prefactor(coef[1:1 + X.shape[1]], b)
        if pre is None:
            continue
        found.append(Reduction(pre, group, nmse))
    found.sort(key=lambda r: r.nmse)
    return found[:max_reductions]
