"""SRBench-style metrics (symreg.datasets.metrics): constant rounding, the
symbolic-solution and exact-difference tests (with their timeout), R²."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import sympy

from symreg.datasets import exact_difference, r2_score, round_constants, symbolic_solution
from symreg.datasets.metrics import parse_formula
from symreg.expression import Expression

x = sympy.Symbol("x")
a = sympy.Symbol("a")

BOTH = pytest.mark.parametrize("check", [symbolic_solution, exact_difference],
                               ids=["symbolic_solution", "exact_difference"])


# ----------------------------------------------------------------------------
# round_constants
# ----------------------------------------------------------------------------

def test_round_constants_significant_digits_and_integers():
    e = round_constants(1.0000001 * x**2 + 2.71828 * x + 0.0123456 * sympy.sin(x) + 123456.7)
    assert e == x**2 + sympy.Float("2.72", 3) * x + sympy.Float("0.0123", 3) * sympy.sin(x) + 123000
    # printed with the rounded digits (sympy Floats of `digits` decimal precision, as SRBench)
    assert sorted(str(f) for f in e.atoms(sympy.Float)) == ["0.0123", "2.72"]
    # a float that rounds to an integer becomes an Integer, not 1.00
    assert round_constants(sympy.Float(0.99999999) * x) == x
    assert isinstance(round_constants(sympy.Float(-2.0000004)), sympy.Integer)
    # tiny floats become 0 (SRBench: below 1e-4); exact numbers are left alone
    assert round_constants(x + 1e-9) == x
    exact = sympy.Rational(1, 3) * x + sympy.pi
    assert round_constants(exact) == exact
    assert round_constants(2.71828 * x, digits=5) == sympy.Float("2.7183", 5) * x
    assert round_constants(0.3337 * x, rational=True) == sympy.Rational(167, 500) * x


# ----------------------------------------------------------------------------
# true formulas pass
# ----------------------------------------------------------------------------

@BOTH
def test_refitted_constants_pass(check):
    truth = x**2 + sympy.sin(x)
    model = 1.0000001 * x**2 + 0.99999999 * sympy.sin(x) + 1e-9
    assert check(model, truth)
    assert check("1.0000001*x**2 + 0.99999999*sin(x) + 1e-9", "x**2 + sin(x)")
    # a fitted non-integer constant, within 3 significant digits
    assert check(2.50001 * x**2, sympy.Rational(5, 2) * x**2)
    assert check(0.5000000001 * x, x / 2)


@BOTH
def test_nested_constants_merge_before_rounding(check):
    # Operon writes models as scale * (offset + products of constants); rounded one by
    # one, 0.444 * 2.25 is 0.999, not 1. As in SRBench the model is simplified first.
    model = "(-0.000000031654) + 0.999999940395*((0.443820059299*x)*2.253165893)"
    assert check(model, "x")
    assert check("0.4438200593*(2.253165893*x**2 + 4.50633178*x)", "x**2 + 2*x")


def test_refitted_constants_on_a_feynman_law():
    # I.12.2: F = q1*q2/(4*pi*epsilon*r**2); a fit gives 1/(4*pi) as a float
    names = ["q1", "q2", "epsilon", "r"]
    truth = parse_formula("q1*q2*r/(4*pi*epsilon*r**3)")
    model = parse_formula("0.0795774715*q1*q2/(epsilon*r**2)")
    assert symbolic_solution(model, truth, positive=names)
    # 0.0796 is not 1/(4*pi) exactly: only the factor-tolerant test passes it; the
    # exact test needs the constant snapped to the symbol
    assert not exact_difference(model, truth, positive=names)
    assert exact_difference("q1*q2/(4*pi*epsilon*r**2)", truth, positive=names)
    near = parse_formula("0.0795774715*q1*q2/(epsilon*r**2) + 0.01*r")
    assert not symbolic_solution(near, truth, positive=names)


@BOTH
@pytest.mark.parametrize("model, truth", [
    ("x*(x + 1)", "x**2 + x"),
    ("(x**6 - x)/(x - 1)", "x**5 + x**4 + x**3 + x**2 + x"),
    ("sin(x)**2 + cos(x)**2 + x", "1 + x"),
    ("log(x**2 + 1) + log(x + 1)", "log((x + 1)*(x**2 + 1))"),
])
def test_equal_but_written_differently(check, model, truth):
    assert check(model, truth, positive=["x"])


@BOTH
def test_positive_symbols(check):
    assert check("sqrt(a**3)", "a*sqrt(a)", positive=["a"])
    assert check(sympy.sqrt(a**3), a * sympy.sqrt(a), positive=("a",))
    # without the assumption they differ for negative a
    assert not check("sqrt(a**3)", "a*sqrt(a)")


@BOTH
def test_symbols_matched_by_name_and_odd_names(check):
    # assumptions on the inputs do not matter: symbols are matched by name
    assert check(sympy.Symbol("x", positive=True) ** 2, x**2)
    # names that are sympy objects elsewhere (E, I, S, N, beta, gamma) are variables
    assert check("E*I + S*N", "I*E + N*S")
    assert check("gamma*beta", "beta*gamma")
    assert not check("E", "exp(1)")
    # gp-benchmark table functions
    assert check("pow(x, 3) + div(x, 2)", "x**3 + x/2")


def test_symreg_expression_accepted():
    model = Expression.parse("x0*(x0 + 1)")
    assert exact_difference(model, "x0**2 + x0")


# ----------------------------------------------------------------------------
# near misses fail
# ----------------------------------------------------------------------------

@BOTH
@pytest.mark.parametrize("model", [
    "x**2 + sin(x) + 0.01*x**3",     # an extra term
    "x**2 + cos(x)",                 # a wrong operator
    "x**3 + sin(x)",                 # a wrong exponent
    "x**2 + sin(2*x)",               # a wrong inner constant
    "x**2 + sin(x)**2",
])
def test_near_misses_fail(check, model):
    assert not check(model, "x**2 + sin(x)")


@BOTH
def test_rounding_does_not_hide_real_differences(check):
    assert not check(0.333 * x + sympy.sin(x), x / 3 + sympy.sin(x))
    assert not check(x**2 + sympy.sin(1.01 * x), x**2 + sympy.sin(x))


# ----------------------------------------------------------------------------
# offset and scale: SRBench's symbolic solution accepts them, exact_difference does not
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("model, truth", [
    ("x**2 + 3", "x**2"),
    ("2.5*x**2", "x**2"),
    ("3*(sin(x) + x)", "x + sin(x)"),
    ("x*(x + 1) - 7.25", "x**2 + x"),
])
def test_offset_and_scale(model, truth):
    assert symbolic_solution(model, truth)
    assert not exact_difference(model, truth)


def test_truth_zero():
    for check in (symbolic_solution, exact_difference):
        assert check("0", "0")
        assert check(1e-9, 0)
        assert check("x - x", 0)
        assert not check("x", "0")
    # a constant model differs from 0 by a constant
    assert symbolic_solution("3", "0")
    assert not exact_difference("3", "0")
    # a zero model is not a (zero) scale of a nonzero truth
    assert not symbolic_solution("0*x", "x**2 + x")


# ----------------------------------------------------------------------------
# robustness
# ----------------------------------------------------------------------------

# simplify(model - truth) on this takes more than a minute (measured once, outside the tests,
# on the 2-core development machine with sympy 1.14: 94 s); the expansion before it takes 1 ms
_SLOW_MODEL = "+".join(f"sin({i}*x)*cos({i + 1}*x)**2/(1 + sin(x)**{i})" for i in range(1, 8))


@BOTH
def test_hanging_simplify_times_out(check):
    start = time.monotonic()
    assert check(_SLOW_MODEL, "sin(x)", timeout=1.0) is False
    assert time.monotonic() - start < 1.0 + 2.0


@BOTH
@pytest.mark.parametrize("model", [
    "(((", "x +* 2", "", "import os", "lambda: 3", "x/0", "nan", "oo*x", "zoo",
    None, object(), [1, 2], {"x": 1}, "log(-1) + x",
])
def test_garbage_returns_false(check, model):
    assert check(model, "x**2 + sin(x)") is False


@BOTH
def test_garbage_truth_and_arguments(check):
    assert check("x", None) is False
    assert check("x", "(((") is False
    assert check("x", "x", timeout="soon") is False
    assert check("x", "x", positive=5) is False


def test_parse_formula_explicit_symbols():
    e = parse_formula("E + I*pi + x^2")
    assert e.free_symbols == {sympy.Symbol("E"), sympy.Symbol("I"), x}
    assert e.has(sympy.pi)
    with pytest.raises(Exception):
        parse_formula("(((")


# ----------------------------------------------------------------------------
# r2_score
# ----------------------------------------------------------------------------

def test_r2_score():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    yhat = y + 0.1 * rng.normal(size=50)
    from sklearn.metrics import r2_score as sk_r2

    assert r2_score(y, yhat) == pytest.approx(sk_r2(y, yhat))
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full_like(y, y.mean())) == pytest.approx(0.0)
    bad = yhat.copy()
    bad[3] = np.nan
    assert r2_score(y, bad) == -math.inf
    bad[3] = np.inf
    assert r2_score(y, bad) == -math.inf
    assert r2_score(y, np.full_like(y, 1e200)) == -math.inf   # overflowing residuals
    # a constant target: sklearn's convention
    assert r2_score([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]) == 1.0
    assert r2_score([2.0, 2.0, 2.0], [2.0, 2.0, 3.0]) == 0.0
    with pytest.raises(ValueError):
        r2_score([1.0, 2.0], [1.0, 2.0, 3.0])
