"""Benchmark: column screening (``symreg.screening``) before the search.

Target (issue 18, item 2): a law with 3 relevant columns among 30 (27
irrelevant independent columns, as in SRSD's dummy-variable sets) is found as
often and nearly as fast as without them, and a relevant column is essentially
never dropped. Four parts, each repeatable on its own (``--parts``):

* ``feynman``: false drops. Every law of the AI Feynman suites (Feynman-100 and
  the 20 bonus laws) sampled as the suite specifies (``Problem.sample(n,
  seed)``, noiseless) at each of ``--rows`` (default 500 and 1000, and the
  small tables 50 and 100), screened by ``screen_features(X, y, seed=seed)``.
  All their columns are relevant, so every dropped column is a false drop.
* ``wide``: the 10 three-variable Feynman laws listed in ``WIDE_LAWS``, each
  with irrelevant columns added to make 5, 20 and 50 in all (drawn uniformly
  from [1, 5], the range of most Feynman variables, shuffled among the real
  ones), at ``--wide-rows`` (1000) rows: the share of irrelevant columns
  dropped and of relevant columns kept.
* ``time``: seconds of one ``screen_features`` call on 10^4 and 10^6 rows x 50
  columns (3 relevant), best of ``--repeat`` (3).
* ``fit``: ``SymbolicRegressor(time_budget=--time, random_state=seed)`` on the
  laws of ``FIT_LAWS`` (500 rows), once with the 3 relevant columns alone and
  once with 27 irrelevant ones beside them (feature_selection="auto"), and,
  with ``--no-screen-fit``, with the 30 columns unscreened. Recorded: whether
  the selected formula is the law (``exact_difference``, constants rounded to
  3 digits), the fit's seconds, and the seconds until the search first held an
  exact formula (its best loss under ``exact_floor``; from the progress
  callback, so within a fraction of a second).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_screening.py \
        [--parts feynman,wide,time,fit] [--rows 50,100,500,1000] [--seed 0] \
        [--time 25] [--json out.json]

The 10^6-row timing holds 400 MB of data: run it under ``ulimit -v 8000000``
on a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

for _dir in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

import sklearn
from _common import cut, finish, machine_info, machine_lines

from symreg.datasets import load_problem, load_suite
from symreg.datasets.metrics import exact_difference
from symreg.pareto import exact_floor
from symreg.regressor import SymbolicRegressor
from symreg.screening import screen_features

#: three-variable Feynman laws for the wide tables
WIDE_LAWS = ("I.6.2b", "I.10.7", "I.16.6", "I.18.12", "I.27.6", "I.30.3", "I.37.4", "II.15.4",
             "II.24.17", "III.17.37")
#: laws of the fits, with and without irrelevant columns
FIT_LAWS = ("I.14.3", "I.18.12", "I.27.6")


def _with_noise(X: np.ndarray, n_total: int, rng: np.random.Generator):
    """X with irrelevant uniform [1, 5] columns added to ``n_total``, all shuffled;
    returns the table and the new positions of the relevant columns."""
    n, p = X.shape
    full = np.hstack([X, rng.uniform(1.0, 5.0, (n, n_total - p))])
    order = rng.permutation(n_total)
    return full[:, order], [int(np.flatnonzero(order == j)[0]) for j in range(p)]


def part_feynman(rows: list[int], seed: int, quiet: bool) -> dict:
    problems = load_suite("feynman") + load_suite("feynman_bonus")
    out = {}
    for n in rows:
        drops, seconds, notes = [], 0.0, 0
        for prob in problems:
            s = prob.sample(n, seed=seed)
            t0 = time.perf_counter()
            res = screen_features(s.X_train, s.y_train, names=[v.name for v in prob.variables],
                                  seed=seed)
            seconds += time.perf_counter() - t0
            notes += bool(res.note)
            drops += [f"{prob.name}:{f}" for f in res.dropped["feature"]]
        out[str(n)] = {"laws": len(problems), "columns": sum(p.n_variables for p in problems),
                       "false_drops": len(drops), "dropped": drops, "not_screened": notes,
                       "mean_seconds": seconds / len(problems)}
        if not quiet:
            print(f"  feynman {n} rows: {len(drops)} false drops {drops}", file=sys.stderr)
    return out


def part_wide(widths: list[int], n: int, seed: int, quiet: bool) -> dict:
    out = {}
    for width in widths:
        irr_total = irr_dropped = rel_total = rel_kept = 0
        lost, seconds = [], 0.0
        for name in WIDE_LAWS:
            s = load_problem(name).sample(n, seed=seed)
            rng = np.random.default_rng([seed, width])
            X, relevant = _with_noise(s.X_train, width, rng)
            t0 = time.perf_counter()
            res = screen_features(X, s.y_train, seed=seed)
            seconds += time.perf_counter() - t0
            kept = set(res.kept)
            rel_total += len(relevant)
            rel_kept += len(kept & set(relevant))
            irr_total += width - len(relevant)
            irr_dropped += width - len(relevant) - len(kept - set(relevant))
            lost += [f"{name}:x{j}" for j in relevant if j not in kept]
        out[str(width)] = {"irrelevant_dropped": irr_dropped / irr_total,
                           "relevant_kept": rel_kept / rel_total, "relevant_lost": lost,
                           "mean_seconds": seconds / len(WIDE_LAWS)}
        if not quiet:
            print(f"  wide {width}: {out[str(width)]}", file=sys.stderr)
    return out


def part_time(sizes: list[int], seed: int, repeat: int, quiet: bool) -> dict:
    out = {}
    rng = np.random.default_rng(seed)
    for n in sizes:
        X = rng.uniform(1.0, 5.0, (n, 50))
        y = X[:, 3] * X[:, 17] / X[:, 41]
        best = np.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = screen_features(X, y, seed=seed)
            best = min(best, time.perf_counter() - t0)
        out[str(n)] = {"seconds": best, "kept": res.kept}
        if not quiet:
            print(f"  time {n} x 50: {best:.2f} s, kept {res.kept}", file=sys.stderr)
        del X, y
    return out


def _fit(X, y, names, truth, positive, budget: float, seed: int, screen) -> dict:
    floor = exact_floor(y, None)
    first = []
    t0 = time.perf_counter()

    def on_progress(progress):
        if not first and progress.best_loss <= floor:
            first.append(time.perf_counter() - t0)

    model = SymbolicRegressor(time_budget=budget, random_state=seed, feature_selection=screen)
    model.fit(X, y, variable_names=names, callback=on_progress)
    seconds = time.perf_counter() - t0
    return {"exact": bool(exact_difference(model.sympy(), truth, positive=positive)),
            "seconds": seconds, "seconds_to_exact": first[0] if first else None,
            "equation": str(model.best_), "n_columns": X.shape[1],
            "dropped": len(model.dropped_features_)}


def part_fit(budget: float, seed: int, unscreened: bool, quiet: bool) -> list[dict]:
    rows = []
    for name in FIT_LAWS:
        prob = load_problem(name)
        s = prob.sample(500, seed=seed)
        names = [v.name for v in prob.variables]
        positive = [v.name for v in prob.variables if v.low >= 0]
        X, relevant = _with_noise(s.X_train, 30, np.random.default_rng([seed, 30]))
        wide_names = [f"noise{j}" for j in range(30)]
        for j, r in zip(range(len(names)), relevant):
            wide_names[r] = names[j]
        cases = [("3 columns", s.X_train, names, "auto"), ("30 columns", X, wide_names, "auto")]
        if unscreened:
            cases.append(("30 unscreened", X, wide_names, None))
        for label, Xc, nc, screen in cases:
            row = {"law": name, "case": label,
                   **_fit(Xc, s.y_train, nc, prob.truth, positive, budget, seed, screen)}
            rows.append(row)
            if not quiet:
                print(f"  fit {name} {label}: {row}", file=sys.stderr)
    return rows


def format_report(res: dict) -> str:
    m = res["machine"]
    lines = ["symreg column screening", *machine_lines(m, "sklearn"), ""]
    if "feynman" in res:
        lines.append("Feynman-100 + bonus-20, noiseless: false drops (all columns are relevant)")
        for n, r in res["feynman"].items():
            lines.append(f"  {n:>5} rows: {r['false_drops']} of {r['columns']} columns dropped, "
                         f"{r['not_screened']} laws not screened (<= 3 columns or too few rows), "
                         f"{r['mean_seconds'] * 1e3:.0f} ms a law  {cut(' '.join(r['dropped']), 80)}")
    if "wide" in res:
        lines.append(f"3 relevant columns among 5/20/50 ({len(WIDE_LAWS)} laws, "
                     f"{res['settings']['wide_rows']} rows)")
        for w, r in res["wide"].items():
            lines.append(f"  {w:>3} columns: irrelevant dropped {r['irrelevant_dropped']:.1%}, "
                         f"relevant kept {r['relevant_kept']:.1%}, "
                         f"{r['mean_seconds'] * 1e3:.0f} ms a table  {' '.join(r['relevant_lost'])}")
    if "time" in res:
        lines.append("screening time, 50 columns (best of repeats)")
        for n, r in res["time"].items():
            lines.append(f"  {int(n):>9,} rows: {r['seconds']:.2f} s")
    if "fit" in res:
        lines.append(f"fits, time_budget {res['settings']['time']:g} s, 500 rows")
        for r in res["fit"]:
            tte = "-" if r["seconds_to_exact"] is None else f"{r['seconds_to_exact']:.1f}"
            lines.append(f"  {r['law']:<9} {r['case']:<14} exact {'yes' if r['exact'] else 'NO':<3} "
                         f"to exact {tte:>5} s  fit {r['seconds']:5.1f} s  dropped {r['dropped']:>2}"
                         f"  {cut(r['equation'], 50)}")
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="feynman,wide,time,fit", help="comma-separated parts")
    p.add_argument("--rows", default="50,100,500,1000", help="Feynman table sizes")
    p.add_argument("--wide-rows", type=int, default=1000, help="rows of the wide tables")
    p.add_argument("--widths", default="5,20,50", help="columns of the wide tables")
    p.add_argument("--sizes", default="10000,1000000", help="rows of the timed tables")
    p.add_argument("--repeat", type=int, default=3, help="timing repeats")
    p.add_argument("--time", type=float, default=25.0, help="time_budget of each fit, seconds")
    p.add_argument("--no-screen-fit", action="store_true",
                   help="also fit the 30 columns with feature_selection=None")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    p.add_argument("--quiet", action="store_true", help="print nothing (for tests)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the parts asked for; returns the figures (and writes --json when given)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    parts = {s.strip() for s in args.parts.split(",")}
    res = {"machine": machine_info(__file__, argv, sklearn=sklearn.__version__),
           "settings": {k: v for k, v in vars(args).items() if k not in ("json", "quiet")}}
    if "feynman" in parts:
        res["feynman"] = part_feynman(_ints(args.rows), args.seed, args.quiet)
    if "wide" in parts:
        res["wide"] = part_wide(_ints(args.widths), args.wide_rows, args.seed, args.quiet)
    if "time" in parts:
        res["time"] = part_time(_ints(args.sizes), args.seed, args.repeat, args.quiet)
    if "fit" in parts:
        res["fit"] = part_fit(args.time, args.seed, args.no_screen_fit, args.quiet)
    return finish(res, args, format_report, "figures")


if __name__ == "__main__":
    main()
