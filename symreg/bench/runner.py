"""Run methods on a benchmark suite, one child process per (problem, method).

A task is one method fitted to one problem's training data under a time
budget, then scored on the problem's test data. It runs in its own spawned
process, so a crash or a hang costs that one row: a child that has not answered
by its deadline (``time_budget`` × 2 + ``grace`` + twice the symbolic-check
timeout) is killed and its row says ``timeout``; one that dies says ``error``.

Rows are appended to ``rows.jsonl`` in the output folder the moment they are
known, so Ctrl-C or a crash of the harness never loses finished work, and
``resume=True`` skips the tasks already there. At the end the folder holds
``results.json`` (configuration, machine, rows, summary), ``results.csv``,
``summary.csv`` and ``plot.png`` (see :mod:`symreg.bench.report`).

Scoring, the same for every method (SRBench conventions):

* ``r2_test``: R² of the method's own predictions on the test points;
* ``solution``: the SRBench symbolic-solution test
  (:func:`symreg.datasets.metrics.symbolic_solution`: constants rounded to 3
  significant digits, variables with a non-negative range declared positive,
  model − truth or model / truth a constant), under a time limit;
* ``exact``: the same with no offset or factor allowed (difference exactly 0);
* ``size``: nodes of the model's sympy tree, simplified and with its constants
  rounded as for the solution test (SRBench's model size);
* ``fit_seconds``: wall time of ``fit`` inside the child; ``wall_seconds``:
  the whole task, process start-up and scoring included.

Every method sees the variables as ``x1 ... xd`` (the truth is renamed to
match), so names such as ``lambda`` or ``E`` cannot trip a parser.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..processes import Child, kill_children, start_child, usable_cores, wait_children

__all__ = ["BenchConfig", "machine_summary", "run_bench", "select_problems"]


@dataclass
class BenchConfig:
    """What to run. Same suite, ``limit``, ``seed``, ``noise`` and ``n_train``:
    the same problems and the same data."""

    suite: str
    methods: list[str] = field(default_factory=lambda: ["symreg"])
    time_budget: float = 60.0
    noise: float = 0.0
    seed: int = 0
    limit: int | None = None
    problems: list[str] | None = None
    n_train: int | None = None
    workers: int = 1
    threads: int = 1
    symbolic_timeout: float = 30.0
    #: seconds a worker may take beyond twice the budget (start-up, scoring)
    #: before it is killed
    grace: float = 60.0
    out_dir: str = "bench-results"


def select_problems(suite: str, limit: int | None = None, seed: int = 0,
                    names: Iterable[str] | None = None) -> list:
    """The problems of ``suite`` to run: all of them, the named ones, or a seeded
    random subset of ``limit`` problems kept in table order."""
    import numpy as np

    from ..datasets import load_suite

    problems = load_suite(suite)
    if names:
        wanted = list(dict.fromkeys(names))
        by_name = {p.name: p for p in problems}
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            raise ValueError(f"not in suite {suite!r}: {', '.join(unknown)}")
        problems = [p for p in problems if p.name in set(wanted)]
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if limit < len(problems):
            rng = np.random.default_rng(seed)
            keep = sorted(rng.choice(len(problems), size=limit, replace=False).tolist())
            problems = [problems[i] for i in keep]
    return problems


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``rows.jsonl`` file (none when it does not exist); a last
    line cut short by a crash or Ctrl-C is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_summary() -> dict[str, Any]:
    """Date, host CPU and versions, for the results file."""
    cpu, usable = cpu_model(), usable_cores()
    from importlib import metadata

    versions = {}
    for dist in ("symreg", "numpy", "sympy", "torch", "pyoperon", "rils-rols", "gplearn", "pysr"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": cpu, "cores": os.cpu_count(), "cores_usable": usable,
            "python": platform.python_version(), "versions": versions}


# ----------------------------------------------------------------------------
# the child
# ----------------------------------------------------------------------------

def _node_count(expr) -> int:
    import sympy

    return sum(1 for _ in sympy.preorder_traversal(expr))


def _score(problem, sample, model, names: list[str], symbolic_timeout: float) -> dict[str, Any]:
    import numpy as np
    import sympy

    from ..datasets.metrics import (
        exact_difference,
        parse_formula,
        r2_score,
        round_constants,
        simplify_within,
        symbolic_solution,
    )

    out: dict[str, Any] = {"formula": model.formula}
    with np.errstate(all="ignore"):
        out["r2_train"] = r2_score(sample.y_train, model.predict(sample.X_train))
        out["r2_test"] = r2_score(sample.y_test, model.predict(sample.X_test))
    try:
        expr = parse_formula(model.formula)
    except Exception as exc:  # noqa: BLE001 - a formula we cannot read solves nothing
        out.update(size=None, solution=False, exact=False,
                   message=f"cannot parse the model: {' '.join(str(exc).split())[:200]}")
        return out
    # SRBench's model size: nodes of the simplified model with rounded constants
    out["size"] = _node_count(round_constants(simplify_within(expr, 0.4 * symbolic_timeout)))
    rename = {sympy.Symbol(v): sympy.Symbol(x) for v, x in zip(problem.variable_names, names)}
    truth = problem.truth.xreplace(rename)
    positive = [x for v, x in zip(problem.variables, names) if v.positive]
    out["solution"] = symbolic_solution(expr, truth, positive=positive, timeout=symbolic_timeout)
    out["exact"] = (exact_difference(expr, truth, positive=positive, timeout=symbolic_timeout)
                    if out["solution"] else False)
    return out


def _task(suite: str, problem_name: str, method_name: str, config: dict) -> dict[str, Any]:
    """Child process body: fit, score, return one row (it never raises).

    The child ignores Ctrl-C (the parent handles it) and leads a process group of its own,
    so that killing it also kills what it forked (the sympy checks of symbolic_solution).
    """
    row: dict[str, Any] = {}
    try:
        from ..datasets import load_suite
        from .methods import get_method

        problem = next(p for p in load_suite(suite) if p.name == problem_name)
        sample = problem.sample(n=config["n_train"], noise=config["noise"], seed=config["seed"])
        names = [f"x{i + 1}" for i in range(problem.n_variables)]
        row.update(n_train=len(sample.y_train), n_test=len(sample.y_test))
        method = get_method(method_name)
        method.warm_up()  # library imports are not part of the timed fit
        start = time.perf_counter()
        model = method.fit(sample.X_train, sample.y_train, names,
                           time_budget=config["time_budget"], seed=config["seed"],
                           n_threads=config["threads"])
        row["fit_seconds"] = time.perf_counter() - start
        row["info"] = model.info
        row.update(_score(problem, sample, model, names, config["symbolic_timeout"]))
        row.setdefault("status", "ok")
    except BaseException as exc:  # noqa: BLE001 - every failure is a row, not a crash
        row.update(status="error", message=f"{type(exc).__name__}: "
                   f"{' '.join(str(exc).split())[:300]}",
                   traceback=traceback.format_exc(limit=8))
    return row


# ----------------------------------------------------------------------------
# the parent
# ----------------------------------------------------------------------------

def json_safe(value: Any) -> Any:
    """JSON-safe: non-finite floats become None, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _base_row(problem, method: str, cfg: BenchConfig) -> dict[str, Any]:
    return {"suite": cfg.suite, "problem": problem.name, "method": method,
            "n_vars": problem.n_variables, "truth": problem.formula, "seed": cfg.seed,
            "noise": cfg.noise, "time_budget": cfg.time_budget, "status": "ok",
            "message": "", "formula": None, "size": None, "r2_train": None, "r2_test": None,
            "solution": False, "exact": False, "fit_seconds": None, "wall_seconds": None,
            "n_train": None, "n_test": None, "info": {}}


def run_bench(cfg: BenchConfig, on_row: Callable[[dict], None] | None = None,
              resume: bool = False) -> list[dict[str, Any]]:
    """Run every (problem, method) task of ``cfg``; return all rows.

    ``on_row`` is called with each finished row (for a progress display). Rows
    are appended to ``<out_dir>/rows.jsonl`` as they finish; with ``resume`` the
    tasks already in that file (same suite, seed, noise and budget) are not run
    again. On KeyboardInterrupt the running children are killed, the finished
    rows are kept on disk, and the interrupt propagates.
    """
    from .methods import get_method

    problems = select_problems(cfg.suite, cfg.limit, cfg.seed, cfg.problems)
    methods = list(dict.fromkeys(cfg.methods))
    for m in methods:
        get_method(m)  # unknown names fail here, before anything runs
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rows.jsonl"
    done: dict[tuple[str, str], dict] = {}
    if resume:
        for r in read_rows(rows_path):
            same = (r.get("suite") == cfg.suite and r.get("seed") == cfg.seed
                    and r.get("noise") == cfg.noise and r.get("time_budget") == cfg.time_budget)
            if same:
                done[(r["problem"], r["method"])] = r
    elif rows_path.exists():
        rows_path.unlink()

    missing = {m: get_method(m).missing() for m in methods}
    config = {"n_train": cfg.n_train, "noise": cfg.noise, "seed": cfg.seed,
              "time_budget": cfg.time_budget, "threads": cfg.threads,
              "symbolic_timeout": cfg.symbolic_timeout}
    # every library a child loads uses cfg.threads threads, as the method is told;
    # the children inherit the environment, the caller gets its own back afterwards
    thread_vars = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {var: os.environ.get(var) for var in thread_vars}
    os.environ.update({var: str(cfg.threads) for var in thread_vars})
    try:
        rows = _run_all(cfg, problems, methods, done, missing, config, rows_path, on_row)
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    order = {(p.name, m): i for i, (p, m) in enumerate((p, m) for p in problems for m in methods)}
    rows.sort(key=lambda r: order.get((r["problem"], r["method"]), len(order)))
    return rows


def _run_all(cfg: BenchConfig, problems: list, methods: list[str], done: dict, missing: dict,
             config: dict, rows_path: Path, on_row) -> list[dict[str, Any]]:
    """The rows kept from ``done``, ``missing`` rows, and every other task run."""
    rows: list[dict] = []
    pending: list[tuple[Any, str]] = []
    with rows_path.open("a", encoding="utf-8") as sink:
        def finish(row: dict) -> None:
            row = json_safe(row)
            rows.append(row)
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            if on_row is not None:
                on_row(row)

        for p in problems:
            for m in methods:
                if (p.name, m) in done:
                    rows.append(done[(p.name, m)])
                    if on_row is not None:
                        on_row(done[(p.name, m)])
                elif missing[m]:
                    finish({**_base_row(p, m, cfg), "status": "missing", "message": missing[m]})
                else:
                    pending.append((p, m))
        _run_tasks(cfg, config, pending, finish)
    return rows


def _run_tasks(cfg: BenchConfig, config: dict, pending: list, finish: Callable) -> None:
    running: list[Child] = []
    queue = list(pending)
    limit = 2.0 * cfg.time_budget + cfg.grace + 2.0 * cfg.symbolic_timeout
    try:
        while queue or running:
            while queue and len(running) < max(1, cfg.workers):
                problem, method = queue.pop(0)
                # not a daemon: the worker forks the symbolic checks (and symreg its
                # pool); it is killed explicitly at its deadline or on Ctrl-C, and dies
                # with the harness (a killed harness left it running before)
                running.append(start_child(
                    _task, (cfg.suite, problem.name, method, config), method="spawn",
                    timeout=limit, new_group=True, sigint="ignore", die_with_parent=True,
                    tag=_base_row(problem, method, cfg)))
            _collect(running, finish)
    except BaseException:
        kill_children(running)
        raise


def _collect(running: list[Child], finish: Callable) -> None:
    """Wait a little for any child, then finish every task that ended or ran over."""
    for end in wait_children(running, 0.5, join_seconds=5.0):
        row = end.child.tag
        if end.status == "ok":
            row.update(end.value)
        elif end.status == "timeout":
            row.update(status="timeout",
                       message=f"no result after {end.seconds:.0f} s; the worker was killed")
        elif end.status == "error":  # _task does not raise; a failure to send its row does
            row.update(status="error", message=f"{type(end.value).__name__}: {end.value}")
        else:
            row.update(status="error", message=f"the worker died (exit code {end.exitcode})")
        row["wall_seconds"] = end.seconds
        finish(row)


def config_dict(cfg: BenchConfig) -> dict[str, Any]:
    """The configuration as stored in ``results.json``."""
    return asdict(cfg)
