"""Tests of the batch evaluator (symreg.evaluate): predictions and losses agree
with Expression.evaluate and with losses computed by hand, with and without
shared subtrees, across chunkings, dtypes and devices; forward-mode tangents
agree with finite differences."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from symreg import operators as ops
from symreg.evaluate import LOSSES, compile_batch, evaluate_batch, resolve_device
from symreg.expression import Expression
from symreg.generate import random_expressions

RNG = np.random.default_rng(0)
X3 = RNG.uniform(-2.0, 2.0, size=(300, 3))
EXPRS = (random_expressions(600, 3, None, seed=21, const_prob=0.3)
         + random_expressions(400, 3, list(ops.OPERATORS), seed=22, const_prob=0.3))


def _reference(exprs, X) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.stack([e.evaluate(X) for e in exprs])


def _well_conditioned(exprs, X, ref, nudge=1e-10, rtol=1e-6) -> np.ndarray:
    """Points where nudging the inputs and constants by ``nudge`` (relative) moves
    the value by at most ``rtol``: elsewhere (cos(exp(exp(x))), x/(y - y')) the
    last-bit differences between numpy's and torch's functions, or between torch's
    vectorised and scalar code paths, are amplified beyond any tolerance."""
    with np.errstate(all="ignore"):
        moved = np.stack([e.with_constants(e.constants * (1 + nudge)).evaluate(X * (1 + nudge))
                          for e in exprs])
        return np.abs(moved - ref) <= rtol * np.abs(ref) + 1e-9


REF = _reference(EXPRS, X3)
STABLE = _well_conditioned(EXPRS, X3, REF)
SUB = EXPRS[:300:2] + EXPRS[600::2]  # a smaller set over all operators, for the loss tests


@functools.cache
def _pred64() -> np.ndarray:
    """Float64 predictions of EXPRS on X3 (shared subtrees), computed once."""
    out = evaluate_batch(EXPRS, X3, dtype=torch.float64, device="cpu", share_subtrees=True)
    out.flags.writeable = False
    return out


def _pred64_sub() -> np.ndarray:
    return np.concatenate([_pred64()[:300:2], _pred64()[600::2]])


def _comparable(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.isfinite(a) & np.isfinite(b) & (np.abs(a) <= 1e6) & (np.abs(b) <= 1e6)


def _assert_same(a: np.ndarray, b: np.ndarray, stable: np.ndarray, rtol: float = 1e-12) -> None:
    """The same values, up to the last bit: torch's CPU kernels take a vectorised
    path and a scalar path for a tensor's tail, and how a batch is grouped and
    chunked moves points between them (cosh, for one, differs in the last ulp)."""
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    assert ((a == b) | np.isnan(b)).mean() > 0.99
    ok = stable & np.isfinite(b)
    np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=1e-12)


# ----------------------------------------------------------------------------
# predictions
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("share", [True, False])
def test_predictions_match_expression_evaluate(share):
    pred = (_pred64() if share else
            evaluate_batch(EXPRS, X3, dtype=torch.float64, device="cpu", share_subtrees=False))
    assert pred.shape == (len(EXPRS), len(X3)) and pred.dtype == np.float64
    ok = _comparable(pred, REF) & STABLE
    assert ok.mean() > 0.5
    bad = np.nonzero(~np.isclose(pred, REF, rtol=1e-6, atol=1e-9) & ok)
    assert bad[0].size == 0, [str(EXPRS[i]) for i in np.unique(bad[0])[:10]]
    # where the reference is finite (and moderate), so is the batch result
    assert np.isfinite(pred[np.isfinite(REF) & (np.abs(REF) < 1e6)]).mean() > 0.999


def test_sharing_changes_nothing():
    b = evaluate_batch(SUB, X3, dtype=torch.float64, device="cpu", share_subtrees=False)
    stable = np.concatenate([STABLE[:300:2], STABLE[600::2]])
    _assert_same(b, _pred64_sub(), stable)


def test_sharing_shares():
    texts = ["sin(x0) + x1", "sin(x0)*x1", "exp(sin(x0))", "x1 + sin(x0)"]
    exprs = [Expression.parse(t) for t in texts]
    shared = compile_batch(exprs, 2, share_subtrees=True)
    plain = compile_batch(exprs, 2, share_subtrees=False)
    assert shared.n_rows < plain.n_rows
    # identical whole expressions are computed once too
    twice = compile_batch([exprs[0], exprs[0]], 2, share_subtrees=True)
    assert twice.roots[0] == twice.roots[1]


def test_leaf_only_expressions():
    exprs = [Expression.parse("x1"), Expression.parse("2.5"), Expression.parse("x0")]
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    pred = evaluate_batch(exprs, X, dtype=torch.float64, device="cpu")
    np.testing.assert_array_equal(pred, [[2.0, 4.0], [2.5, 2.5], [1.0, 3.0]])


def test_float32_default_matches_float64():
    p32 = evaluate_batch(EXPRS, X3, device="cpu")
    p64 = _pred64()
    assert p32.dtype == np.float64  # returned as float64 either way
    # float32 and float64 differ by rounding only, where the function is not
    # ill-conditioned at float32's precision
    stable = _well_conditioned(EXPRS, X3, REF, nudge=1e-6, rtol=1e-4)
    ok = _comparable(p32, p64) & stable
    assert ok.mean() > 0.5
    assert np.isclose(p32, p64, rtol=1e-3, atol=1e-4)[ok].mean() > 0.999


def test_one_dimensional_X_and_lists():
    e = [Expression.parse("x0**2 + 1")]
    np.testing.assert_allclose(evaluate_batch(e, [1.0, 2.0, 3.0], device="cpu"), [[2.0, 5.0, 10.0]])
    np.testing.assert_allclose(evaluate_batch(e, [[1.0], [2.0]], [2.0, 5.0], device="cpu"), [0.0])


def test_empty_list():
    pred = evaluate_batch([], X3, device="cpu")
    assert pred.shape == (0, len(X3))
    loss = evaluate_batch([], X3, np.zeros(len(X3)), device="cpu")
    assert loss.shape == (0,)


def test_no_points():
    e = [Expression.parse("x0 + 1"), Expression.parse("sin(x1)")]
    pred = evaluate_batch(e, np.zeros((0, 2)), device="cpu")
    assert pred.shape == (2, 0)


def test_variable_beyond_columns_raises():
    with pytest.raises(ValueError, match="x3"):
        evaluate_batch([Expression.parse("x0 + x3")], X3, device="cpu")
    with pytest.raises(ValueError):
        evaluate_batch([Expression.parse("x0 + x1")], X3[:, :1], np.zeros(len(X3)), device="cpu")


def test_out_of_domain_never_raises():
    X = np.array([[-1.0, 0.0], [0.0, 0.0], [1000.0, 2.0], [np.nan, np.inf]])
    exprs = [Expression.parse(t) for t in ["log(x0)", "sqrt(x0)", "x0/x1", "1/x1", "exp(x0)",
                                           "asin(x0 + 1.5)", "x0**0.5", "harmonic(-x0 - 1)",
                                           "cosh(x0)*tan(x1)"]]
    for dtype in (torch.float32, torch.float64):
        pred = evaluate_batch(exprs, X, dtype=dtype, device="cpu")
        assert pred.shape == (len(exprs), 4)
        assert not np.isfinite(pred).all(axis=1).any()
        loss = evaluate_batch(exprs, X, np.zeros(4), dtype=dtype, device="cpu")
        assert (loss == np.inf).all()


# ----------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------

def _y(X):
    return np.sin(X[:, 0]) * X[:, 1] + 0.5 * X[:, 2] ** 2


def test_mse_by_hand():
    y = _y(X3)
    loss = evaluate_batch(SUB, X3, y, dtype=torch.float64, device="cpu")
    pred = _pred64_sub()
    with np.errstate(all="ignore"):
        by_hand = np.mean((pred - y) ** 2, axis=1)
    finite = np.isfinite(pred).all(axis=1)
    assert (loss[~finite] == np.inf).all()
    assert finite.sum() > 100
    np.testing.assert_allclose(loss[finite], by_hand[finite], rtol=1e-9)
    assert loss.dtype == np.float64 and loss.shape == (len(SUB),)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_named_losses_by_hand(name):
    exprs = [Expression.parse(t) for t in ["x0*x1", "sin(x0) + 0.3*x2", "x2**2", "1.5"]]
    y = _y(X3)
    pred = evaluate_batch(exprs, X3, dtype=torch.float64, device="cpu")
    r = pred - y
    expected = {
        "mse": r**2,
        "mae": np.abs(r),
        "huber": np.where(np.abs(r) <= 1.0, 0.5 * r**2, np.abs(r) - 0.5),
        "logcosh": np.log(np.cosh(r)),
    }[name].mean(axis=1)
    loss = evaluate_batch(exprs, X3, y, loss=name, dtype=torch.float64, device="cpu")
    np.testing.assert_allclose(loss, expected, rtol=1e-9)


def test_callable_loss_and_unknown_loss():
    exprs = EXPRS[:20]
    y = _y(X3)
    cube = evaluate_batch(exprs, X3, y, loss=lambda p, t: torch.abs(p - t) ** 3,
                          dtype=torch.float64, device="cpu")
    pred = evaluate_batch(exprs, X3, dtype=torch.float64, device="cpu")
    finite = np.isfinite(pred).all(axis=1)
    by_hand = np.mean(np.abs(pred - y) ** 3, axis=1)
    np.testing.assert_allclose(cube[finite], by_hand[finite], rtol=1e-9)
    with pytest.raises(ValueError, match="unknown loss"):
        evaluate_batch(exprs, X3, y, loss="nope", device="cpu")
    with pytest.raises(ValueError):
        evaluate_batch(exprs, X3, y, loss="mae", linear_scaling=True, device="cpu")


def test_sample_weight():
    y = _y(X3)
    w = RNG.uniform(0.0, 3.0, size=len(X3))
    loss = evaluate_batch(SUB, X3, y, sample_weight=w, dtype=torch.float64, device="cpu")
    pred = _pred64_sub()
    finite = np.isfinite(pred).all(axis=1)
    with np.errstate(all="ignore"):
        by_hand = np.sum(w * (pred - y) ** 2, axis=1) / w.sum()
    np.testing.assert_allclose(loss[finite], by_hand[finite], rtol=1e-9)
    # integer weights equal repeating the points
    e = [Expression.parse("x0*x1 + 0.2")]
    X = X3[:5]
    reps = np.array([1, 2, 0, 3, 1])
    a = evaluate_batch(e, X, _y(X), sample_weight=reps, dtype=torch.float64, device="cpu")
    b = evaluate_batch(e, np.repeat(X, reps, axis=0), np.repeat(_y(X), reps),
                       dtype=torch.float64, device="cpu")
    np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(ValueError, match="sample_weight"):
        evaluate_batch(e, X, _y(X), sample_weight=np.ones(3), device="cpu")


def test_y_length_checked():
    with pytest.raises(ValueError, match="y has"):
        evaluate_batch(EXPRS[:3], X3, np.zeros(5), device="cpu")


def test_non_finite_prediction_gives_inf_loss():
    X = np.array([[1.0], [0.0], [-1.0]])
    y = np.zeros(3)
    exprs = [Expression.parse(t) for t in ["1/x0", "log(x0)", "sqrt(x0)", "x0", "exp(1000*x0)"]]
    for dtype in (torch.float32, torch.float64):
        for ls in (False, True):
            loss = evaluate_batch(exprs, X, y, dtype=dtype, device="cpu", linear_scaling=ls)
            assert loss[:3].tolist() == [np.inf] * 3
            assert np.isfinite(loss[3])
            assert loss[4] == np.inf
    # a non-finite target is not the candidate's fault, but the loss is still not finite
    loss = evaluate_batch(exprs[3:4], X, np.array([0.0, np.nan, 0.0]), device="cpu")
    assert not np.isfinite(loss).any()


def _lstsq_mse(f, y, w):
    A = np.stack([f, np.ones_like(f)], axis=1) * np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(A, y * np.sqrt(w), rcond=None)
    r = coef[0] * f + coef[1] - y
    return np.sum(w * r**2) / np.sum(w)


@pytest.mark.parametrize("weighted", [False, True])
def test_linear_scaling_is_best_affine_fit(weighted):
    y = _y(X3) + 0.1 * RNG.standard_normal(len(X3))
    w = RNG.uniform(0.2, 2.0, size=len(X3)) if weighted else np.ones(len(X3))
    loss = evaluate_batch(SUB, X3, y, sample_weight=w if weighted else None,
                          linear_scaling=True, dtype=torch.float64, device="cpu")
    pred = _pred64_sub()
    finite = np.isfinite(pred).all(axis=1)
    assert (loss[~finite] == np.inf).all()
    checked = 0
    var_y = np.average((y - np.average(y, weights=w)) ** 2, weights=w)
    for i in np.nonzero(finite & (np.abs(pred).max(axis=1) < 1e6))[0]:
        expected = _lstsq_mse(pred[i], y, w)
        assert loss[i] == pytest.approx(expected, rel=1e-6, abs=1e-9 * var_y), str(SUB[i])
        assert loss[i] <= var_y * (1 + 1e-9)  # never worse than the mean
        checked += 1
    assert checked > 100


def test_linear_scaling_exact_fit_and_constants():
    X = np.linspace(-1, 1, 50).reshape(-1, 1)
    y = 3.0 * np.sin(X[:, 0]) - 2.0
    exprs = [Expression.parse(t) for t in ["sin(x0)", "2.5", "1000 + 1e-3*x0"]]
    loss = evaluate_batch(exprs, X, y, linear_scaling=True, dtype=torch.float64, device="cpu")
    assert loss[0] == pytest.approx(0.0, abs=1e-12)
    assert loss[1] == pytest.approx(np.var(y), rel=1e-9)  # a constant explains only the mean
    # a large offset with a small slope: still the exact fit of y on x0
    expected = _lstsq_mse(1000 + 1e-3 * X[:, 0], y, np.ones(50))
    assert loss[2] == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------
# chunking, devices
# ----------------------------------------------------------------------------

def test_chunking_gives_identical_results():
    exprs = SUB
    X = RNG.uniform(-2.0, 2.0, size=(600, 3))  # more than the smallest point chunk (256)
    y = _y(X)
    ref = _reference(exprs, X)
    for dtype, rtol in ((torch.float32, 1e-3), (torch.float64, 1e-12)):
        stable = (_well_conditioned(exprs, X, ref) if dtype == torch.float64
                  else _well_conditioned(exprs, X, ref, nudge=1e-6, rtol=1e-4))
        big = evaluate_batch(exprs, X, dtype=dtype, device="cpu")
        tiny = evaluate_batch(exprs, X, dtype=dtype, device="cpu", max_elements=1)
        _assert_same(tiny, big, stable, rtol)
        for ls in (False, True):
            a = evaluate_batch(exprs, X, y, dtype=dtype, device="cpu", linear_scaling=ls)
            b = evaluate_batch(exprs, X, y, dtype=dtype, device="cpu", linear_scaling=ls,
                               max_elements=1)
            np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
            f = np.isfinite(a) & stable.all(axis=1)
            assert f.sum() > 60
            np.testing.assert_allclose(b[f], a[f], rtol=1e-9 if dtype == torch.float64 else 1e-4,
                                       atol=1e-12)


def test_chunks_split_expressions():
    # a tiny max_elements compiles many small programs; results keep the input order
    X = X3[:10]
    a = evaluate_batch(EXPRS, X, dtype=torch.float64, device="cpu", max_elements=64)
    b = evaluate_batch(EXPRS, X, dtype=torch.float64, device="cpu")
    _assert_same(a, b, STABLE[:, :10])


def test_device_cpu_explicit():
    a = evaluate_batch(EXPRS[:50], X3, device="cpu", dtype=torch.float64)
    b = evaluate_batch(EXPRS[:50], X3, device=torch.device("cpu"), dtype=torch.float64)
    np.testing.assert_array_equal(a, b)
    ok = STABLE[:50] & np.isfinite(REF[:50])
    np.testing.assert_allclose(a[ok], REF[:50][ok], rtol=1e-6, atol=1e-9)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto") == resolve_device(None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_unavailable_raises():
    with pytest.raises(ValueError, match="cuda"):
        evaluate_batch(EXPRS[:3], X3, device="cuda")
    with pytest.raises(ValueError, match="cuda"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    y = _y(X3)
    for dtype in (torch.float32, torch.float64):
        cpu = evaluate_batch(EXPRS, X3, dtype=dtype, device="cpu")
        gpu = evaluate_batch(EXPRS, X3, dtype=dtype, device="cuda")
        ok = _comparable(cpu, gpu)
        assert np.isclose(gpu, cpu, rtol=1e-4 if dtype == torch.float32 else 1e-9,
                          atol=1e-6)[ok].mean() > 0.999
        lc = evaluate_batch(EXPRS, X3, y, dtype=dtype, device="cpu")
        lg = evaluate_batch(EXPRS, X3, y, dtype=dtype, device="cuda")
        np.testing.assert_array_equal(np.isfinite(lc), np.isfinite(lg))


def test_deterministic():
    a = evaluate_batch(SUB, X3, _y(X3), device="cpu")
    b = evaluate_batch(SUB, X3, _y(X3), device="cpu")
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------
# forward-mode tangents
# ----------------------------------------------------------------------------

def test_values_and_tangents_match_finite_differences():
    exprs = [e for e in random_expressions(400, 2, None, seed=31, const_prob=0.5)
             if e.n_constants][:150]
    exprs += [Expression.parse(t) for t in ["2.0*x0 + 0.5", "x0**1.5", "sin(1.3*x1)*exp(-0.4*x0)",
                                            "1.5", "log(2.0 + x0**2)/(0.7 + x1**2)"]]
    X = RNG.uniform(0.2, 2.0, size=(40, 2))
    prog = compile_batch(exprs, 2, "cpu")
    Xt = torch.as_tensor(X, dtype=torch.float64)
    consts = torch.as_tensor(prog.const_values, dtype=torch.float64)
    values, tangents = prog.values_and_tangents(Xt, consts)
    assert values.shape == (len(exprs), len(X))
    assert tangents.shape == (len(exprs), max(e.n_constants for e in exprs), len(X))
    np.testing.assert_array_equal(values.numpy(), prog.values(Xt, consts).numpy())
    checked = 0
    for b, e in enumerate(exprs):
        for k in range(e.n_constants):
            c = e.constants.copy()
            h = 1e-6 * max(1.0, abs(c[k]))
            c[k] += h
            with np.errstate(all="ignore"):
                up = e.with_constants(c).evaluate(X)
                c[k] -= 2 * h
                down = e.with_constants(c).evaluate(X)
            fd = (up - down) / (2 * h)
            # second differences flag points where the difference quotient is unreliable
            base = values[b].numpy()
            curv = np.abs(up - 2 * base + down) / h
            tan = tangents[b, k].numpy()
            ok = (np.isfinite(fd) & np.isfinite(tan) & (np.abs(fd) < 1e4) & (np.abs(base) < 1e6)
                  & (curv < 1e-2 * (1 + np.abs(fd))))
            if ok.any():
                checked += 1
                np.testing.assert_allclose(tan[ok], fd[ok], rtol=1e-4, atol=1e-6, err_msg=str(e))
        # slots beyond this expression's constants are zero
        assert (tangents[b, e.n_constants:] == 0).all()
    assert checked > 150


def test_tangents_of_pow_at_zero_base_are_finite():
    # d/dc x**c at x = 0 is 0; it used to be 0*inf = NaN from the constant-free base
    e = Expression.parse("x0**1.5")
    X = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    prog = compile_batch([e], 1)
    values, tangents = prog.values_and_tangents(X, torch.tensor([0.5], dtype=torch.float64))
    torch.testing.assert_close(values[0], X[:, 0] ** 0.5)
    expected = torch.tensor([0.0, 0.0, 2.0**0.5 * np.log(2.0)], dtype=torch.float64)
    torch.testing.assert_close(tangents[0, 0], expected)
    # and where a constant-free argument has an infinite partial
    e = Expression.parse("sqrt(x0) + 2.0*x1")
    prog = compile_batch([e], 2)
    X = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    _, tangents = prog.values_and_tangents(X, torch.tensor([2.0], dtype=torch.float64))
    torch.testing.assert_close(tangents[0, 0], torch.tensor([1.0], dtype=torch.float64))


def test_tangents_with_constants_override():
    e = Expression.parse("1.0*x0 + 2.0")
    prog = compile_batch([e], 1)
    X = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    values, tangents = prog.values_and_tangents(X, torch.tensor([3.0, -1.0], dtype=torch.float64))
    torch.testing.assert_close(values[0], torch.tensor([2.0, 5.0], dtype=torch.float64))
    torch.testing.assert_close(tangents[0, 0], X[:, 0])
    torch.testing.assert_close(tangents[0, 1], torch.ones(2, dtype=torch.float64))


# ----------------------------------------------------------------------------
# kernels, blocks, float64 exactness
# ----------------------------------------------------------------------------

_SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-30, -1e-30, 1e30, -1e30, 80.0, 100.0,
                     700.0, 709.9, 1000.0, -1000.0, np.inf, -np.inf, np.nan, 5e-324, 1.5707963])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(ops.OPERATORS))
def test_cpu_kernels_match_the_registry(name, dtype):
    from symreg.kernels import kernel

    op = ops.OPERATORS[name]
    a = torch.as_tensor(np.concatenate([_SPECIAL, RNG.uniform(-4, 4, 500)]), dtype=dtype)
    args = [a] if op.arity == 1 else [a.repeat_interleave(len(_SPECIAL)),
                                      a[: len(_SPECIAL)].repeat(len(a))]
    args = [x.reshape(2, -1).contiguous() for x in args]  # a [rows, points] block, as in a stage
    expected = op.torch_fn(*args)
    fn, on_numpy = kernel(op, dtype, "cpu")
    out = torch.full_like(args[0], 123.0)
    with np.errstate(all="ignore"):
        fn(*[x.numpy() for x in args], out.numpy()) if on_numpy else fn(*args, out)
    got, exp = out.numpy(), expected.numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(exp))
    if dtype == torch.float64:  # exact: the same bits as the registry's torch form
        np.testing.assert_array_equal(got, exp)
    else:  # numpy's float32 functions: a few ulp, the same infinities
        ok = ~np.isnan(exp)
        np.testing.assert_array_equal(np.isinf(got[ok]), np.isinf(exp[ok]))
        fin = ok & np.isfinite(exp)
        np.testing.assert_allclose(got[fin], exp[fin], rtol=2e-6, atol=1e-30)


def _torch_reference(e: Expression, X: torch.Tensor) -> torch.Tensor:
    """The expression computed node by node with the registry's torch forms, on
    all points at once: the values the evaluator gave before blocks and kernels."""
    consts = iter(torch.as_tensor(e.constants, dtype=X.dtype))
    pos = 0

    def node():
        nonlocal pos
        tok = e.tokens[pos]
        pos += 1
        if tok == "C":
            return next(consts).expand(X.shape[0])
        if tok.startswith("x") and tok[1:].isdigit():
            return X[:, int(tok[1:])]
        op = ops.OPERATORS[tok]
        return op.torch_fn(*[node() for _ in range(op.arity)])

    return node()


def test_float64_predictions_are_the_registrys_values_exactly():
    exprs = EXPRS[:600]  # the default operators
    X = torch.as_tensor(RNG.uniform(-3.0, 3.0, size=(5000, 3)))  # several blocks
    pred = evaluate_batch(exprs, X.numpy(), dtype=torch.float64, device="cpu",
                          share_subtrees=False)
    ref = np.stack([_torch_reference(e, X).expand(len(X)).numpy() for e in exprs])
    np.testing.assert_array_equal(np.isnan(pred), np.isnan(ref))
    np.testing.assert_array_equal(pred[~np.isnan(ref)], ref[~np.isnan(ref)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_blocks_give_the_losses_of_one_block(monkeypatch, dtype):
    import symreg.evaluate as ev

    X = RNG.uniform(-2.0, 2.0, size=(1000, 3))
    y = _y(X)
    w = RNG.uniform(0.1, 2.0, size=len(X))
    whole = {}
    for ls in (False, True):
        whole[ls] = evaluate_batch(SUB, X, y, sample_weight=w, dtype=dtype, device="cpu",
                                   linear_scaling=ls)
    pred = evaluate_batch(SUB, X, dtype=dtype, device="cpu")
    monkeypatch.setattr(ev, "MIN_BLOCK", 7)  # blocks of 7 points, the last one of 6
    monkeypatch.setattr(ev, "MAX_BLOCK", 7)
    monkeypatch.setattr(ev, "BLOCK_BYTES", 1)
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    for ls in (False, True):
        blocked = evaluate_batch(SUB, X, y, sample_weight=w, dtype=dtype, device="cpu",
                                 linear_scaling=ls)
        np.testing.assert_array_equal(np.isfinite(blocked), np.isfinite(whole[ls]))
        f = np.isfinite(blocked)
        assert f.sum() > 60
        np.testing.assert_allclose(blocked[f], whole[ls][f], rtol=rtol, atol=1e-12)
    ref = _reference(SUB, X)
    blocked = evaluate_batch(SUB, X, dtype=dtype, device="cpu")
    if dtype == torch.float64:
        _assert_same(blocked, pred, _well_conditioned(SUB, X, ref))
        return
    # float32: a last-bit difference (torch's vectorised loop and its scalar tail)
    # can push asin's argument past 1, so a rare point turns NaN in one and not the other
    assert (np.isnan(blocked) == np.isnan(pred)).mean() > 0.9999
    ok = (_well_conditioned(SUB, X, ref, nudge=1e-6, rtol=1e-4) & np.isfinite(pred)
          & np.isfinite(blocked))
    np.testing.assert_allclose(blocked[ok], pred[ok], rtol=1e-3, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_node_by_node_calls_give_the_gathered_values(monkeypatch, dtype):
    from symreg import program

    X = RNG.uniform(-2.0, 2.0, size=(700, 3))
    gathered = evaluate_batch(EXPRS, X, dtype=dtype, device="cpu")
    monkeypatch.setattr(program, "ROW_CALL_BYTES", 0)  # every numpy kernel node by node
    per_node = evaluate_batch(EXPRS, X, dtype=dtype, device="cpu")
    np.testing.assert_array_equal(np.isnan(per_node), np.isnan(gathered))
    if dtype == torch.float64:
        np.testing.assert_array_equal(per_node, gathered)
    else:
        ok = np.isfinite(gathered)
        np.testing.assert_array_equal(np.isfinite(per_node), ok)
        np.testing.assert_allclose(per_node[ok], gathered[ok], rtol=1e-6)
