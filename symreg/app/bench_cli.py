"""``symreg bench``: run methods on a benchmark suite (see :mod:`symreg.bench`)."""

from __future__ import annotations

from typing import Any

import typer

from . import errors
from .errors import fail


def _print_bench_summary(summary: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col, justify in (("method", "left"), ("problems", "right"), ("solution rate", "right"),
                         ("R² > 0.999", "right"), ("median size", "right"),
                         ("median time (s)", "right"), ("failed", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for s in summary:
        size = "-" if s["median_size"] is None else f"{s['median_size']:g}"
        secs = "-" if s["median_time"] is None else f"{s['median_time']:.1f}"
        failed = str(s["failed"]) + (f" (+{s['missing']} missing)" if s["missing"] else "")
        table.add_row(s["method"], str(s["problems"]), f"{100 * s['solution_rate']:.0f}%",
                      f"{100 * s['r2_rate']:.0f}%", size, secs, failed)
    Console().print(table)


def bench(
    suite: str = typer.Argument(
        None, help="Problem suite: feynman, feynman_bonus, strogatz, nguyen, keijzer, ... "
                   "(--list shows all)."),
    methods: str = typer.Option(
        "symreg", "--methods", "-m",
        help="Comma-separated methods: symreg, symreg+transformer (with the pretrained "
             "transformer), symreg+neural (with the LIES and DySymNet proposers), operon, "
             "rils, gplearn, pysr."),
    time: float = typer.Option(60.0, "--time", min=0.1, help="Time budget per problem (s)."),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Run a seeded random subset of this many problems."),
    problems: str | None = typer.Option(
        None, "--problems", help="Comma-separated problem names to run (e.g. Nguyen-1,Nguyen-7)."),
    noise: float = typer.Option(
        0.0, "--noise", min=0.0, help="Noise level: σ = level × RMS(y) on the training target."),
    seed: int = typer.Option(0, "--seed", help="Seed of the subset, the data and the methods."),
    n_train: int | None = typer.Option(
        None, "--n-train", min=1, help="Training points (default: the suite's own spec)."),
    workers: int = typer.Option(
        1, "--workers", "-w", min=1, help="Problems run at the same time (one process each)."),
    threads: int = typer.Option(1, "--threads", min=1, help="Threads given to each method."),
    out: str | None = typer.Option(
        None, "--out", "-o", help="Output folder (default: bench-results/<suite>-<date>)."),
    resume: bool = typer.Option(
        False, "--resume", help="Keep the rows already in --out and run only the rest."),
    list_suites: bool = typer.Option(False, "--list", help="List the suites and exit."),
) -> None:
    """Run methods on a benchmark suite and write per-problem rows, a summary and a plot."""
    import datetime as dt

    from symreg.datasets.suites import SUITES

    if list_suites:
        from symreg.datasets import load_suite

        for name, text in SUITES.items():
            typer.echo(f"{name:<15} {len(load_suite(name)):>4}  {text}")
        return
    if suite is None:
        fail("give a suite to run (symreg bench --list shows them)")
    from symreg.bench.methods import get_method
    from symreg.bench.report import plot_results, summarize, write_results
    from symreg.bench.runner import BenchConfig, config_dict, machine_summary, read_rows, run_bench

    names = [m.strip() for m in methods.split(",") if m.strip()]
    if not names:
        fail("--methods is empty; give e.g. 'symreg,operon'")
    try:
        for m in names:
            get_method(m)
    except ValueError as exc:
        fail(exc)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    cfg = BenchConfig(
        suite=suite, methods=names, time_budget=time, noise=noise, seed=seed, limit=limit,
        problems=[p.strip() for p in problems.split(",") if p.strip()] if problems else None,
        n_train=n_train, workers=workers, threads=threads,
        out_dir=out or f"bench-results/{suite}-{stamp}")
    for m in names:
        reason = get_method(m).missing()
        if reason:
            typer.echo(f"warning: {m}: {reason}; its rows are marked missing", err=True)

    def show(row: dict[str, Any]) -> None:
        verdict = {"ok": "solved" if row.get("solution") else "not solved"}.get(
            row["status"], row["status"])
        r2 = row.get("r2_test")
        r2_text = "" if r2 is None else f" R²={r2:.4f}"
        secs = row.get("fit_seconds")
        secs_text = "" if secs is None else f" {secs:.1f}s"
        typer.echo(f"{row['problem']:<22} {row['method']:<8} {verdict:<10}{r2_text}{secs_text}  "
                   f"{(row.get('formula') or row.get('message') or '')[:70]}", err=True)

    interrupted = False
    rows: list[dict[str, Any]] = []
    try:
        rows = run_bench(cfg, on_row=show, resume=resume)
    except ValueError as exc:
        fail(exc)
    except KeyboardInterrupt:
        interrupted = True
        rows = read_rows(f"{cfg.out_dir}/rows.jsonl")  # what finished before Ctrl-C
    if rows:
        paths = write_results(cfg.out_dir, rows, config_dict(cfg), machine_summary())
        png = plot_results(rows, f"{cfg.out_dir}/plot.png",
                           title=f"{suite}: {len(rows) // max(len(names), 1)} problems, "
                                 f"{time:g} s each, noise {noise:g}")
        _print_bench_summary(summarize(rows), f"{suite} (time {time:g} s, noise {noise:g}, "
                                              f"seed {seed})")
        typer.echo(f"wrote {paths['csv']}, {paths['json']}, {paths['summary']}, {png}")
    if interrupted:
        errors.interrupted()
