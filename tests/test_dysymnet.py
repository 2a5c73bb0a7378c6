"""Tests of the DySymNet proposer (symreg.neural.dysymnet)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from symreg.datasets.metrics import symbolic_solution
from symreg.expression import Expression
from symreg.neural import DySymNetProposer as ExportedProposer
from symreg.neural import get_proposer
from symreg.neural.dysymnet import (
    DEFAULT_UNITS,
    UNITS,
    BatchedSymbolicNetwork,
    Controller,
    DySymNetConfig,
    DySymNetProposer,
    risk_seeking_loss,
    train_networks,
)
from symreg.tree import tree_to_expression


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread, as the proposer runs (two are slower on tiny tensors)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# small, fast settings for the tests that only need the machinery to run
FAST = {"steps_sparse": 60, "steps_finetune": 20, "batch_size": 4, "simplify_top": 0}


def _random_counts(rng: np.random.Generator, K: int, L: int = 3, T: int = len(DEFAULT_UNITS),
                   m: int = 2) -> np.ndarray:
    counts = rng.integers(0, m + 1, size=(K, L, T))
    depth = rng.integers(1, L + 1, size=K)
    for k in range(K):
        counts[k, depth[k]:] = 0
    return counts


def _data(n: int = 30, d: int = 1, seed: int = 0, low: float = 0.5, high: float = 2.0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(low, high, size=(n, d))
    return X, torch.as_tensor(X)


# ----------------------------------------------------------------------------
# the batched network
# ----------------------------------------------------------------------------

def test_batched_forward_and_training_equal_each_network_alone():
    rng = np.random.default_rng(1)
    counts = _random_counts(rng, 5, T=len(DEFAULT_UNITS))
    counts[0] = 0                                  # a purely linear architecture as well
    X_np, X = _data(25, d=2)
    y = torch.as_tensor(np.sin(X_np[:, 0]) * X_np[:, 1] + X_np[:, 0] ** 2)
    y = (y - y.mean()) / y.std()
    gen = torch.Generator().manual_seed(3)
    batched = BatchedSymbolicNetwork(counts, 2, DEFAULT_UNITS, 2, generator=gen)
    alone = []
    for k in range(len(counts)):
        net = BatchedSymbolicNetwork(counts[k:k + 1], 2, DEFAULT_UNITS, 2)
        with torch.no_grad():
            net.theta.copy_(batched.theta[k:k + 1])
        alone.append(net)
    batched_start = batched.theta.detach().clone()
    with torch.no_grad():
        out = batched.forward(X)
        for k, net in enumerate(alone):
            torch.testing.assert_close(out[k], net.forward(X)[0], rtol=1e-12, atol=1e-12)

    # equal up to round-off: a batched matmul may sum in another order, and Adam's
    # normalised steps amplify round-off in near-zero gradients tenfold every few
    # steps, so a dozen steps are compared (a coupling between networks would
    # show at the scale of the learning rate, 1e-2)
    cfg = DySymNetConfig(steps_sparse=8, steps_finetune=4, threshold=0.05)
    mse_b = train_networks(batched, X, y, cfg)
    for k, net in enumerate(alone):
        mse_k = train_networks(net, X, y, cfg)
        np.testing.assert_allclose(mse_b[k], mse_k[0], rtol=1e-6, atol=1e-12)
        torch.testing.assert_close(batched.theta[k], net.theta[0], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(batched.mask[k], net.mask[0])
    # training did something and the pruning removed weights
    assert (batched.prune_mask == 0).any()
    assert not torch.equal(batched.theta.detach()[1:], batched_start[1:])


def test_masked_units_and_layers_beyond_the_depth_have_no_weights():
    counts = np.zeros((1, 3, len(DEFAULT_UNITS)), dtype=int)
    counts[0, 0, DEFAULT_UNITS.index("sin")] = 1          # one sin unit, depth 1
    net = BatchedSymbolicNetwork(counts, 1, DEFAULT_UNITS, 2,
                                 generator=torch.Generator().manual_seed(0))
    # weights: one into the sin slot plus its bias; outputs: x, sin, output bias
    assert int(net.arch_mask.sum()) == 2 + 2 + 1
    tree = net.read_off(0)
    expr = tree_to_expression(tree)
    assert set(expr.tokens) <= {"add", "mul", "sin", "x0", "C"}


def test_read_off_evaluates_equal_to_the_pruned_network():
    rng = np.random.default_rng(5)
    counts = _random_counts(rng, 6)
    X_np, X = _data(40, d=2, seed=2)
    y = torch.as_tensor(np.log(X_np[:, 0]) + X_np[:, 1] ** 2 * np.cos(X_np[:, 0]))
    net = BatchedSymbolicNetwork(counts, 2, DEFAULT_UNITS, 2,
                                 generator=torch.Generator().manual_seed(1))
    train_networks(net, X, (y - y.mean()) / y.std(), DySymNetConfig(steps_sparse=80,
                                                                    steps_finetune=20))
    with torch.no_grad():
        exact = net.forward(X, exact=True).numpy()
    x_scale, y_scale, y_offset = [2.0, 1.0], 3.0, -0.5
    with torch.no_grad():
        scaled = (net.forward(X / torch.tensor(x_scale), exact=True) * y_scale + y_offset).numpy()
    n_finite = 0
    for k in range(net.K):
        expr = tree_to_expression(net.read_off(k))
        with np.errstate(all="ignore"):
            values = expr.evaluate(X_np)
        np.testing.assert_allclose(values, exact[k], rtol=1e-9, atol=1e-9, equal_nan=True)
        n_finite += bool(np.isfinite(values).all())
        expr = tree_to_expression(net.read_off(k, x_scale=x_scale, y_scale=y_scale,
                                               y_offset=y_offset))
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(expr.evaluate(X_np), scaled[k], rtol=1e-9, atol=1e-9,
                                       equal_nan=True)
    assert n_finite >= 2


def test_sparse_read_off_keeps_the_strongest_term_per_unit():
    counts = np.zeros((1, 1, len(DEFAULT_UNITS)), dtype=int)
    counts[0, 0, DEFAULT_UNITS.index("sin")] = 1
    net = BatchedSymbolicNetwork(counts, 2, DEFAULT_UNITS, 2)
    with torch.no_grad():
        net.theta.zero_()
        ow, ob, D = net.layout[0]
        s = int(net.slot_start[DEFAULT_UNITS.index("sin")])
        W = net.theta[0, ow:ow + D * net.S].view(D, net.S)
        W[0, s], W[1, s] = 2.0, 0.1                     # sin(2*x0 + 0.1*x1 + 0.3)
        net.theta[0, ob + s] = 0.3
        # output = the sin unit (features: x0, x1, then the units of layer 0)
        net.theta[0, net.off_out + 2 + DEFAULT_UNITS.index("sin") * net.m] = 1.0
    full = tree_to_expression(net.read_off(0))
    top1 = tree_to_expression(net.read_off(0, max_terms=1, keep_bias=False))
    assert full.tokens.count("x1") == 1 and full.n_constants >= 3
    assert top1.tokens == ("sin", "mul", "C", "x0")


def test_network_training_survives_overflowing_data():
    counts = np.full((3, 2, len(DEFAULT_UNITS)), 2)
    X = torch.as_tensor(np.linspace(-300, 300, 20).reshape(-1, 1))
    y = torch.as_tensor(np.exp(np.linspace(-300, 300, 20) / 3))
    net = BatchedSymbolicNetwork(counts, 1, DEFAULT_UNITS, 2,
                                 generator=torch.Generator().manual_seed(0))
    mse = train_networks(net, X, (y - y.mean()) / y.std(), DySymNetConfig(steps_sparse=30,
                                                                          steps_finetune=10))
    assert mse.shape == (3,)
    assert torch.isfinite(net.theta).all()


# ----------------------------------------------------------------------------
# the controller
# ----------------------------------------------------------------------------

def test_controller_samples_valid_architectures_and_learns_from_the_best():
    torch.manual_seed(0)
    ctl = Controller(3, 4, 2, hidden=16)
    gen = torch.Generator().manual_seed(0)
    counts, depth, logp, ent = ctl.sample(32, gen)
    assert counts.shape == (32, 3, 4) and depth.shape == (32,)
    assert ((1 <= depth) & (depth <= 3)).all()
    assert ((0 <= counts) & (counts <= 2)).all()
    for k in range(32):
        assert (counts[k, depth[k]:] == 0).all()
    assert torch.isfinite(logp).all() and (logp < 0).all() and (ent > 0).all()

    # reward deep architectures: after some risk-seeking updates they are likelier
    opt = torch.optim.Adam(ctl.parameters(), lr=0.05)
    for _ in range(30):
        counts, depth, logp, ent = ctl.sample(16, gen)
        opt.zero_grad()
        risk_seeking_loss(depth.astype(float), logp, ent, 0.5, 0.0).backward()
        opt.step()
    _, depth, _, _ = ctl.sample(200, gen)
    assert np.mean(depth == 3) > 0.6


def test_risk_seeking_loss_ignores_the_worse_half():
    logp = torch.zeros(4, requires_grad=True)
    loss = risk_seeking_loss(np.array([0.1, 0.2, 0.8, 0.9]), logp, torch.zeros(4), 0.5, 0.0)
    loss.backward()
    assert logp.grad[0] == 0 and logp.grad[1] == 0
    assert logp.grad[3] < logp.grad[2] <= 0


# ----------------------------------------------------------------------------
# the proposer
# ----------------------------------------------------------------------------

def test_exported_and_registered_by_name():
    assert ExportedProposer is DySymNetProposer
    p = get_proposer("dysymnet", batch_size=3)
    assert isinstance(p, DySymNetProposer) and p.config.batch_size == 3
    assert p.name == "dysymnet"


@pytest.mark.parametrize("law, truth", [
    (lambda x: x**2 + x, "x0**2 + x0"),
    (lambda x: np.sin(x) + x, "sin(x0) + x0"),
])
def test_recovers_an_easy_law(law, truth):
    X = np.random.default_rng(0).uniform(-1, 1, size=(40, 1))
    start = time.perf_counter()
    exprs = DySymNetProposer().propose(X, law(X[:, 0]), n=5, time_budget=8.0, seed=0)
    assert time.perf_counter() - start < 9.5
    assert exprs and all(isinstance(e, Expression) for e in exprs)
    assert symbolic_solution(exprs[0], truth, timeout=10.0), str(exprs[0])


def test_honours_the_time_budget():
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(500, 3))
    y = np.exp(np.sin(X[:, 0] * X[:, 1])) + X[:, 2] ** 3     # not found in a second
    for budget in (0.3, 1.5):
        start = time.perf_counter()
        out = DySymNetProposer().propose(X, y, time_budget=budget, seed=0)
        assert time.perf_counter() - start < budget + 0.6
        assert isinstance(out, list)
        assert all(np.all(np.isfinite(e.evaluate(X))) for e in out)
    # what comes back within a budget is real: an easy law is found in two seconds
    X = np.random.default_rng(0).uniform(-1, 1, size=(40, 1))
    y = X[:, 0] ** 2 + X[:, 0]
    start = time.perf_counter()
    out = DySymNetProposer().propose(X, y, time_budget=2.0, seed=0)
    assert time.perf_counter() - start < 2.0 + 0.6
    assert out and all(isinstance(e, Expression) for e in out)
    preds = [e.evaluate(X) for e in out]
    assert all(np.all(np.isfinite(p)) for p in preds)
    nmse = min(float(np.mean((p - y) ** 2) / np.var(y)) for p in preds)
    assert nmse < 1e-6, (nmse, str(out[0]))


def test_deterministic_for_a_seed():
    X = np.random.default_rng(2).uniform(-1, 1, size=(30, 2))
    y = np.cos(X[:, 0]) * X[:, 1] + 0.5

    def run(seed):
        p = DySymNetProposer(max_steps=2, stop_when_exact=False, **FAST)
        return [(e.tokens, e.constants.tolist())
                for e in p.propose(X, y, n=8, time_budget=120, seed=seed)]

    first = run(7)
    assert first
    assert run(7) == first


def test_operators_restrict_the_units_and_the_formulas():
    X = np.random.default_rng(3).uniform(0.5, 2, size=(30, 1))
    y = np.sin(X[:, 0]) * X[:, 0]
    allowed = {"add", "mul", "sin"}
    p = DySymNetProposer(max_steps=2, **FAST)
    out = p.propose(X, y, time_budget=60, seed=0, operators=["+", "*", "sin"],
                    variable_names=["t"])
    assert out
    for e in out:
        assert {t for t in e.tokens if t not in ("x0", "C")} <= allowed, str(e)
        assert e.variable_names == ("t",)
    # without addition nothing can be read off
    assert p.propose(X, y, time_budget=5, operators=["mul", "sin"]) == []


@pytest.mark.parametrize("case", ["huge", "constant_y", "nan_rows", "one_row", "constant_x",
                                  "tiny", "mismatch"])
def test_nasty_data_never_raises(case):
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(20, 2))
    y = X[:, 0] * 3.0
    if case == "huge":
        y = np.exp(X[:, 0] * 300.0)
    elif case == "constant_y":
        y = np.full(20, 2.5)
    elif case == "nan_rows":
        X[3, 1] = np.nan
        y[5] = np.inf
    elif case == "one_row":
        X, y = X[:1], y[:1]
    elif case == "constant_x":
        X[:, :] = 1.0
    elif case == "tiny":
        X, y = X * 1e-200, y * 1e-200
    elif case == "mismatch":
        y = y[:5]
    out = DySymNetProposer(max_steps=1, **FAST).propose(X, y, time_budget=20, seed=0)
    assert isinstance(out, list)
    for e in out:
        assert isinstance(e, Expression)


def test_units_are_registry_operators():
    from symreg.operators import OPERATORS

    for name, (arity, fn) in UNITS.items():
        assert OPERATORS[name].arity == arity
        z = torch.linspace(-3, 3, 13, dtype=torch.float64)
        vals = fn(z) if arity == 1 else fn(z, z.flip(0))
        assert torch.isfinite(vals).all()


def test_near_exact_read_offs_lose_their_cancelling_skip_terms():
    from symreg.constants import fit_constants

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(20, 2))
    y = 2 * np.sin(X[:, 0]) * np.cos(X[:, 1])
    proposer = DySymNetProposer()
    data = proposer._prepare(X, y, 0, None, None)
    # a read-off as a network leaves it: the law beside skip terms that nearly
    # cancel on [0, 1], fitted to an MSE of about 1e-11
    e = Expression.parse("-0.0366*x0 - 0.1176*sin(-0.34*x0) - 1.997*(cos(x1)*sin(x0))")
    [e], [loss] = fit_constants([e], X, y, n_restarts=0)
    assert 0 < loss < 1e-6 * np.var(y)
    [(reduced, new_loss)] = proposer._drop_terms([(e, loss)], data, 0, time.perf_counter() + 30)
    assert symbolic_solution(reduced, "2*sin(x0)*cos(x1)", timeout=10.0), str(reduced)
    assert new_loss < 1e-20
    # a formula that fits worse than drop_below × var(y) is not tried
    assert proposer._drop_terms([(e, 1e-3 * np.var(y))], data, 0, time.perf_counter() + 30) == []


def test_roots_and_logs_read_off_outside_their_domain_are_made_defined():
    from symreg.neural.dysymnet import _repair_domains

    X = np.linspace(0.1, 4.0, 20).reshape(-1, 1)
    # training applies sqrt to |z|: a net may learn sqrt(-0.5 x), negative everywhere
    tree = ("mul", 2.0, ("sqrt", ("mul", -0.5, "x0")))
    fixed = tree_to_expression(_repair_domains(tree, X))
    np.testing.assert_allclose(fixed.evaluate(X), 2 * np.sqrt(0.5 * X[:, 0]), rtol=1e-12)
    # an argument that dips below 0 on a few rows gets its bias raised, just enough
    tree = ("log", ("add", ("mul", 1.3, "x0"), -0.4))
    fixed = tree_to_expression(_repair_domains(tree, X))
    values = fixed.evaluate(X)
    assert np.isfinite(values).all()
    arg = 1.3 * X[:, 0] - 0.4
    shift = 0.01 * np.ptp(arg) - arg.min()
    np.testing.assert_allclose(values, np.log(arg + shift), rtol=1e-12)
    # a defined formula is left alone; so is one the numpy forms cannot evaluate
    tree = ("sqrt", ("add", "x0", 1.0))
    assert _repair_domains(tree, X) == tree
    assert _repair_domains(("sqrt", "x7"), X) == ("sqrt", "x7")


def test_best_subsets_find_the_units_that_carry_y():
    from symreg.neural.dysymnet import _best_subsets

    rng = np.random.default_rng(3)
    H = rng.normal(size=(30, 8))
    H[:, 5] = 0.0                          # an absent unit: constant, never chosen
    y = 1.5 * H[:, 2] - 0.7 * H[:, 6] + 0.25
    fits = _best_subsets(H, y, max_size=3, pool=8)
    # the best single column, then the exact pair; no triple after an exact fit
    assert len(fits) == 2
    assert np.count_nonzero(fits[0][0]) == 1
    weights, bias = fits[1]
    np.testing.assert_allclose(weights, [0, 0, 1.5, 0, 0, 0, -0.7, 0], atol=1e-10)
    assert bias == pytest.approx(0.25)
    # non-finite columns take no part; no usable column at all: no fit
    H[:, 2] = np.inf
    fits = _best_subsets(H, y, 3, 8)
    assert len(fits) == 3 and all(w[2] == 0 for w, _ in fits)
    assert _best_subsets(np.zeros((10, 3)), np.arange(10.0), 3, 8) == []


def test_read_off_with_a_refitted_output_layer_keeps_only_the_chosen_units():
    counts = np.zeros((1, 1, len(DEFAULT_UNITS)), dtype=int)
    counts[0, 0, DEFAULT_UNITS.index("sin")] = 1
    counts[0, 0, DEFAULT_UNITS.index("exp")] = 1
    net = BatchedSymbolicNetwork(counts, 1, DEFAULT_UNITS, 2,
                                 generator=torch.Generator().manual_seed(0))
    X_np, X = _data(25)
    with torch.no_grad():
        H = net.forward(X, features=True)[0].numpy()
    sin_col = 1 + DEFAULT_UNITS.index("sin") * net.m
    weights = np.zeros(net.D_out)
    weights[sin_col] = 2.0
    expr = tree_to_expression(net.read_off(0, output=(weights, 0.5), y_scale=3.0, y_offset=1.0))
    assert "exp" not in expr.tokens and "sin" in expr.tokens
    np.testing.assert_allclose(expr.evaluate(X_np), 3.0 * (2.0 * H[:, sin_col] + 0.5) + 1.0,
                               rtol=1e-9)
