"""Where batch jobs run: local processes or Ray tasks, behind one small interface.

A pool has a ``capacity`` (jobs at the same time), ``running`` (what it runs now), and three
methods: ``start(job)`` (returns the process id, if any), ``wait(timeout)`` (the jobs that
ended or ran over their ``timeout`` within ``timeout`` seconds, as ``(job, outcome,
seconds)``) and ``kill_all()`` (returns the ids of the jobs it killed); ``close()`` ends it.

* :class:`LocalPool`: each job in a process of its own (:mod:`symreg.processes`), forked from
  a server that has already imported symreg (so a job starts in milliseconds, not seconds),
  in a session of its own (so killing it kills whatever it started: its search workers, the
  sympy simplifier) and tied to the parent's life (so a SIGKILL of the batch does not leave
  it running). A job that crashes or outlives its timeout is a failed outcome, not a dead
  batch.
* :class:`RayPool`: each job a Ray task asking for ``n_jobs`` CPUs; the dataset is read by
  the driver and shipped through Ray's object store, so the cluster's nodes need not see the
  driver's files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..processes import (
    Child,
    kill_children,
    start_child,
    start_context,
    usable_cores,
    wait_children,
)
from .execute import local_job, ray_job
from .jobs import BatchError, Job

__all__ = ["LocalPool", "RayPool"]


def _timeout_outcome(job: Job, seconds: float) -> dict[str, Any]:
    return {"ok": False, "error": f"timed out: no result after {seconds:.0f} s "
                                  f"(timeout {job.timeout:g} s); the job was killed"}


class LocalPool:
    """Each job in a local process of its own."""

    def __init__(self, workers: int):
        self.capacity = workers
        self.threads = max(1, (usable_cores() or 1) // workers)
        # forkserver: the server imports torch and symreg once; each job is then a fork of it
        self.ctx = start_context(("forkserver", "spawn"),
                                 preload=["symreg.app.execute", "symreg.regressor"])
        self.running: list[Child] = []

    def start(self, job: Job) -> int | None:
        # not a daemon: a job with n_jobs > 1 starts processes of its own; Ctrl-C is the
        # parent's to handle (it kills the job)
        child = start_child(local_job, (job.data, job.target, job.settings, self.threads),
                            method=self.ctx, timeout=job.timeout, new_group=True, sigint="ignore",
                            die_with_parent=True, tag=job)
        self.running.append(child)
        return child.pid

    def wait(self, timeout: float) -> list[tuple[Job, dict[str, Any], float]]:
        """Outcomes of the jobs that ended (or ran over) within ``timeout`` seconds."""
        done = []
        for end in wait_children(self.running, timeout, join_seconds=2.0):
            job = end.child.tag
            if end.status == "ok":
                out = end.value
            elif end.status == "timeout":
                out = _timeout_outcome(job, end.seconds)
            elif end.status == "error":  # job_outcome does not raise; a failure to send does
                out = {"ok": False, "error": f"{type(end.value).__name__}: {end.value}"}
            else:
                out = {"ok": False, "error": f"the job's process died (exit code "
                                             f"{end.exitcode})"}
            done.append((job, out, end.seconds))
        return done

    def kill_all(self) -> list[str]:
        return [job.id for job in kill_children(self.running)]

    def close(self) -> None:
        self.kill_all()


@dataclass
class _Task:
    job: Job
    ref: Any
    start: float
    deadline: float


class RayPool:
    """Each job a Ray task on the cluster at ``address`` (``auto``, ``local`` or an address)."""

    def __init__(self, address: str, workers: int | None):
        try:
            import ray
        except ImportError:
            raise BatchError("--ray needs Ray: pip install ray (or 'symreg[ray]')") from None
        self.ray = ray
        self.owned = False
        if not ray.is_initialized():
            try:
                if address == "local":
                    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BatchError(f"cannot connect to the Ray cluster at {address!r}: "
                                 f"{' '.join(str(exc).split())}") from None
            self.owned = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        # more tasks in flight than the cluster runs would only wait in Ray's queue, where
        # their deadlines would tick and Ctrl-C would have more to cancel
        self.capacity = workers or max(1, cpus)
        self.task = ray.remote(ray_job)
        self.running: list[_Task] = []

    def start(self, job: Job) -> int | None:
        from ..datasets.tables import read_table

        try:
            table = read_table(job.data, target=job.target)
        except ValueError as exc:  # DataError: the job fails, the batch goes on
            ref = self.ray.put({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        else:
            ref = self.task.options(num_cpus=job.n_jobs, max_retries=0).remote(
                job.data, job.target, job.settings, self.ray.put(table), job.n_jobs)
        now = time.monotonic()
        self.running.append(_Task(job, ref, now, now + job.timeout))
        return None

    def wait(self, timeout: float) -> list[tuple[Job, dict[str, Any], float]]:
        ray = self.ray
        refs = [r.ref for r in self.running]
        ready, rest = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        ready_set = set(ready)
        now = time.monotonic()
        done = []
        for r in list(self.running):
            if r.ref in ready_set:
                try:
                    out = ray.get(r.ref)
                except Exception as exc:  # noqa: BLE001 - a crashed or cancelled task
                    text = " ".join(str(exc).split())[:300]
                    out = {"ok": False, "error": f"the Ray task failed: {type(exc).__name__}: "
                                                 f"{text}"}
            elif now > r.deadline:
                ray.cancel(r.ref, force=True)
                out = _timeout_outcome(r.job, now - r.start)
            else:
                continue
            self.running.remove(r)
            done.append((r.job, out, now - r.start))
        return done

    def kill_all(self) -> list[str]:
        ids = [r.job.id for r in self.running]
        for r in self.running:
            try:
                self.ray.cancel(r.ref, force=True)
            except Exception:  # noqa: BLE001, S110 - already finished or gone
                pass
        self.running = []
        return ids

    def close(self) -> None:
        self.kill_all()
        if self.owned:
            self.ray.shutdown()
