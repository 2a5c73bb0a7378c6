"""Cheap structure after dividing out a power law (symreg.search.structure.factored)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from symreg.constants import fit_constants
from symreg.search.structure import (
    factored_candidates,
    power_law_factor,
    rational_candidates,
    transformed_candidates,
)


def _exact(cands, X, y) -> bool:
    if not cands:
        return False
    _, losses = fit_constants(cands, X, y, linear_scaling=True, n_restarts=0)
    return bool(np.min(losses) <= 1e-20 * np.var(y))


LAWS = [
    # relativistic energy m c²/sqrt(1 - v²/c²) (Feynman I.48.2): 1/y² has terms of degree 6 and 10
    (lambda x: x[:, 0] * x[:, 2] ** 2 / np.sqrt(1 - x[:, 1] ** 2 / x[:, 2] ** 2),
     [(1, 5), (1, 2), (3, 10)]),
    # relativistic Doppler factor ω₀(1 + v/c)/sqrt(1 - v²/c²) (Feynman I.34.14): z² = (c + v)/(c - v)
    (lambda x: x[:, 2] * (1 + x[:, 1] / x[:, 0]) / np.sqrt(1 - x[:, 1] ** 2 / x[:, 0] ** 2),
     [(3, 10), (1, 2), (1, 5)]),
    # dipole field p z sqrt(x² + y²)/(ε r⁵) (Feynman II.6.15a), negated: z < 0
    (lambda x: -x[:, 0] * x[:, 1] * np.sqrt(x[:, 2] ** 2 + x[:, 3] ** 2) / x[:, 4] ** 5,
     [(1, 3)] * 5),
]


@pytest.mark.parametrize("law, ranges", LAWS)
def test_laws_behind_a_power_law_are_found_exactly(law, ranges):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(lo, hi, 500) for lo, hi in ranges])
    y = law(X)
    assert _exact(factored_candidates(X, y), X, y)
    # and the unfactored tests do not find them: this is what the factor adds
    assert not _exact(transformed_candidates(X, y) + rational_candidates(X, y), X, y)


def test_power_law_factor_keeps_only_near_integer_exponents():
    rng = np.random.default_rng(3)
    X = rng.uniform(1, 4, size=(400, 3))
    # x0² x1⁻¹ times a function of x2 that the log-linear fit sees as x2^~0.6
    y = X[:, 0] ** 2 / X[:, 1] * np.log1p(X[:, 2])
    assert power_law_factor(X, y) == {0: Fraction(2), 1: Fraction(-1)}
    assert power_law_factor(X, -y) == {0: Fraction(2), 1: Fraction(-1)}
    assert power_law_factor(X, y - np.median(y)) is None          # both signs
    assert power_law_factor(X, np.log1p(X[:, 2])) is None         # nothing near an integer


def test_factored_respects_operators_and_awkward_data():
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 2, size=(200, 3))
    y = X[:, 0] * X[:, 2] ** 2 / np.sqrt(1 - (X[:, 1] / X[:, 2]) ** 2 / 4)
    assert factored_candidates(X, y, ["add", "sub", "div"]) == []      # no mul
    for e in factored_candidates(X, y, ["add", "sub", "mul", "div"]):
        assert set(e.tokens) <= {"add", "sub", "mul", "div", "x0", "x1", "x2", "C"}
    assert factored_candidates(np.zeros((0, 2)), np.zeros(0)) == []
    assert factored_candidates(X, X[:, 0] * X[:, 1]) == []    # the power law is the whole law
    y_bad = y.copy()
    y_bad[:5] = np.nan
    assert isinstance(factored_candidates(X, y_bad), list)
    with np.errstate(all="ignore"):
        assert isinstance(factored_candidates(X, np.full(200, np.inf)), list)


def test_square_roots_of_ratios_are_split_when_both_sides_keep_one_sign():
    from symreg.search.structure.factored import _root
    from symreg.tree import TreeBuilder

    build = TreeBuilder(None)
    X = np.random.default_rng(4).uniform(1, 2, size=(50, 2))
    # (x0 + 3)/(x1 + 1): both sides positive
    assert _root(build, ("div", ("add", "x0", 3.0), ("add", "x1", 1.0)), X) == \
        ("div", ("sqrt", ("add", "x0", 3.0)), ("sqrt", ("add", "x1", 1.0)))
    # (-x0)/(-x1): both negative, negated
    assert _root(build, ("div", ("neg", "x0"), ("neg", "x1")), X) == \
        ("div", ("sqrt", ("mul", -1.0, ("neg", "x0"))), ("sqrt", ("mul", -1.0, ("neg", "x1"))))
    # (x0 - 1.5)/(x1 - 1.5): mixed signs, the root stays whole
    mixed = ("div", ("sub", "x0", 1.5), ("sub", "x1", 1.5))
    assert _root(build, mixed, X) == ("sqrt", mixed)
