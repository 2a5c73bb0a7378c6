"""Tests of the search's polish phase: stray terms dropped, constants snapped, the
mean at the head of the front (symreg.search.engine)."""

from __future__ import annotations

import numpy as np

from symreg.constants import fit_constants
from symreg.expression import Expression
from symreg.pareto import select_model
from symreg.search.engine import SearchConfig, _Search


def _noisy_product(seed: int = 0, n: int = 1000):
    rng = np.random.default_rng(seed)
    X = rng.uniform(1, 5, size=(n, 2))
    y = X[:, 0] * X[:, 1] / (2 * np.pi)
    return X, y + rng.normal(0, 0.01 * np.std(y), size=n)


def test_the_mean_heads_the_front():
    X, y = _noisy_product()
    search = _Search(X, y, SearchConfig(operators=("add", "mul"), time_budget=10), None, None)
    [first] = search.hof.front()
    assert first.expr.tokens == ("C",) and first.complexity == 1
    assert np.isclose(first.expr.constants[0], y.mean())
    assert np.isclose(first.loss, y.var())


def test_polish_drops_a_stray_offset_and_snaps_the_law_on_noisy_data():
    X, y = _noisy_product()
    search = _Search(X, y, SearchConfig(operators=("add", "sub", "mul", "div"), time_budget=30),
                     None, None)
    # what the search leaves on this sample: the law plus the offset of linear
    # scaling, which the noise keeps at |t| ≈ 2.6 (the AIC would keep it)
    [fitted], [loss] = fit_constants([Expression.parse("0.159*(x0*x1) - 0.0006")], X, y)
    search.hof.update([fitted], [loss])
    search._polish_phase()
    front = search.hof.front()
    chosen = front[select_model([c.loss for c in front], [c.complexity for c in front],
                                "best", search.hof.loss_floor)].expr
    assert chosen.tokens == ("mul", "C", "mul", "x0", "x1")
    assert chosen.constants[0] == 1 / (2 * np.pi)   # snapped


def test_polish_drops_a_term_that_is_zero_on_the_data_from_an_exact_formula():
    # III.14.14 once ended as x0·exp(x1) − x0 + x0/(x0 + exp(−46·x1)) − 1: exact,
    # because the last two terms cancel to round-off on the data
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 5, size=(500, 2))
    y = X[:, 0] * (np.exp(X[:, 1]) - 1)
    search = _Search(X, y, SearchConfig(operators=("add", "sub", "mul", "div", "exp", "neg"),
                                        time_budget=30), None, None)
    padded = Expression.parse("x0*exp(x1) - x0 + x0/(x0 + exp(-46*x1)) - 1")
    [fitted], [loss] = fit_constants([padded], X, y)
    search.hof.update([fitted], [loss])
    assert search._exact()
    search._polish_phase()
    exact = [c for c in search.hof.front() if c.loss <= search.hof.loss_floor]
    assert min(c.complexity for c in exact) < padded.complexity
    assert "exp" in min(exact, key=lambda c: c.complexity).expr.tokens
