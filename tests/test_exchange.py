"""Hall-of-fame exchange between search workers (symreg.search.exchange)."""

from __future__ import annotations

import numpy as np
import pytest

from symreg.operators import DEFAULT_OPERATORS
from symreg.search.engine import SearchConfig, search
from symreg.search.exchange import Exchange, FileExchange, _Board
from symreg.search.pool import run_search


def test_file_exchange_swaps_the_others_fronts(tmp_path):
    a, b = FileExchange(tmp_path), FileExchange(tmp_path)
    assert a.swap(0, [(["x0"], [], 1.0)]) == []
    got = b.swap(1, [(["mul", "C", "x1"], [2.0], 0.5)])
    assert got == [[["x0"], [], 1.0]]  # JSON round trip: lists
    assert a.swap(0, []) == [[["mul", "C", "x1"], [2.0], 0.5]]
    # a file caught half-written (or garbage) is skipped, not an error
    (tmp_path / "front_7.json").write_text("{not json")
    assert b.swap(1, []) == []
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_board_keeps_the_latest_front_per_worker():
    board = _Board()
    board.swap(0, [("a",)])
    board.swap(0, [("b",)])
    assert board.swap(1, [("c",)]) == [("b",)]
    assert board.swap(2, []) == [("b",), ("c",)]


class _Oracle(Exchange):
    """Hands every worker an exact formula (as another worker would)."""

    def __init__(self):
        self.calls = 0

    def swap(self, worker, front):
        self.calls += 1
        assert all(len(item) == 3 for item in front)
        return [(["mul", "C", "x1"], [3.0], 0.0), (["bogus"], [], 0.0), "garbage"]


class _Broken(Exchange):
    def swap(self, worker, front):
        raise OSError("the shared folder went away")


def _noise(n=200):
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, size=(n, 2)), rng.normal(size=n)


def test_a_received_exact_formula_stops_the_worker(one_torch_thread):
    X, y = _noise()
    oracle = _Oracle()
    config = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=20.0, seed=0, exchange=oracle, exchange_every=1,
                          enumeration_fraction=0.02, polish=False, mcts=False)
    result = search(X, y, config)
    assert oracle.calls >= 1
    assert result.n_received == 1  # the malformed items are dropped
    assert result.stopped_early and result.elapsed < 15.0
    assert any(c.expr.tokens == ("mul", "C", "x1") for c in result.hall_of_fame.candidates())


def test_a_broken_channel_does_not_stop_the_search(one_torch_thread):
    X, y = _noise()
    config = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=2.0, seed=0, exchange=_Broken(), exchange_every=1,
                          enumeration_fraction=0.05, polish=False, mcts=False)
    result = search(X, y, config)
    assert result.n_received == 0 and result.n_evals > 0


def test_worker_processes_share_their_fronts():
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(300, 3))
    y = np.sin(X[:, 0] * X[:, 1]) + 0.3 * np.exp(0.5 * X[:, 2]) * X[:, 0] + rng.normal(0, 0.3, 300)
    config = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=6.0, seed=0, exchange_every=1, polish=False)
    result = run_search(X, y, config, n_jobs=2)
    assert result.n_received > 0
    # bounded by evaluations: reproducible, so no exchange
    bounded = run_search(X, y, SearchConfig(operators=DEFAULT_OPERATORS, time_budget=30.0, max_evals=3000, seed=0,
                                            exchange_every=1, polish=False), n_jobs=2)
    assert bounded.n_received == 0


def test_ray_exchange_actor():
    ray = pytest.importorskip("ray")
    from symreg.search.exchange import make_ray_exchange

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        ex = make_ray_exchange()
        assert ex.swap(0, [(["x0"], [], 1.0)]) == []
        assert ex.swap(1, []) == [(["x0"], [], 1.0)]
    finally:
        if started:
            ray.shutdown()
