"""Sparse ratios P/Q (symreg.search.structure.rational), sums with sines and cosines
(symreg.search.structure.trig) and the subset selection they share."""

from __future__ import annotations

import numpy as np
import pytest

from symreg.constants import fit_constants
from symreg.search.structure import rational_candidates, transformed_candidates, trig_candidates


def _best_nmse(cands, X, y):
    if not cands:
        return np.inf, None
    fitted, losses = fit_constants(cands, X, y, linear_scaling=True, n_restarts=0)
    i = int(np.argmin(losses))
    return float(losses[i] / np.var(y)), fitted[i]


def _exact_fits(cands, X, y):
    """The candidates that fit ``y`` to round-off once their constants are fitted."""
    fitted, losses = fit_constants(cands, X, y, linear_scaling=True, n_restarts=0)
    return [f for f, loss in zip(fitted, losses) if loss <= 1e-20 * np.var(y)]


def _survives_awkward_data(make, X, y, bad_value):
    """``make`` returns [] on no rows and a list (never raises) on constant
    columns and on a target with ``bad_value`` in it."""
    assert make(np.zeros((0, 2)), np.zeros(0)) == []
    assert isinstance(make(np.ones((50, 3)), np.ones(50)), list)
    y_bad = y.copy()
    y_bad[:5] = bad_value
    assert isinstance(make(X, y_bad), list)


@pytest.mark.parametrize("law, ranges", [
    # a weighted mean (Feynman I.18.4): no single term explains much of y·m1
    (lambda x: (x[:, 0] * x[:, 2] + x[:, 1] * x[:, 3]) / (x[:, 0] + x[:, 1]), [(1, 5)] * 4),
    # relativistic velocity addition (Feynman I.16.6): the denominator's term is c²
    (lambda x: (x[:, 1] + x[:, 2]) / (1 + x[:, 1] * x[:, 2] / x[:, 0] ** 2), [(1, 5)] * 3),
    # Clausius–Mossotti (Feynman II.11.28)
    (lambda x: 1 + x[:, 0] * x[:, 1] / (1 - x[:, 0] * x[:, 1] / 3), [(0, 1)] * 2),
])
def test_ratios_are_found_exactly(law, ranges):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(lo, hi, 500) for lo, hi in ranges])
    nmse, best = _best_nmse(rational_candidates(X, law(X)), X, law(X))
    assert nmse < 1e-20, best


def test_ratios_respect_operators_and_awkward_data():
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 2, size=(200, 2))
    y = X[:, 0] / (X[:, 0] + X[:, 1])
    assert rational_candidates(X, y, ["add", "sub", "mul"]) == []
    for e in rational_candidates(X, y, ["add", "mul", "div"]):
        assert set(e.tokens) <= {"add", "mul", "div", "x0", "x1", "C"}
    _survives_awkward_data(rational_candidates, X, y, np.nan)


def test_backward_elimination_recovers_a_subset_that_greedy_passes_by():
    # y² = x0²(x1² + x2² + x3²): forward selection starts with x0²·√(x1·x3),
    # which correlates with all three terms, and reaches an exact fit only at
    # five columns; the way back down meets the law's three
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 5, size=(1000, 4))
    y = X[:, 0] * np.sqrt(X[:, 1] ** 2 + X[:, 2] ** 2 + X[:, 3] ** 2)
    exact = _exact_fits(transformed_candidates(X, y), X, y)
    assert exact and min(f.complexity for f in exact) <= 30


@pytest.mark.parametrize("law, ranges", [
    # interference (Feynman I.37.4): the plain part is chosen anew around the cosine
    (lambda x: x[:, 0] + x[:, 1] + 2 * np.sqrt(x[:, 0] * x[:, 1]) * np.cos(x[:, 2]),
     [(1, 5), (1, 5), (1, 5)]),
    # a driven oscillator (Feynman I.50.26): cos² of a product
    (lambda x: x[:, 0] * (np.cos(x[:, 1] * x[:, 2]) + x[:, 3] * np.cos(x[:, 1] * x[:, 2]) ** 2),
     [(1, 3)] * 4),
    # the law of cosines through y² (Feynman I.29.16): the cosine of a difference
    (lambda x: np.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2
                       - 2 * x[:, 0] * x[:, 1] * np.cos(x[:, 2] - x[:, 3])), [(1, 5)] * 4),
])
def test_trigonometric_sums_are_found_exactly_and_compactly(law, ranges):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(lo, hi, 1000) for lo, hi in ranges])
    y = law(X)
    exact = _exact_fits(trig_candidates(X, y), X, y)
    # round-off terms (1e-15·cos(x0 - x1)) are gone: the law fits maxsize
    assert exact and min(f.complexity for f in exact) <= 25, [str(f) for f in exact]


def test_trigonometric_sums_respect_operators_and_awkward_data():
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 2, size=(200, 2))
    y = X[:, 0] * np.cos(X[:, 1])
    assert trig_candidates(X, y, ["add", "sub", "mul", "div"]) == []
    for e in trig_candidates(X, y, ["add", "mul", "sin"]):
        assert set(e.tokens) <= {"add", "mul", "sin", "x0", "x1", "C"}
    _survives_awkward_data(trig_candidates, X, y, np.inf)
