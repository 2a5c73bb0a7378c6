"""Summaries, result files and the comparison plot of a benchmark run.

The summary has one line per method, over every problem attempted:

* ``solution_rate``: share of problems whose model passed the SRBench
  symbolic-solution test (errors, timeouts and missing methods count as failures);
* ``r2_rate``: share with test R² > 0.999;
* ``median_size``: median model size (sympy nodes) over the rows with a model;
* ``median_time``: median fit wall time in seconds over the rows with a model;
* ``failed``: rows that ended in an error or a timeout (``missing`` is shown apart).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CSV_COLUMNS", "R2_THRESHOLD", "plot_results", "summarize", "write_results"]

R2_THRESHOLD = 0.999

CSV_COLUMNS = ["suite", "problem", "method", "status", "solution", "exact", "r2_test", "r2_train",
               "size", "fit_seconds", "wall_seconds", "n_vars", "n_train", "n_test", "noise",
               "seed", "time_budget", "formula", "truth", "message"]


def _median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None and math.isfinite(v))
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary dict per method, in the order the methods first appear."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    out = []
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        ok = [r for r in mine if r.get("status") == "ok"]
        n = len(mine)
        out.append({
            "method": m,
            "problems": n,
            "solved": sum(bool(r.get("solution")) for r in mine),
            "solution_rate": sum(bool(r.get("solution")) for r in mine) / n if n else 0.0,
            "r2_rate": sum((r.get("r2_test") or -math.inf) > R2_THRESHOLD for r in mine) / n
            if n else 0.0,
            "median_size": _median([r.get("size") for r in ok]),
            "median_time": _median([r.get("fit_seconds") for r in ok]),
            "failed": sum(r.get("status") in ("error", "timeout") for r in mine),
            "missing": sum(r.get("status") == "missing" for r in mine),
        })
    return out


def write_results(out_dir: str | Path, rows: Sequence[dict[str, Any]], config: dict[str, Any],
                  machine: dict[str, Any]) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv`` and ``summary.csv``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    paths = {"json": out / "results.json", "csv": out / "results.csv",
             "summary": out / "summary.csv"}
    with paths["json"].open("w", encoding="utf-8") as f:
        json.dump({"config": config, "machine": machine, "summary": summary, "rows": list(rows)},
                  f, indent=1)
    with paths["csv"].open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k) for k in CSV_COLUMNS})
    with paths["summary"].open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(summary[0]) if summary else ["method"])
        writer.writeheader()
        writer.writerows(summary)
    return paths


def plot_results(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """A PNG comparing the methods: solution and R² > 0.999 rates (bars) and the
    fit time of every problem (points, log scale, median marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(rows)
    methods = [s["method"] for s in summary]
    fig, (ax_rate, ax_time) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    xs = range(len(methods))
    width = 0.38
    sol = [100 * s["solution_rate"] for s in summary]
    r2 = [100 * s["r2_rate"] for s in summary]
    bars = ax_rate.bar([x - width / 2 for x in xs], sol, width, label="symbolic solution")
    ax_rate.bar_label(bars, fmt="%.0f", fontsize=8)
    bars = ax_rate.bar([x + width / 2 for x in xs], r2, width, label=f"R² > {R2_THRESHOLD}")
    ax_rate.bar_label(bars, fmt="%.0f", fontsize=8)
    ax_rate.set_xticks(list(xs), methods)
    ax_rate.set_ylim(0, 125)  # room for the legend above the 100 % bars
    ax_rate.set_yticks(range(0, 101, 20))
    ax_rate.set_ylabel("% of problems")
    ax_rate.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
    ax_rate.set_title("accuracy")

    for x, m in zip(xs, methods):
        times = [r["fit_seconds"] for r in rows
                 if r["method"] == m and r.get("status") == "ok" and r.get("fit_seconds")]
        if times:
            jitter = [x + 0.25 * ((i * 0.618) % 1 - 0.5) for i in range(len(times))]
            ax_time.scatter(jitter, times, s=12, alpha=0.6)
            ax_time.hlines(_median(times), x - 0.3, x + 0.3, color="black", lw=2)
    budgets = {r.get("time_budget") for r in rows if r.get("time_budget")}
    for b in budgets:
        ax_time.axhline(b, color="grey", ls="--", lw=0.8)
    ax_time.set_yscale("log")
    ax_time.set_xticks(list(xs), methods)
    ax_time.set_ylabel("fit time per problem (s)")
    ax_time.set_title("time (bar: median; dashed: budget)")
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
