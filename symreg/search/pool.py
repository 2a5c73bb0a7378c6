"""Run several search workers and merge their halls of fame.

``n_jobs == 1`` runs inline (nothing is started).
More workers run on one of two back-ends with the same behaviour:

* ``"processes"`` (default): spawned local processes (:mod:`symreg.processes`), nothing to
  start;
* ``"ray"``: Ray tasks, on the cluster that ``ray.init()`` connects to (the
  ``RAY_ADDRESS`` environment variable, or a local instance started on
  demand), so the same search runs across machines. Needs ``pip install ray``.

Each worker has its own seed (``config.seed + k``) and a share of the CPU
threads (:mod:`symreg.threads`); all stop at one shared wall-clock deadline, so
start-up eats into the budget instead of extending it.

A fit bounded by time gets no more local processes than there are free cores
(:func:`symreg.threads.worker_count`; on a busy machine a second worker only
slows the first, which runs the cheap phases), and they share the cheap phases
(structure tests, enumeration: most laws fall to them in a second or two)
instead of each computing them: this process is worker 0, the lead; it fits the seeds and the
first structure stage, and the other workers are spawned as soon as that is done
and not exact (so an easy law starts no process). From then on each later stage
and the enumeration is run by the first worker to claim it, and a worker takes
the others' fronts before each stage, so a law one finds stops all. The lead
hands its hall of fame and population over (through the exchange folder) and
the followers take them in; then all evolve. An exact law from the lead ends the
search at once; the followers are killed. The followers fork from a server that
imported the search once per session (forkserver, started as the fit starts, so
its imports overlap the lead's first stage), not from a fresh interpreter.

Every few generations the workers swap their Pareto fronts
(:mod:`symreg.search.exchange`: files in a temporary folder for processes, an
actor on Ray), so a good formula found by one becomes breeding material for all
and an exact one stops them all. A fit bounded by ``max_evals`` skips the
exchange and the shared beginning (every worker runs every phase): what a worker
receives depends on timing, and such a fit must give the same result every time.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ..expression import Expression
from ..pareto import HallOfFame
from ..processes import Child, kill_children, start_child, start_context, wait_children
from ..threads import active_limit, limit_threads, threads_per_job, worker_count
from .engine import SearchConfig, SearchProgress, SearchResult, search
from .exchange import FileExchange, make_ray_exchange

__all__ = ["BACKENDS", "run_search"]

BACKENDS = ("processes", "ray")
#: a fit with followers waits for them this long past the deadline (at least), and
#: this share of the budget
COLLECT_GRACE_SECONDS = 2.0
COLLECT_GRACE_SHARE = 0.05
#: what the workers' fork server imports once
_PRELOAD = ("symreg.search.pool",)


def _worker(X, y, w, config: SearchConfig, seeds, deadline: float, threads: int) -> SearchResult:
    with limit_threads(threads):
        config = replace(config, time_budget=max(0.5, deadline - time.time()))
        return search(X, y, config, w, seeds)


def _context():
    """Where local workers start: forked from a server that imported the search once
    per session (started early by :func:`_warm`), else spawned (each imports torch:
    seconds)."""
    return start_context(("forkserver", "spawn"), preload=_PRELOAD)


def _warm(ctx) -> None:
    """Start the fork server now (it imports in the background), so that its first
    worker need not wait for it; nothing where the context is not a fork server."""
    if ctx.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    with contextlib.suppress(OSError, ValueError):
        forkserver.ensure_running()


def _threads(n_jobs: int) -> int:
    """Threads per worker: the fit's limit when one is open (it is per search
    process already), else the policy's default."""
    return active_limit() or threads_per_job(n_jobs)


def run_search(X: np.ndarray, y: np.ndarray, config: SearchConfig, n_jobs: int = 1,
               sample_weight: np.ndarray | None = None, seeds: Sequence[Expression] = (),
               callback: Callable[[SearchProgress], None] | None = None,
               backend: str = "processes") -> SearchResult:
    """Search with ``n_jobs`` workers (seeds ``config.seed + k``) and merge."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if n_jobs <= 1 and backend == "processes":
        return search(X, y, config, sample_weight, seeds, callback)
    deadline = time.time() + config.time_budget
    if backend == "processes" and config.max_evals is None:
        # as many workers as there are free cores (a fit bounded by max_evals gets
        # n_jobs whatever the load: its result must not depend on the machine)
        n_jobs = worker_count(n_jobs)
        if n_jobs <= 1:
            return search(X, y, config, sample_weight, seeds, callback)
        return _run_led(X, y, sample_weight, config, n_jobs, list(seeds), callback, deadline)
    per_worker_evals = None if config.max_evals is None else max(1, config.max_evals // n_jobs)
    configs = [replace(config, seed=config.seed + k, max_evals=per_worker_evals, worker=k)
               for k in range(n_jobs)]
    share = config.max_evals is None and n_jobs > 1
    if backend == "ray":
        results, interrupted = _run_ray(X, y, sample_weight, configs, list(seeds), deadline, share)
    else:
        with tempfile.TemporaryDirectory(prefix="symreg-exchange-") as folder:
            if share:
                configs = [replace(c, exchange=FileExchange(folder)) for c in configs]
            results, interrupted = _run_processes(X, y, sample_weight, configs, list(seeds),
                                                  deadline)
    return _merge(results, config, interrupted)


def _run_led(X, y, w, config: SearchConfig, n_jobs: int, seeds, callback, deadline: float
             ) -> SearchResult:
    """Worker 0 (the lead) in this process, the others spawned once its first structure
    stage is done and not exact (see the module docstring). Progress callbacks come
    from the lead."""
    threads = _threads(n_jobs)
    floor = _loss_floor(y, w, config)
    ctx = _context()
    _warm(ctx)   # overlaps the server's imports with the lead's first stage
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="symreg-exchange-") as folder:
        exchange = FileExchange(folder)
        lead = replace(config, worker=0, exchange=exchange, role="lead")
        started = False

        def progress(p: SearchProgress) -> None:
            nonlocal started
            if not started:
                # the lead's first report comes after its first structure stage: an
                # exact law there needs no other worker
                started = True
                for k in range(1, n_jobs if p.best_loss > floor else 1):
                    c = replace(config, seed=config.seed + k, worker=k, exchange=exchange,
                                role="follow")
                    try:
                        children.append(start_child(
                            _worker, (X, y, w, c, seeds, deadline, threads),
                            method=ctx, new_group=False, tag=k))
                    except OSError:   # no more processes to be had: the lead goes on
                        break
            if callback is not None:
                callback(p)

        try:
            first = search(X, y, lead, w, seeds, progress)
            results, interrupted = [first], first.interrupted
            if not first.stopped_early:
                # the followers end at the same deadline; one that is late (a slow
                # polish on a busy machine) is not waited for: its front reached the
                # lead through the exchange
                more, stopped = _collect(children, deadline + max(
                    COLLECT_GRACE_SECONDS, COLLECT_GRACE_SHARE * config.time_budget))
                results += more
                interrupted = interrupted or stopped
        finally:
            kill_children(children)
    return _merge(results, config, interrupted)


def _loss_floor(y, w, config: SearchConfig) -> float:
    """The search's exactness floor on the hall of fame's loss (as the engine sets it)."""
    wts = np.ones_like(y) if w is None else w
    var = float(np.average((y - np.average(y, weights=wts)) ** 2, weights=wts))
    return config.exact_nmse * (var or 1.0)


def _run_processes(X, y, w, configs, seeds, deadline) -> tuple[list[SearchResult], bool]:
    """One spawned process per worker, all in this process's group: the terminal's Ctrl-C
    reaches them, and each returns its best so far. The results come in worker order."""
    threads = _threads(len(configs))
    ctx = _context()
    children: list[Child] = []
    try:
        for k, c in enumerate(configs):
            children.append(start_child(_worker, (X, y, w, c, seeds, deadline, threads),
                                        method=ctx, new_group=False, tag=k))
        return _collect(children)
    finally:
        kill_children(children)


def _collect(children: list[Child], until: float | None = None
             ) -> tuple[list[SearchResult], bool]:
    """The workers' results in worker order, and whether Ctrl-C came meanwhile (each
    collected child leaves ``children``). With ``until`` (a ``time.time()``
    reading), the workers still running then are left out (the caller kills them)."""
    results: dict[int, SearchResult] = {}
    interrupted = False
    while children:
        # at least one look, even when ``until`` has passed
        wait = 1.0 if until is None else max(0.0, min(1.0, until - time.time()))
        try:
            ended = wait_children(children, wait)
        except KeyboardInterrupt:
            # the workers got the same Ctrl-C and are returning their best
            interrupted = True
            continue
        for end in ended:
            if end.status == "error":
                raise end.value
            if end.status != "ok":
                raise RuntimeError(f"search worker {end.child.tag} died "
                                   f"(exit code {end.exitcode})")
            results[end.child.tag] = end.value
        if until is not None and time.time() >= until:
            break
    return [results[k] for k in sorted(results)], interrupted


def _run_ray(X, y, w, configs, seeds, deadline, share: bool) -> tuple[list[SearchResult], bool]:
    try:
        import ray
    except ImportError:
        raise ValueError("backend='ray' needs Ray: pip install ray (or 'symreg[ray]')") from None
    if not ray.is_initialized():
        # connects to RAY_ADDRESS when set, else starts a local instance
        ray.init(include_dashboard=False, log_to_driver=False)
    if share:
        exchange = make_ray_exchange()
        configs = [replace(c, exchange=exchange) for c in configs]
    cpus = ray.available_resources().get("CPU", 1.0)
    threads = max(1, int(cpus) // len(configs))
    task = ray.remote(num_cpus=1)(_worker)
    # the data go to the object store once, not once per task
    X_ref, y_ref, w_ref = ray.put(X), ray.put(y), ray.put(w)
    refs = [task.remote(X_ref, y_ref, w_ref, c, seeds, deadline, threads) for c in configs]
    try:
        return list(ray.get(refs)), False
    except KeyboardInterrupt:
        # a Ray task cannot hand back a partial result: keep what has finished
        done, pending = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in pending:
            ray.cancel(ref, force=True)
        results = [ray.get(r) for r in done]
        if not results:
            raise
        return results, True


def _merge(results: list[SearchResult], config: SearchConfig, interrupted: bool) -> SearchResult:
    floor = results[0].hall_of_fame.loss_floor
    hof = HallOfFame(config.maxsize, loss_floor=floor)
    for r in results:
        cands = r.hall_of_fame.candidates()
        hof.update([c.expr for c in cands], [c.loss for c in cands])
    phases: dict[str, float] = {}
    for r in results:
        for k, v in r.phases.items():
            phases[k] = max(phases.get(k, 0.0), v)
    return SearchResult(hof, sum(r.n_evals for r in results), max(r.elapsed for r in results),
                        interrupted or any(r.interrupted for r in results),
                        any(r.stopped_early for r in results), phases,
                        sum(r.n_received for r in results))
