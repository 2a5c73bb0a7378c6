"""Exports (symreg.export): torch module, numpy callable, sympy, LaTeX table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sympy
import torch

from symreg import SymbolicRegressor
from symreg import operators as ops
from symreg.export import (
    NumpyFunction,
    SymbolicModule,
    _latex_number,
    latex_table,
    to_latex,
    to_numpy,
    to_sympy,
    to_torch,
)
from symreg.expression import Expression

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n: int = 150):
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"r": rng.uniform(0.5, 2.0, n), "theta": rng.uniform(-1.5, 1.5, n)})
    y = 1.7 * np.exp(-0.8 * X["r"]) * np.cos(X["theta"]) + 0.3
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = _data()
    model = SymbolicRegressor(maxsize=14, time_budget=2.0, random_state=0,
                              operators=["+", "-", "*", "/", "exp", "cos", "square"])
    model.fit(X, y)
    return model, X, y


def test_torch_module_reproduces_predictions(fitted):
    model, X, _ = fitted
    for index in [None, *range(len(model.equations_))]:
        module = model.torch(index)
        assert isinstance(module, SymbolicModule) and isinstance(module, torch.nn.Module)
        expected = model.predict(X, index=index)
        with torch.no_grad():
            got64 = module(torch.as_tensor(np.array(X), dtype=torch.float64)).numpy()
            got32 = module(torch.as_tensor(np.array(X), dtype=torch.float32)).numpy()
        assert got64.shape == expected.shape == (len(X),)
        np.testing.assert_allclose(got64, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got32, expected, rtol=1e-6, atol=1e-6)
        # a float32 module computes in float32, still to 1e-6 on this scale
        with torch.no_grad():
            f32 = to_torch(model, index, dtype=torch.float32)(torch.as_tensor(
                np.array(X), dtype=torch.float32)).numpy()
        assert f32.dtype == np.float32
        np.testing.assert_allclose(f32, expected, rtol=1e-5, atol=1e-5)


def test_torch_module_constants_are_parameters(fitted):
    model, _, _ = fitted
    module = model.torch()
    params = dict(module.named_parameters())
    assert list(params) == ["constants"]
    assert params["constants"].requires_grad
    np.testing.assert_array_equal(params["constants"].detach().numpy(), model.best_.constants)
    assert module.to_expression() == model.best_
    assert str(model.best_) in repr(module)
    # state_dict round trip into a fresh module
    fresh = to_torch(model)
    fresh.load_state_dict(module.state_dict())
    assert fresh.to_expression() == module.to_expression()


def test_torch_module_can_be_fine_tuned():
    X, y = _data()
    Xt = torch.as_tensor(np.array(X))
    yt = torch.as_tensor(np.array(y))
    # the right form with wrong constants: gradient steps must bring the loss down
    expr = Expression.parse("1.0*exp(-0.5*r)*cos(theta) + 0.0", ["r", "theta"])
    module = to_torch(expr)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = torch.mean((module(Xt) - yt) ** 2)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    tuned = module.to_expression()
    assert tuned.tokens == expr.tokens
    assert not np.allclose(tuned.constants, expr.constants)
    np.testing.assert_allclose(tuned.evaluate(X), module(Xt).detach().numpy(), rtol=1e-12)


def test_every_operator_has_matching_torch_and_numpy_forms():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.2, 0.9, size=(50, 2))
    for op in ops.OPERATORS.values():
        tokens = [op.name, "x0", "x1"] if op.arity == 2 else [op.name, "x0"]
        expr = Expression(tokens)
        got = to_torch(expr)(torch.as_tensor(X)).detach().numpy()
        np.testing.assert_allclose(got, expr.evaluate(X), rtol=1e-12, err_msg=op.name)
        np.testing.assert_allclose(to_numpy(expr)(X), expr.evaluate(X), rtol=1e-12,
                                   err_msg=op.name)


def test_constant_formula_and_out_of_domain():
    X = np.array([[1.0], [-1.0], [0.0]])
    const = Expression(["C"], [2.5])
    assert to_numpy(const)(X).tolist() == [2.5, 2.5, 2.5]
    assert to_torch(const)(torch.as_tensor(X)).tolist() == [2.5, 2.5, 2.5]
    logx = Expression(["log", "x0"])
    out = to_numpy(logx)(X)
    assert out[0] == 0.0 and np.isnan(out[1]) and out[2] == -np.inf
    with pytest.raises(ValueError, match="columns"):
        to_numpy(Expression(["x1"]))(X)
    with pytest.raises(ValueError, match="columns"):
        to_torch(Expression(["x1"]))(torch.as_tensor(X))


def test_numpy_function(fitted):
    model, X, _ = fitted
    f = model.numpy_function()
    assert isinstance(f, NumpyFunction)
    np.testing.assert_array_equal(f(X.to_numpy()), model.predict(X))
    np.testing.assert_array_equal(f(X.to_numpy().tolist()), model.predict(X))
    assert "NumpyFunction(" in repr(f)


def test_sympy_and_latex(fitted):
    model, _, _ = fitted
    assert to_sympy(model) == model.sympy()
    assert to_sympy(model, 0) == model.sympy(0)
    assert to_latex(model) == model.latex()
    assert to_sympy(model).free_symbols <= {sympy.Symbol("r"), sympy.Symbol("theta")}
    with pytest.raises(ValueError, match="index"):
        to_sympy(model.best_, 0)
    with pytest.raises(TypeError):
        to_numpy("x0 + 1")


def test_latex_table(fitted):
    model, _, _ = fitted
    text = latex_table(model, target="E")
    assert text == model.latex_table(target="E")
    assert text.startswith(r"\begin{table}") and r"\toprule" in text and r"\bottomrule" in text
    rows = [ln for ln in text.splitlines() if ln.endswith(r"\\") and "&" in ln][1:]
    assert len(rows) == len(model.equations_)
    bold = [i for i, ln in enumerate(rows) if r"\textbf" in ln]
    assert bold == [model.best_index_]
    for ln in rows:
        assert ln.count("&") == 3
        assert "E = " in ln
        assert ln.count("{") == ln.count("}")
        assert ln.count("$") % 2 == 0


def test_latex_numbers():
    assert _latex_number(0.0123) == "0.0123"
    assert _latex_number(1.5e-7) == r"1.5 \times 10^{-7}"
    assert _latex_number(1e-12) == "10^{-12}"
    assert _latex_number(float("inf")) == r"\infty"


def test_unfitted_model_has_nothing_to_export():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        to_torch(SymbolicRegressor())
    with pytest.raises(NotFittedError):
        latex_table(SymbolicRegressor())


def test_numpy_and_torch_forms_are_the_expressions_own_evaluation():
    rng = np.random.default_rng(2)
    X = rng.uniform(-2.0, 2.0, size=(40, 2))
    e = Expression.parse("2.5*sin(x0) + abs(x1)**1.5 - exp(-0.5*x0*x1)")
    f = to_numpy(e)
    module = to_torch(e)
    expected = e.evaluate(X)
    np.testing.assert_array_equal(f(X), expected)
    np.testing.assert_allclose(module(torch.as_tensor(X)).detach().numpy(), expected,
                               rtol=1e-14)
    # both took their constants when made: later changes to the expression's do not leak in
    e.constants[0] = 7.0
    np.testing.assert_array_equal(f(X), expected)
    np.testing.assert_allclose(module(torch.as_tensor(X)).detach().numpy(), expected,
                               rtol=1e-14)
    # each constant is its own entry of the parameter vector: the gradient of the
    # sum of predictions by the first (2.5) is the sum of sin(x0)
    module(torch.as_tensor(X)).sum().backward()
    assert module.constants.grad[0].item() == pytest.approx(np.sin(X[:, 0]).sum(), rel=1e-12)
