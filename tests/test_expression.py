"""Tests of Expression (symreg.expression): parsing, printing and the round trip
between them, sympy and LaTeX, canonical keys, complexity, serialisation and
numerical evaluation."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import sympy

from symreg import operators as ops
from symreg.expression import CONST, Expression, constant_to_sympy
from symreg.generate import random_expressions

ALL_OPERATORS = list(ops.OPERATORS)


def _random_sets():
    """500 random expressions over the default operators and 500 over all of
    them, with many constants (constant-only subtrees are the hard case)."""
    return {
        "default": random_expressions(500, 3, None, seed=11, const_prob=0.35),
        "all": random_expressions(500, 3, ALL_OPERATORS, seed=12, const_prob=0.35),
    }


RANDOM = _random_sets()


# ----------------------------------------------------------------------------
# parsing
# ----------------------------------------------------------------------------

def test_docstring_example():
    e = Expression.parse("x0*sin(x1) + 2.5")
    assert e.tokens == ("add", "mul", "x0", "sin", "x1", "C")
    assert e.constants.tolist() == [2.5]
    assert str(e) == "x0*sin(x1) + 2.5"


@pytest.mark.parametrize("text,tokens,constants", [
    ("x0", ("x0",), []),
    ("3", ("C",), [3.0]),
    ("x0 + x1 - x2", ("sub", "add", "x0", "x1", "x2"), []),
    ("x0 - (x1 - x2)", ("sub", "x0", "sub", "x1", "x2"), []),
    ("x0/x1/x2", ("div", "div", "x0", "x1", "x2"), []),
    ("x0^2", ("square", "x0"), []),
    ("x0**3", ("cube", "x0"), []),
    ("x0**(1/2)", ("sqrt", "x0"), []),
    ("x0**-1", ("inv", "x0"), []),
    ("x0**1", ("x0",), []),
    ("x0^x1", ("pow", "x0", "x1"), []),
    ("x0**2.5", ("pow", "x0", "C"), [2.5]),
    ("x0**2.0", ("pow", "x0", "C"), [2.0]),       # a decimal exponent stays a constant
    ("1/x0", ("inv", "x0"), []),
    ("1.0/x0", ("div", "C", "x0"), [1.0]),
    ("2**x0", ("pow", "C", "x0"), [2.0]),
    ("x0**x1**x2", ("pow", "x0", "pow", "x1", "x2"), []),  # right-associative
    ("-x0", ("neg", "x0"), []),
    ("--x0", ("neg", "neg", "x0"), []),
    ("+x0", ("x0",), []),
    ("-x0**2", ("neg", "square", "x0"), []),
    ("(-x0)**2", ("square", "neg", "x0"), []),
    ("-2.5*x0", ("mul", "C", "x0"), [-2.5]),
    ("x0 - -2", ("sub", "x0", "C"), [-2.0]),
    ("2*pi*x0", ("mul", "C", "x0"), [2 * math.pi]),
    ("e**x0", ("pow", "C", "x0"), [math.e]),
    ("1/2*x0", ("mul", "C", "x0"), [0.5]),
    ("pow(x0, 2)", ("square", "x0"), []),
    ("pow(x0, 3)", ("cube", "x0"), []),
    ("pow(x0, -4)", ("pow", "x0", "C"), [-4.0]),
    ("pow(x0, 1/3)", ("pow", "x0", "C"), [1 / 3]),
    ("div(x0, 2)", ("div", "x0", "C"), [2.0]),
    ("div(1, x0)", ("inv", "x0"), []),
    ("cot(x0)", ("inv", "tan", "x0"), []),
    ("sec(x0)", ("inv", "cos", "x0"), []),
    ("csc(x0)", ("inv", "sin", "x0"), []),
    ("ln(x0)", ("log", "x0"), []),
    ("arcsin(x0) + arccos(x1) + arctan(x2)",
     ("add", "add", "asin", "x0", "acos", "x1", "atan", "x2"), []),
    ("abs(x0)", ("abs", "x0"), []),
    ("sqr(x0)", ("square", "x0"), []),
    ("np.sin(x0) + math.pi", ("add", "sin", "x0", "C"), [math.pi]),
    ("harmonic(x0)", ("harmonic", "x0"), []),
    # calls by token name are built as written: no folding of constants
    ("neg(2.5)", ("neg", "C"), [2.5]),
    ("add(1.5, 2)", ("add", "C", "C"), [1.5, 2.0]),
    ("square(3.0)", ("square", "C"), [3.0]),
    ("1.5 + 2", ("C",), [3.5]),
    ("-(2.5)", ("C",), [-2.5]),
])
def test_parse_examples(text, tokens, constants):
    e = Expression.parse(text)
    assert e.tokens == tokens
    np.testing.assert_allclose(e.constants, constants, rtol=1e-15)


def test_parse_variable_names():
    names = ["mass", "v", "gamma", "E_n", "C", "x1", "I"]
    e = Expression.parse("mass*v**2/2 + gamma*E_n - C*x1 + I", variable_names=names)
    assert e.variable_names == tuple(names)
    assert set(e.tokens) >= {"x0", "x1", "x2", "x3", "x4", "x5", "x6"}
    X = np.arange(1.0, 8.0).reshape(1, -1)
    m, v, g, en, c, x1, i = X[0]
    np.testing.assert_allclose(e.evaluate(X), [m * v**2 / 2 + g * en - c * x1 + i])
    # display names print back
    assert "mass" in str(e) and "gamma" in str(e)
    assert str(e.sympy().free_symbols) and {s.name for s in e.sympy().free_symbols} == set(names)
    # x1 is the variable named "x1" (index 5), not column 1
    assert Expression.parse("x1", variable_names=names).tokens == ("x5",)


def test_parse_named_variable_shadows_constant():
    assert Expression.parse("e", variable_names=["e"]).tokens == ("x0",)
    assert Expression.parse("pi*r**2", variable_names=["r"]).tokens == ("mul", "C", "square", "x0")


@pytest.mark.parametrize("text,names,match", [
    ("", None, "empty"),
    ("   ", None, "empty"),
    ("x0 +", None, "cannot parse"),
    ("sin(x0", None, "cannot parse"),
    ("x0 ** * 2", None, "cannot parse"),
    ("y + 1", None, "unknown variable 'y'"),
    ("x3 + a", ["a", "b"], "unknown variable 'x3'"),
    ("c + a", ["a", "b"], "unknown variable 'c'.*variables are"),
    ("foo(x0)", None, "unknown function 'foo'"),
    ("sin(x0, x1)", None, r"sin\(\) takes 1 argument, got 2"),
    ("pow(x0)", None, r"pow\(\) takes 2 arguments, got 1"),
    ("cot(x0, x1)", None, "cot"),
    ("x0 % 2", None, "unsupported operator"),
    ("x0 < 2", None, "unsupported"),
    ("'a'", None, "unsupported literal"),
    ("sin(x=x0)", None, "positional"),
    ("x0.real", None, "unsupported"),
    ("3j*x0", None, "unsupported literal"),
])
def test_parse_errors(text, names, match):
    with pytest.raises(ValueError, match=match):
        Expression.parse(text, variable_names=names)


def test_parse_error_quotes_formula():
    with pytest.raises(ValueError, match=r"'foo\(x0\) \+ 1'"):
        Expression.parse("foo(x0) + 1")


def test_parse_rejects_non_string():
    with pytest.raises(ValueError):
        Expression.parse(None)  # type: ignore[arg-type]


def test_bad_tokens_are_rejected():
    with pytest.raises(ValueError):
        Expression(["add", "x0"])
    with pytest.raises(ValueError):
        Expression(["x0", "x1"])
    with pytest.raises(ValueError):
        Expression(["frob", "x0"])
    with pytest.raises(ValueError):
        Expression([])
    with pytest.raises(ValueError, match="constant"):
        Expression(["add", "C", "C"], [1.0])


# ----------------------------------------------------------------------------
# printing and the string round trip
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("tokens,constants,text", [
    (("sub", "x0", "sub", "x1", "x2"), [], "x0 - (x1 - x2)"),
    (("add", "x0", "add", "x1", "x2"), [], "x0 + (x1 + x2)"),
    (("add", "add", "x0", "x1", "x2"), [], "x0 + x1 + x2"),
    (("div", "x0", "mul", "x1", "x2"), [], "x0/(x1*x2)"),
    (("mul", "x0", "inv", "x1"), [], "x0*(1/x1)"),
    (("neg", "square", "x0"), [], "-x0**2"),
    (("square", "neg", "x0"), [], "(-x0)**2"),
    (("neg", "neg", "x0"), [], "-(-x0)"),
    (("pow", "pow", "x0", "x1", "x2"), [], "(x0**x1)**x2"),
    (("pow", "x0", "pow", "x1", "x2"), [], "x0**(x1**x2)"),
    (("square", "square", "x0"), [], "(x0**2)**2"),
    (("neg", "C"), [2.5], "neg(2.5)"),
    (("neg", "C"), [-2.5], "neg(-2.5)"),
    (("mul", "C", "x0"), [-2.5], "-2.5*x0"),
    (("mul", "x0", "C"), [-2.5], "x0*(-2.5)"),
    (("pow", "C", "x0"), [-2.5], "(-2.5)**x0"),
    (("pow", "x0", "C"), [2.0], "x0**2.0"),
    (("square", "C"), [3.0], "square(3.0)"),
    (("add", "C", "C"), [1.0, 2.0], "add(1.0, 2.0)"),
    (("inv", "add", "x0", "x1"), [], "1/(x0 + x1)"),
    (("div", "C", "x0"), [1.0], "1.0/x0"),
])
def test_printer_brackets(tokens, constants, text):
    e = Expression(tokens, constants)
    assert e.to_string(precision=None) == text
    assert Expression.parse(text) == e
    assert Expression.parse(text).tokens == e.tokens


@pytest.mark.parametrize("kind", sorted(RANDOM))
def test_string_round_trip_random(kind):
    failures = []
    for e in RANDOM[kind]:
        text = e.to_string(precision=None)
        back = Expression.parse(text)
        if back.tokens != e.tokens or not np.array_equal(back.constants, e.constants):
            failures.append(f"{e.tokens} -> {text!r} -> {back.tokens}")
    assert not failures, "\n".join(failures[:10])


def test_string_round_trip_with_names():
    names = ["alpha", "beta_1", "T"]
    for e in RANDOM["all"][:100]:
        e = e.with_names(names)
        back = Expression.parse(e.to_string(), variable_names=names)
        assert back == e and back.tokens == e.tokens


def test_string_round_trip_awkward_constants():
    for value in [0.1, -0.0, 1e-300, 1.7976931348623157e308, 5e-324, 1 / 3, -2.0, 1e16,
                  123456789.123]:
        e = Expression(["add", "x0", "C"], [value])
        back = Expression.parse(e.to_string(precision=None))
        assert back == e, value
    for value in [math.inf, -math.inf]:
        e = Expression(["mul", "C", "x0"], [value])
        assert Expression.parse(e.to_string(precision=None)) == e


def test_precision_controls_digits():
    e = Expression(["mul", "C", "x0"], [math.pi])
    assert e.to_string(precision=3) == "3.14*x0"
    assert str(e) == "3.14159*x0"
    assert Expression.parse(e.to_string()).constants[0] == math.pi


# ----------------------------------------------------------------------------
# sympy and LaTeX
# ----------------------------------------------------------------------------

def _lambdify(syms, expr):
    # sympy's numpy/scipy printers drop the brackets around harmonic's rewrite
    # (x*harmonic(y) prints as x*polygamma(0, y + 1) + euler_gamma): spell it out
    expr = expr.replace(lambda n: isinstance(n, sympy.harmonic),
                        lambda n: sympy.Add(sympy.polygamma(0, n.args[0] + 1), sympy.EulerGamma,
                                            evaluate=False))
    return sympy.lambdify(syms, expr, modules=["scipy", "numpy"])


def test_sympy_agrees_with_evaluate_on_random_expressions():
    rng = np.random.default_rng(3)
    X = rng.uniform(-2.0, 2.0, size=(12, 3))
    syms = sympy.symbols("x0:3")
    checked = 0
    failures = []
    for e in RANDOM["default"] + RANDOM["all"]:
        expr = e.sympy()
        if expr.has(sympy.zoo, sympy.nan, sympy.I):  # 1/0 or a complex constant: skip
            continue
        fn = _lambdify(syms, expr)
        with np.errstate(all="ignore"):
            expected = e.evaluate(X)
            got = np.asarray(fn(*X.T), dtype=complex) * np.ones(len(X))
            # skip ill-conditioned points (cos(exp(exp(x))): float64 rounding alone
            # moves them), found by nudging the inputs and constants by 1e-10
            nudged = e.with_constants(e.constants * (1 + 1e-10)).evaluate(X * (1 + 1e-10))
            well_conditioned = np.abs(nudged - expected) <= 1e-6 * np.abs(expected) + 1e-8
        ok = (np.isfinite(expected) & np.isfinite(got) & (np.abs(got.imag) < 1e-9)
              & (np.abs(expected) < 1e6) & well_conditioned)
        if not ok.any():
            continue
        checked += 1
        if not np.allclose(got.real[ok], expected[ok], rtol=1e-6, atol=1e-8):
            failures.append(f"{e} | {expr}")
    assert checked > 500
    assert not failures, "\n".join(failures[:10])


def test_sympy_exact_constants():
    e = Expression.parse("0.5*x0 + 2*pi*x1 + 0.75 + x2**2.0")
    x0, x1, x2 = sympy.symbols("x0:3")
    assert e.sympy() == x0 / 2 + 2 * sympy.pi * x1 + sympy.Rational(3, 4) + x2**2
    loose = e.sympy(exact_constants=False)
    assert loose.atoms(sympy.Float)
    assert e.sympy(variable_names=["a", "b", "c"]).free_symbols == set(sympy.symbols("a b c"))
    pos = {"x0": sympy.Symbol("x0", positive=True)}
    assert sympy.sqrt(Expression.parse("x0**2").sympy(symbols=pos)) == pos["x0"]


@pytest.mark.parametrize("value,expected", [
    (0.0, sympy.Integer(0)),
    (3.0, sympy.Integer(3)),
    (-0.75, sympy.Rational(-3, 4)),
    (0.3, sympy.Rational(3, 10)),
    (1 / 3, sympy.Rational(1, 3)),
    (2 * math.pi, 2 * sympy.pi),
    (math.pi / 4, sympy.pi / 4),
    (math.pi**2, sympy.pi**2),
    (1 / math.pi, 1 / sympy.pi),
    (math.sqrt(math.pi), sympy.sqrt(sympy.pi)),
    (1.3939, sympy.Rational(13939, 10000)),
    (129.28, sympy.Rational(3232, 25)),
    (math.e, sympy.E),
    (3 * math.e / 2, 3 * sympy.E / 2),
    (1e15, sympy.Integer(10**15)),
    (math.inf, sympy.oo),
])
def test_constant_to_sympy_exact(value, expected):
    assert constant_to_sympy(value) == expected


@pytest.mark.parametrize("value", [0.54723748542, 2.1380940889, 1e-14, -3e-13, 1.2345678901234567,
                                   6.02214076e23, 2.0**60, math.e + 1e-9])
def test_constant_to_sympy_keeps_floats(value):
    got = constant_to_sympy(value)
    assert isinstance(got, sympy.Float)
    assert float(got) == value


def test_latex_is_a_string():
    e = Expression.parse("x0*sin(x1)/sqrt(x2) + 1.2345678*exp(-x0**2)")
    tex = e.latex()
    assert isinstance(tex, str) and "\\sin" in tex and "1.235" in tex
    assert "\\alpha" in e.latex(variable_names=["alpha", "beta", "gamma"])
    for e in RANDOM["all"][:50]:
        assert isinstance(e.latex(), str)


# ----------------------------------------------------------------------------
# from_sympy
# ----------------------------------------------------------------------------

def test_from_sympy_round_trip_random():
    failures = []
    checked = 0
    for e in RANDOM["default"][:150]:
        expr = e.sympy()
        if expr.has(sympy.I, sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            continue
        checked += 1
        try:
            back = Expression.from_sympy(expr).sympy()
        except ValueError as exc:  # e.g. sympy produced a function we have no operator for
            failures.append(f"{expr}: {exc}")
            continue
        if back != expr and sympy.simplify(back - expr) != 0:
            failures.append(f"{expr} -> {back}")
    assert not failures, "\n".join(failures[:10])
    assert checked >= 100, checked


def test_from_sympy_forms():
    x, y = sympy.symbols("x y")
    e = Expression.from_sympy(x**2 + 3 * sympy.sqrt(y) - 1 / x, variable_names=["x", "y"])
    assert set(e.tokens) >= {"square", "sqrt", "inv"}
    assert Expression.from_sympy(sympy.cot(x), ["x"]).tokens == ("inv", "tan", "x0")
    assert Expression.from_sympy(sympy.exp(-x), ["x"]).tokens == ("exp", "neg", "x0")
    with pytest.raises(ValueError):
        Expression.from_sympy(sympy.gamma(x), ["x"])
    with pytest.raises(ValueError):
        Expression.from_sympy(sympy.Symbol("z"), ["x"])


# ----------------------------------------------------------------------------
# keys, complexity, equality, serialisation
# ----------------------------------------------------------------------------

def test_key_is_canonical_for_commutative_operators():
    k = lambda text: Expression.parse(text).key()
    assert k("x0 + x1") == k("x1 + x0")
    assert k("x0*x1") == k("x1*x0")
    assert k("(x0 + x1)*sin(x2)") == k("sin(x2)*(x1 + x0)")
    assert k("x2 + (x0 + x1)") == k("(x1 + x0) + x2")
    assert k("2.5*x0 + 1") == k("x0*3 + 7")            # the skeleton ignores values
    assert k("x0 - x1") != k("x1 - x0")
    assert k("x0/x1") != k("x1/x0")
    assert k("x0 + x1") != k("x0*x1")
    assert k("sin(x0)") != k("cos(x0)")
    assert k("x0 + 1") != k("x0 + x1")
    a = Expression.parse("2.5*x0 + 1")
    b = Expression.parse("x0*2.5 + 1")
    c = Expression.parse("x0*2.6 + 1")
    assert a.key(constants=True) == b.key(constants=True) != c.key(constants=True)


def test_complexity():
    assert Expression.parse("x0").complexity == 1
    assert Expression.parse("x0 + 1").complexity == 3
    assert Expression.parse("sin(x0*x1)").complexity == 4
    for e in RANDOM["all"][:100]:
        assert e.complexity == sum(ops.OPERATORS[t].complexity if t in ops.OPERATORS else 1
                                   for t in e.tokens)


def test_properties():
    e = Expression.parse("x0*sin(x3) + 2.5 - x0")
    assert len(e) == len(e.tokens)
    assert e.n_constants == 1
    assert e.variables == (0, 3)
    assert e.n_variables == 4
    assert e.subtree_end(0) == len(e)
    assert e.const_offset(len(e)) == 1
    assert e.with_constants([7.0]).constants.tolist() == [7.0]
    assert e.name_of(3) == "x3"
    assert e.with_names(["a", "b", "c", "d"]).name_of(3) == "d"
    assert Expression(["add", "C", "C"]).constants.tolist() == [1.0, 1.0]


def test_equality_and_hash():
    a = Expression.parse("x0 + 0.5")
    b = Expression.parse("x0 + 0.5", variable_names=["x0"])
    assert a == b and hash(a) == hash(b)
    assert a != Expression.parse("x0 + 0.25")
    assert a != Expression.parse("0.5 + x0")
    # equal expressions hash equally, even with -0.0 and NaN constants
    z1 = Expression(["add", "x0", "C"], [0.0])
    z2 = Expression(["add", "x0", "C"], [-0.0])
    assert z1 == z2 and hash(z1) == hash(z2)
    n = Expression(["add", "x0", "C"], [math.nan])
    assert n == Expression(["add", "x0", "C"], [math.nan])
    assert hash(n) == hash(Expression(["add", "x0", "C"], [math.nan]))
    assert len({a, b, z1, z2}) == 2


def test_to_dict_from_dict():
    for e in RANDOM["all"][:100] + [Expression.parse("a*exp(b)", variable_names=["a", "b"])]:
        data = e.to_dict()
        json.dumps(data)
        back = Expression.from_dict(json.loads(json.dumps(data)))
        assert back == e and back.tokens == e.tokens
        assert back.variable_names == e.variable_names
        assert np.array_equal(back.constants, e.constants)


def test_pickle():
    e = Expression.parse("a*exp(b) + 1.5", variable_names=["a", "b"])
    back = pickle.loads(pickle.dumps(e))
    assert back == e and back.variable_names == e.variable_names


# ----------------------------------------------------------------------------
# numerical evaluation
# ----------------------------------------------------------------------------

def test_evaluate_values():
    X = np.array([[1.0, 2.0], [3.0, -4.0]])
    np.testing.assert_allclose(Expression.parse("x0*x1 + 1").evaluate(X), [3.0, -11.0])
    np.testing.assert_allclose(Expression.parse("2.5").evaluate(X), [2.5, 2.5])
    np.testing.assert_allclose(Expression.parse("x1").evaluate(X), [2.0, -4.0])
    np.testing.assert_allclose(Expression.parse("x0**2").evaluate(np.array([1.0, 2.0])), [1.0, 4.0])
    out = Expression.parse("x1").evaluate(X)
    out[0] = 99.0
    assert X[0, 1] == 2.0  # a copy, not a view of X


def test_evaluate_never_raises_out_of_domain():
    X = np.array([[-1.0, 0.0], [0.0, 0.0], [1000.0, 2.0], [np.nan, np.inf]])
    with np.errstate(all="raise"):  # evaluate sets its own error state
        for text in ["log(x0)", "sqrt(x0)", "x0/x1", "1/x1", "exp(x0)", "asin(x0 + 1.5)",
                     "x0**0.5", "acos(x0*1000)", "harmonic(-x0 - 1)", "x0**x1 + sinh(x0)",
                     "cosh(x0)*tan(x1)", "1/x1 - 1/x1"]:
            out = Expression.parse(text).evaluate(X)
            assert out.shape == (4,) and out.dtype == np.float64
            assert not np.isfinite(out).all(), text
    for e in RANDOM["all"]:
        out = e.evaluate(X[:, [0, 1, 1]])
        assert out.shape == (4,)


def test_evaluate_checks_columns():
    with pytest.raises(ValueError, match="x2"):
        Expression.parse("x0 + x2").evaluate(np.zeros((3, 2)))


def test_evaluate_matches_direct_numpy():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2.0, size=(50, 2))
    e = Expression.parse("sin(x0)*exp(-x1) + sqrt(x0)/log(x1 + 2) - x0**x1")
    x0, x1 = X.T
    expected = np.sin(x0) * np.exp(-x1) + np.sqrt(x0) / np.log(x1 + 2) - x0**x1
    np.testing.assert_allclose(e.evaluate(X), expected, rtol=1e-14)


def test_constant_placeholder_name():
    assert CONST == "C"
    e = Expression.parse("C*x0", variable_names=["C", "x0"])
    assert e.tokens == ("mul", "x0", "x1")


def test_the_parser_stands_below_expression():
    """symreg.parse reads formulas into tokens knowing only the operators, so
    Expression.parse can wrap it without an import cycle."""
    code = ("import sys; from symreg.parse import parse_formula, sympy_tokens; "
            "print(parse_formula('x0*sin(x1) + 2.5')); print(sympy_tokens('2*y', ['y'])); "
            "print('symreg.expression' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["(['add', 'mul', 'x0', 'sin', 'x1', 'C'], [2.5])",
                   "(['mul', 'C', 'x0'], [2.0])", "False"]
    e = Expression.parse("x0*sin(x1) + 2.5")
    assert (list(e.tokens), e.constants.tolist()) == (['add', 'mul', 'x0', 'sin', 'x1', 'C'],
                                                      [2.5])
