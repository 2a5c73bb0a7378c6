"""Tests of batched constant fitting (symreg.constants)."""

from __future__ import annotations

import numpy as np
import pytest

from symreg.constants import (
    fit_constants,
    linear_scaled,
    nonlinear_constant_mask,
    starting_points,
)
from symreg.expression import Expression


def _data(n=200, d=2, low=0.5, high=2.5, seed=0):
    return np.random.default_rng(seed).uniform(low, high, size=(n, d))


def _nmse(expr, X, y):
    return float(np.mean((expr.evaluate(X) - y) ** 2) / np.var(y))


# ----------------------------------------------------------------------------
# which constants enter linearly
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2.0*x0 + 3.0", [False, False]),
    ("-(2.0*x0) - 3.0*x1", [False, False]),
    ("(x0 + 2.0)/x1", [False]),                 # numerator over a constant-free denominator
    ("x0/2.0", [True]),                         # denominator
    ("(x0 + 2.0)/(x1 + 3.0)", [True, True]),    # numerator over a denominator with a constant
    ("2.0*(3.0 + x0)", [True, True]),           # bilinear: C0*C1 + C0*x0
    ("sin(2.0*x0) + 4.0", [True, False]),
    ("exp(0.5*x0)*1.5", [True, True]),
    ("x0*x1*2.0 + 1.5", [False, False]),
])
def test_nonlinear_constant_mask_hand_examples(text, expected):
    e = Expression.parse(text)
    assert e.n_constants == len(expected)
    assert nonlinear_constant_mask(e).tolist() == expected


def test_nonlinear_constant_mask_no_constants():
    assert nonlinear_constant_mask(Expression.parse("x0*sin(x1)")).tolist() == []


# ----------------------------------------------------------------------------
# linear scaling and exact recovery
# ----------------------------------------------------------------------------

def test_linear_scaling_closed_form_is_exact():
    X = _data()
    f = Expression.parse("sin(x0)*x1")
    y = 2.5 * f.evaluate(X) - 1.3
    # max_iter=0: the closed-form a and b alone
    for max_iter in (0, 60):
        (fit,), loss = fit_constants([f], X, y, linear_scaling=True, max_iter=max_iter)
        assert fit.tokens == linear_scaled(f).tokens
        np.testing.assert_allclose(fit.constants, [2.5, -1.3], rtol=1e-12, atol=1e-12)
        assert loss[0] < 1e-25


def test_linear_scaling_with_inner_constants():
    X = _data()
    truth = Expression.parse("-3.0*exp(-0.7*x0) + 0.25")
    y = truth.evaluate(X)
    (fit,), loss = fit_constants([Expression.parse("exp(1.0*x0)")], X, y, linear_scaling=True)
    assert loss[0] < 1e-20 * np.mean(y * y)
    np.testing.assert_allclose(fit.constants, [-3.0, -0.7, 0.25], rtol=1e-8)


def test_nonlinear_skeleton_recovered_from_ones():
    X = _data(seed=1)
    truth = Expression(["mul", "mul", "C", "exp", "mul", "C", "x0", "sin", "add", "mul", "C", "x1", "C"], [2.0, -0.5, 1.5, 0.3])
    y = truth.evaluate(X)
    skeleton = truth.with_constants(np.ones(4))
    (fit,), loss = fit_constants([skeleton], X, y)
    assert loss[0] < 1e-20 * np.mean(y * y)
    c = fit.constants
    np.testing.assert_allclose(c[:2], [2.0, -0.5], rtol=1e-8)
    # sin(C2*x1 + C3) has equivalent optima: (C2, C3 + 2πk) and (-C2, π - C3 + 2πk)
    phase = np.mod(c[3] - 0.3, 2 * np.pi) if c[2] > 0 else np.mod(c[3] - (np.pi - 0.3), 2 * np.pi)
    assert abs(abs(c[2]) - 1.5) < 1e-8
    assert min(phase, 2 * np.pi - phase) < 1e-8
    # without restarts the sign of exp's rate (1 -> -0.5) is out of reach from ones
    _, loss0 = fit_constants([skeleton], X, y, n_restarts=0)
    assert loss0[0] >= loss[0]


@pytest.mark.parametrize("text, truth", [
    ("x0/C", [-0.97]),                   # the sign of a denominator
    ("(C - x1)*C", [-1.34, -1.62]),      # bilinear: C1 must cross 0
    ("cos(C*x0) + C", [2.2, -0.4]),
])
def test_sign_changes_need_restarts_and_get_them(text, truth):
    X = _data(d=2, seed=2)
    e = Expression.parse(text.replace("C", "1.0"))
    y = e.with_constants(truth).evaluate(X)
    (fit,), _ = fit_constants([e], X, y)
    assert _nmse(fit, X, y) < 1e-20


def test_exact_fit_keeps_the_given_constants():
    """A symmetric optimum is never swapped for its mirror: a refit of an
    exact fit returns the same constants, restarts or not."""
    X = _data(seed=3)
    e = Expression.parse("cos(-1.7*x0) + 0.5*x1")
    y = e.evaluate(X)
    (fit,), _ = fit_constants([e], X, y, n_restarts=8)
    np.testing.assert_allclose(fit.constants, e.constants, rtol=1e-12)


# ----------------------------------------------------------------------------
# edge cases
# ----------------------------------------------------------------------------

def test_expressions_without_constants():
    X = _data()
    y = X[:, 0] * 2.0
    exprs = [Expression.parse("x0*x1"), Expression.parse("sin(x0)")]
    fitted, losses = fit_constants(exprs, X, y)
    for e, f, loss in zip(exprs, fitted, losses):
        assert f.tokens == e.tokens and f.n_constants == 0
        assert loss == pytest.approx(np.mean((e.evaluate(X) - y) ** 2), rel=1e-12)


def test_empty_batch():
    fitted, losses = fit_constants([], _data(), np.zeros(200))
    assert fitted == [] and losses.shape == (0,)


def test_non_finite_start_does_not_raise():
    X = _data(low=0.5, high=2.0)
    truth = Expression.parse("log(x0 - 0.2)")       # the constant is -0.2 as written: x0 - 0.2
    y = truth.evaluate(X)
    start = truth.with_constants([3.0])               # log(x0 - 3): NaN everywhere
    assert not np.isfinite(start.evaluate(X)).any()
    (fit0,), loss0 = fit_constants([start], X, y, n_restarts=0)
    assert loss0[0] == np.inf
    np.testing.assert_array_equal(fit0.constants, [3.0])
    # the restarts begin elsewhere and reach the law from there (seeded: deterministic)
    (fit,), loss = fit_constants([start], X, y)
    assert loss[0] < 1e-20 * np.mean(y * y)
    np.testing.assert_allclose(fit.constants, [0.2], rtol=1e-8)
    assert np.isfinite(fit.evaluate(X)).all()


def test_overflowing_start_is_handled():
    X = _data()
    e = Expression.parse("exp(500.0*x0*x1)")         # inf at most points
    assert not np.isfinite(e.evaluate(X)).all()
    y = np.exp(0.3 * X[:, 0] * X[:, 1])
    (fit,), loss = fit_constants([e], X, y)
    assert loss[0] < 1e-20 * np.mean(y * y)
    np.testing.assert_allclose(fit.constants, [0.3], rtol=1e-8)


def test_sample_weights_matter():
    X = _data(n=50, d=1, seed=4)
    y = 2.0 * X[:, 0] + 1.0
    y[7] += 40.0                                      # an outlier
    e = Expression.parse("1.0*x0 + 1.0")
    w = np.ones(50)
    w[7] = 0.0
    (plain,), _ = fit_constants([e], X, y)
    (weighted,), wloss = fit_constants([e], X, y, sample_weight=w)
    np.testing.assert_allclose(weighted.constants, [2.0, 1.0], rtol=1e-10)
    assert wloss[0] < 1e-20
    assert np.max(np.abs(plain.constants - [2.0, 1.0])) > 0.1


def test_deterministic_for_a_seed(load_benchmark):
    bench = load_benchmark("bench_constants")
    problems = bench.make_problems(40, 100, seed=5)
    X, Y = problems["X"], problems["Y"]
    sk = [t.with_constants(np.ones(t.n_constants)) for t in problems["truths"]]
    a, la = fit_constants(sk, X, Y, seed=11)
    b, lb = fit_constants(sk, X, Y, seed=11)
    assert all(np.array_equal(p.constants, q.constants) for p, q in zip(a, b))
    np.testing.assert_array_equal(la, lb)


def test_starting_points_spread_signs():
    e = Expression.parse("sin(1.0*x0 + 2.0)*3.0")      # all three non-linear (bilinear 3.0)
    starts, owner = starting_points([e], 8, np.random.default_rng(0))
    assert owner == [0] * 9
    signs = {tuple(np.sign(s.constants)) for s in starts[1:]}
    assert len(signs) == 8                              # every sign pattern once
    assert tuple(np.sign(starts[1].constants)) == (-1.0, -1.0, -1.0)    # all flipped first
    # linear constants are never redrawn
    e2 = Expression.parse("2.0*x0 + exp(0.5*x1)")
    starts2, _ = starting_points([e2], 4, np.random.default_rng(0))
    assert all(s.constants[0] == 2.0 for s in starts2)
    assert starting_points([Expression.parse("x0 + 1.0")], 4, np.random.default_rng(0))[1] == [0]


# ----------------------------------------------------------------------------
# one target row per expression
# ----------------------------------------------------------------------------

def test_two_dimensional_y_matches_one_dimensional_fits():
    X = _data(seed=6)
    truths = [Expression.parse("1.5*exp(-0.8*x0) + x1"), Expression.parse("sin(2.2*x1)*x0"),
              Expression.parse("x0/(x1 + 0.7)")]
    Y = np.stack([t.evaluate(X) for t in truths])
    starts = [t.with_constants(np.ones(t.n_constants)) for t in truths]
    w = np.linspace(0.5, 1.5, X.shape[0])
    fitted, losses = fit_constants(starts, X, Y, sample_weight=w, n_restarts=0)
    for i, s in enumerate(starts):
        (one,), l1 = fit_constants([s], X, Y[i], sample_weight=w, n_restarts=0)
        np.testing.assert_allclose(fitted[i].constants, one.constants, rtol=1e-12, atol=1e-14)
        assert losses[i] == pytest.approx(l1[0], rel=1e-9, abs=1e-30)
        pred = fitted[i].evaluate(X)
        assert losses[i] == pytest.approx(np.sum(w * (pred - Y[i]) ** 2) / w.sum(), rel=1e-9, abs=1e-30)
    # with restarts every expression recovers its own target
    fitted, losses = fit_constants(starts, X, Y)
    assert all(_nmse(f, X, y) < 1e-20 for f, y in zip(fitted, Y))
    # linear scaling works per row too
    fitted, losses = fit_constants([Expression.parse("exp(1.0*x0)")] * 2, X,
                                   np.stack([3 * np.exp(-0.5 * X[:, 0]) + 1, -np.exp(0.2 * X[:, 0])]),
                                   linear_scaling=True)
    np.testing.assert_allclose(fitted[0].constants, [3.0, -0.5, 1.0], rtol=1e-8)
    np.testing.assert_allclose(fitted[1].constants, [-1.0, 0.2, 0.0], rtol=1e-8, atol=1e-10)


def test_two_dimensional_y_shape_is_checked():
    X = _data()
    e = Expression.parse("1.0*x0")
    with pytest.raises(ValueError):
        fit_constants([e, e], X, np.zeros((3, 200)))
    with pytest.raises(ValueError):
        fit_constants([e], X, np.zeros(150))


# ----------------------------------------------------------------------------
# the recovery benchmark, small
# ----------------------------------------------------------------------------

def test_recovery_on_random_identifiable_skeletons(load_benchmark):
    """60 skeletons of the benchmark's generator (seed 0). From the perturbed
    truth, the constants of >= 90 % of the skeletons without a discrete
    symmetry are recovered to 1e-6 and >= 90 % of all predictions match; from
    all-ones starts >= 85 % of the predictions match."""
    bench = load_benchmark("bench_constants")
    problems = bench.make_problems(60, 200, seed=0)
    X, Y, truths = problems["X"], problems["Y"], problems["truths"]
    symmetric = np.array([bench.has_symmetry(t, X) for t in truths])
    rates = {}
    for init in ("ones", "perturbed"):
        c0 = bench.initial_constants(truths, init, 0)
        fitted, _ = fit_constants([t.with_constants(c) for t, c in zip(truths, c0)], X, Y, seed=0)
        rates[init] = bench.score(truths, [f.constants for f in fitted], X, Y, symmetric)
    assert rates["perturbed"]["recovered_no_symmetry"] >= 0.90
    assert rates["perturbed"]["prediction_match"] >= 0.90
    assert rates["ones"]["prediction_match"] >= 0.85


@pytest.mark.slow
def test_bench_constants_runs_with_tiny_sizes(tmp_path, load_benchmark):
    bench = load_benchmark("bench_constants")
    out = tmp_path / "bench.json"
    res = bench.main(["--n", "30", "--repeats", "1", "--json", str(out), "--quiet"])
    assert out.exists()
    for init in ("ones", "perturbed"):
        part = res[init]
        for key in ("symreg", "symreg_0", "scipy_1", "scipy_restarts"):
            assert part[key]["seconds"] > 0
            assert 0.0 <= part[key]["recovered"] <= 1.0
            assert 0.0 <= part[key]["prediction_match"] <= 1.0


def test_a_passed_deadline_stops_fitting_but_returns_every_expression():
    import time

    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(200, 1))
    y = np.sin(1.3 * X[:, 0]) * 2.0
    exprs = [Expression(["sin", "mul", "C", "x0"], [1.0]) for _ in range(50)]
    fitted, losses = fit_constants(exprs, X, y, linear_scaling=True, n_restarts=8,
                                   deadline=time.perf_counter() - 1.0)
    assert len(fitted) == 50 and np.all(np.isfinite(losses))
    # nothing was fitted: the inner constant is the given one
    assert all(np.isclose(f.constants[1], 1.0) for f in fitted)
    _, free_losses = fit_constants(exprs[:1], X, y, linear_scaling=True, n_restarts=8)
    assert free_losses[0] < losses[0]
