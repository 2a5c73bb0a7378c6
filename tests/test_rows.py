"""Big tables (symreg.rows): the searched sample, and the check on all rows."""

import numpy as np
import pytest
import sympy
import torch

from symreg import SymbolicRegressor
from symreg.evaluate import evaluate_batch
from symreg.expression import Expression
from symreg.pareto import HallOfFame
from symreg.rows import (
    CLEAN_ROWS,
    NOISY_NSR,
    NOISY_ROWS,
    RESERVE_MAX_SHARE,
    ROWS_PER_SECOND,
    auto_search_rows,
    check_search_rows,
    noise_ratio,
    plan_rows,
)


def _table(n, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 3))
    y = 1.5 * X[:, 0] * X[:, 1] + np.cos(X[:, 2])
    return X, y + noise * np.std(y) * rng.standard_normal(n)


def test_the_sample_is_drawn_from_the_seed_and_carries_its_weights():
    X, y = _table(20_000)
    X[:, 0] = np.arange(len(y))                      # each row knows its index
    w = np.arange(len(y), dtype=float) + 1.0
    a = plan_rows(1000, X, y, w, time_budget=30, seed=7)
    b = plan_rows(1000, X, y, w, time_budget=30, seed=7)
    c = plan_rows(1000, X, y, w, time_budget=30, seed=8)
    assert np.array_equal(a.rows, b.rows) and not np.array_equal(a.rows, c.rows)
    Xs, ys, ws = a.take(X, y, w)
    assert len(ys) == 1000 and len(np.unique(a.rows)) == 1000
    assert np.array_equal(ws, Xs[:, 0] + 1.0) and np.array_equal(ys, y[Xs[:, 0].astype(int)])
    assert a.take(X, y, None)[2] is None
    # the check's time comes out of the budget, never more than its share
    assert 0 < a.reserve <= RESERVE_MAX_SHARE * 30


def test_a_table_no_larger_than_the_sample_is_searched_whole():
    X, y = _table(500)
    for rows in ("auto", 500, None):
        s = plan_rows(rows, X, y, None, time_budget=30, seed=0)
        assert s.rows is None and s.reserve == 0
        Xs, ys, _ = s.take(X, y, None)
        assert Xs is X and ys is y
    hof = HallOfFame(10)
    assert s.recheck(hof, X, y, None) is hof


@pytest.mark.parametrize("bad", [0, -3, 2.5, "all", True, "1000"])
def test_search_rows_must_be_auto_none_or_a_positive_integer(bad):
    with pytest.raises(ValueError, match="search_rows must be 'auto', None or an integer >= 1"):
        check_search_rows(bad)
    X, y = _table(50)
    with pytest.raises(ValueError, match="search_rows"):
        SymbolicRegressor(search_rows=bad, max_evals=10).fit(X, y)


def test_the_noise_estimate_tells_clean_from_noisy_data():
    X, y = _table(20_000)
    assert noise_ratio(X, y, seed=0) <= NOISY_NSR
    assert auto_search_rows(X, y, time_budget=60, seed=0) == CLEAN_ROWS
    X, y = _table(20_000, noise=0.1)                 # 1 % of var(y)
    assert 0.005 < noise_ratio(X, y, seed=0) < 0.02
    assert auto_search_rows(X, y, time_budget=60, seed=0) == NOISY_ROWS
    # ... and no more rows than the budget allows
    assert auto_search_rows(X, y, time_budget=10, seed=0) == max(CLEAN_ROWS, 10 * ROWS_PER_SECOND)
    assert noise_ratio(X, np.zeros(len(y))) == 0.0


def test_the_check_refits_constants_and_drops_what_fails_on_other_rows():
    rng = np.random.default_rng(1)
    X = rng.uniform(0.5, 3, (50_000, 2))
    X[:10, 1] = -1.0                     # rows where log(x1) is not defined
    y = 2.0 * X[:, 0] + 0.5
    s = plan_rows(1000, X, y, None, time_budget=30, seed=3)
    assert not np.isin(np.arange(10), s.rows).any()  # (the sample missed them)
    off = Expression.parse("2.1*x0 + 0.4", ["x0", "x1"])
    bad = Expression.parse("x0 + log(x1)", ["x0", "x1"])
    hof = HallOfFame(20)
    hof.update([off, bad], [0.01, 0.5])
    checked = s.recheck(hof, X, y, None)
    (cand,) = checked.candidates()       # log(x1) is gone: its all-row loss is infinite
    assert cand.expr.constants == pytest.approx([2.0, 0.5])
    assert cand.loss <= checked.loss_floor
    assert s.seconds > 0


def test_a_fit_on_a_big_table_finds_the_law_and_reports_all_row_losses():
    X, y = _table(200_000)
    m = SymbolicRegressor(max_evals=2000, time_budget=60, random_state=0).fit(X, y)
    x0, x1, x2 = sympy.symbols("x0 x1 x2")
    assert sympy.simplify(m.sympy() - (sympy.Rational(3, 2) * x0 * x1 + sympy.cos(x2))) == 0
    exprs = list(m.equations_["expression"])
    losses = evaluate_batch(exprs, X, y, dtype=torch.float64)
    floor = m.hall_of_fame_.loss_floor
    np.testing.assert_allclose(np.maximum(m.equations_["loss"], floor), np.maximum(losses, floor),
                               rtol=1e-9)
    # bounded by max_evals, the same seed gives the same fit, refit included
    again = SymbolicRegressor(max_evals=2000, time_budget=60, random_state=0).fit(X, y)
    assert list(again.equations_["equation"]) == list(m.equations_["equation"])


def test_a_small_table_fits_as_without_sampling():
    X, y = _table(300, noise=0.05)
    kw = {"max_evals": 3000, "time_budget": 60, "random_state": 2, "structure_tests": ["variables"]}
    a = SymbolicRegressor(**kw).fit(X, y)
    b = SymbolicRegressor(search_rows=None, **kw).fit(X, y)
    assert list(a.equations_["equation"]) == list(b.equations_["equation"])
    np.testing.assert_array_equal(a.equations_["loss"], b.equations_["loss"])
    assert a.n_evals_ == b.n_evals_


def test_ctrl_c_in_the_refit_keeps_the_constants_and_checks_them_on_all_rows(monkeypatch):
    import symreg.rows as rows_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rows_module, "fit_constants", interrupted)
    X, y = _table(30_000)
    s = plan_rows(1000, X, y, None, time_budget=30, seed=0)
    off = Expression.parse("1.4*(x0*x1) + cos(x2)", ["x0", "x1", "x2"])
    hof = HallOfFame(20)
    hof.update([off], [1e-3])
    (cand,) = s.recheck(hof, X, y, None).candidates()
    assert cand.expr is off
    assert cand.loss == pytest.approx(float(np.mean((off.evaluate(X) - y) ** 2)), rel=1e-9)
