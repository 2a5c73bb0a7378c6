"""The ``symreg`` command line.

Heavy imports (torch, pandas, the core) happen inside the commands so that
``symreg --help`` answers at once.

Exit codes: 0 success; 2 bad input (missing file, unknown column, non-numeric data, or a
``ValueError`` from ``fit``), printed as one ``error: ...`` line on stderr; 130 interrupted.
"""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="symreg",
    help="Discover closed-form equations from data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """Discover closed-form equations from data (symbolic regression)."""


def _fail(message: object) -> NoReturn:
    """Print one ``error: ...`` line on stderr and exit with code 2."""
    text = " ".join(str(message).split()) or "invalid input"
    typer.echo(f"error: {text}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _interrupted() -> NoReturn:
    typer.echo("interrupted", err=True)
    raise typer.Exit(EXIT_INTERRUPTED)


def _load_data(path: str, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of a CSV (``-``: stdin) or Parquet file; any problem
    with the file or its columns becomes a one-line error."""
    from symreg.datasets.tables import DataError, load_csv, load_parquet

    loader = load_parquet if path.lower().endswith((".parquet", ".pq")) else load_csv
    try:
        table = loader(path, target=target)
    except DataError as exc:
        _fail(exc)
    return table.X, table.y


def _parse_operators(text: str) -> list[str]:
    ops = [tok.strip() for tok in text.split(",") if tok.strip()]
    if not ops:
        _fail("--operators is empty; give a comma-separated list such as '+,-,*,/,sin'")
    return ops


def _finite(value: Any) -> float | None:
    """A JSON-safe float: NaN and infinities become null."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _equation_records(model: Any) -> list[dict[str, Any]]:
    table = model.equations_
    records = []
    for _, row in table.iterrows():
        records.append(
            {
                "complexity": int(row["complexity"]),
                "loss": _finite(row["loss"]),
                "score": _finite(row["score"]),
                "equation": str(row["equation"]),
            }
        )
    return records


def _print_front(model: Any, r2: float, target: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = model.equations_
    best = model.best_index_
    console = Console()
    front = Table(title=f"Pareto front for {target}", title_justify="left")
    front.add_column("", width=1)
    front.add_column("complexity", justify="right")
    front.add_column("loss", justify="right")
    front.add_column("score", justify="right")
    front.add_column("equation", overflow="fold")
    for index, row in table.iterrows():
        chosen = index == best
        front.add_row(
            "▶" if chosen else "",
            str(int(row["complexity"])),
            f"{float(row['loss']):.4g}",
            f"{float(row['score']):.4g}",
            str(row["equation"]),
            style="bold green" if chosen else None,
        )
    console.print(front)
    console.print(
        f"best: [bold]{target} = {table.loc[best, 'equation']}[/bold]   R² (training) = {r2:.6g}",
        highlight=False,
    )


@app.command()
def fit(
    data: str = typer.Argument(
        ..., help="CSV file with a header row ('-' for stdin), or a .parquet file."),
    target: str = typer.Option(..., "--target", "-t", help="Column to predict."),
    time: float = typer.Option(60.0, "--time", min=0.0, help="Time budget in seconds."),
    operators: str | None = typer.Option(
        None, "--operators",
        help="Comma-separated operator names (default: arithmetic, powers, roots, exp, log, sin, cos).",
    ),
    maxsize: int = typer.Option(30, "--maxsize", min=1, help="Largest expression complexity."),
    seed: int = typer.Option(
        0, "--seed", help="Random seed (same seed, same device, same result)."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Parallel search workers."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    model_selection: str = typer.Option(
        "best", "--model-selection",
        help="How the highlighted formula is chosen: best, accuracy, score or bic "
             "(bic suits small noisy tables).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of a table."),
) -> None:
    """Fit equations to DATA, predicting --target from all other columns."""
    try:
        X, y = _load_data(data, target)
        ops = None if operators is None else _parse_operators(operators)

        from symreg import SymbolicRegressor

        model = SymbolicRegressor(
            operators=ops,
            maxsize=maxsize,
            time_budget=time,
            random_state=seed,
            n_jobs=jobs,
            device=device,
            model_selection=model_selection,
        )
        try:
            model.fit(X, y)
            r2 = float(model.score(X, y))
        except ValueError as exc:
            _fail(exc)
    except KeyboardInterrupt:
        _interrupted()

    if as_json:
        records = _equation_records(model)
        best = model.best_index_
        payload = {
            "target": target,
            "features": list(X.columns),
            "equations": records,
            "best_index": int(best),
            "best": str(model.equations_.loc[best, "equation"]),
            "r2": _finite(r2),
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_front(model, r2, target)


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


@app.command()
def bench(
    suite: str = typer.Argument(
        None, help="Problem suite: feynman, feynman_bonus, strogatz, nguyen, keijzer, ... "
                   "(--list shows all)."),
    methods: str = typer.Option(
        "symreg", "--methods", "-m",
        help="Comma-separated methods: symreg, operon, rils, gplearn, pysr."),
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
        _fail("give a suite to run (symreg bench --list shows them)")
    from symreg.bench.methods import get_method
    from symreg.bench.report import plot_results, summarize, write_results
    from symreg.bench.runner import BenchConfig, config_dict, machine_summary, read_rows, run_bench

    names = [m.strip() for m in methods.split(",") if m.strip()]
    if not names:
        _fail("--methods is empty; give e.g. 'symreg,operon'")
    try:
        for m in names:
            get_method(m)
    except ValueError as exc:
        _fail(exc)
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
        _fail(exc)
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
        _interrupted()


@app.command()
def info() -> None:
    """Show versions, the compute device and the available operators."""
    import torch
    from rich.console import Console
    from rich.table import Table

    import symreg
    from symreg.operators import OPERATORS

    console = Console()
    cuda = torch.cuda.is_available()
    console.print(f"symreg {symreg.__version__}", highlight=False)
    console.print(f"torch  {torch.__version__}", highlight=False)
    if cuda:
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        console.print(f"CUDA   available ({names})", highlight=False)
    else:
        console.print("CUDA   not available (CPU only)", highlight=False)

    ops = Table(title="operators", title_justify="left")
    ops.add_column("name")
    ops.add_column("arity", justify="right")
    ops.add_column("complexity", justify="right")
    for op in OPERATORS.values():
        ops.add_row(op.name, str(op.arity), str(op.complexity))
    console.print(ops)


def main() -> None:
    """Console-script entry point (``symreg``)."""
    try:
        app(prog_name="symreg")
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
