"""Batch discovery jobs: many datasets × settings, run on a worker pool, recorded in a store.

A *jobs file* (TOML or YAML, see ``docs/batch.md``) lists datasets (paths, globs or folders)
and the settings to fit them with; list-valued ``seeds`` and ``grid`` entries span a grid, so
one entry can stand for hundreds of jobs. A folder of CSV/Parquet files is the short form: one
job per file, settings from the command line. The parts, each in a module of its own:

* :mod:`symreg.app.jobs`: the job and its settings (what a jobs file may set, the checks);
* :mod:`symreg.app.jobs_file`: :func:`load_jobs` reads either form into jobs, or raises
  :class:`BatchError` with a one-line message before anything runs;
* :mod:`symreg.app.execute`: one job, fitted in its own process or on a Ray worker;
* :mod:`symreg.app.pools`: local processes (default) or Ray tasks (``ray="auto" | "local" |
  ADDRESS``);
* :mod:`symreg.app.batch_export`: :func:`result_rows`, the store's records as table rows;
* here, :func:`run_batch`: runs the jobs that the store (:mod:`symreg.app.store`) does not
  already have as finished, keeping the pool full.

Only the parent process writes to the store, one transaction per state change, as each job
starts and finishes; on Ctrl-C the running jobs are killed and put back to ``pending``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..processes import usable_cores
from .batch_export import result_rows
from .execute import execute_job
from .jobs import ALIASES, SETTINGS, BatchError, Job, describe, regressor_kwargs
from .jobs_file import DATA_SUFFIXES, default_store, load_jobs
from .pools import LocalPool, RayPool
from .store import JobStore

__all__ = ["ALIASES", "DATA_SUFFIXES", "SETTINGS", "BatchError", "BatchProgress", "BatchSummary",
           "Job", "default_store", "describe", "execute_job", "load_jobs", "regressor_kwargs",
           "result_rows", "run_batch"]


@dataclass
class BatchProgress:
    """Counts for a progress display; ``last`` is the job that just finished (if any) with
    its outcome (``ok``, ``result`` or ``error``)."""

    total: int
    done: int
    failed: int
    running: int
    skipped: int
    resumed: int
    last: tuple[Job, dict[str, Any]] | None = None


@dataclass
class BatchSummary:
    """What a batch run did: jobs in the batch, finished ``done``/``failed`` (in the store, so
    earlier runs included), run now, and stale ``running`` rows taken up again."""

    store: str
    total: int
    done: int
    failed: int
    ran: int
    resumed: int
    seconds: float


def run_batch(jobs: Sequence[Job], store: str | Path, workers: int | None = None,
              ray: str | None = None, retry_failed: bool = False,
              on_progress: Callable[[BatchProgress], None] | None = None) -> BatchSummary:
    """Run every job that the store does not have as finished; record each as it ends.

    Parameters
    ----------
    jobs : sequence of Job
        From :func:`load_jobs`.
    store : str or Path
        The SQLite store (created when missing). One batch at a time may run on it.
    workers : int, optional
        Jobs at the same time. Default: the usable cores divided by the largest ``n_jobs``
        (local), the cluster's CPUs (Ray).
    ray : str, optional
        ``"auto"`` (the running cluster, or ``RAY_ADDRESS``), ``"local"`` (start a local
        instance) or a cluster address. None: local processes.
    retry_failed : bool, default=False
        Run the jobs recorded as ``failed`` again.
    on_progress : callable, optional
        Called with a :class:`BatchProgress` once at the start and after each job.

    Raises
    ------
    BatchError
        The store is busy or unusable, Ray cannot be reached, a device does not exist.
    KeyboardInterrupt
        After the running jobs were killed and put back to ``pending``.
    """
    from .store import StoreError

    t0 = time.monotonic()
    if workers is not None and workers < 1:
        raise BatchError(f"workers must be at least 1, got {workers}")
    if ray is None:
        _check_devices(jobs)
    try:
        db = JobStore(store)
    except StoreError as exc:
        raise BatchError(str(exc)) from None
    try:
        try:
            db.lock()
        except StoreError as exc:
            raise BatchError(str(exc)) from None
        # we hold the lock, so nobody is running these: their process died
        resumed = db.reset_running()
        db.add_jobs((j.id, j.data, j.target, j.settings) for j in jobs)
        status = db.statuses()
        wanted = ("pending", "failed") if retry_failed else ("pending",)
        queue = [j for j in jobs if status.get(j.id) in wanted]
        batch_ids = {j.id for j in jobs}
        counts = {"done": 0, "failed": 0}
        for jid in batch_ids:
            if status.get(jid) in counts and not (retry_failed and status[jid] == "failed"):
                counts[status[jid]] += 1
        skipped = counts["done"] + counts["failed"]

        def report(last: tuple[Job, dict[str, Any]] | None, running: int) -> None:
            if on_progress is not None:
                on_progress(BatchProgress(len(batch_ids), counts["done"], counts["failed"],
                                          running, skipped, resumed, last))

        report(None, 0)
        if queue:
            pool: LocalPool | RayPool
            if ray is None:
                # by default as many jobs as their search workers leave cores for
                widest = max(j.n_jobs for j in queue)
                pool = LocalPool(workers or max(1, (usable_cores() or 1) // widest))
            else:
                pool = RayPool(ray, workers)
            try:
                _drive(pool, db, queue, counts, report)
            finally:
                pool.close()
        return BatchSummary(str(store), len(batch_ids), counts["done"], counts["failed"],
                            len(queue), resumed, time.monotonic() - t0)
    finally:
        db.close()


def _check_devices(jobs: Sequence[Job]) -> None:
    from ..evaluate import resolve_device

    for device in {j.settings.get("device") for j in jobs} - {None}:
        try:
            resolve_device(device)
        except (ValueError, RuntimeError) as exc:
            raise BatchError(f"device {device!r}: {' '.join(str(exc).split())}") from None


def _drive(pool: LocalPool | RayPool, db: JobStore, queue: list[Job], counts: dict[str, int],
           report: Callable) -> None:
    """Keep the pool full, record each outcome the moment it arrives."""
    queue = list(queue)
    try:
        while queue or pool.running:
            started = False
            while queue and len(pool.running) < pool.capacity:
                job = queue.pop(0)
                pid = pool.start(job)
                db.mark_running(job.id, pid=pid)
                started = True
            if started:
                report(None, len(pool.running))
            for job, out, wall in pool.wait(0.5):
                if out.get("ok"):
                    result = out["result"]
                    db.mark_done(job.id, result, wall_seconds=wall,
                                 fit_seconds=result.get("fit_seconds"), host=out.get("host"),
                                 pid=out.get("pid"))
                    counts["done"] += 1
                else:
                    db.mark_failed(job.id, out.get("error") or "unknown error",
                                   out.get("traceback"), wall_seconds=wall,
                                   host=out.get("host"), pid=out.get("pid"))
                    counts["failed"] += 1
                report((job, out), len(pool.running))
    except BaseException:
        # Ctrl-C (or a failure of the store): finished rows stay, the cut ones wait for the
        # next run
        ids = pool.kill_all()
        try:
            db.reset(ids)
        except Exception:  # noqa: BLE001, S110 - the lock is dropped anyway; next run resets
            pass
        raise
