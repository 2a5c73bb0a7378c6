"""The pretraining equation generator: shapes, validity, determinism, hypotheses."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict

import numpy as np
import pytest

from symreg import operators as ops
from symreg.expression import CONST, Expression
from symreg.neural.generator import (
    EquationGenerator,
    GeneratorConfig,
    ShapeSampler,
    random_hypothesis,
    unique_samples,
)


@pytest.fixture(scope="module")
def samples():
    return EquationGenerator().samples(300, seed=0)


def _check(sample, cfg: GeneratorConfig) -> None:
    skel = sample.skeleton
    k = sample.X.shape[1]
    assert cfg.min_vars <= k <= cfg.max_vars
    assert {t for t in skel if t.startswith("x")} == {f"x{i}" for i in range(k)}
    assert len(skel) <= cfg.max_tokens
    assert skel == sample.expr.tokens
    assert sample.expr.n_constants == skel.count(CONST)
    used = {t for t in skel if t in ops.OPERATORS}
    assert used and used <= set(cfg.operators)
    assert sample.X.shape == (cfg.n_points, k) and sample.y.shape == (cfg.n_points,)
    assert sample.X.dtype == np.float64 and sample.y.dtype == np.float64
    assert np.isfinite(sample.X).all() and np.isfinite(sample.y).all()
    assert np.abs(sample.y).max() <= cfg.max_abs_y
    assert sample.y.std() > 1e-8 * (1 + np.abs(sample.y).mean())
    np.testing.assert_allclose(sample.expr.evaluate(sample.X), sample.y)


def test_config_is_json_serialisable():
    text = json.dumps(asdict(GeneratorConfig()))
    assert json.loads(text)["max_tokens"] == 40


def test_every_sample_is_valid(samples):
    cfg = GeneratorConfig()
    for s in samples:
        _check(s, cfg)
    # all variable counts occur, and the formulas are varied
    assert {s.X.shape[1] for s in samples} == {1, 2, 3}
    assert len({Expression(s.skeleton).key() for s in samples}) > 200


def test_determinism_and_seeds():
    gen = EquationGenerator()
    a, b, c = gen.samples(20, 5), gen.samples(20, 5), gen.samples(20, 6)
    assert [s.skeleton for s in a] == [s.skeleton for s in b]
    assert all(np.array_equal(s.X, t.X) and np.array_equal(s.y, t.y) for s, t in zip(a, b))
    assert [s.skeleton for s in a] != [s.skeleton for s in c]


def test_ten_variables():
    cfg = GeneratorConfig(min_vars=10, max_vars=10, max_ops=14, max_tokens=60, n_points=50)
    for s in EquationGenerator(cfg).samples(10, seed=1):
        _check(s, cfg)
        assert s.X.shape[1] == 10


def test_operator_subset_is_respected():
    cfg = GeneratorConfig(operators=("add", "mul", "sin"), max_vars=2)
    for s in EquationGenerator(cfg).samples(50, seed=2):
        _check(s, cfg)


def test_impossible_config_is_refused():
    with pytest.raises(ValueError):
        EquationGenerator(GeneratorConfig(max_vars=10, max_ops=6))


def test_no_degenerate_unary_chains(samples):
    bad = {("exp", "log"), ("log", "exp"), ("exp", "exp"), ("sqrt", "square"),
           ("sin", "cos"), ("cos", "sin"), ("sin", "sin"), ("cos", "cos")}
    for s in samples:
        pairs = set(zip(s.skeleton, s.skeleton[1:]))
        assert not pairs & bad, s.skeleton


def _shape_frequencies(sampler: ShapeSampler, n_ops: int, draws: int) -> Counter:
    rng = np.random.default_rng(0)
    return Counter(tuple(sampler.sample(rng, n_ops)) for _ in range(draws))


@pytest.mark.parametrize("p1", [0.0, 1.0])
def test_shapes_are_uniform(p1):
    sampler = ShapeSampler(6, p1=p1, p2=1.0)
    n_shapes = int(sampler.count(1, 3))
    # binary only: Catalan(3) = 5 shapes; unary and binary: large Schröder(3) = 22
    assert n_shapes == (5 if p1 == 0 else 22)
    draws = 400 * n_shapes
    freq = _shape_frequencies(sampler, 3, draws)
    assert len(freq) == n_shapes
    for shape in freq:  # each a valid prefix tree with 3 operator nodes
        assert sum(a - 1 for a in shape) == -1 and sum(a > 0 for a in shape) == 3
    expected = draws / n_shapes
    chi2 = sum((c - expected) ** 2 / expected for c in freq.values())
    assert chi2 < 3 * n_shapes + 10  # loose: df = n_shapes - 1


def test_shape_weights_favour_the_heavier_arity():
    # a unary node weighing 3 makes each tree weigh 3**(unary nodes)
    sampler = ShapeSampler(4, p1=3.0, p2=1.0)
    freq = _shape_frequencies(sampler, 2, 6000)
    # 2 nodes: u-u (9), u-b (3), b-u left/right (3, 3), b-b left/right (1, 1): total 20
    assert abs(freq[(1, 1, 0)] / 6000 - 9 / 20) < 0.03
    assert abs(freq[(2, 2, 0, 0, 0)] / 6000 - 1 / 20) < 0.015


def test_unique_samples_are_unique_and_exclude():
    first = unique_samples(60, seed=3)
    keys = [Expression(s.skeleton).key() for s in first]
    assert len(set(keys)) == 60
    excluded = frozenset(keys[:30])
    second = unique_samples(60, seed=3, exclude_keys=excluded)
    keys2 = {Expression(s.skeleton).key() for s in second}
    assert len(keys2) == 60 and not keys2 & excluded


def test_random_hypotheses_are_true(samples):
    rng = np.random.default_rng(4)
    empty = 0
    seen_parts = Counter()
    for _ in range(3):
        for s in samples:
            hyp = random_hypothesis(rng, s.skeleton, max_complexity=40)
            assert hyp.satisfied_by(s.skeleton)
            if hyp.empty:
                empty += 1
                continue
            assert 1 <= len(hyp.include) <= 2 or not hyp.include
            assert len(hyp.exclude) <= 3
            assert hyp.complexity in (None, len(s.skeleton))
            for sub in hyp.subtrees:
                assert 3 <= len(sub) < len(s.skeleton) and any(t.startswith("x") for t in sub)
                assert Expression(sub).tokens == sub  # a complete expression
            seen_parts.update(p for p in ("include", "exclude", "subtrees", "complexity")
                              if getattr(hyp, p))
    assert 0.4 < empty / (3 * len(samples)) < 0.6
    assert set(seen_parts) == {"include", "exclude", "subtrees", "complexity"}


def test_hypothesis_complexity_is_capped():
    rng = np.random.default_rng(5)
    skel = ("add", "mul", "C", "x0", "sin", "x1")
    caps = {random_hypothesis(rng, skel, max_complexity=4, p_empty=0.0, p_complexity=1.0).complexity
            for _ in range(20)}
    assert caps == {4}


def test_generator_pickles_for_worker_processes():
    import pickle

    gen = EquationGenerator(GeneratorConfig(max_vars=2))
    clone = pickle.loads(pickle.dumps(gen))
    assert [s.skeleton for s in clone.samples(10, 7)] == [s.skeleton for s in gen.samples(10, 7)]


def test_points_are_redrawn_within_one_range():
    # sqrt(x0) on a range reaching below 0 loses points: they are redrawn from the
    # same range until n_points finite ones are found
    cfg = GeneratorConfig(operators=("add", "mul", "sqrt"), max_vars=1, max_nonfinite_frac=0.7)
    gen = EquationGenerator(cfg)
    drawn = []
    ranges = gen._ranges
    gen._ranges = lambda rng, k: drawn.append(ranges(rng, k)) or drawn[-1]
    rng = np.random.default_rng(8)
    expr = Expression(("sqrt", "x0"))
    redrawn = 0
    for _ in range(40):
        data = gen._data(rng, expr, 1)
        lo, hi, _ = drawn[-1]
        if data is None:
            continue
        X, y = data
        assert X.shape == (cfg.n_points, 1) and np.isfinite(y).all() and (X >= 0).all()
        assert (X >= lo - 1e-12).all() and (X <= hi + 1e-12).all()
        redrawn += lo[0] < 0
    assert redrawn > 0
