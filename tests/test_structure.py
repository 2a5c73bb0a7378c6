"""Cheap structure tests (symreg.search.structure): power laws and sparse
polynomials found exactly, graceful refusals, operator restrictions, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
import sympy

from symreg import operators as ops
from symreg.search.structure import power_law, sparse_polynomial, structure_candidates

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def _poly_coeffs(expr, n_vars):
    """{exponent tuple: coefficient} of a polynomial Expression."""
    syms = sympy.symbols(f"x0:{n_vars}")
    s = expr.sympy(exact_constants=False, symbols={str(v): v for v in syms})
    # pow(x, 5.0) carries a float exponent: make integer exponents exact
    s = s.replace(lambda e: e.is_Pow and e.exp.is_Float and float(e.exp).is_integer(),
                  lambda e: e.base ** int(e.exp))
    poly = sympy.Poly(sympy.expand(s), *syms)
    return {m: float(c) for m, c in poly.terms()}


def _found_exactly(models, target: dict, n_vars: int, tol: float = 1e-8) -> bool:
    for m in models:
        try:
            got = _poly_coeffs(m, n_vars)
        except sympy.PolynomialError:
            continue
        if set(got) == set(target) and all(abs(got[k] - v) <= tol for k, v in target.items()):
            return True
    return False


# ----------------------------------------------------------------------------
# power laws
# ----------------------------------------------------------------------------

def test_power_law_finds_kepler_exactly():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 3.0, size=(200, 3))
    y = 2.3 * X[:, 0] ** 1.5 / X[:, 1] ** 2
    e = power_law(X, y)
    assert e is not None
    assert e.n_constants == 1
    assert abs(e.constants[0] - 2.3) <= 1e-8 * 2.3
    assert set(e.variables) == {0, 1}                    # x2 dropped
    assert "pow" not in e.tokens                         # x^1.5 = sqrt(cube(x)), x^-2 a division
    assert {"sqrt", "cube", "square", "div"} <= set(e.tokens)
    np.testing.assert_allclose(e.evaluate(X), y, rtol=1e-10)


def test_power_law_carries_the_sign_and_rounds_thirds():
    rng = np.random.default_rng(1)
    X = rng.uniform(0.2, 4.0, size=(100, 2))
    y = -0.7 * X[:, 1] ** (1 / 3) / X[:, 0]
    e = power_law(X, y)
    assert e is not None
    assert e.constants[0] == pytest.approx(-0.7, rel=1e-8)
    assert any(v == pytest.approx(1 / 3, abs=1e-12) for v in e.constants)   # pow(x1, 1/3)
    np.testing.assert_allclose(e.evaluate(X), y, rtol=1e-10)


def test_power_law_keeps_a_non_nice_exponent():
    rng = np.random.default_rng(2)
    X = rng.uniform(0.5, 3.0, size=(100, 2))
    y = 4.0 * X[:, 0] ** 0.37 * X[:, 1] ** 2
    e = power_law(X, y)
    assert e is not None
    assert "pow" in e.tokens and "square" in e.tokens
    np.testing.assert_allclose(e.evaluate(X), y, rtol=1e-9)


def test_power_law_with_noise_still_rounds():
    rng = np.random.default_rng(3)
    X = rng.uniform(0.5, 3.0, size=(500, 2))
    y = 1.5 * X[:, 0] ** 2 * np.sqrt(X[:, 1]) * (1 + 0.01 * rng.standard_normal(500))
    e = power_law(X, y)
    assert e is not None
    assert e.n_constants == 1 and "pow" not in e.tokens
    assert e.constants[0] == pytest.approx(1.5, rel=0.01)


def test_power_law_mixed_sign_column_with_even_exponent():
    rng = np.random.default_rng(4)
    X = rng.uniform(-3.0, 3.0, size=(100, 2))
    X[np.abs(X) < 0.1] = 0.5
    y = 3.0 * X[:, 0] ** 2 / X[:, 1] ** 4
    e = power_law(X, y, operators=["mul", "div", "square"])
    assert e is not None
    np.testing.assert_allclose(e.evaluate(X), y, rtol=1e-9)


def test_power_law_refuses_unsuitable_data():
    rng = np.random.default_rng(5)
    X = rng.uniform(0.5, 3.0, size=(50, 2))
    assert power_law(X, X[:, 0] - 1.5) is None           # y of both signs
    y = X[:, 0] ** 2
    y[3] = 0.0
    assert power_law(X, y) is None                       # a zero in y
    assert power_law(np.zeros((50, 2)), X[:, 0]) is None  # no usable column
    assert power_law(X, np.full(50, 2.0)) is None        # nothing depends on x
    assert power_law(X[:2], y[:2]) is None               # too few rows


def test_power_law_respects_operators():
    rng = np.random.default_rng(6)
    X = rng.uniform(0.5, 3.0, size=(100, 2))
    y = 2.3 * X[:, 0] ** 1.5 / X[:, 1] ** 2
    e = power_law(X, y, operators=["mul", "div", "pow"])
    assert e is not None
    assert {t for t in e.tokens if t in ops.OPERATORS} <= {"mul", "div", "pow"}
    np.testing.assert_allclose(e.evaluate(X), y, rtol=1e-9)
    # x^1.5 cannot be written without sqrt or pow
    assert power_law(X, y, operators=["mul", "div", "square", "cube"]) is None
    # no div: the denominator through inv
    e = power_law(X, y, operators=["mul", "inv", "square", "cube", "sqrt"])
    assert e is not None and "div" not in e.tokens and "inv" in e.tokens


# ----------------------------------------------------------------------------
# sparse polynomials
# ----------------------------------------------------------------------------

NGUYEN = {
    "nguyen1": {(3,): 1.0, (2,): 1.0, (1,): 1.0},
    "nguyen2": {(4,): 1.0, (3,): 1.0, (2,): 1.0, (1,): 1.0},
    "nguyen3": {(5,): 1.0, (4,): 1.0, (3,): 1.0, (2,): 1.0, (1,): 1.0},
    "nguyen4": {(6,): 1.0, (5,): 1.0, (4,): 1.0, (3,): 1.0, (2,): 1.0, (1,): 1.0},
}


def _poly_values(X, target):
    y = np.zeros(X.shape[0])
    for exps, c in target.items():
        y += c * np.prod(X ** np.array(exps), axis=1)
    return y


@pytest.mark.parametrize("name", sorted(NGUYEN))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_polynomial_finds_nguyen_1_to_4(name, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(20, 1))
    target = NGUYEN[name]
    models = sparse_polynomial(X, _poly_values(X, target))
    assert models
    assert _found_exactly(models, target, 1)


@pytest.mark.parametrize("low", [-1.0, -3.0])
def test_sparse_polynomial_finds_nguyen_12(low):
    rng = np.random.default_rng(7)
    X = rng.uniform(low, -low, size=(20, 2))
    target = {(4, 0): 1.0, (3, 0): -1.0, (0, 2): 0.5, (0, 1): -1.0}
    models = sparse_polynomial(X, _poly_values(X, target))
    assert _found_exactly(models, target, 2)


def test_sparse_polynomial_intercept_levels_and_layout():
    rng = np.random.default_rng(8)
    X = rng.uniform(-2.0, 2.0, size=(100, 3))
    y = 3.0 * X[:, 0] * X[:, 2] ** 2 - 2.0 * X[:, 1]
    # one model per sparsity level, stopping at the exact fit
    models = sparse_polynomial(X, y + 7.5, max_terms=5)
    assert len(models) == 2
    assert models[-1].tokens == ("add", "sub", "mul", "C", "mul", "x0", "square", "x2",
                                 "mul", "C", "x1", "C")
    np.testing.assert_allclose(models[-1].constants, [3.0, 2.0, 7.5], rtol=1e-10)
    # no intercept when it is zero
    models = sparse_polynomial(X, y, max_terms=5)
    assert models[-1].tokens == ("sub", "mul", "C", "mul", "x0", "square", "x2", "mul", "C", "x1")
    np.testing.assert_allclose(models[-1].evaluate(X), y, rtol=1e-9, atol=1e-12)
    # with noise: every level up to max_terms
    noisy = y + 0.1 * rng.standard_normal(100)
    models = sparse_polynomial(X, noisy, max_terms=4)
    assert len(models) == 4
    assert _found_exactly(models[1:2], {(1, 0, 2): 3.0, (0, 1, 0): -2.0}, 3, tol=0.05) or \
        _found_exactly(models[1:2], {(1, 0, 2): 3.0, (0, 1, 0): -2.0, (0, 0, 0): 0.0}, 3, tol=0.05)


def test_sparse_polynomial_library_is_capped_for_many_variables():
    rng = np.random.default_rng(9)
    X = rng.uniform(-1.0, 1.0, size=(300, 12))
    y = X[:, 3] * X[:, 7] - X[:, 11] ** 2
    models = sparse_polynomial(X, y)
    assert _found_exactly(models, {(0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0): 1.0,
                                   (0,) * 11 + (2,): -1.0}, 12)


def test_sparse_polynomial_refuses_unsuitable_data():
    rng = np.random.default_rng(10)
    X = rng.uniform(-1.0, 1.0, size=(30, 2))
    assert sparse_polynomial(X, np.full(30, 4.0)) == []          # constant y
    assert sparse_polynomial(X[:2], X[:2, 0]) == []              # too few rows
    assert sparse_polynomial(np.zeros((30, 2)), X[:, 0]) == []   # constant columns
    assert sparse_polynomial(X, X[:, 0], operators=["add", "sin"]) == []  # no mul
    # non-finite rows are dropped, not fatal
    y = X[:, 0] ** 2
    y[0] = np.nan
    assert _found_exactly(sparse_polynomial(X, y), {(2, 0): 1.0}, 2)


# ----------------------------------------------------------------------------
# structure_candidates
# ----------------------------------------------------------------------------

def test_structure_candidates_uses_only_allowed_operators():
    rng = np.random.default_rng(11)
    X = rng.uniform(0.5, 2.0, size=(200, 3))
    y = 1.7 * X[:, 1] ** 2 * X[:, 2] / np.sqrt(X[:, 0])
    for allowed in (["add", "sub", "mul", "div", "sqrt", "square"],
                    ["add", "mul", "pow"],
                    list(ops.DEFAULT_OPERATORS)):
        cands = structure_candidates(X, y, allowed)
        assert cands
        for c in cands:
            assert {t for t in c.tokens if t in ops.OPERATORS} <= set(allowed), (allowed, c)
            assert np.all(np.isfinite(c.evaluate(X)))
    best = structure_candidates(X, y, ops.DEFAULT_OPERATORS)[0]
    np.testing.assert_allclose(best.evaluate(X), y, rtol=1e-9)
    assert len({c.key(constants=True) for c in cands}) == len(cands)


def test_structure_candidates_is_fast():
    rng = np.random.default_rng(12)
    X = rng.uniform(-2.0, 2.0, size=(1000, 10))
    y = X[:, 0] * X[:, 3] + 2.0 * X[:, 5] ** 3 - X[:, 2] + 0.5 + 0.1 * rng.standard_normal(1000)
    structure_candidates(X[:50], y[:50], ops.DEFAULT_OPERATORS)  # warm-up
    t0 = time.perf_counter()
    cands = structure_candidates(X, y, ops.DEFAULT_OPERATORS)
    assert time.perf_counter() - t0 < 1.0
    assert cands


# ----------------------------------------------------------------------------
# the registry of structure tests
# ----------------------------------------------------------------------------

def test_the_registry_lists_the_tests_in_run_order():
    from symreg.search.structure import StructureTest, get_structure_tests, list_structure_tests

    names = list_structure_tests()
    assert names == ["power_law", "sparse_polynomial", "variables", "transformed", "rational",
                     "factored", "trig"]
    tests = get_structure_tests()
    assert [t.name for t in tests] == names
    assert all(isinstance(t, StructureTest) for t in tests)
    stages = [t.stage for t in tests]
    assert stages == sorted(stages)
    # the first stage is fitted whole, the later ones screened
    assert all(t.screen == (t.stage > 0) for t in tests)
    # a subset keeps the run order whatever order it is named in
    assert [t.name for t in get_structure_tests(["trig", "power_law"])] == ["power_law", "trig"]
    with pytest.raises(ValueError, match="known: power_law"):
        get_structure_tests(["power_law", "fourier"])


def test_each_test_yields_its_function_candidates():
    from symreg.search.structure import get_structure_tests, rational_candidates

    X = np.random.default_rng(0).uniform(1, 2, size=(100, 2))
    y = (X[:, 0] + 1.0) / (X[:, 1] + 2.0)
    by_name = {t.name: t for t in get_structure_tests()}
    keys = [e.key(constants=True) for e in by_name["rational"].candidates(X, y, None, 5)]
    assert keys == [e.key(constants=True) for e in rational_candidates(X, y, None, seed=5)]
    assert [e.tokens for e in by_name["variables"].candidates(X, y, None, 0)] == [("x0",), ("x1",)]
    # a test that needs a missing operator does not apply
    assert not by_name["rational"].applies(X, y, ("add", "mul"))
    assert not by_name["trig"].applies(X, y, ("add", "mul", "exp"))
    assert by_name["trig"].applies(X, y, ("add", "mul", "cos"))


def test_the_search_runs_only_the_named_structure_tests(monkeypatch):
    from symreg.search import structure
    from symreg.search.engine import SearchConfig, search

    calls = []
    for cls in (structure.PowerLaw, structure.SparsePolynomial, structure.Variables,
                structure.Transformed, structure.Rational, structure.Factored, structure.Trig):
        original = cls.candidates

        def spy(self, X, y, operators, seed, _original=original):
            calls.append(self.name)
            return _original(self, X, y, operators, seed)

        monkeypatch.setattr(cls, "candidates", spy)
    rng = np.random.default_rng(1)
    X = rng.uniform(1, 2, size=(100, 2))
    y = np.sin(X[:, 0]) + rng.normal(0, 0.1, 100)
    ops_ = ("add", "mul", "div", "sin")
    config = SearchConfig(operators=ops_, max_evals=1500, seed=0, polish=False, mcts=False,
                          population_size=30, n_offspring=30,
                          structure_tests=("variables", "rational"))
    search(X, y, config)
    assert calls == ["variables", "rational"]
    calls.clear()
    search(X, y, SearchConfig(operators=ops_, max_evals=1500, seed=0, polish=False, mcts=False,
                              population_size=30, n_offspring=30))
    assert calls == ["power_law", "sparse_polynomial", "variables", "transformed", "rational",
                     "factored", "trig"]
    with pytest.raises(ValueError, match="unknown structure test.*known: power_law"):
        search(X, y, SearchConfig(operators=ops_, max_evals=100, structure_tests=("fourier",)))
