"""Benchmark: ``SymbolicRegressor`` on big tables and on tables with many columns.

Targets of issue 18 (scale), on this machine:

* **rows** — three laws at 10³, 10⁴, 10⁵ and 10⁶ rows: each law recovered at
  every size, the fit's wall time within its budget + 5 %, and its peak memory a
  small multiple of the data (a fit on 10⁶ rows used to take 320 s and 23.9 GB
  for a 30 s budget).
* **columns** — the same laws with their columns among 5, 20 and 50 (the others
  independent uniform noise, as in SRSD's dummy-variable sets, every column at a
  random position): recovered at each width. ``dropped_features_`` is reported
  when the estimator sets it.

The laws (general ones, not tuned to symreg), noiseless unless ``--noise``:

* ``ratio_sine``  ``x0*x1/x2 + sin(x3)``, x ~ U(1, 5): the issue's four-variable law;
* ``arrhenius``   ``x0*exp(-x1/x2)``, x ~ U(1, 5);
* ``polynomial``  ``x0**3 - 2*x0*x1 + x1**2``, x ~ U(-2, 2).

Each fit runs in a fresh child process (this script with ``--child``), under an
address-space limit (``--mem-limit-gb``, default 8) so that a fit gone wrong
cannot take the machine's memory. The child draws the data
(``numpy.random.default_rng([seed, law, rows, columns])``), fits
``SymbolicRegressor(time_budget=T, random_state=seed, search_rows=...)`` with torch on
``--threads`` threads, and reports the fit's wall time, its evaluations
(``n_evals_``), the resident size before the fit (imports and data) and the
process's peak resident size (``ru_maxrss``), and ``1-R2``: one less the R² of
the selected model against the noiseless law on the first 100,000 rows. "recovered" is SRBench's symbolic
solution test on the selected model (:func:`symreg.datasets.metrics.symbolic_solution`:
equal up to an additive offset or a scale factor, constants rounded to 3
digits); "exact" the strict test (:func:`~symreg.datasets.metrics.exact_difference`).

Usage (the full run takes about 15 minutes on two cores)::

    .venv/bin/python benchmarks/bench_scale.py [--time 30] [--seed 0]
        [--sizes 1e3,1e4,1e5,1e6] [--columns 5,20,50] [--laws ratio_sine,arrhenius,polynomial]
        [--sections rows,columns] [--column-rows 1000] [--noise 0] [--search-rows auto]
        [--threads 1]
        [--mem-limit-gb 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# the repo root (symreg from a checkout without an installed symreg), then this
# folder (_common, also when a test loads this script from its path)
for _dir in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

#: name → (formula in x0, x1, ..., low, high)
LAWS = {
    "ratio_sine": ("x0*x1/x2 + sin(x3)", 1.0, 5.0),
    "arrhenius": ("x0*exp(-x1/x2)", 1.0, 5.0),
    "polynomial": ("x0**3 - 2*x0*x1 + x1**2", -2.0, 2.0),
}
#: rows on which the selected model's R² against the noiseless law is computed
TRUTH_ROWS = 100_000
#: the fit's wall time may exceed its budget by this share
TIME_SLACK = 0.05
#: a child that has not answered after this many budgets (plus a minute) is killed
CHILD_TIMEOUT_FACTOR = 4


# ----------------------------------------------------------------------------
# the child: one fit
# ----------------------------------------------------------------------------

def _rss_mb() -> float:
    """The resident size of this process now, in MB (Linux; NaN elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return float("nan")


def make_data(law: str, rows: int, columns: int | None, seed: int):
    """The table of ``law``: X [rows, columns], y, and the truth in the column names.

    Without ``columns`` the law's own variables only; with it, they sit at random
    positions among ``columns`` columns, the others uniform noise on the same range.
    """
    import sympy

    formula, low, high = LAWS[law]
    truth = sympy.sympify(formula)
    n_vars = len(truth.free_symbols)
    width = n_vars if columns is None else int(columns)
    rng = np.random.default_rng([seed, list(LAWS).index(law), rows, width])
    X = rng.uniform(low, high, size=(rows, width))
    # relevant variable i is column place[i]
    place = np.arange(n_vars) if columns is None else np.sort(rng.choice(width, n_vars,
                                                                         replace=False))
    f = sympy.lambdify([sympy.Symbol(f"x{i}") for i in range(n_vars)], truth, "numpy")
    y = np.asarray(f(*(X[:, j] for j in place)), dtype=np.float64)
    truth = truth.subs({sympy.Symbol(f"x{i}"): sympy.Symbol(f"c{j}") for i, j in enumerate(place)},
                       simultaneous=True)
    truth = truth.subs({sympy.Symbol(f"c{j}"): sympy.Symbol(f"x{j}") for j in place},
                       simultaneous=True)
    return X, y, truth


def child(spec: dict) -> dict:
    """One fit, as the child process runs it; returns its result row."""
    import torch

    torch.set_num_threads(int(spec["threads"]))
    from symreg.datasets.metrics import exact_difference, r2_score, symbolic_solution
    from symreg.regressor import SymbolicRegressor

    X, y, truth = make_data(spec["law"], spec["rows"], spec["columns"], spec["seed"])
    y_clean = y
    if spec["noise"]:
        rng = np.random.default_rng([spec["seed"], 99])
        y = y + spec["noise"] * np.std(y) * rng.standard_normal(len(y))
    out = {"data_mb": (X.nbytes + y.nbytes) / 1e6, "rss_before_mb": _rss_mb()}
    model = SymbolicRegressor(time_budget=spec["time"], random_state=spec["seed"],
                              search_rows=spec["search_rows"])
    start = time.perf_counter()
    model.fit(X, y)
    out["seconds"] = time.perf_counter() - start
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    expr = model.sympy()
    # against the law itself (not the noisy target), on at most TRUTH_ROWS rows
    with np.errstate(all="ignore"):
        out["r2_truth"] = float(r2_score(y_clean[:TRUTH_ROWS], model.predict(X[:TRUTH_ROWS])))
    dropped = getattr(model, "dropped_features_", None)
    out.update(
        n_evals=int(model.n_evals_), equation=str(expr), truth=str(truth),
        recovered=bool(symbolic_solution(expr, truth, timeout=30)),
        exact=bool(exact_difference(expr, truth, timeout=30)),
        # the names of the dropped columns (dropped_features_ is a table, one row each)
        dropped=None if dropped is None else [str(d) for d in dropped["feature"]],
    )
    return out


# ----------------------------------------------------------------------------
# the parent: fits in fresh processes
# ----------------------------------------------------------------------------

def run_fit(section: str, law: str, rows: int, columns: int | None, args) -> dict:
    """One fit in a fresh child process, under the memory limit; its result row."""
    spec = {"law": law, "rows": rows, "columns": columns, "seed": args.seed, "time": args.time,
            "noise": args.noise, "threads": args.threads, "search_rows": _search_rows(args)}
    row = {"section": section, "law": law, "rows": rows,
           "columns": columns if columns is not None else len(_symbols(law)),
           "time_budget": args.time}
    limit = int(args.mem_limit_gb * 2**30)

    def _limit():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, preexec_fn=_limit,
                              timeout=CHILD_TIMEOUT_FACTOR * args.time + 60)
    except subprocess.TimeoutExpired:
        row.update(error="timed out", seconds=time.perf_counter() - t0)
        return row
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        row.update(error=tail[0][:200], seconds=time.perf_counter() - t0)
        return row
    row.update(json.loads(lines[-1]))
    row["within_budget"] = row["seconds"] <= (1 + TIME_SLACK) * args.time
    return row


def _symbols(law: str) -> list:
    import sympy

    return sorted(sympy.sympify(LAWS[law][0]).free_symbols, key=str)


def format_report(res: dict) -> str:
    from _common import cut, machine_lines

    m, s = res["machine"], res["settings"]
    lines = [
        "symreg scale benchmark: big tables and many columns",
        *machine_lines(m, "sympy"),
        (f"settings : SymbolicRegressor(time_budget={s['time']:g}, random_state={s['seed']}), "
         f"search_rows={s['search_rows']}, torch threads {s['threads']}, noise {s['noise']:g}, "
         "each fit in a fresh process "
         f"(address space <= {s['mem_limit_gb']:g} GB)"),
        (f"targets  : recovered at every size and width; time <= budget + {TIME_SLACK:.0%}; "
         "peak memory a small multiple of the data"),
        "memory   : rss0 = resident size before the fit (imports + data), peak = ru_maxrss",
        "",
        (f"{'section':<8} {'law':<11} {'rows':>8} {'cols':>4} {'seconds':>8} {'in T':<5} "
         f"{'data MB':>8} {'rss0 MB':>8} {'peak MB':>8} {'evals':>10} {'recov':<6} {'exact':<6} "
         f"{'1-R2':>8} equation"),
    ]
    for r in res["rows"]:
        if "error" in r:
            lines.append(f"{r['section']:<8} {r['law']:<11} {r['rows']:>8,} {r['columns']:>4} "
                         f"{r['seconds']:>8.1f}  ERROR {r['error']}")
            continue
        eq = r["equation"]
        if r.get("dropped") is not None:
            eq += f"   [dropped {len(r['dropped'])}]"
        lines.append(
            f"{r['section']:<8} {r['law']:<11} {r['rows']:>8,} {r['columns']:>4} "
            f"{r['seconds']:>8.1f} {'yes' if r['within_budget'] else 'NO':<5} "
            f"{r['data_mb']:>8.1f} {r['rss_before_mb']:>8.0f} {r['peak_rss_mb']:>8.0f} "
            f"{r['n_evals']:>10,} {'yes' if r['recovered'] else 'NO':<6} "
            f"{'yes' if r['exact'] else 'NO':<6} {1 - r['r2_truth']:>8.1e} {cut(eq, 60)}")
    done = [r for r in res["rows"] if "error" not in r]
    lines += [
        "",
        (f"recovered {sum(r['recovered'] for r in done)}/{len(res['rows'])}, "
         f"within budget + {TIME_SLACK:.0%} {sum(r['within_budget'] for r in done)}/"
         f"{len(res['rows'])}, largest peak "
         f"{max((r['peak_rss_mb'] for r in done), default=0):.0f} MB"),
    ]
    missed = [r for r in done if not r["recovered"]]
    if missed:
        lines.append("truth of the misses: " + "; ".join(
            f"{r['law']} {r['rows']:,}x{r['columns']}: {r['truth']}" for r in missed))
    return "\n".join(lines)


def _search_rows(args) -> int | str | None:
    """``--search-rows`` as the estimator's parameter."""
    text = str(args.search_rows).lower()
    return None if text == "none" else "auto" if text == "auto" else int(float(text))


def _numbers(text: str) -> list[int]:
    return [int(float(t)) for t in text.split(",") if t.strip()]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--time", type=float, default=30.0, help="time_budget of each fit, seconds")
    p.add_argument("--seed", type=int, default=0, help="data and search seed")
    p.add_argument("--sizes", default="1e3,1e4,1e5,1e6", help="rows of the rows section")
    p.add_argument("--columns", default="5,20,50", help="widths of the columns section")
    p.add_argument("--column-rows", type=int, default=1000, help="rows of the columns section")
    p.add_argument("--laws", default=",".join(LAWS), help=f"some of {', '.join(LAWS)}")
    p.add_argument("--sections", default="rows,columns", help="rows, columns or both")
    p.add_argument("--noise", type=float, default=0.0,
                   help="Gaussian noise added to y, as a share of std(y)")
    p.add_argument("--search-rows", default="auto",
                   help="SymbolicRegressor(search_rows=...): auto, a number, or none")
    p.add_argument("--threads", type=int, default=1, help="torch threads of each fit")
    p.add_argument("--mem-limit-gb", type=float, default=8.0,
                   help="address-space limit of each fit's process")
    p.add_argument("--json", metavar="PATH", help="also write the rows to this JSON file")
    p.add_argument("--quiet", action="store_true", help="print nothing (for tests)")
    p.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    unknown = sorted(set(args.laws.split(",")) - set(LAWS))
    if unknown:
        p.error(f"unknown law(s) {unknown}; known: {', '.join(LAWS)}")
    bad = sorted(set(args.sections.split(",")) - {"rows", "columns"})
    if bad:
        p.error(f"unknown section(s) {bad}; known: rows, columns")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns {machine, settings, rows} (and writes --json when given)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))), flush=True)
        return {}
    import sympy
    import torch
    from _common import finish, machine_info

    torch.set_num_threads(args.threads)   # the header reports the children's setting
    res = {"machine": machine_info(__file__, argv, None, sympy=sympy.__version__),
           "settings": {k: v for k, v in vars(args).items() if k not in ("json", "quiet", "child")},
           "rows": []}
    laws = args.laws.split(",")
    runs = []
    if "rows" in args.sections.split(","):
        runs += [("rows", law, n, None) for law in laws for n in _numbers(args.sizes)]
    if "columns" in args.sections.split(","):
        runs += [("columns", law, args.column_rows, c) for law in laws
                 for c in _numbers(args.columns)]
    for section, law, n, c in runs:
        row = run_fit(section, law, n, c, args)
        res["rows"].append(row)
        if not args.quiet:
            what = row.get("error") or (f"{'recovered' if row['recovered'] else 'missed'}, "
                                        f"peak {row['peak_rss_mb']:.0f} MB, {row['equation']}")
            print(f"  {section} {law} {n:,}x{row['columns']}: {row['seconds']:.1f} s, {what}",
                  file=sys.stderr, flush=True)
    return finish(res, args, format_report, "rows")


if __name__ == "__main__":
    main()
