"""How many threads a fit's compute may use, and applying that to torch and BLAS.

One policy for every place that runs symreg's compute (the fit in the caller's
process, the search workers, a batch job): each search process may use

    the cores free when the fit starts (this process's affinity, within a
    container's CPU quota, less what other processes keep busy) // the number of
    search processes, never below 1,

unless the user says otherwise (``SymbolicRegressor(n_threads=...)``, or the
environment variable ``SYMREG_NUM_THREADS``). An ``OMP_NUM_THREADS`` set in the
environment caps the default: whoever set it meant it.

Why not more: the evaluator's torch kernels and the BLAS calls of the linear
fits synchronise their threads at every operation; with more threads than free
cores a descheduled thread stalls all the others (on a busy two-core machine,
two threads made the evaluator about ten times slower than one). Hence the
rounding down, and a whole core must be free before it counts (a little
background activity, up to :data:`SLACK` of a core, is forgiven).

:func:`limit_threads` applies a number to torch's intra-op pool and to the BLAS
and OpenMP pools (through threadpoolctl) and restores the previous settings on
exit, so a fit leaves the process as it found it. :func:`worker_count` applies
the same count of free cores to the search processes of a fit bounded by time.
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .processes import usable_cores

__all__ = ["ENV_VAR", "SLACK", "active_limit", "busy_cores", "check_n_threads", "cores_allowed",
           "fit_threads", "limit_threads", "threads_per_job", "worker_count"]

#: environment variable with the threads per search process (a positive integer)
ENV_VAR = "SYMREG_NUM_THREADS"
#: seconds over which the other processes' CPU use is sampled (from /proc/stat)
SAMPLE_SECONDS = 0.05
#: busy cores of others below this fraction of a core are not counted
SLACK = 0.3

# the limits of the limit_threads blocks now open in this process, innermost last
_ACTIVE: list[int] = []


def check_n_threads(n_threads) -> None:
    """ValueError unless ``n_threads`` is None or an integer >= 1."""
    if n_threads is None:
        return
    if (isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral)
            or n_threads < 1):
        raise ValueError(f"n_threads must be None or an integer >= 1, got {n_threads!r}")


def cores_allowed() -> int:
    """Cores this process may use: its affinity, and no more than a container's CPU
    quota (cgroup v2 ``cpu.max``, whole cores) where one is set."""
    cores = usable_cores() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            # rounded down: a thread on a part of a core waits for the rest
            cores = min(cores, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return cores


def _affinity() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _cpu_ticks(cpus: set[int] | None) -> tuple[int, int] | None:
    """(busy, total) clock ticks so far of the CPUs ``cpus`` (all when None), from /proc/stat."""
    try:
        with open("/proc/stat") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    busy = total = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        # user nice system idle iowait irq softirq steal (guest is inside user)
        v = [int(x) for x in rest.split()[:8]]
        total += sum(v)
        busy += sum(v) - v[3] - v[4]
    return busy, total


def _own_ticks() -> int:
    """Clock ticks this process (all its threads) has run so far."""
    with open("/proc/self/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])   # utime, stime


def busy_cores(sample_seconds: float = SAMPLE_SECONDS) -> float:
    """Cores of this process's affinity that other processes keep busy now.

    Linux: the busy clock ticks of those CPUs over ``sample_seconds`` (from
    ``/proc/stat``), less this process's own. Elsewhere: the one-minute load
    average less one (this process), which lags but errs towards fewer threads.
    Never below 0.
    """
    cpus = _affinity()
    try:
        a, own_a = _cpu_ticks(cpus), _own_ticks()
        if a is None:
            raise OSError
        time.sleep(sample_seconds)
        b, own_b = _cpu_ticks(cpus), _own_ticks()
        if b is None or b[1] <= a[1]:
            raise OSError
    except (OSError, ValueError, IndexError):
        try:
            return max(0.0, os.getloadavg()[0] - 1.0)
        except (AttributeError, OSError):
            return 0.0
    n_cpus = len(cpus) if cpus is not None else (os.cpu_count() or 1)
    # ticks per CPU over the sample, from the counters themselves (robust to the tick rate)
    per_cpu = (b[1] - a[1]) / n_cpus
    others = (b[0] - a[0]) - (own_b - own_a)
    return max(0.0, others / per_cpu) if per_cpu > 0 else 0.0


def threads_per_job(n_jobs: int = 1, *, cores: int | None = None,
                    busy: float | None = None) -> int:
    """The default threads per search process: ``(cores - busy) // n_jobs``, at least 1.

    Parameters
    ----------
    n_jobs : int
        Search processes that will run at once.
    cores : int, optional
        Cores this process may use (default: :func:`cores_allowed`).
    busy : float, optional
        Of those, cores other processes keep busy (default: :func:`busy_cores`,
        sampled only when more than one thread per process could come out).
    """
    n_jobs = max(1, int(n_jobs))
    cores = cores_allowed() if cores is None else int(cores)
    cap = _env_int("OMP_NUM_THREADS")
    most = max(1, cores // n_jobs)
    if cap is not None:
        most = min(most, cap)
    if most == 1:
        return 1   # nothing to measure: one thread whatever the load
    if busy is None:
        busy = busy_cores()
    # others' work below SLACK of a core is forgiven; beyond that it takes a whole core
    free = cores - max(0.0, busy - SLACK)
    return max(1, min(most, int(free // n_jobs)))


def worker_count(n_jobs: int, *, cores: int | None = None, busy: float | None = None) -> int:
    """Search processes worth running for ``n_jobs``: at most ``n_jobs`` and at most
    the free cores (counted as in :func:`threads_per_job`), at least 1.

    A worker on a core that other processes keep busy only slows the others down
    (the cheap phases, where most laws are found, run in the first worker), so a
    busy machine gets fewer workers than asked for.
    """
    n_jobs = max(1, int(n_jobs))
    if n_jobs == 1:
        return 1
    cores = cores_allowed() if cores is None else int(cores)
    if busy is None:
        busy = busy_cores()
    free = cores - max(0.0, busy - SLACK)
    return max(1, min(n_jobs, int(free)))


def _env_int(name: str) -> int | None:
    """The positive integer in environment variable ``name``, or None (unset or not one)."""
    text = os.environ.get(name, "").strip()
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 1 else None


def fit_threads(n_threads: int | None, n_jobs: int = 1) -> int:
    """Threads per search process of a fit: ``n_threads`` when given, else
    ``SYMREG_NUM_THREADS`` when set, else :func:`threads_per_job`."""
    check_n_threads(n_threads)
    if n_threads is not None:
        return int(n_threads)
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        value = _env_int(ENV_VAR)
        if value is None:
            raise ValueError(f"{ENV_VAR} must be an integer >= 1, got {env!r}")
        return value
    return threads_per_job(n_jobs)


def active_limit() -> int | None:
    """The limit of the innermost :func:`limit_threads` block open now, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextmanager
def limit_threads(n: int) -> Iterator[int]:
    """Run the block with ``n`` threads in torch and in the BLAS/OpenMP pools.

    The previous settings come back on exit, also when the block raises.

    Parameters
    ----------
    n : int
        Threads, at least 1.

    Yields
    ------
    int
        ``n``.
    """
    import torch
    from threadpoolctl import threadpool_limits

    n = max(1, int(n))
    previous = torch.get_num_threads()
    pools = threadpool_limits(limits=n)   # BLAS and OpenMP libraries loaded now
    try:
        torch.set_num_threads(n)
        _ACTIVE.append(n)
        try:
            yield n
        finally:
            _ACTIVE.pop()
            torch.set_num_threads(previous)
    finally:
        pools.restore_original_limits()
