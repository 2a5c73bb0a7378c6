"""Batch jobs: what a jobs file may set, how each value is checked, and one job.

A job (:class:`Job`) is one dataset fitted with one set of settings; :data:`SETTINGS` lists
the settings a jobs file may give (``docs/batch.md``) with the check that turns each value
into its canonical form, so that ``"+,*"`` and ``["+", "*"]`` are the same setting and the
same job id. Reading a jobs file and expanding its grids is :mod:`symreg.app.jobs_file`.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .store import job_id

__all__ = ["ALIASES", "JOB_KEYS", "SETTINGS", "TIMEOUT_GRACE", "TOP_KEYS", "BatchError", "Job",
           "describe", "parse_grid", "parse_settings", "regressor_kwargs", "unknown_key"]

#: seconds a job may run beyond twice its time budget (start-up, data, polish) by default
TIMEOUT_GRACE = 60.0


class BatchError(ValueError):
    """Bad batch input (jobs file, datasets, options); the message is one line."""


# ----------------------------------------------------------------------------
# settings: what a jobs file may set, and how each value is checked
# ----------------------------------------------------------------------------

def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError("a number")
    if value <= 0:
        raise TypeError("a positive number")
    return float(value)


def _integer(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise TypeError(f"an integer >= {minimum}")
        return int(value)
    return check


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an integer")
    return int(value)


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError("a non-empty string")
    return value.strip()


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _string_list(value: Any) -> list[str]:
    # "+,*,sin" and ["+", "*", "sin"] are the same setting (and the same job id)
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("a list of strings or a comma-separated string")
    items = [v.strip() for v in value if v.strip()]
    if not items:
        raise TypeError("a non-empty list")
    return items


def _formulas(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("a list of formulas (strings)")
    return [v.strip() for v in value]


#: setting -> (checker returning the canonical value, what it means)
SETTINGS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "target": (_string, "column to predict (default: the last column)"),
    "time_budget": (_number, "seconds of search per job (alias: time; default 60)"),
    "maxsize": (_integer(1), "largest expression complexity"),
    "operators": (_string_list, "operator names, a list or '+,*,sin'"),
    "seed": (_seed, "random seed (default 0)"),
    "n_jobs": (_integer(1), "search workers (CPUs) per job"),
    "model_selection": (_string, "best, accuracy, score or bic"),
    "loss": (_string, "mse, mae, huber or logcosh"),
    "max_evals": (_integer(1), "stop after about this many evaluations"),
    "population_size": (_integer(2), "population of the evolutionary phase"),
    "device": (_string, "auto, cpu, cuda or cuda:N"),
    "drop_nonfinite": (_boolean, "drop rows with NaN or inf"),
    "guesses": (_formulas, "formulas to start from"),
    "timeout": (_number, "seconds after which a job is killed (default 2×time + 60)"),
}
ALIASES = {"time": "time_budget"}
#: keys of a [[jobs]] entry besides the settings
JOB_KEYS = ("data", "seeds", "grid")
TOP_KEYS = ("defaults", "jobs")
#: settings handed to SymbolicRegressor under another name (the rest keep theirs)
_REGRESSOR_NAMES = {"seed": "random_state"}
_NOT_REGRESSOR = ("target", "timeout")


def unknown_key(key: str, allowed: Iterable[str], where: str) -> BatchError:
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return BatchError(f"unknown key {key!r} in {where}{hint} allowed keys: {', '.join(allowed)}")


def _check_setting(key: str, value: Any, where: str) -> tuple[str, Any]:
    name = ALIASES.get(key, key)
    check, _ = SETTINGS[name]
    try:
        return name, check(value)
    except TypeError as exc:
        raise BatchError(f"{key} in {where} must be {exc}, got {value!r}") from None


def parse_settings(table: dict[str, Any], where: str, extra: Sequence[str]) -> dict[str, Any]:
    """The settings of ``table`` (aliases resolved, values checked); keys in ``extra`` are
    skipped, any other key that is not a setting is an error."""
    allowed = [*SETTINGS, *ALIASES, *extra]
    out: dict[str, Any] = {}
    for key, value in table.items():
        if not isinstance(key, str) or key not in allowed:
            raise unknown_key(str(key), allowed, where)
        if key in extra:
            continue
        name, value = _check_setting(key, value, where)
        if name in out:
            raise BatchError(f"{where} sets {name} twice (as {name} and as its alias); "
                             "keep one")
        out[name] = value
    return out


def parse_grid(table: dict[str, Any], where: str) -> dict[str, list[Any]]:
    """The grid axes of an entry: ``seeds = [..]`` and ``grid = {setting = [..]}``."""
    axes: dict[str, list[Any]] = {}
    grid = table.get("grid", {})
    if not isinstance(grid, dict):
        raise BatchError(f"grid in {where} must be a table of setting = [values], got {grid!r}")
    if "seeds" in table:
        if "seed" in grid:
            raise BatchError(f"{where} gives seeds and grid.seed; keep one")
        grid = {"seed": table["seeds"], **grid}
    allowed = [*SETTINGS, *ALIASES]
    for key, values in grid.items():
        if not isinstance(key, str) or key not in allowed:
            raise unknown_key(str(key), allowed, f"the grid of {where}")
        label = "seeds" if key == "seed" and "seeds" in table else f"grid.{key}"
        if not isinstance(values, list) or not values:
            raise BatchError(f"{label} in {where} must be a non-empty list, got {values!r}")
        name = ALIASES.get(key, key)
        if name in axes:
            raise BatchError(f"the grid of {where} sets {name} twice; keep one")
        axes[name] = [_check_setting(key, v, f"{label} of {where}")[1] for v in values]
    return axes


# ----------------------------------------------------------------------------
# jobs
# ----------------------------------------------------------------------------

@dataclass
class Job:
    """One dataset fitted with one set of settings.

    Attributes
    ----------
    data : str
        Absolute path of the CSV or Parquet file.
    target : str or None
        Column to predict; None: the last column.
    settings : dict
        Canonical settings (aliases resolved, ``target`` apart); see :data:`SETTINGS`.
    """

    data: str
    target: str | None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable id: a hash of the path, the target and the settings."""
        return job_id(self.data, self.target, self.settings)

    @property
    def timeout(self) -> float:
        """Seconds after which the job is killed."""
        budget = self.settings.get("time_budget", 60.0)
        return float(self.settings.get("timeout", 2.0 * budget + TIMEOUT_GRACE))

    @property
    def n_jobs(self) -> int:
        return int(self.settings.get("n_jobs", 1))

    def describe(self) -> str:
        """Short label: the path (relative when under the working folder) and the settings."""
        return describe(self.data, self.settings)


def describe(data: str, settings: dict[str, Any]) -> str:
    """``path key=value ...`` for messages and tables."""
    try:
        shown = os.path.relpath(data)
        if shown.startswith(".."):
            shown = data
    except ValueError:  # another drive on Windows
        shown = data
    parts = [f"{k}={','.join(v) if isinstance(v, list) else v}"
             for k, v in sorted(settings.items())]
    return " ".join([shown, *parts])


def regressor_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """SymbolicRegressor keyword arguments of a job's settings (seed 0 unless given)."""
    kwargs = {_REGRESSOR_NAMES.get(k, k): v for k, v in settings.items() if k not in _NOT_REGRESSOR}
    kwargs.setdefault("random_state", 0)
    return kwargs

