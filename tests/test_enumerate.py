"""Exhaustive enumeration of small expressions (symreg.search.enumerate)."""

from __future__ import annotations

import itertools

import numpy as np

from symreg.expression import CONST, Expression
from symreg.search.enumerate import _keys, _linear_nmse, enumerate_expressions

OPS = ("add", "sub", "mul", "div", "sin", "exp", "square")


def _data(f, d=2, n=200, seed=0):
    X = np.random.default_rng(seed).uniform(0.5, 2.0, size=(n, d))
    return X, f(X)


def _values(e: Expression, X: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return e.evaluate(X)


def _affine_nmse(v: np.ndarray, y: np.ndarray) -> float:
    return float(_linear_nmse(v[None, :], y)[0])


def test_finds_an_exact_small_law_up_to_an_affine_map():
    X, y = _data(lambda X: 3.0 * X[:, 0] * np.sin(X[:, 1]) - 1.0)
    res = enumerate_expressions(X, y, OPS, max_size=5, max_candidates=200_000, seed=1)
    nmse = [_affine_nmse(_values(e, X), y) for e in res.expressions]
    best = int(np.argmin(nmse))
    assert nmse[best] < 1e-12
    # the law's own form: x0·sin(x1) in 4 tokens (or its mirror)
    assert res.expressions[best].complexity == 4
    assert set(res.expressions[best].tokens) == {"mul", "x0", "sin", "x1"}


def test_keeps_one_representative_per_equivalence_class():
    X, y = _data(lambda X: X[:, 0] ** 2 + X[:, 1])
    res = enumerate_expressions(X, y, OPS, max_size=4, max_candidates=100_000, top_k=10_000,
                                pair_pool=0, seed=2)
    probe = np.random.default_rng(5).uniform(0.5, 2.0, size=(32, 2))
    vals = np.array([_values(e, probe) for e in res.expressions])
    finite = np.isfinite(vals).all(axis=1)
    keys = _keys(vals[finite], np.random.default_rng(0).integers(1, 2**62, 32) | 1)
    # no two kept expressions are the same function (x0*x0 is gone once square(x0) is in)
    assert len(np.unique(keys)) == len(keys)
    toks = {e.tokens for e in res.expressions}
    assert ("square", "x0") in toks
    assert ("mul", "x0", "x0") not in toks
    # x0 - x0 and x0 / x0 are constants and dropped
    assert ("sub", "x0", "x0") not in toks and ("div", "x0", "x0") not in toks
    # every level holds exactly what is kept of that size
    sizes = [e.complexity for e in res.expressions]
    for size, count in res.counts.items():
        assert sizes.count(size) == count


def test_counts_grow_with_size_and_stop_at_the_candidate_budget():
    X, y = _data(lambda X: X[:, 0] + X[:, 1])
    res = enumerate_expressions(X, y, OPS, max_size=6, max_candidates=10**7, seed=0)
    counts = [res.counts[s] for s in sorted(res.counts)]
    assert sorted(res.counts) == list(range(1, 7))
    assert all(b > a for a, b in itertools.pairwise(counts[1:]))   # from size 2 on, strictly
    small = enumerate_expressions(X, y, OPS, max_size=6, max_candidates=2_000, seed=0)
    assert max(small.counts) < 6   # a level that would pass the budget is never built
    assert sum(small.counts.values()) <= 2_000


def test_constant_leaves_are_bounded_and_valued():
    X, y = _data(lambda X: np.exp(0.5 * X[:, 0]))
    res = enumerate_expressions(X, y, OPS, max_size=5, max_candidates=200_000, max_constants=1,
                                seed=0)
    for e in res.expressions:
        assert e.tokens.count(CONST) <= 1
        assert e.n_constants == e.tokens.count(CONST)
    none = enumerate_expressions(X, y, OPS, max_size=4, use_constants=False, seed=0)
    assert all(CONST not in e.tokens for e in none.expressions)


def test_pairs_fit_a_two_term_sum():
    X, y = _data(lambda X: np.exp(X[:, 0]) + 2.0 * np.sin(X[:, 1]), seed=3)
    res = enumerate_expressions(X, y, OPS, max_size=3, max_candidates=100_000, seed=0)
    assert res.pairs
    for p in res.pairs:
        assert p.tokens[0] in ("add", "mul")
        assert p.n_constants == p.tokens.count(CONST)
    # a·(exp(x0) + c·sin(x1)) + b holds exactly for some c: the sum is among the pairs
    sums = [p for p in res.pairs if p.tokens[0] == "add"
            and {"exp", "sin"} <= set(p.tokens)]
    assert sums


def test_deterministic_under_a_seed():
    X, y = _data(lambda X: X[:, 0] / (1.0 + X[:, 1]))
    a = enumerate_expressions(X, y, OPS, max_size=5, max_candidates=50_000, seed=7)
    b = enumerate_expressions(X, y, OPS, max_size=5, max_candidates=50_000, seed=7)
    assert [e.tokens for e in a.expressions] == [e.tokens for e in b.expressions]
    assert [e.tokens for e in a.pairs] == [e.tokens for e in b.pairs]
    assert np.array_equal(a.probe_nmse, b.probe_nmse)
    assert a.counts == b.counts
