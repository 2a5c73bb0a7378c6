"""One batch job: fit a dataset with a job's settings, as a result the store keeps.

:func:`execute_job` runs in the job's own process (local pool) or on a Ray worker;
:func:`job_outcome` wraps it as a message that never raises. The pools
(:mod:`symreg.app.pools`) start these; nothing here knows about processes.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from typing import Any

from ..bench.runner import json_safe
from ..threads import limit_threads
from .jobs import regressor_kwargs

__all__ = ["execute_job", "job_outcome", "local_job", "ray_job"]


def execute_job(data: str, target: str | None, settings: dict[str, Any],
                table: Any = None, threads: int | None = None) -> dict[str, Any]:
    """Fit one dataset; the JSON-safe result that the store keeps.

    Parameters
    ----------
    data, target, settings
        As in :class:`~symreg.app.jobs.Job`.
    table : symreg.datasets.tables.Table, optional
        The data already read (Ray ships it); else ``data`` is read here.
    threads : int, optional
        The job's share of the cores: its fit's search processes split them
        (``n_threads``, see :mod:`symreg.threads`). None: the fit's own policy.

    Returns
    -------
    dict
        ``equation``, ``complexity``, ``loss``, ``score`` and ``r2`` (training) of the chosen
        formula; ``front`` (records of the Pareto front), ``best_index``, ``n_evals``,
        ``search_time``, ``fit_seconds``, ``interrupted``, ``n_samples``, ``features``,
        ``target``.
    """
    import numpy as np

    from ..datasets.tables import read_table
    from ..regressor import SymbolicRegressor

    if table is None:
        table = read_table(data, target=target)
    kwargs = regressor_kwargs(settings)
    if threads is not None:
        kwargs.setdefault("n_threads", max(1, int(threads) // int(kwargs.get("n_jobs", 1))))
    model = SymbolicRegressor(**kwargs)
    start = time.perf_counter()
    model.fit(table.X, table.y)
    fit_seconds = time.perf_counter() - start
    with np.errstate(all="ignore"):
        r2 = float(model.score(table.X, table.y))
    front = [{"complexity": int(r.complexity), "loss": float(r.loss), "score": float(r.score),
              "equation": str(r.equation)}
             for r in model.equations_.itertuples()]
    best = int(model.best_index_)
    return json_safe({
        **front[best], "r2": r2, "front": front, "best_index": best,
        "n_evals": int(model.n_evals_), "search_time": float(model.search_time_),
        "fit_seconds": fit_seconds, "interrupted": bool(model.interrupted_),
        "n_samples": len(table.y), "features": [str(c) for c in table.X.columns],
        "target": str(table.y.name),
    })


def job_outcome(data: str, target: str | None, settings: dict[str, Any], table: Any = None,
                threads: int | None = None) -> dict[str, Any]:
    """:func:`execute_job` as a message that never raises: ``ok`` with ``result``, or the
    error as one line (and the traceback)."""
    out: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        out.update(ok=True, result=execute_job(data, target, settings, table, threads))
    except BaseException as exc:  # noqa: BLE001 - every failure is a row, not a dead batch
        text = " ".join(str(exc).split())[:500]
        out.update(ok=False, error=f"{type(exc).__name__}: {text}" if text else type(exc).__name__,
                   traceback=traceback.format_exc(limit=12))
    return out



def local_job(data: str, target: str | None, settings: dict[str, Any], threads: int
              ) -> dict[str, Any]:
    """Body of a local job process (started by :func:`symreg.processes.start_child`)."""
    with limit_threads(threads):
        return job_outcome(data, target, settings, threads=threads)


def ray_job(data: str, target: str | None, settings: dict[str, Any], table: Any,
            threads: int) -> dict[str, Any]:
    """Body of a Ray task: the table comes through Ray's object store."""
    with limit_threads(threads):
        return job_outcome(data, target, settings, table, threads)
