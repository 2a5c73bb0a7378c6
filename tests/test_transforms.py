"""Cheap structure through a transformed target (symreg.search.structure.transforms)."""

from __future__ import annotations

import numpy as np
import pytest

from symreg.constants import fit_constants
from symreg.search.structure import transformed_candidates


def _best_nmse(X, y, operators=None):
    cands = transformed_candidates(X, y, operators)
    if not cands:
        return np.inf, None
    fitted, losses = fit_constants(cands, X, y, linear_scaling=True, n_restarts=0)
    i = int(np.argmin(losses))
    return float(losses[i] / np.var(y)), fitted[i]


@pytest.mark.parametrize("law, ranges", [
    # 1/y is a sparse sum: lens / parallel resistors (Feynman I.27.6)
    (lambda x: 1 / (1 / x[:, 0] + x[:, 2] / x[:, 1]), [(1, 5)] * 3),
    # y² is a polynomial: a distance (Feynman I.8.14)
    (lambda x: np.sqrt((x[:, 1] - x[:, 0]) ** 2 + (x[:, 3] - x[:, 2]) ** 2), [(1, 5)] * 4),
    # log y is a sparse sum with log terms: a Gaussian density (Feynman I.6.2)
    (lambda x: np.exp(-(x[:, 1] / x[:, 0]) ** 2 / 2) / (np.sqrt(2 * np.pi) * x[:, 0]),
     [(1, 3)] * 2),
    # 1/y² is a two-term sum: a relativistic mass (Feynman I.10.7)
    (lambda x: x[:, 0] / np.sqrt(1 - x[:, 1] ** 2 / x[:, 2] ** 2), [(1, 5), (1, 2), (3, 10)]),
    # log y holds a product of five variables: a Boltzmann factor (Feynman I.40.1)
    (lambda x: x[:, 0] * np.exp(-x[:, 1] * x[:, 2] * x[:, 3] / (x[:, 4] * x[:, 5])),
     [(1, 3)] * 6),
    # log(1 + 1/y) is a monomial: Bose-Einstein occupation (Feynman III.4.32)
    (lambda x: 1 / (np.exp(x[:, 0] * x[:, 1] / (x[:, 2] * x[:, 3])) - 1), [(1, 5)] * 4),
    # log(1/y - 1) is a monomial: Fermi-Dirac occupation
    (lambda x: 1 / (np.exp(x[:, 0] / x[:, 1]) + 1), [(1, 5)] * 2),
])
def test_transformed_laws_are_found_exactly(law, ranges):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(lo, hi, 500) for lo, hi in ranges])
    nmse, best = _best_nmse(X, law(X))
    assert nmse < 1e-20, best


def test_transforms_respect_the_data_and_operators():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(200, 2))
    y = X[:, 0] * X[:, 1]  # zeros and both signs: no transform applies
    y[0] = 0.0
    assert transformed_candidates(X, y) == []
    Xp = rng.uniform(1, 2, size=(200, 2))
    yp = 1 / (Xp[:, 0] + Xp[:, 1])
    # without div/inv, sqrt or exp nothing can be written back
    assert transformed_candidates(Xp, yp, ["add", "sub", "mul"]) == []
    for e in transformed_candidates(Xp, yp, ["add", "mul", "div"]):
        assert set(e.tokens) <= {"add", "mul", "div", "sub", "x0", "x1", "C"}


def test_no_raise_on_awkward_data():
    assert transformed_candidates(np.zeros((0, 2)), np.zeros(0)) == []
    X = np.ones((50, 3))
    assert isinstance(transformed_candidates(X, np.ones(50)), list)
    X = np.random.default_rng(2).uniform(1, 2, size=(50, 1))
    with np.errstate(over="ignore"):
        y = np.exp(X[:, 0] * 800)  # overflows to inf in places
    assert isinstance(transformed_candidates(X, y), list)
