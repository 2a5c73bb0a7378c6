"""Benchmark: does ``n_jobs=2`` pay? One suite fitted with ``n_jobs=1`` and ``n_jobs=2`` side by side.

Issue 18, item 4: on two cores, ``n_jobs=2`` must find more laws, or the same
laws sooner, than ``n_jobs=1``. For every problem of the suite (default
``feynman``, the Feynman-100 laws; noiseless, ``problem.sample(n=n_train,
seed=seed)``) the script fits ``SymbolicRegressor(time_budget=T,
random_state=seed, n_jobs=J)`` for each ``J`` of ``--jobs`` (default 1 and 2),
one fit at a time in this process, so that the wider fit has every core. A fit
ends early when its search finds an exact formula, so the wall time of a fit
whose law is recovered is the time to the exact law. A law counts as
recovered when the chosen model passes :func:`symreg.datasets.metrics.exact_difference`
(constants rounded to 3 significant digits, the difference simplifies to 0).

Reported: laws recovered with each ``J``, the median time to the exact law on
the laws both recover (and the median of the per-law ratios), and per law the
times and whether each ``J`` recovered it, with the cores other processes kept
busy when each fit started. Run it on a quiet machine: the figure compares the
use of the cores, and a fit started on a busy machine runs fewer workers than
``n_jobs`` (:func:`symreg.threads.worker_count`).

Threads: each fit applies symreg's policy (:mod:`symreg.threads`), which
``OMP_NUM_THREADS`` caps; the script sets it to 1 unless it is set already, so
both settings use one thread per process. The workers' fork server (one per
session) is started before the first fit, so its imports are not charged to the
first law. ``OMP_NUM_THREADS= python
benchmarks/bench_jobs.py`` lifts the cap (``n_jobs=1`` may then use two threads
on a quiet two-core machine: the comparison of the defaults).

Usage::

    .venv/bin/python benchmarks/bench_jobs.py [--suite feynman] [--limit 15]
        [--time 30] [--jobs 1,2] [--seed 0] [--n-train 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

for _dir in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

import sympy
from _common import cut, finish, machine_info, machine_lines

from symreg.bench.runner import select_problems
from symreg.datasets.metrics import exact_difference, parse_formula
from symreg.regressor import SymbolicRegressor
from symreg.threads import busy_cores

SYMBOLIC_TIMEOUT = 20.0


def fit_one(problem, n_jobs: int, time_budget: float, seed: int, n_train: int) -> dict:
    """One fit of ``problem`` with ``n_jobs`` workers: seconds, formula, exact."""
    # how busy the machine was when the fit started: with fewer free cores than
    # n_jobs, the fit runs fewer workers (symreg.threads.worker_count)
    busy = busy_cores(0.2)
    sample = problem.sample(n=n_train, seed=seed)
    names = [f"x{i + 1}" for i in range(problem.n_variables)]
    model = SymbolicRegressor(time_budget=time_budget, random_state=seed, n_jobs=n_jobs)
    start = time.perf_counter()
    try:
        model.fit(sample.X_train, sample.y_train, variable_names=names)
    except Exception as exc:  # noqa: BLE001 - a failed fit is a row
        return {"seconds": time.perf_counter() - start, "exact": False, "busy_cores": busy,
                "formula": "", "error": f"{type(exc).__name__}: {exc}"[:200]}
    seconds = time.perf_counter() - start
    formula = str(model.sympy())
    rename = {sympy.Symbol(v): sympy.Symbol(x) for v, x in zip(problem.variable_names, names)}
    truth = problem.truth.xreplace(rename)
    positive = [x for v, x in zip(problem.variables, names) if v.positive]
    try:
        exact = bool(exact_difference(parse_formula(formula), truth, positive=positive,
                                      timeout=SYMBOLIC_TIMEOUT))
    except Exception:  # noqa: BLE001 - a formula we cannot read solves nothing
        exact = False
    return {"seconds": round(seconds, 3), "exact": exact, "formula": formula,
            "n_evals": int(model.n_evals_), "busy_cores": round(busy, 2)}


def summarize(rows: list[dict], jobs: list[int]) -> dict:
    """Recovered counts per ``n_jobs``; medians on the laws every setting recovers."""
    out: dict = {"recovered": {str(j): sum(r[str(j)]["exact"] for r in rows) for j in jobs}}
    both = [r for r in rows if all(r[str(j)]["exact"] for j in jobs)]
    out["n_recovered_by_all"] = len(both)
    out["median_seconds_recovered_by_all"] = {
        str(j): (statistics.median(r[str(j)]["seconds"] for r in both) if both else None)
        for j in jobs}
    if len(jobs) == 2 and both:
        a, b = (str(j) for j in jobs)
        out["median_ratio"] = statistics.median(r[b]["seconds"] / max(r[a]["seconds"], 1e-9)
                                                for r in both)
    out["only"] = {str(j): [r["problem"] for r in rows if r[str(j)]["exact"]
                            and not all(r[str(k)]["exact"] for k in jobs)] for j in jobs}
    return out


def format_report(res: dict) -> str:
    jobs = res["settings"]["jobs"]
    s = res["summary"]
    lines = machine_lines(res["machine"], "sympy")
    lines += [(f"suite    : {res['settings']['suite']}, {len(res['rows'])} laws, "
               f"time budget {res['settings']['time']} s, seed {res['settings']['seed']}"), ""]
    head = "".join(f"  n_jobs={j:<2} s  ok" for j in jobs)
    lines.append(f"{'law':<16}{head}")
    for r in res["rows"]:
        cells = "".join(f"  {r[str(j)]['seconds']:>9.1f}  {'✓' if r[str(j)]['exact'] else '·'} "
                        for j in jobs)
        lines.append(f"{cut(r['problem'], 15):<16}{cells}")
    busy = [r[str(j)]["busy_cores"] for r in res["rows"] for j in jobs]
    if busy:
        lines.append(f"\ncores busy with other processes at the fits' starts: median "
                     f"{statistics.median(busy):.2f}, max {max(busy):.2f} (of "
                     f"{res['machine']['cpu_cores_usable']}; a busy machine runs fewer workers)")
    lines.append("")
    for j in jobs:
        med = s["median_seconds_recovered_by_all"][str(j)]
        lines.append(f"n_jobs={j}: {s['recovered'][str(j)]} recovered; median time to the exact "
                     f"law on the {s['n_recovered_by_all']} all recover: "
                     + ("-" if med is None else f"{med:.2f} s")
                     + (f"; recovered only here: {', '.join(s['only'][str(j)])}"
                        if s["only"][str(j)] else ""))
    if "median_ratio" in s:
        lines.append(f"median per-law time ratio n_jobs={jobs[1]} / n_jobs={jobs[0]}: "
                     f"{s['median_ratio']:.2f}")
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="feynman", help="suite name (default: feynman)")
    ap.add_argument("--limit", type=int, default=None,
                    help="a seeded random subset of this many laws (default: all)")
    ap.add_argument("--time", type=float, default=30.0, help="time budget per fit, seconds")
    ap.add_argument("--jobs", default="1,2", help="n_jobs values, comma-separated (default 1,2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=200, help="training points per law")
    ap.add_argument("--json", default=None, help="write the rows and summary here")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    args.jobs = [int(j) for j in args.jobs.split(",") if j.strip()]
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns {machine, settings, rows, summary}."""
    import torch

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    torch.set_num_threads(1)
    res = {"machine": machine_info(__file__, argv, sympy=sympy.__version__),
           "settings": {k: v for k, v in vars(args).items() if k not in ("json", "quiet")},
           "rows": []}
    if max(args.jobs) > 1:
        # the workers' fork server imports the search once per session; started here,
        # that cost is not charged to the first law
        from symreg.search import pool

        pool._warm(pool._context())
    for problem in select_problems(args.suite, args.limit, seed=args.seed):
        row = {"problem": problem.name}
        for j in args.jobs:
            row[str(j)] = fit_one(problem, j, args.time, args.seed, args.n_train)
        res["rows"].append(row)
        if not args.quiet:
            cells = "  ".join(f"J={j}: {row[str(j)]['seconds']:.1f} s "
                              f"{'exact' if row[str(j)]['exact'] else '-'}" for j in args.jobs)
            print(f"  {problem.name}: {cells}", file=sys.stderr, flush=True)
    res["summary"] = summarize(res["rows"], args.jobs)
    return finish(res, args, format_report, "rows")


if __name__ == "__main__":
    main()
