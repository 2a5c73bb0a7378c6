"""Column screening (symreg.screening) and its hook in SymbolicRegressor.fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import symreg
from symreg import SymbolicRegressor
from symreg.datasets import load_problem
from symreg.expression import Expression
from symreg.pareto import HallOfFame
from symreg.screening import (
    DROPPED_COLUMNS,
    remap_expression,
    remap_hall_of_fame,
    restrict_expression,
    screen_features,
    select_columns,
)


def _wide(n: int, p: int, seed: int, law) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(1.0, 5.0, (n, p))
    return X, law(X)


def test_irrelevant_columns_are_dropped_and_relevant_kept():
    X, y = _wide(600, 20, 0, lambda X: X[:, 3] * X[:, 7] / X[:, 12] + np.sin(X[:, 7]))
    res = screen_features(X, y, seed=0)
    assert {3, 7, 12} <= set(res.kept)
    noise_dropped = set(res.dropped["index"]) - {3, 7, 12}
    assert len(noise_dropped) >= 12, res.scores  # of 17 (about 85 % expected)
    assert list(res.dropped.columns) == list(DROPPED_COLUMNS)
    assert set(res.dropped["reason"]) == {"below shadows"}
    assert sorted(res.kept + list(res.dropped["index"])) == list(range(20))


@pytest.mark.parametrize("name", ["I.9.18", "I.11.19", "I.32.17", "II.6.15a", "I.40.1"])
def test_no_feynman_column_dropped(name):
    prob = load_problem(name)
    s = prob.sample(500, seed=0)
    res = screen_features(s.X_train, s.y_train, seed=0)
    assert res.dropped.empty, res.scores
    assert res.kept == list(range(prob.n_variables))


@pytest.mark.parametrize("law", [lambda X: X[:, 0] * X[:, 1],
                                 lambda X: np.sin(3 * X[:, 0]) * X[:, 1]])
def test_a_column_acting_only_through_an_interaction_is_kept(law):
    # symmetric inputs: x0 alone (and x1 alone, for the product) tells nothing about y's mean
    rng = np.random.default_rng(1)
    X = rng.uniform(-1.0, 1.0, (800, 10))
    res = screen_features(X, law(X), seed=0)
    assert {0, 1} <= set(res.kept), res.scores
    assert len(res.kept) <= 5


def test_small_tables_and_few_columns_keep_everything():
    X, y = _wide(60, 12, 2, lambda X: X[:, 0] + X[:, 1])
    res = screen_features(X, y, seed=0)
    assert res.kept == list(range(12)) and res.dropped.empty and "rows" in res.note
    X, y = _wide(500, 3, 2, lambda X: X[:, 0])
    assert screen_features(X, y, seed=0).kept == [0, 1, 2]


def test_constant_columns_go_and_forced_columns_stay():
    X, y = _wide(400, 8, 3, lambda X: X[:, 0] * X[:, 1] + X[:, 2])
    X[:, 5] = 2.0
    res = screen_features(X, y, seed=0, keep=[6])
    assert 6 in res.kept and 5 not in res.kept
    assert res.dropped.set_index("index").at[5, "reason"] == "constant"


def test_screening_is_deterministic_and_ignores_zero_weight_rows():
    X, y = _wide(500, 10, 4, lambda X: X[:, 0] / X[:, 1] + X[:, 2])
    a = screen_features(X, y, seed=7)
    b = screen_features(X, y, seed=7)
    assert a.kept == b.kept
    pd.testing.assert_frame_equal(a.scores, b.scores)
    w = np.ones(len(y))
    w[:100] = 0.0
    X2 = X.copy()
    X2[100:, 4] = 1.0  # constant on the rows that count
    res = screen_features(X2, y, w, seed=7)
    assert {0, 1, 2} <= set(res.kept) and 4 not in res.kept


def test_remap_and_restrict_are_inverse():
    e = Expression.parse("x0*sin(x1) + 2.5", None)
    kept = [2, 5, 9]
    full = remap_expression(e, kept, [f"c{i}" for i in range(10)])
    assert full.variables == (2, 5)
    assert str(full) == "c2*sin(c5) + 2.5"
    X = np.random.default_rng(0).normal(size=(20, 10))
    assert np.allclose(full.evaluate(X), e.evaluate(X[:, kept]))
    assert restrict_expression(full, kept).tokens == e.tokens
    hof = HallOfFame(10)
    hof.update([e], [0.5])
    assert remap_hall_of_fame(hof, kept).candidates()[0].expr.variables == (2, 5)
    assert remap_hall_of_fame(hof, [0, 1]) is hof  # nothing moved


@pytest.mark.parametrize("bad", ["sometimes", 3, ["nope"], [11]])
def test_feature_selection_is_validated(bad):
    X, y = _wide(50, 4, 5, lambda X: X[:, 0])
    with pytest.raises(ValueError, match="feature_selection"):
        SymbolicRegressor(feature_selection=bad, time_budget=1.0).fit(X, y)


def test_select_columns_options():
    X, y = _wide(500, 12, 6, lambda X: X[:, 0] * X[:, 1])
    names = [f"c{i}" for i in range(12)]
    assert select_columns(None, X, y, None, names, 0).kept == list(range(12))
    assert select_columns(False, X, y, None, names, 0).kept == list(range(12))
    auto = select_columns("auto", X, y, None, names, 0).kept
    assert {0, 1} <= set(auto) and len(auto) < 12
    forced = select_columns(["c11", 10], X, y, None, names, 0).kept
    assert {0, 1, 10, 11} <= set(forced)


@pytest.fixture(scope="module")
def wide_fit():
    rng = np.random.default_rng(8)
    X = pd.DataFrame(rng.uniform(1.0, 5.0, (400, 12)), columns=[f"col{i}" for i in range(12)])
    y = X["col4"] * X["col9"]
    model = SymbolicRegressor(time_budget=3.0, random_state=0, maxsize=10,
                              operators=["+", "-", "*", "/"])
    return model.fit(X, y), X, y


def test_fit_searches_the_kept_columns_and_predicts_on_all(wide_fit):
    model, X, y = wide_fit
    dropped = model.dropped_features_
    assert 0 < len(dropped) and not {"col4", "col9"} & set(dropped["feature"])
    assert model.n_features_in_ == 12
    assert np.allclose(model.predict(X), y, rtol=1e-6)
    assert set(model.best_.variables) == {4, 9}
    assert "col4" in str(model.best_) and "col9" in str(model.best_)
    assert all(set(e.variables) <= set(range(12)) for e in model.equations_["expression"])


def test_feature_selection_none_keeps_all():
    X, y = _wide(200, 6, 9, lambda X: X[:, 0] + X[:, 1])
    model = SymbolicRegressor(time_budget=1.0, max_evals=300, random_state=0, maxsize=7,
                              feature_selection=None).fit(X, y)
    assert model.dropped_features_.empty
    assert list(model.dropped_features_.columns) == list(DROPPED_COLUMNS)


def test_saved_run_keeps_dropped_features(wide_fit, tmp_path):
    model, X, _ = wide_fit
    loaded = symreg.load(model.save(tmp_path / "run"))
    cols = ["feature", "index", "reason"]
    pd.testing.assert_frame_equal(loaded.dropped_features_[cols], model.dropped_features_[cols])
    assert np.allclose(loaded.dropped_features_["shadow_share"],
                       model.dropped_features_["shadow_share"])
    assert np.array_equal(loaded.predict(X), model.predict(X))
    again = SymbolicRegressor.from_state(model.to_state())
    pd.testing.assert_frame_equal(again.dropped_features_, model.dropped_features_)
