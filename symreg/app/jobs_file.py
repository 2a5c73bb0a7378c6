"""Reading batch jobs: a jobs file (TOML or YAML) or a folder of tables, expanded into jobs.

:func:`load_jobs` reads and checks either form and returns :class:`~symreg.app.jobs.Job`
objects: ``data`` entries (paths, globs or folders, relative to the jobs file) name the
datasets, list-valued ``seeds`` and ``grid`` entries span a grid, and anything wrong (a
missing file, an unknown key, a value of the wrong type, a target column that is not there)
raises :class:`~symreg.app.jobs.BatchError` with a one-line message before anything runs.
Jobs files are not tables: they are read here, the datasets by :mod:`symreg.datasets.tables`.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..datasets.tables import TABLE_SUFFIXES
from .jobs import (
    JOB_KEYS,
    TOP_KEYS,
    BatchError,
    Job,
    parse_grid,
    parse_settings,
    regressor_kwargs,
    unknown_key,
)

__all__ = ["DATA_SUFFIXES", "default_store", "load_jobs"]

#: the files a folder of datasets contributes
DATA_SUFFIXES = TABLE_SUFFIXES["CSV"] + TABLE_SUFFIXES["Parquet"]


def _read_jobs_file(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BatchError(f"cannot read {path}: {exc.strerror or exc}") from None
    if suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            try:
                import tomli as tomllib
            except ImportError:
                raise BatchError("reading TOML on Python 3.10 needs tomli: pip install tomli; "
                                 "or write the jobs file in YAML") from None
        try:
            doc = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BatchError(f"{path} is not valid TOML: {exc}") from None
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise BatchError("reading YAML needs PyYAML: pip install pyyaml") from None
        try:
            doc = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise BatchError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
    else:
        raise BatchError(f"cannot tell the format of {path}: a jobs file ends in .toml, .yaml "
                         "or .yml (or give a folder of CSV files)")
    if not isinstance(doc, dict):
        raise BatchError(f"{path} must hold a table with a 'jobs' list, got {type(doc).__name__}")
    return doc


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def _expand_data(spec: Any, base: Path, where: str) -> list[Path]:
    """The files named by ``data``: a path, a glob or a folder, or a list of them."""
    items = spec if isinstance(spec, list) else [spec]
    if not items or not all(isinstance(s, str) and s.strip() for s in items):
        raise BatchError(f"data in {where} must be a path, a glob or a list of them, got {spec!r}")
    files: list[Path] = []
    for item in items:
        pattern = os.path.expanduser(item.strip())
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        if os.path.isfile(full):  # before the glob test: a name may hold '[' or '*'
            found = [Path(full)]
        elif glob.has_magic(pattern):
            # root_dir: glob characters in the jobs file's own folder name are not a pattern
            root = None if os.path.isabs(pattern) else str(base)
            found = sorted(Path(root or "", p) for p in glob.glob(pattern, root_dir=root,
                                                                   recursive=True))
            found = [p for p in found if p.is_file()]
            if not found:
                raise BatchError(f"no file matches {item!r} ({where})")
        elif os.path.isdir(full):
            found = _folder_files(Path(full))
            if not found:
                raise BatchError(f"no CSV or Parquet file in the folder {item!r} ({where})")
        else:
            raise BatchError(f"no such file: {item} ({where})")
        files.extend(found)
    return [p.resolve() for p in files]


def _combinations(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


def _check_values(settings: dict[str, Any], where: str) -> None:
    """What only the regressor knows (operator names, model selections, losses)."""
    from ..regressor import SymbolicRegressor

    kwargs = regressor_kwargs(settings)
    # the device is checked where the job runs: a Ray node may have the GPU the driver lacks
    kwargs.pop("device", None)
    try:
        SymbolicRegressor(**kwargs)._check_params()
    except ValueError as exc:
        raise BatchError(f"{' '.join(str(exc).split())} ({where})") from None


def _check_table(path: Path, target: str | None) -> None:
    """Read the header and a few rows: a file that cannot be read or has no such target
    column stops the batch before it starts, not after hundreds of failed jobs."""
    from ..datasets.tables import DataError, read_table

    try:
        read_table(path, target=target, nrows=5)
    except DataError as exc:
        raise BatchError(str(exc)) from None


def load_jobs(source: str | Path, defaults: dict[str, Any] | None = None) -> list[Job]:
    """Read a jobs file (TOML/YAML) or a folder of CSV/Parquet files into jobs.

    Parameters
    ----------
    source : str or Path
        A ``.toml``, ``.yaml`` or ``.yml`` jobs file, or a folder (one job per file and seed).
    defaults : dict, optional
        Settings for the folder form (as in a ``[defaults]`` table; ``seeds`` allowed). Not
        accepted with a jobs file, whose own ``[defaults]`` say it.

    Returns
    -------
    list of Job
        In file order, duplicates (same id) dropped.

    Raises
    ------
    BatchError
        One-line message for anything wrong with the file, a dataset or a setting.
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise BatchError(f"no such file or folder: {source}")
    if path.is_dir():
        files = _folder_files(path)
        if not files:
            raise BatchError(f"no CSV or Parquet file in the folder {source}")
        # absolute: a relative folder would otherwise be joined to itself as the base below
        entry = {**(defaults or {}), "data": [str(p.resolve()) for p in files]}
        doc: dict[str, Any] = {"jobs": [entry]}
        base, label = path, "the options"
    else:
        if defaults:
            option = next(iter(defaults)).replace("_", "-")
            raise BatchError(f"options such as --{option} go with a folder of "
                             f"CSV files; with a jobs file, set them under [defaults] in {source}")
        doc = _read_jobs_file(path)
        base, label = path.parent, str(source)
    for key in doc:
        if key not in TOP_KEYS:
            raise unknown_key(str(key), TOP_KEYS, f"the top level of {label}")
    top = doc.get("defaults") or {}
    if not isinstance(top, dict):
        raise BatchError(f"defaults in {label} must be a table of settings, got {top!r}")
    entries = doc.get("jobs")
    if not isinstance(entries, list) or not entries:
        raise BatchError(f"{label} needs a non-empty 'jobs' list ([[jobs]] entries in TOML), "
                         "each with a 'data' path or glob")
    base_settings = parse_settings(top, f"[defaults] of {label}", extra=("seeds", "grid"))
    base_axes = parse_grid(top, f"[defaults] of {label}")

    jobs: dict[str, Job] = {}
    checked_values: set[str] = set()
    for n, entry in enumerate(entries, 1):
        where = label if path.is_dir() else f"job entry {n} of {label}"
        if not isinstance(entry, dict):
            raise BatchError(f"{where} must be a table with a 'data' key, got {entry!r}")
        if "data" not in entry:
            raise BatchError(f"{where} has no 'data' (a path, glob or folder of datasets)")
        own = parse_settings(entry, where, extra=JOB_KEYS)
        axes = {**base_axes, **parse_grid(entry, where)}
        # a job's own scalar wins over a default grid axis of the same setting
        axes = {k: v for k, v in axes.items() if k not in own}
        files = _expand_data(entry["data"], base, where)
        for combo in _combinations(axes):
            settings = {**base_settings, **own, **combo}
            target = settings.pop("target", None)
            key = json.dumps(settings, sort_keys=True)
            if key not in checked_values:
                _check_values(settings, where)
                checked_values.add(key)
            for file in files:
                job = Job(str(file), target, settings)
                jobs.setdefault(job.id, job)
    checked_tables: set[tuple[str, str | None]] = set()
    for job in jobs.values():
        if (job.data, job.target) not in checked_tables:
            _check_table(Path(job.data), job.target)
            checked_tables.add((job.data, job.target))
    return list(jobs.values())


def default_store(source: str | Path) -> Path:
    """Where a batch is recorded when no store is given: ``jobs.toml`` -> ``jobs.db`` beside it;
    a folder ``data/`` -> ``data.db`` beside the folder."""
    path = Path(source).expanduser().resolve()
    if path.is_dir():
        return path.with_name(path.name + ".db")
    return path.with_suffix(".db")

