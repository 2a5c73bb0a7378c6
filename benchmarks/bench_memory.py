"""Benchmark: resident memory across many fits in one Python process.

Target (issue 18, item 5): no growth across fits in one process: the resident
size after 20 fits within 10 % of the size after 2; and the peak memory of one
fit, reported.

What it does: ``--fits`` (20) fits, one after the other in this process, each
``SymbolicRegressor(time_budget=--time, random_state=i)`` with otherwise default
settings (``--max-evals`` bounds each fit by evaluations instead, for a
reproducible run) on its own table of ``--rows`` (500) rows and two columns,
x0, x1 ~ U[0.5, 3], y = x0²·sin(x1) + 0.3·x1 plus 1 % Gaussian noise (so no fit
ends early on an exact formula and every fit runs all its phases). Every
fitted estimator is kept referenced, as a notebook keeps its models
(``--drop-models`` drops each before the next fit).

After each fit, read from ``/proc/self/status``: the resident size ``VmRSS``
and the peak ``VmHWM`` since the previous fit (the peak is reset before each
fit by writing 5 to ``/proc/self/clear_refs``; where the kernel refuses, the
peak since the process started). No ``gc.collect()`` is called: memory held
only by reference cycles counts, as it would in a user's process. Also
reported after each fit: Python objects tracked by the garbage collector,
threads of the process, child processes, and entries left in the temporary
folder (a private one, set as ``TMPDIR`` for this run).

Figures: growth = RSS after the last fit / RSS after fit 2 (target <= 1.10),
the largest per-fit peak, the RSS before the first fit.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_memory.py [--fits 20]
        [--time 15] [--rows 500] [--max-evals N] [--seed 0] [--threads 1]
        [--drop-models] [--json out.json]

Quick development run: ``--fits 8 --time 3``.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

# the repo root (symreg from a checkout without an installed symreg), then this
# folder (_common, also when a test loads this script from its path)
for _dir in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

import torch
from _common import finish, machine_info, machine_lines

from symreg.regressor import SymbolicRegressor

TARGET_GROWTH = 1.10
MB = 2**20


def status_bytes() -> dict[str, int]:
    """``VmRSS``, ``VmHWM`` and ``Threads`` of ``/proc/self/status`` (bytes; a
    count for threads); empty where there is no such file."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return {}
    return {"rss": int(fields["VmRSS"].split()[0]) * 1024,
            "hwm": int(fields["VmHWM"].split()[0]) * 1024,
            "threads": int(fields["Threads"])}


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False where refused."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child_pids() -> list[int]:
    """Live processes whose parent is this one (from ``/proc/<pid>/stat``)."""
    me, out = os.getpid(), []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: read after it
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and int(fields[1]) == me:
            out.append(int(entry))
    return out


def make_table(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark's two-column table: y = x0²·sin(x1) + 0.3·x1, 1 % noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.5, 3.0, size=(n, 2))
    y = X[:, 0] ** 2 * np.sin(X[:, 1]) + 0.3 * X[:, 1]
    return X, y + 0.01 * y.std() * rng.standard_normal(n)


def run(fits: int = 20, time_budget: float = 15.0, rows: int = 500, max_evals: int | None = None,
        seed: int = 0, keep_models: bool = True, on_fit=None) -> dict:
    """Fit ``fits`` tables in this process; returns {rss_start, peak_reset, rows}."""
    tmp_root = tempfile.mkdtemp(prefix="bench_memory_")
    old_tmp = os.environ.get("TMPDIR")
    # a private temporary folder, so that what a fit leaves there is visible
    # (children inherit TMPDIR; tempfile reads it again once tempdir is None)
    os.environ["TMPDIR"] = tmp_root
    tempfile.tempdir = None
    kept, out = [], []
    try:
        start = status_bytes()
        threads_start = threading.active_count()
        peak_reset = reset_peak()
        for i in range(fits):
            X, y = make_table(rows, seed + i)
            reset_peak()
            t0 = time.perf_counter()
            model = SymbolicRegressor(time_budget=time_budget, max_evals=max_evals,
                                      random_state=seed + i).fit(X, y)
            seconds = time.perf_counter() - t0
            s = status_bytes()
            row = {"fit": i + 1, "seconds": seconds, "n_evals": int(model.n_evals_),
                   "rss": s.get("rss", 0), "peak": s.get("hwm", 0),
                   "os_threads": s.get("threads", 0),
                   "py_threads": threading.active_count() - threads_start,
                   "children": len(child_pids()), "temp_entries": len(os.listdir(tmp_root)),
                   "gc_objects": len(gc.get_objects()), "equation": str(model.sympy())}
            if keep_models:
                kept.append(model)
            del model
            out.append(row)
            if on_fit is not None:
                on_fit(row)
    finally:
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
        tempfile.tempdir = None
        shutil.rmtree(tmp_root, ignore_errors=True)
    return {"rss_start": start.get("rss", 0), "os_threads_start": start.get("threads", 0),
            "peak_reset": peak_reset, "rows": out}


def figures(res: dict) -> dict:
    """Growth after the last fit over fit 2, the largest per-fit peak."""
    rows = res["rows"]
    ref = rows[1] if len(rows) > 1 else rows[0]
    growth = rows[-1]["rss"] / ref["rss"] if ref["rss"] else float("nan")
    return {"growth": growth, "target_growth": TARGET_GROWTH,
            "met": bool(growth <= TARGET_GROWTH),
            "rss_after_2": ref["rss"], "rss_last": rows[-1]["rss"],
            "peak_one_fit": max(r["peak"] for r in rows),
            "left_behind": {k: rows[-1][k] for k in ("py_threads", "children", "temp_entries")}}


def format_report(res: dict) -> str:
    m, s, f = res["machine"], res["settings"], res["figures"]
    bound = (f"max_evals={s['max_evals']}, time_budget={s['time']:g}" if s["max_evals"]
             else f"time_budget={s['time']:g}")
    lines = [
        "symreg memory benchmark: resident size across fits in one process",
        *machine_lines(m),
        f"settings : {s['fits']} fits, SymbolicRegressor({bound}, random_state=seed+i), "
        f"{s['rows']} rows x 2 columns, y = x0^2 sin(x1) + 0.3 x1 + 1 % noise; models "
        + ("dropped" if s["drop_models"] else "kept"),
        "peak     : " + ("VmHWM reset before each fit" if res["peak_reset"]
                         else "VmHWM since the process started (reset refused)"),
        f"start    : RSS {res['rss_start'] / MB:.0f} MB, {res['os_threads_start']} OS threads",
        "",
        (f"{'fit':>4} {'seconds':>8} {'evals':>11} {'RSS MB':>8} {'peak MB':>8} {'threads':>8} "
         f"{'children':>8} {'temp':>5} {'gc objects':>11}"),
    ]
    for r in res["rows"]:
        lines.append(f"{r['fit']:>4} {r['seconds']:>8.1f} {r['n_evals']:>11,} {r['rss'] / MB:>8.0f} "
                     f"{r['peak'] / MB:>8.0f} {r['os_threads']:>8} {r['children']:>8} "
                     f"{r['temp_entries']:>5} {r['gc_objects']:>11,}")
    lines += [
        "",
        (f"growth: RSS after fit {len(res['rows'])} / after fit 2 = {f['rss_last'] / MB:.0f} / "
         f"{f['rss_after_2'] / MB:.0f} MB = {f['growth']:.3f} (target <= {TARGET_GROWTH:.2f}: "
         f"{'met' if f['met'] else 'NOT met'})"),
        f"peak of one fit: {f['peak_one_fit'] / MB:.0f} MB resident",
        "left behind after the last fit: {py_threads} Python threads, {children} child "
        "processes, {temp_entries} temporary entries".format(**f["left_behind"]),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fits", type=int, default=20, help="fits in this process (default 20)")
    p.add_argument("--time", type=float, default=15.0, help="time_budget of each fit, seconds")
    p.add_argument("--rows", type=int, default=500, help="rows of each table (default 500)")
    p.add_argument("--max-evals", type=int, default=None,
                   help="bound each fit by evaluations (reproducible; --time still caps it)")
    p.add_argument("--seed", type=int, default=0, help="seed of fit i's data and search: seed + i")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--drop-models", action="store_true",
                   help="drop each fitted estimator before the next fit")
    p.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    p.add_argument("--quiet", action="store_true", help="print nothing (for tests)")
    args = p.parse_args(argv)
    if args.fits < 2:
        p.error("--fits must be at least 2 (growth is measured against fit 2)")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns {machine, settings, rows, figures} (and writes --json)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)

    def show(row: dict) -> None:
        if not args.quiet:
            print(f"  fit {row['fit']}: {row['seconds']:.1f} s, RSS {row['rss'] / MB:.0f} MB, "
                  f"peak {row['peak'] / MB:.0f} MB", file=sys.stderr, flush=True)

    res = {"machine": machine_info(__file__, argv),
           "settings": {k: v for k, v in vars(args).items() if k not in ("json", "quiet")}}
    res.update(run(args.fits, args.time, args.rows, args.max_evals, args.seed,
                   keep_models=not args.drop_models, on_fit=show))
    res["figures"] = figures(res)
    return finish(res, args, format_report, "figures")


if __name__ == "__main__":
    main()
