"""Dimensionless groups: snapping, screening, composing, and the regressor's use of them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symreg import SymbolicRegressor
from symreg.expression import Expression
from symreg.neural.groups import Reduction, find_reductions, snap_group
from symreg.neural.lies import LIESConfig, LIESNet, _features, group_weights
from symreg.neural.proposer import Proposer
from symreg.operators import DEFAULT_OPERATORS
from symreg.plan import search_reductions
from symreg.search.engine import SearchConfig


def _data(n=600, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(1.0, 4.0, size=(n, d))


@pytest.mark.parametrize(("vec", "want"), [
    ((0.0, 1.26, 1.27, -1.27, -1.25), (0, 1, 1, -1, -1)),    # smeared, scale 1.26
    ((-0.5, -0.49, 0.51), (1, 1, -1)),                      # sign made positive first
    ((0.5, 1.0, 0.0), (1, 2, 0)),                           # a half-power
])
def test_snap_group(vec, want):
    assert snap_group(vec) == want


@pytest.mark.parametrize("vec", [(1.0, 0.0, 0.01), (1.0, 0.37, 0.0), (0.0, 0.0), (np.nan, 1.0)])
def test_snap_group_refuses(vec):
    # one variable, no integer ratio, nothing, or not finite
    assert snap_group(vec) is None


def test_find_reductions_keeps_the_true_group_only():
    X = _data()
    g = X[:, 1] * X[:, 2] / X[:, 3]
    y = X[:, 0] * np.tanh(g / 2)
    wrong = (0.0, 1.0, -1.0, 1.0)
    found = find_reductions(X, y, [wrong, (0.0, 1.3, 1.29, -1.31)])
    assert [r.group for r in found] == [(0, 1, 1, -1)]
    assert found[0].prefactor == (1, 0, 0, 0)
    assert found[0].nmse < 1e-6


def test_find_reductions_ignores_a_power_law_and_two_signed_targets():
    X = _data()
    # a power law needs no group: the group's polynomial cannot beat it by 1000x
    assert find_reductions(X, X[:, 0] * X[:, 1] ** 2, [(1.0, 1.0, 0.0, 0.0)]) == []
    y = np.sin(X[:, 0] * X[:, 1])
    assert find_reductions(X, y, [(1.0, 1.0, 0.0, 0.0)]) == []


def test_compose_substitutes_the_group_and_its_inverse():
    X = _data()
    red = Reduction(prefactor=(1, 0, 0, 0), group=(0, 1, 1, -1), nmse=0.0)
    G, z = red.reduce(X, X[:, 0] * 2.0)
    np.testing.assert_allclose(G[:, 0] * G[:, 1], 1.0)
    np.testing.assert_allclose(z, 2.0)
    f = Expression.parse("exp(x0) - x1")
    g = X[:, 1] * X[:, 2] / X[:, 3]
    np.testing.assert_allclose(red.compose(f).evaluate(X), X[:, 0] * (np.exp(g) - 1 / g), rtol=1e-12)


def test_group_weights_reads_the_log_feature_weights_as_exponents():
    X = _data(d=3)
    feats = _features(X, True)
    net = LIESNet(feats.F.shape[1], ["exp"], 1, LIESConfig(), torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.weights[0].zero_()
        # feature k of a log column is (log|x_j| - m)/sd: weight sd * p means x_j^p
        for k, base in enumerate(feats.bases):
            if isinstance(base, tuple) and base[0] == "log":
                j = int(base[1][1:])
                net.weights[0][0, k] = (1.0, 2.0, -1.0)[j] / feats.a[k]
    (vec,) = group_weights(net, feats, 3)
    np.testing.assert_allclose(vec, [1.0, 2.0, -1.0])


class _KnowsTheGroup(Proposer):
    """A stand-in proposer whose network 'learned' the group of the test law."""

    name = "knows-group"

    def propose(self, X, y, *, n=32, time_budget=10.0, seed=0, operators=None, variable_names=None):
        self.reductions_ = find_reductions(X, y, [(0.0, 1.21, 1.2, -1.22)])
        return []


def test_regressor_searches_the_reduced_problem():
    X = _data()
    g = X[:, 1] * X[:, 2] / X[:, 3]
    y = X[:, 0] / (np.exp(g) + np.exp(-g))
    prop = _KnowsTheGroup()
    prop.propose(X, y)
    # bounded by evaluations, not the clock: the reduced search gets 12% of the fit's
    # max_evals, and its enumeration (a quarter of that) must reach 1/(exp(x0) + 1/exp(x0))
    config = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=300, max_evals=10_000_000,
                          seed=0)
    exprs, exact, interrupted = search_reductions(prop.reductions_, X, y, None, config)
    assert exact and not interrupted
    best = min(exprs, key=lambda e: np.nanmean((e.evaluate(X) - y) ** 2)
               if np.all(np.isfinite(e.evaluate(X))) else np.inf)
    assert np.max(np.abs(best.evaluate(X) - y)) < 1e-9 * np.max(np.abs(y))


def test_regressor_with_a_group_proposer_finds_the_law():
    X = _data()
    g = X[:, 1] * X[:, 2] / X[:, 3]
    y = X[:, 0] * np.tanh(g)
    # max_evals bounds the work (deterministic); the time budget is only a ceiling, set so
    # far off that a loaded machine never reaches it (its reduced searches get 12 % of it)
    model = SymbolicRegressor(time_budget=3000, max_evals=20_000, random_state=0,
                              proposers=[_KnowsTheGroup()], n_jobs=1)
    model.fit(X, y)
    assert model.n_proposals_ > 0  # the first search was not exact: the group's search ran
    assert np.max(np.abs(model.predict(X) - y)) < 1e-8 * np.max(np.abs(y))


def test_lies_leaves_the_group_it_learned_in_reductions_():
    from symreg.neural import LIESProposer

    X = _data(d=4, seed=1)
    g = X[:, 1] * X[:, 2] / X[:, 3]
    y = X[:, 0] * (np.exp(g / 2) - 1)
    prop = LIESProposer()
    prop.propose(X, y, time_budget=6.0, seed=0)
    assert [(r.prefactor, r.group) for r in prop.reductions_][:1] == [((1, 0, 0, 0), (0, 1, 1, -1))]
