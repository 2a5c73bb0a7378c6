"""Batch results as flat rows for a table file (``symreg batch results --out``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .jobs import SETTINGS

__all__ = ["result_rows"]


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    import datetime as dt

    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).isoformat(timespec="seconds")


#: export columns of settings whose names the results use for something else
_SETTING_COLUMNS = {"loss": "loss_function"}


def result_rows(records: Iterable[Any], fronts: bool = False) -> list[dict[str, Any]]:
    """Flat rows of store records for a table file.

    One row per job (``fronts=False``) with the chosen formula, or one row per formula on
    each finished job's Pareto front (``fronts=True``, ``chosen`` marks the selected one).
    Settings become columns of their own (lists joined with commas; the ``loss`` setting as
    ``loss_function``, since ``loss`` is the formula's loss).
    """
    rows: list[dict[str, Any]] = []
    for rec in records:
        # the seed a job ran with when it named none (regressor_kwargs)
        settings = {"seed": 0, **rec.settings}
        settings = {k: (",".join(v) if isinstance(v, list) else v) for k, v in settings.items()}
        res = rec.result or {}
        base = {"id": rec.id, "data": rec.data, "target": rec.target or res.get("target"),
                **{_SETTING_COLUMNS.get(k, k): settings.get(k) for k in SETTINGS
                   if k != "target"},
                "status": rec.status}
        timing = {"n_evals": res.get("n_evals"), "search_time": res.get("search_time"),
                  "fit_seconds": rec.fit_seconds, "wall_seconds": rec.wall_seconds,
                  "attempts": rec.attempts, "started": _iso(rec.started_at),
                  "finished": _iso(rec.finished_at), "host": rec.host, "pid": rec.pid,
                  "error": rec.error}
        if fronts:
            for i, eq in enumerate(res.get("front", [])):
                rows.append({**base, "chosen": i == res.get("best_index"),
                             "equation": eq["equation"], "complexity": eq["complexity"],
                             "loss": eq["loss"], "score": eq["score"], **timing})
        else:
            rows.append({**base, "equation": res.get("equation"),
                         "complexity": res.get("complexity"), "loss": res.get("loss"),
                         "r2": res.get("r2"), **timing})
    return rows
