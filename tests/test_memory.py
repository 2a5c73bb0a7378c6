"""Memory across fits (issue 18, item 5): what a fit allocates does not outlive
it, it leaves no threads, child processes or temporary files, and the heap it
freed goes back to the operating system.

The resident size itself is measured by ``benchmarks/bench_memory.py``; these
tests check the causes, without timing anything: reference cycles holding the
fit's data (found with the garbage collector's DEBUG_SAVEALL, and measured with
tracemalloc), what is left behind, and ``release_memory``.
"""

from __future__ import annotations

import gc
import os
import tempfile
import threading
import tracemalloc
from contextlib import contextmanager

import numpy as np
import pytest

from symreg.memory import release_memory, resident_bytes
from symreg.regressor import SymbolicRegressor
from symreg.search.enumerate import enumerate_expressions

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OPERATORS = ("add", "sub", "mul", "div", "sin", "cos", "exp", "log", "sqrt", "square")


def _table(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # noisy, so that no fit ends early on an exact formula and all phases run
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.5, 3.0, size=(n, 2))
    y = X[:, 0] ** 2 * np.sin(X[:, 1]) + 0.3 * X[:, 1]
    return X, y + 0.01 * y.std() * rng.standard_normal(n)


@contextmanager
def _cycles_left():
    """The garbage collector off inside the block; afterwards the list it yields
    holds every object that only reference cycles kept alive (what a full
    collection finds unreachable)."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    found: list = []
    try:
        yield found
    finally:
        gc.garbage.clear()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            found.extend(gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            if enabled:
                gc.enable()


def _symreg_owned(objects: list) -> list[str]:
    """Names of the objects that symreg's code made: its functions and closures,
    instances of its classes, frames of its modules."""
    out = []
    for o in objects:
        if type(o).__name__ == "frame":
            mod = o.f_globals.get("__name__", "")
        elif type(o).__name__ == "function":
            mod = o.__module__ or ""
        else:
            mod = type(o).__module__ or ""
        if mod == "symreg" or mod.startswith("symreg."):
            out.append(f"{mod}.{getattr(o, '__qualname__', type(o).__qualname__)}")
    return sorted(set(out))


#: helpers multiprocessing starts once per process and keeps for the next
#: start (they end with this process): not left behind by a fit
_PROCESS_WIDE = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _child_pids() -> list[int]:
    """Processes (zombies included) whose parent is this one, but for the
    process-wide helpers of multiprocessing."""
    me, out = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    fields = f.read().rpartition(")")[2].split()
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    command = f.read().decode(errors="replace")
            except OSError:
                continue
            if (len(fields) > 1 and int(fields[1]) == me
                    and not any(name in command for name in _PROCESS_WIDE)):
                out.append(int(entry))
    return out


# -- the enumeration ----------------------------------------------------------------

def test_enumeration_leaves_no_reference_cycles():
    X, y = _table()
    with _cycles_left() as cycles:
        result = enumerate_expressions(X, y, OPERATORS, max_size=6, max_candidates=30_000)
        assert result.expressions
        del result
    assert _symreg_owned(cycles) == []


def test_enumeration_frees_its_levels_without_the_collector():
    # the levels' value arrays are the enumeration's big allocations; they must
    # go when the call returns, not at the collector's next full pass
    X, y = _table()
    enumerate_expressions(X, y, OPERATORS, max_size=4, max_candidates=1000)  # imports, caches
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = enumerate_expressions(X, y, OPERATORS, max_size=6, max_candidates=30_000)
        peak = tracemalloc.get_traced_memory()[1] - before
        del result
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        if enabled:
            gc.enable()
    assert peak > 5_000_000            # the levels were built (the test can see them)
    # the levels' arrays alone were ~3 MB here when cycles held them
    assert left < 1_000_000, f"{left:,} bytes outlive the enumeration"


# -- a whole fit -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def one_fit(tmp_path_factory):
    """One short fit bounded by max_evals, with the collector off, a private
    temporary folder, and the threads and children before and after it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("fit_tmp")
    old_env, old_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = None
    X, y = _table()
    threads_before = set(threading.enumerate())
    children_before = set(_child_pids())
    try:
        with _cycles_left() as cycles:
            model = SymbolicRegressor(time_budget=120, max_evals=3000, random_state=1).fit(X, y)
            assert model.n_evals_ > 0
            del model
    finally:
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env
        tempfile.tempdir = old_dir
        torch.set_num_threads(threads)
    return {"cycles": cycles, "threads": set(threading.enumerate()) - threads_before,
            "children": set(_child_pids()) - children_before, "tmp": sorted(os.listdir(tmp))}


def test_a_fit_leaves_no_reference_cycles(one_fit):
    assert _symreg_owned(one_fit["cycles"]) == []


def test_a_fit_leaves_no_threads_children_or_temporary_files(one_fit):
    assert one_fit["threads"] == set()
    assert one_fit["children"] == set()
    assert one_fit["tmp"] == []


@pytest.mark.slow
def test_parallel_fit_leaves_no_children_or_temporary_files(tmp_path, monkeypatch):
    # workers in spawned processes and the exchange folder between them
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    X, y = _table()
    threads_before = set(threading.enumerate())
    children_before = set(_child_pids())
    SymbolicRegressor(time_budget=8, n_jobs=2, random_state=1).fit(X, y)
    assert set(_child_pids()) - children_before == set()
    assert set(threading.enumerate()) - threads_before == set()
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.slow
def test_python_memory_does_not_grow_across_fits():
    # what tracemalloc sees live (Python objects and numpy's arrays) after fits
    # 1 and 3 of one process: a cache that grows with every fit shows here (the
    # reference cycles are the tests above; collected here first)
    X, y = _table()
    sizes = []
    tracemalloc.start()
    try:
        for k in range(3):
            SymbolicRegressor(time_budget=120, max_evals=1000, random_state=k).fit(X, y)
            gc.collect()
            sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert sizes[2] - sizes[0] < 500_000, [f"{s:,}" for s in sizes]


# -- handing memory back -------------------------------------------------------------------

def test_resident_bytes_reads_the_process_status():
    sizes = resident_bytes()
    if sizes is None:
        pytest.skip("no /proc/self/status here")
    rss, peak = sizes
    assert 0 < rss <= peak


def test_release_memory_hands_freed_heap_pages_back():
    if not release_memory():
        pytest.skip("not glibc: malloc_trim is not there")
    release_memory()
    # 64 KiB blocks come from malloc's heap (below its mmap threshold); keeping
    # the last one pins the heap's top, so only malloc_trim can return the rest
    blocks = [bytearray(os.urandom(16)) * 4096 for _ in range(800)]   # ~50 MB
    last = blocks[-1]
    del blocks
    rss_freed = resident_bytes()[0]
    assert release_memory()
    rss_released = resident_bytes()[0]
    assert len(last) == 65536
    assert rss_freed - rss_released > 25 * 2**20, (rss_freed, rss_released)
