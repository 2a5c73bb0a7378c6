"""The benchmark method adapters: uniform interface, faithful formulas, honoured budgets."""

from __future__ import annotations

import importlib.util
import json
import time

import numpy as np
import pytest
import sympy

from symreg.bench.methods import METHOD_NAMES, FittedModel, Method, get_method
from symreg.datasets.metrics import parse_formula

BUDGET = 2.0
NAMES = ["x1", "x2"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2.0, 2.0, size=(100, 2))
    return X, X[:, 0] * X[:, 1] + 1.0


def _evaluate(formula: str, names: list[str], X: np.ndarray) -> np.ndarray:
    fn = sympy.lambdify([sympy.Symbol(n) for n in names], parse_formula(formula), "numpy")
    with np.errstate(all="ignore"):
        return np.broadcast_to(np.asarray(fn(*X.T), dtype=np.float64), (len(X),))


def test_get_method_names():
    assert METHOD_NAMES == ("symreg", "symreg+transformer", "symreg+neural", "operon", "rils",
                            "gplearn", "pysr")
    for name in METHOD_NAMES:
        method = get_method(name)
        assert isinstance(method, Method) and method.name == name
        msg = method.missing()
        assert msg is None or (isinstance(msg, str) and msg and "\n" not in msg)


def test_get_method_unknown():
    with pytest.raises(ValueError, match="symreg, symreg\\+transformer, symreg\\+neural, operon, rils, gplearn, pysr"):
        get_method("nope")


def test_pysr_missing_here():
    if importlib.util.find_spec("pysr") is not None:
        pytest.skip("pysr is installed")
    msg = get_method("pysr").missing()
    assert msg and "pip install pysr" in msg


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_fit_formula_matches_predict(name, data):
    method = get_method(name)
    if method.missing():
        pytest.skip(method.missing())
    X, y = data
    start = time.perf_counter()
    model = method.fit(X, y, NAMES, time_budget=BUDGET, seed=0, n_threads=1)
    wall = time.perf_counter() - start
    assert isinstance(model, FittedModel)
    assert wall < 3 * BUDGET + 5, f"{name} took {wall:.1f} s on a {BUDGET} s budget"
    expr = parse_formula(model.formula)
    assert {s.name for s in expr.free_symbols} <= set(NAMES)
    got = _evaluate(model.formula, NAMES, X)
    want = np.asarray(model.predict(X), dtype=np.float64)
    assert want.shape == (len(X),)
    close = np.isclose(got, want, rtol=1e-3, atol=1e-6 * (1 + np.abs(want).max()))
    r2 = 1 - np.sum((got - want) ** 2) / max(np.sum((want - want.mean()) ** 2), 1e-300)
    assert close.all() or r2 > 0.999, f"{name}: {model.formula}"
    assert model.info["formula_agreement"] is not None and model.info["formula_agreement"] > 0.9
    json.dumps(model.info)  # the harness logs it


def test_rils_names_are_mapped_in_one_pass():
    from symreg.bench.methods import _rils_to_python

    names = [f"v{i}" for i in range(12)]
    text = _rils_to_python("((x1*x10)+ln(pow(x0,-1.5)))/exp(x11)", names)
    assert text == "((v1*v10)+log(pow(v0,-1.5)))/exp(v11)"
    # new names that look like old ones are not renamed again
    assert _rils_to_python("(x0+x1)", ["x1", "x0"]) == "(x1+x0)"


def test_gplearn_program_translation():
    pytest.importorskip("gplearn")
    from gplearn.functions import _function_map

    from symreg.bench.methods import _gplearn_to_python

    f = _function_map
    program = [f["add"], f["div"], 0, f["sqrt"], 1, f["mul"], f["log"], 1, -0.1234567]
    text = _gplearn_to_python(program, ["a", "b"])
    assert text == "((a/sqrt(Abs(b))) + (log(Abs(b))*(-0.1234567)))"
    a, b = sympy.symbols("a b")
    assert sympy.simplify(parse_formula(text)
                          - (a / sympy.sqrt(sympy.Abs(b)) - 0.1234567 * sympy.log(sympy.Abs(b)))) == 0
