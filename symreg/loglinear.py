"""Log-linear power-law fits: ``log|y| ≈ c + Σ a_j log|x_j|``.

A monomial law ``y = C·∏ x_j^a_j`` is a linear function in log space, so one
least-squares fit of ``log|y|`` on the ``log|x_j|`` finds its exponents. Three
places use that fit: the power-law structure test and the power-law factor of
the search (:mod:`symreg.search.structure`), and the prefactor of a
dimensionless group (:mod:`symreg.neural.groups`). This module holds the shared
part: which columns can enter (:func:`usable_columns`), the fit with an
intercept (:func:`fit`), and snapping fitted exponents to integers or simple
fractions (:func:`near_integers`, :func:`integer_vector`,
:func:`nice_exponents`).

Numpy and fractions only, so that both ``search`` and ``neural`` can import it;
nothing raises on data.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import numpy as np

__all__ = ["fit", "integer_vector", "log_abs", "near_integers", "nice_exponents",
           "one_signed", "usable_columns"]


def one_signed(y: np.ndarray) -> bool:
    """Whether ``y`` is nonzero with one sign on every row (``log|y|`` is then
    a faithful target)."""
    return bool(np.all(y > 0) or np.all(y < 0))


def log_abs(X: np.ndarray) -> np.ndarray:
    """``log|X|`` elementwise, without floating-point warnings."""
    with np.errstate(all="ignore"):
        return np.log(np.abs(X))


def usable_columns(X: np.ndarray, *, spread: Literal["none", "value", "log"] = "none"
                   ) -> list[int]:
    """The columns of ``X`` that can enter a log-linear fit.

    Parameters
    ----------
    X : array, shape (n, d)
        The inputs.
    spread : {"none", "value", "log"}
        Every kept column has no zeros, and in addition

        * ``"none"``: is finite (a column that merely does not vary is kept; the
          intercept absorbs it) — the group screening of :mod:`symreg.neural`;
        * ``"value"``: varies, ``ptp(x_j) > 0`` — the power-law factor;
        * ``"log"``: has a finite ``log|x_j|`` that varies beyond round-off,
          ``ptp > 1e-12·(1 + max|log|x_j||)`` — the power-law test.

    Returns
    -------
    list of int
        Indices of the usable columns, in order.
    """
    X = np.asarray(X, dtype=np.float64)
    out: list[int] = []
    with np.errstate(all="ignore"):
        for j in range(X.shape[1]):
            xj = X[:, j]
            if np.any(xj == 0):
                continue
            if spread == "none":
                ok = bool(np.all(np.isfinite(xj)))
            elif spread == "value":
                ok = bool(np.ptp(xj) > 0)
            else:
                lj = np.log(np.abs(xj))
                ok = bool(np.all(np.isfinite(lj))
                          and np.ptp(lj) > 1e-12 * (1.0 + np.max(np.abs(lj))))
            if ok:
                out.append(j)
    return out


def fit(F: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of ``t`` on an intercept and the columns of ``F``.

    Parameters
    ----------
    F : array, shape (n, k)
        The log columns (``k`` may be 0).
    t : array, shape (n,)
        The target, e.g. ``log|y|``.

    Returns
    -------
    coef : array, shape (k + 1,)
        The intercept first, then one coefficient (exponent) per column.
    residual : array, shape (n,)
        ``t`` minus the fit.
    """
    n = t.shape[0]
    with np.errstate(all="ignore"):
        A = np.concatenate([np.ones((n, 1)), F], axis=1)
        coef, *_ = np.linalg.lstsq(A, t, rcond=None)
        return coef, t - A @ coef


def near_integers(a, tol: float) -> dict[int, Fraction]:
    """``{i: round(a_i)}`` for the entries of ``a`` within ``tol`` of a nonzero
    integer (the others are left out)."""
    return {i: Fraction(round(v)) for i, v in enumerate(np.asarray(a, dtype=np.float64).tolist())
            if round(v) != 0 and abs(v - round(v)) <= tol}


def integer_vector(v: np.ndarray, tol: float) -> np.ndarray | None:
    """``round(v)`` when every entry of ``v`` lies within ``tol`` of it, else ``None``."""
    r = np.round(v)
    return r if np.max(np.abs(v - r)) <= tol else None


def nice_exponents(a: float) -> list[Fraction]:
    """The nearest integer, half and third to ``a``, nicest first, no repeats."""
    out: list[Fraction] = []
    for q in (1, 2, 3):
        f = Fraction(round(a * q), q)
        if f not in out:
            out.append(f)
    return out
