"""Tests of the operator registry (symreg.operators): the torch, numpy and sympy
forms of every operator agree, the partials agree with autograd, and nothing
raises outside an operator's domain."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from symreg import operators as ops

ALL = sorted(ops.OPERATORS)

# points inside each operator's domain (away from poles and branch cuts)
_GRID = np.linspace(-2.5, 2.5, 41)
_POSITIVE = np.linspace(0.05, 4.0, 41)
_UNIT = np.linspace(-0.95, 0.95, 41)
UNARY_DOMAIN = {
    "sqrt": _POSITIVE, "log": _POSITIVE, "asin": _UNIT, "acos": _UNIT,
    "tan": np.linspace(-1.4, 1.4, 41), "inv": _POSITIVE,
    "harmonic": np.linspace(-0.9, 4.0, 41),
}
_rng = np.random.default_rng(0)
_A, _B = _rng.uniform(-2.5, 2.5, 200), _rng.uniform(-2.5, 2.5, 200)
BINARY_DOMAIN = {
    "div": (_A, np.where(np.abs(_B) < 0.1, 0.1, _B)),
    "pow": (_rng.uniform(0.1, 3.0, 200), _B),
}


def _points(op: ops.Operator) -> tuple[np.ndarray, ...]:
    if op.arity == 1:
        x = UNARY_DOMAIN.get(op.name, _GRID)
        if op.name == "abs":
            x = x[np.abs(x) > 1e-3]  # the derivative of |x| at 0 is a convention
        return (x,)
    return BINARY_DOMAIN.get(op.name, (_A, _B))


def _sympy_values(op: ops.Operator, args: tuple[np.ndarray, ...]) -> np.ndarray:
    """The sympy form, evaluated exactly (mpmath) point by point."""
    syms = sympy.symbols(f"a0:{op.arity}")
    expr = op.sympy_fn(*syms)
    out = []
    for point in zip(*args):
        value = expr.subs({s: sympy.Float(float(v), 30) for s, v in zip(syms, point)}).evalf(20)
        out.append(complex(value).real if value.is_real is not False else math.nan)
    return np.array(out)


@pytest.mark.parametrize("name", ALL)
def test_forms_agree(name):
    op = ops.OPERATORS[name]
    args = _points(op)
    with np.errstate(all="ignore"):
        numpy_values = np.asarray(op.numpy_fn(*args), dtype=np.float64)
    torch_values = op.torch_fn(*(torch.as_tensor(a, dtype=torch.float64) for a in args)).numpy()
    sympy_values = _sympy_values(op, args)
    assert numpy_values.shape == args[0].shape
    assert np.isfinite(numpy_values).all()
    np.testing.assert_allclose(torch_values, numpy_values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sympy_values, numpy_values, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_sympy_form_lambdifies(name):
    op = ops.OPERATORS[name]
    syms = sympy.symbols(f"a0:{op.arity}")
    fn = sympy.lambdify(syms, op.sympy_fn(*syms), modules=["scipy", "numpy"])
    args = _points(op)
    with np.errstate(all="ignore"):
        expected = op.numpy_fn(*args)
        got = np.broadcast_to(fn(*args), expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_partials_match_autograd(name):
    op = ops.OPERATORS[name]
    args = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in _points(op)]
    out = op.torch_fn(*args)
    grads = torch.autograd.grad(out.sum(), args)
    with torch.no_grad():
        partials = op.torch_partials([a.detach() for a in args], out.detach())
    assert len(partials) == op.arity
    for p, g in zip(partials, grads):
        p = torch.broadcast_to(p, g.shape)
        torch.testing.assert_close(p, g, rtol=1e-9, atol=1e-12)


def test_pow_partials_at_zero_base_match_autograd():
    a = torch.tensor([0.0, 0.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.0, 0.5, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
    out = torch.pow(a, b)
    ga, gb = torch.autograd.grad(out.sum(), [a, b])
    pa, pb = ops.get("pow").torch_partials([a.detach(), b.detach()], out.detach())
    torch.testing.assert_close(pa, ga)
    torch.testing.assert_close(pb, gb)
    assert torch.isfinite(pb).all()


# out-of-domain: (operator, arguments, predicate on the result)
OUT_OF_DOMAIN = [
    ("log", (-1.0,), np.isnan),
    ("log", (0.0,), lambda v: v == -np.inf),
    ("sqrt", (-1.0,), np.isnan),
    ("div", (1.0, 0.0), lambda v: v == np.inf),
    ("div", (0.0, 0.0), np.isnan),
    ("inv", (0.0,), lambda v: v == np.inf),
    ("exp", (1000.0,), lambda v: v == np.inf),
    ("asin", (2.0,), np.isnan),
    ("acos", (-2.0,), np.isnan),
    ("pow", (-2.0, 0.5), np.isnan),
    ("pow", (0.0, -1.0), lambda v: v == np.inf),
    ("cosh", (1000.0,), lambda v: v == np.inf),
    ("sinh", (-1000.0,), lambda v: v == -np.inf),
    ("square", (1e200,), lambda v: v == np.inf),   # inf in float32 already: still inf
    ("cube", (-1e200,), lambda v: v == -np.inf),
    ("harmonic", (-1.0,), lambda v: not np.isfinite(v)),
    ("sin", (np.inf,), np.isnan),
    ("mul", (np.inf, 0.0), np.isnan),
    ("add", (np.inf, -np.inf), np.isnan),
]


@pytest.mark.parametrize("name,args,check", OUT_OF_DOMAIN,
                         ids=[f"{n}{a}" for n, a, _ in OUT_OF_DOMAIN])
def test_out_of_domain_gives_nan_or_inf_in_numpy(name, args, check):
    op = ops.get(name)
    with np.errstate(all="ignore"):
        scalar = op.numpy_fn(*args)
        array = op.numpy_fn(*(np.full(3, a) for a in args))
    assert check(float(scalar))
    assert all(check(float(v)) for v in array)


@pytest.mark.parametrize("name,args,check", OUT_OF_DOMAIN,
                         ids=[f"{n}{a}" for n, a, _ in OUT_OF_DOMAIN])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_out_of_domain_gives_nan_or_inf_in_torch(name, args, check, dtype):
    op = ops.get(name)
    ftype = np.float32 if dtype == torch.float32 else np.float64
    with np.errstate(all="ignore"):  # 1e200 overflows to inf in float32
        values = [np.full(3, a).astype(ftype) for a in args]
    out = op.torch_fn(*(torch.as_tensor(v) for v in values))
    assert out.dtype == dtype
    assert all(check(float(v)) for v in out)


@pytest.mark.parametrize("name", ALL)
def test_nothing_raises_on_bad_numbers(name):
    op = ops.OPERATORS[name]
    bad = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1e308, -1e308, 1e-320])
    args = [bad] * op.arity if op.arity == 1 else [np.repeat(bad, len(bad)), np.tile(bad, len(bad))]
    with np.errstate(all="ignore"):
        np_out = np.asarray(op.numpy_fn(*args), dtype=np.float64)
    t_args = [torch.as_tensor(a) for a in args]
    t_out = op.torch_fn(*t_args).numpy()
    assert np_out.shape == t_out.shape == args[0].shape
    # where both are finite, they agree
    both = np.isfinite(np_out) & np.isfinite(t_out)
    np.testing.assert_allclose(t_out[both], np_out[both], rtol=1e-9, atol=1e-12)
    partials = op.torch_partials(t_args, torch.as_tensor(t_out))
    assert len(partials) == op.arity


def test_integer_input_is_computed_in_float():
    # integer numpy arithmetic would give a garbage reciprocal or raise on 2**-1
    with np.errstate(all="ignore"):
        assert ops.get("inv").numpy_fn(np.array([0, 2]))[0] == np.inf
        assert ops.get("inv").numpy_fn(np.array([0, 2]))[1] == 0.5
        assert ops.get("pow").numpy_fn(2, -1) == 0.5
        assert ops.get("pow").numpy_fn(np.array([2]), np.array([-2]))[0] == 0.25
        assert ops.get("div").numpy_fn(1, 0) == np.inf


def test_numpy_forms_keep_float32():
    x = np.linspace(0.1, 0.9, 5, dtype=np.float32)
    for name in ALL:
        op = ops.OPERATORS[name]
        out = op.numpy_fn(*([x] * op.arity))
        assert np.asarray(out).dtype == np.float32, name


def test_registry_is_consistent():
    for name, op in ops.OPERATORS.items():
        assert op.name == name
        assert op.arity in (1, 2)
        assert op.complexity >= 1
        assert ops.get(name) is op
        for alias in op.aliases:
            assert ops.get(alias) is op
        if op.commutative:
            assert op.arity == 2
        if op.symbol is not None:
            assert op.arity == 2


def test_resolve_operators_gives_registry_names():
    got = ops.resolve_operators(["+", "*", "/", "sin", "exp"])
    assert got == ("add", "mul", "div", "exp", "sin")
    assert ops.resolve_operators("+, -, ln") == ("add", "sub", "log")
    assert ops.resolve_operators(["sin", "SIN", "sin"]) == ("sin",)
    assert ops.resolve_operators(["**", "arcsin", "plus"]) == ("add", "pow", "asin")
    assert ops.resolve_operators(None) == ops.DEFAULT_OPERATORS


def test_unknown_operator_is_named():
    with pytest.raises(ValueError, match="frobnicate"):
        ops.resolve_operators(["add", "frobnicate"])
    with pytest.raises(ValueError, match="frobnicate"):
        ops.get("frobnicate")
    with pytest.raises(ValueError):
        ops.resolve_operators([])


def test_default_operators_are_registered():
    assert ops.DEFAULT_OPERATORS
    assert set(ops.DEFAULT_OPERATORS) <= set(ops.OPERATORS)
    assert len(set(ops.DEFAULT_OPERATORS)) == len(ops.DEFAULT_OPERATORS)
    # in registry order, as resolve_operators returns them
    assert ops.resolve_operators(list(ops.DEFAULT_OPERATORS)) == ops.DEFAULT_OPERATORS
