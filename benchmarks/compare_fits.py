"""Deterministic fits of whole suites, for checking that a change keeps behaviour.

Every problem is fitted once with ``max_evals`` (a generous time budget behind
it), so the result depends on the code and the seed, not on the machine's load.
The script writes one JSON line per problem (the chosen equation, its loss and
the whole front as text); ``--compare A B`` then lists the problems whose
results differ between two such files.

A refactor that claims "behaviour unchanged" runs it on the commit before and
the commit after, from separate checkouts::

    PYTHONPATH=/path/to/before python benchmarks/compare_fits.py --out before.jsonl
    PYTHONPATH=/path/to/after  python benchmarks/compare_fits.py --out after.jsonl
    python benchmarks/compare_fits.py --compare before.jsonl after.jsonl

Fits that hit a wall-clock guard (the sympy simplifier's child timeout, a
constant fit's deadline) can still differ under heavy load; the comparison
prints those differences for reading rather than hiding them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _fit_suite(suites: list[str], max_evals: int, n_train: int, limit: int | None,
               out: str) -> None:
    import numpy as np
    import torch

    from symreg import SymbolicRegressor
    from symreg.datasets.suites import load_suite

    torch.set_num_threads(1)
    done = set()
    if os.path.exists(out):
        with open(out) as fh:
            done = {json.loads(line)["problem"] for line in fh if line.strip()}
    for suite in suites:
        problems = load_suite(suite)[:limit]
        for prob in problems:
            if prob.name in done:
                continue
            data = prob.sample(n=n_train, seed=0)
            model = SymbolicRegressor(max_evals=max_evals, time_budget=600, random_state=0,
                                      n_jobs=1)
            t0 = time.perf_counter()
            model.fit(data.X_train, data.y_train)
            elapsed = time.perf_counter() - t0
            eq = model.equations_
            row = {
                "problem": prob.name,
                "equation": str(eq["equation"].iloc[model.best_index_]),
                "loss": float(eq["loss"].iloc[model.best_index_]),
                "front": [f"{c} {loss:.6g} {e}" for c, loss, e in
                          zip(eq["complexity"], eq["loss"], eq["equation"])],
                "seconds": round(elapsed, 2),
                "r2_test": float(1 - np.mean((model.predict(data.X_test) - data.y_test) ** 2)
                                 / max(np.var(data.y_test), 1e-300)),
            }
            with open(out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{prob.name:>14}  {elapsed:6.1f} s  {row['equation']}", flush=True)


def _compare(a: str, b: str) -> int:
    def read(path):
        with open(path) as fh:
            return {r["problem"]: r for r in map(json.loads, filter(str.strip, fh))}

    ra, rb = read(a), read(b)
    common = [p for p in ra if p in rb]
    differ = [p for p in common if ra[p]["front"] != rb[p]["front"]]
    chosen = [p for p in common if ra[p]["equation"] != rb[p]["equation"]]
    for p in differ:
        print(f"{p}: front differs; chosen {'differs' if p in chosen else 'same'}")
        print(f"    before: {ra[p]['equation']}  (loss {ra[p]['loss']:.3g})")
        print(f"    after:  {rb[p]['equation']}  (loss {rb[p]['loss']:.3g})")
    ta = sum(ra[p]["seconds"] for p in common)
    tb = sum(rb[p]["seconds"] for p in common)
    print(f"{len(common)} problems in both; {len(differ)} fronts differ, "
          f"{len(chosen)} chosen equations differ; total fit time {ta:.0f} s vs {tb:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suites", default="feynman,nguyen",
                    help="comma-separated suites (default: feynman,nguyen)")
    ap.add_argument("--max-evals", type=int, default=200_000)
    ap.add_argument("--n-train", type=int, default=200)
    ap.add_argument("--limit", type=int, default=None, help="first N problems of each suite")
    ap.add_argument("--out", default="fits.jsonl")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args(argv)
    if args.compare:
        return _compare(*args.compare)
    _fit_suite(args.suites.split(","), args.max_evals, args.n_train, args.limit, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
