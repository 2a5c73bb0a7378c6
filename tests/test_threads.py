"""The thread policy (symreg.threads): its arithmetic, the user's settings, and
that a limit is undone on exit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from symreg import threads
from symreg.threads import (
    ENV_VAR,
    active_limit,
    check_n_threads,
    fit_threads,
    limit_threads,
    threads_per_job,
)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("cores", "busy", "n_jobs", "expected"), [
    (8, 0.0, 1, 8),     # a quiet machine: every core
    (8, 0.0, 2, 4),     # shared between the search processes
    (8, 0.0, 3, 2),     # rounded down
    (8, 3.0, 1, 5),     # others' busy cores are not ours
    (8, 3.0, 2, 2),     # (8 - 3) // 2
    (2, 1.0, 1, 1),     # a busy two-core machine: one thread, not two
    (2, 0.2, 1, 2),     # a little background is forgiven
    (2, 0.5, 1, 1),     # half a core busy: it is not free
    (4, 9.0, 1, 1),     # overloaded: never below one
    (1, 0.0, 4, 1),     # more jobs than cores
])
def test_policy_arithmetic(cores, busy, n_jobs, expected):
    assert threads_per_job(n_jobs, cores=cores, busy=busy) == expected


@pytest.mark.parametrize(("cores", "busy", "n_jobs", "expected"), [
    (2, 0.0, 2, 2),     # a quiet two-core machine: both workers
    (2, 0.2, 2, 2),
    (2, 1.0, 2, 1),     # one core busy: one worker
    (2, 3.0, 2, 1),
    (16, 2.0, 4, 4),
    (16, 0.0, 1, 1),
])
def test_worker_count(cores, busy, n_jobs, expected):
    assert threads.worker_count(n_jobs, cores=cores, busy=busy) == expected


def test_load_is_not_sampled_when_one_thread_is_all_there_is(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("sampled")

    monkeypatch.setattr(threads, "busy_cores", boom)
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(1, cores=1) == 1


def test_default_samples_the_load(monkeypatch):
    monkeypatch.setattr(threads, "busy_cores", lambda *a, **k: 2.0)
    assert threads_per_job(1, cores=6) == 4


def test_omp_num_threads_caps_the_default(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads_per_job(1, cores=16, busy=0.0) == 3


def test_busy_cores_is_a_number_of_cores():
    busy = threads.busy_cores(0.02)
    assert 0.0 <= busy <= (threads.usable_cores() or 1) + 1


def test_n_threads_and_env_override_the_policy(monkeypatch):
    monkeypatch.setattr(threads, "busy_cores", lambda *a, **k: 0.0)
    assert fit_threads(3, n_jobs=2) == 3
    assert fit_threads(np.int64(2)) == 2
    monkeypatch.setenv(ENV_VAR, "5")
    assert fit_threads(None, n_jobs=2) == 5
    assert fit_threads(1) == 1          # the parameter wins over the environment
    monkeypatch.setenv(ENV_VAR, "many")
    with pytest.raises(ValueError, match=ENV_VAR):
        fit_threads(None)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_n_threads_validation(bad):
    with pytest.raises(ValueError, match="n_threads"):
        check_n_threads(bad)


def test_regressor_validates_n_threads_in_fit():
    from symreg import SymbolicRegressor

    model = SymbolicRegressor(n_threads=0)
    assert model.n_threads == 0      # stored unchanged
    X = np.linspace(1, 2, 20).reshape(-1, 1)
    with pytest.raises(ValueError, match="n_threads"):
        model.fit(X, X[:, 0])


def _omp_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info()]


def test_limit_is_applied_and_restored():
    torch.set_num_threads(2)
    before_pools = _omp_threads()
    with limit_threads(1) as n:
        assert n == 1
        assert torch.get_num_threads() == 1
        assert active_limit() == 1
        assert all(t == 1 for t in _omp_threads())
    assert torch.get_num_threads() == 2
    assert active_limit() is None
    assert _omp_threads() == before_pools


def test_limit_is_restored_after_an_exception():
    torch.set_num_threads(2)
    before_pools = _omp_threads()
    with pytest.raises(RuntimeError), limit_threads(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == 2
    assert active_limit() is None
    assert _omp_threads() == before_pools


def test_a_fit_leaves_the_threads_as_it_found_them():
    from symreg import SymbolicRegressor

    torch.set_num_threads(2)
    X = np.linspace(1, 2, 30).reshape(-1, 1)
    SymbolicRegressor(time_budget=2, max_evals=2000, random_state=0, n_threads=1).fit(X, 3 * X[:, 0])
    assert torch.get_num_threads() == 2
    assert active_limit() is None


def test_cores_allowed_respects_a_container_quota(monkeypatch):
    import builtins

    real_open = builtins.open

    def fake_open(path, *a, **k):
        if str(path) == "/sys/fs/cgroup/cpu.max":
            import io
            return io.StringIO("150000 100000\n")
        return real_open(path, *a, **k)

    monkeypatch.setattr(threads, "usable_cores", lambda: 16)
    monkeypatch.setattr(builtins, "open", fake_open)
    assert threads.cores_allowed() == 1      # 1.5 CPUs of quota: one whole core
