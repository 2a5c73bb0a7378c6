"""Hall-of-fame exchange between search workers (symreg.search.exchange)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pytest

from symreg.operators import DEFAULT_OPERATORS
from symreg.pareto import HallOfFame
from symreg.search import pool
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
    # bounded by evaluations, not seconds: the exact formula must be what stops it
    config = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=1e6, max_evals=200_000, seed=0,
                          exchange=oracle, exchange_every=1, enumeration_fraction=0.02,
                          population_size=100, n_offspring=100, polish=False, mcts=False,
                          structure_tests=("variables",))  # the exchange, not the structure
    result = search(X, y, config)
    assert oracle.calls == 1
    assert result.n_received == 1  # the malformed items are dropped
    assert result.stopped_early and result.n_evals < 200_000
    assert any(c.expr.tokens == ("mul", "C", "x1") for c in result.hall_of_fame.candidates())


def test_a_broken_channel_does_not_stop_the_search(one_torch_thread):
    X, y = _noise()
    config = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=1e6, max_evals=2_500, seed=0,
                          exchange=_Broken(), exchange_every=1, enumeration_fraction=0.05,
                          population_size=60, n_offspring=60, polish=False, mcts=False,
                          structure_tests=("variables",))  # the exchange, not the structure
    result = search(X, y, config)
    assert result.n_received == 0 and result.n_evals >= 2_500


class _Recorder(Exchange):
    """Records what a worker publishes and hands back another worker's front."""

    def __init__(self, other):
        self.published = []
        self.other = other

    def swap(self, worker, front):
        self.published.append((worker, front))
        return self.other


def test_a_worker_publishes_its_front_and_breeds_from_what_it_receives(one_torch_thread):
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(200, 2))
    y = np.sin(X[:, 0]) * X[:, 1] + rng.normal(0, 0.3, 200)
    # a good (not exact) formula from "another worker": sin(x0)·x1
    other = [(["mul", "sin", "x0", "x1"], [], 0.09)]
    ex = _Recorder(other)
    config = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=1e6, max_evals=2_500, seed=3,
                          exchange=ex, exchange_every=1, worker=4, population_size=60,
                          n_offspring=60, enumeration_fraction=0.02, polish=False, mcts=False,
                          structure_tests=("variables",))  # the exchange, not the structure
    result = search(X, y, config)
    assert len(ex.published) >= 2 and result.n_received == len(ex.published)
    for worker, front in ex.published:
        assert worker == 4
        assert front and all(isinstance(t, list) and isinstance(c, list) and isinstance(loss, float)
                             for t, c, loss in front)
    # what it published is its own front at the time: the last one is the final front's
    # ancestor and holds the received formula once that entered the hall of fame
    assert any(tuple(t) == ("mul", "sin", "x0", "x1") for t, _, _ in ex.published[-1][1])
    assert any(c.expr.tokens == ("mul", "sin", "x0", "x1") for c in result.hall_of_fame.front())
    # and the same run again is the same run: the exchange does not touch the clock
    again = search(X, y, replace(config, exchange=_Recorder(other)))
    assert [c.expr.key(constants=True) for c in again.hall_of_fame.front()] == \
        [c.expr.key(constants=True) for c in result.hall_of_fame.front()]


class _Captured(Exception):
    pass


def test_run_search_gives_bounded_workers_no_exchange(monkeypatch):
    captured = []

    def fake(X, y, w, configs, seeds, deadline):
        captured.append(configs)
        raise _Captured

    monkeypatch.setattr(pool, "_run_processes", fake)
    X, y = _noise()
    # bounded by evaluations: reproducible, so no exchange, and the evaluations are split
    with pytest.raises(_Captured):
        run_search(X, y, SearchConfig(operators=DEFAULT_OPERATORS, max_evals=3000, seed=0),
                   n_jobs=2)
    assert all(c.exchange is None and c.max_evals == 1500 for c in captured[-1])
    assert all(c.role == "full" for c in captured[-1])


def _led_run(monkeypatch, best_loss: float, n_jobs: int = 3):
    """run_search unbounded with the lead and the spawning faked: the lead's config,
    the followers' configs."""
    from symreg.search.engine import SearchProgress, SearchResult

    lead, followers = [], []

    def fake_search(X, y, config, w, seeds, callback):
        lead.append(config)
        callback(SearchProgress(0.1, 10, 100.0, best_loss, 1, "seeds"))
        return SearchResult(HallOfFame(config.maxsize), 10, 0.1)

    def fake_start(target, args, **kw):
        followers.append(args[3])
        return kw["tag"]

    monkeypatch.setattr(pool, "search", fake_search)
    monkeypatch.setattr(pool, "worker_count", lambda n: n)   # free cores whatever the load
    monkeypatch.setattr(pool, "start_child", fake_start)
    monkeypatch.setattr(pool, "_collect", lambda children, until=None: ([], False))
    monkeypatch.setattr(pool, "kill_children", lambda children: children.clear())
    X, y = _noise()
    run_search(X, y, SearchConfig(operators=DEFAULT_OPERATORS, time_budget=5.0, seed=7),
               n_jobs=n_jobs)
    return lead[0], followers


def test_unbounded_workers_follow_one_lead_through_one_exchange(monkeypatch):
    lead, followers = _led_run(monkeypatch, best_loss=1.0)
    assert (lead.worker, lead.seed, lead.role) == (0, 7, "lead")
    assert [c.worker for c in followers] == [1, 2] and [c.seed for c in followers] == [8, 9]
    assert all(c.role == "follow" for c in followers)
    configs = [lead, *followers]
    assert all(isinstance(c.exchange, FileExchange) for c in configs)
    assert len({c.exchange.directory for c in configs}) == 1


def test_no_follower_starts_when_the_first_structure_stage_is_exact(monkeypatch):
    lead, followers = _led_run(monkeypatch, best_loss=0.0)
    assert lead.role == "lead" and followers == []


def test_a_busy_machine_runs_one_worker_inline(monkeypatch):
    calls = []
    monkeypatch.setattr(pool, "worker_count", lambda n: 1)
    monkeypatch.setattr(pool, "_run_led", lambda *a: calls.append("led"))
    monkeypatch.setattr(pool, "search", lambda *a: calls.append(a[2].role))
    X, y = _noise()
    run_search(X, y, SearchConfig(operators=DEFAULT_OPERATORS, time_budget=5.0), n_jobs=2)
    assert calls == ["full"]


def test_hand_over_and_wait_for_it(tmp_path):
    ex = FileExchange(tmp_path)
    t0 = time.time()
    assert ex.wait_for_start(t0 + 0.1) is None and time.time() >= t0 + 0.1
    ex.hand_over({"front": [(["x0"], [], 1.0)], "population": [(["x1"], [])]})
    assert ex.wait_for_start(0.0) == {"front": [[["x0"], [], 1.0]], "population": [[["x1"], []]]}
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_lead_hands_over_and_a_follower_starts_from_it(tmp_path, one_torch_thread):
    rng = np.random.default_rng(2)
    X = rng.uniform(1, 2, size=(200, 2))
    y = 2.5 * X[:, 0] * X[:, 1]
    ex = FileExchange(tmp_path)
    base = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=1e6, max_evals=20_000, seed=0,
                        exchange=ex, population_size=60, n_offspring=60, polish=False,
                        mcts=False)
    lead = search(X, y, replace(base, role="lead"))
    assert lead.stopped_early
    start = ex.wait_for_start(0.0)
    assert start["front"] and start["population"]
    # the follower computes no structure of its own: the lead's exact formula stops it
    follower = search(X, y, replace(base, role="follow", worker=1, seed=1))
    assert follower.stopped_early and follower.n_received >= len(start["front"])
    assert "enumerate" not in follower.phases and follower.n_evals < lead.n_evals


def test_a_follower_evolves_until_the_hand_over_comes(tmp_path, one_torch_thread):
    X, y = _noise()
    config = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=1e6, max_evals=3_000, seed=0,
                          exchange=FileExchange(tmp_path), role="follow", population_size=60,
                          n_offspring=60, polish=False, mcts=False)
    result = search(X, y, config)    # no lead: it claims the cheap work and evolves alone
    assert result.n_evals >= 3_000 and result.n_received == 0
    assert "evolve" in result.phases and "enumerate" in result.phases
    assert (tmp_path / "claim_enumerate").exists()


def test_claimed_work_is_done_once(tmp_path):
    a, b = FileExchange(tmp_path), FileExchange(tmp_path)
    assert a.claim("stage-0") and not b.claim("stage-0") and not a.claim("stage-0")
    assert b.claim("enumerate")


def test_a_follower_skips_the_stages_others_claimed(tmp_path, one_torch_thread):
    X, y = _noise()
    ex = FileExchange(tmp_path)
    for k in range(20):
        ex.claim(f"stage-{k}")
    ex.claim("enumerate")
    config = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=1e6, max_evals=3_000, seed=0,
                          exchange=ex, role="follow", population_size=60, n_offspring=60,
                          polish=False, mcts=False)
    result = search(X, y, config)
    assert "enumerate" not in result.phases and result.phases["seeds"] < result.phases["evolve"]


def test_worker_processes_share_their_fronts(tmp_path):
    """Two spawned worker processes read the fronts in the shared folder: a front
    that a third worker left there (an exact formula) reaches both, and stops them.
    Bounded by evaluations, so nothing races the clock."""
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, size=(300, 3))
    y = rng.normal(size=300)
    FileExchange(tmp_path).swap(9, [(["mul", "C", "x2"], [3.0], 0.0)])
    config = SearchConfig(operators=DEFAULT_OPERATORS, time_budget=1e6, max_evals=100_000,
                          exchange=FileExchange(tmp_path), exchange_every=1, population_size=60,
                          n_offspring=60, enumeration_fraction=0.02, polish=False, mcts=False,
                          structure_tests=("variables",))  # the exchange, not the structure
    configs = [replace(config, seed=k, worker=k) for k in range(2)]
    results, interrupted = pool._run_processes(X, y, None, configs, [], time.time() + 1e6)
    assert not interrupted
    for r in results:
        assert r.n_received >= 1 and r.stopped_early and r.n_evals < 100_000
        assert any(c.expr.tokens == ("mul", "C", "x2") for c in r.hall_of_fame.candidates())
    # and each published its own front (before it received the exact one) for the others
    for k in range(2):
        front = json.loads((tmp_path / f"front_{k}.json").read_text())
        assert front and all(len(item) == 3 for item in front)


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


def test_a_led_pool_runs_end_to_end(monkeypatch):
    """Two real workers (the load check skipped): the lead here, a follower forked from
    the fork server; the merged front is a valid hall of fame."""
    started, merged = [], []
    real_start, real_merge = pool.start_child, pool._merge

    def spy_start(*a, **k):
        started.append(k["tag"])
        return real_start(*a, **k)

    def spy_merge(results, config, interrupted):
        merged.append(results)
        return real_merge(results, config, interrupted)

    monkeypatch.setattr(pool, "worker_count", lambda n: n)
    monkeypatch.setattr(pool, "start_child", spy_start)
    monkeypatch.setattr(pool, "_merge", spy_merge)
    rng = np.random.default_rng(4)
    X = rng.uniform(-2, 2, size=(200, 2))
    y = np.sin(X[:, 0]) * X[:, 1] + rng.normal(0, 0.1, 200)   # noisy: never exact
    result = run_search(X, y, SearchConfig(operators=DEFAULT_OPERATORS, time_budget=4.0, seed=0,
                                           population_size=60, n_offspring=60), n_jobs=2)
    assert started == [1]
    assert 1 <= len(merged[0]) <= 2 and result.hall_of_fame.front()
    assert not result.interrupted
