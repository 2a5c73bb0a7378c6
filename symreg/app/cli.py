"""The ``symreg`` command line.

Heavy imports (torch, pandas, the core) happen inside the commands so that
``symreg --help`` answers at once.

Exit codes: 0 success; 2 bad input (missing file, unknown column, non-numeric data, or a
``ValueError`` from ``fit``), printed as one ``error: ...`` line on stderr; 130 interrupted
(``symreg fit`` first saves and prints the best formulas found so far).

Commands: ``fit`` (live progress in a terminal, the front, a saved run folder), ``predict``
(a saved run on new data), ``datasets list|show|sample`` (the shipped problems), ``info``,
``bench`` and ``batch``. docs/app.md describes them and the saved-run format.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
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


def _print_front(model: Any, r2: float, target: str, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = model.equations_
    best = model.best_index_
    console = console or Console()
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


def _split_list(text: str, option: str) -> list[str]:
    items = [tok.strip() for tok in text.split(",") if tok.strip()]
    if not items:
        _fail(f"{option} is empty; give a comma-separated list")
    return items


def _parse_hypothesis(text: str) -> dict[str, Any]:
    """``include=sin,cos; exclude=exp; subtree=m*v; complexity=9`` as a hypotheses dict."""
    out: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        key, sep, value = (x.strip() for x in part.partition("="))
        if not sep or not value:
            _fail(f"--hypothesis: expected key=value, got {part!r}")
        if key in ("include", "exclude"):
            out.setdefault(key, []).extend(_split_list(value, f"--hypothesis {key}"))
        elif key in ("subtree", "subtrees"):
            out.setdefault("subtrees", []).append(value)
        elif key == "complexity":
            if not value.isdigit() or int(value) < 1:
                _fail(f"--hypothesis: complexity must be a positive integer, got {value!r}")
            out["complexity"] = int(value)
        else:
            _fail(f"--hypothesis: unknown key {key!r}; allowed: include, exclude, subtree, complexity")
    return out


def _run_dir(out: str | None, target: str) -> Path:
    """The folder a fit is saved to: ``--out``, or a fresh
    ``symreg-runs/<target>-<date>-<time>``. An existing ``--out`` must be an
    empty folder or an earlier run (never someone's other files)."""
    import datetime as dt
    import re

    if out is not None:
        run = Path(out)
        if run.exists() and (not run.is_dir() or (any(run.iterdir())
                                                    and not (run / "model.json").exists())):
            _fail(f"--out {out} exists and is not an empty folder or a symreg run")
        return run
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("symreg-runs") / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', target) or 'run'}-{stamp}"
    run, k = base, 1
    while run.exists():  # two runs in the same second
        k += 1
        run = base.with_name(f"{base.name}-{k}")
    return run


def _save_run(model: Any, run: Path, X: Any, y: Any, metadata: dict[str, Any]) -> list[str]:
    """Save the model and its plots; returns the names of the files written. A
    plot that fails costs a warning, never the saved model."""
    from symreg.io import save

    save(model, run, metadata=metadata)
    written = ["model.json", "hall_of_fame.csv", "hall_of_fame_full.csv"]
    try:
        from symreg.app.plots import write_plots

        written += [p.name for p in write_plots(model, run, X, y, metadata["target"])]
    except Exception as exc:  # noqa: BLE001 - the model is saved; the plots are extras
        typer.echo(f"warning: plots not written: {' '.join(str(exc).split())}", err=True)
    return written


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
    proposers: str | None = typer.Option(
        None, "--proposers",
        help="Comma-separated neural proposers that seed the search "
             "(transformer, lies, dysymnet).",
    ),
    hypothesis: str | None = typer.Option(
        None, "--hypothesis",
        help="What you believe, for the transformer: 'include=sin,cos; exclude=exp; "
             "subtree=m*v; complexity=9' (excluded operators never appear).",
    ),
    max_evals: int | None = typer.Option(
        None, "--max-evals", min=1,
        help="Stop after about this many evaluations (with a generous --time: reproducible).",
    ),
    out: str | None = typer.Option(
        None, "--out", "-o",
        help="Run folder to save to (default: symreg-runs/<target>-<date>-<time>).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of a table."),
) -> None:
    """Fit equations to DATA, predicting --target from all other columns.

    In a terminal the search shows live progress; the run (model, hall of fame,
    plots) is always saved, and the last line says where.
    """
    from rich.console import Console

    try:
        X, y = _load_data(data, target)
        ops = None if operators is None else _parse_operators(operators)
        run = _run_dir(out, target)

        from symreg import SymbolicRegressor
        from symreg.app.progress import FitDisplay

        params: dict[str, Any] = {
            "operators": ops, "maxsize": maxsize, "time_budget": time, "max_evals": max_evals,
            "random_state": seed, "n_jobs": jobs, "device": device,
            "model_selection": model_selection,
        }
        if proposers is not None:  # only when asked: the parameter is newer than the rest
            params["proposers"] = _split_list(proposers, "--proposers")
        if hypothesis is not None:
            params["hypotheses"] = _parse_hypothesis(hypothesis)
        try:
            model = SymbolicRegressor(**params)
        except TypeError:
            _fail("--proposers/--hypothesis is not supported by this version of symreg")
        console = Console()
        display = FitDisplay(console, target, time, jobs, [str(c) for c in X.columns])
        # the live view would be mixed into the JSON document on stdout
        display.enabled = display.enabled and not as_json
        try:
            with display:
                model.fit(X, y, callback=display.update)
            r2 = float(model.score(X, y))
        except ValueError as exc:
            _fail(exc)
    except KeyboardInterrupt:
        _interrupted()  # before the search had anything to keep

    interrupted = bool(getattr(model, "interrupted_", False))
    metadata = {"target": target, "data": data if data == "-" else str(Path(data).resolve()),
                "n_samples": len(y), "r2_train": _finite(r2),
                "command": " ".join(["symreg", *sys.argv[1:]])}
    written = _save_run(model, run, X, y, metadata)

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
            "run_dir": str(run),
            "files": written,
            "interrupted": interrupted,
            "n_evals": int(model.n_evals_),
            "search_time": _finite(model.search_time_),
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_front(model, r2, target, console)
        if interrupted:
            console.print("interrupted: the best formulas found so far are kept", style="yellow",
                          highlight=False)
        console.print(f"{model.n_evals_:,} evaluations in {model.search_time_:.1f} s; "
                      f"saved to [bold]{run}[/bold] ({', '.join(written)})", highlight=False)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


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


def _weights() -> list[str]:
    """The neural weights shipped under symreg/neural/weights (name and size)."""
    import symreg

    folder = Path(symreg.__file__).parent / "neural" / "weights"
    if not folder.is_dir():
        return []
    return [f"{f.relative_to(folder)} ({f.stat().st_size / 2**20:.1f} MiB)"
            for f in sorted(folder.rglob("*")) if f.is_file() and not f.name.startswith(".")]


@app.command()
def info() -> None:
    """Show versions, the compute device, the operators and the shipped neural weights."""
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
    from symreg.evaluate import resolve_device

    console.print(f"device {resolve_device(None)} (the default for --device auto)", highlight=False)
    weights = _weights()
    console.print(f"weights {', '.join(weights) if weights else 'none'}", highlight=False)

    ops = Table(title="operators", title_justify="left")
    ops.add_column("name")
    ops.add_column("arity", justify="right")
    ops.add_column("complexity", justify="right")
    for op in OPERATORS.values():
        ops.add_row(op.name, str(op.arity), str(op.complexity))
    console.print(ops)


# ----------------------------------------------------------------------------
# symreg predict
# ----------------------------------------------------------------------------

def _read_table(path: str) -> pd.DataFrame:
    """A whole CSV (``-``: stdin) or Parquet table; problems become one-line errors."""
    import pandas as pd

    from symreg.datasets.tables import DataError, _read

    parquet = path.lower().endswith((".parquet", ".pq"))
    source: Any = sys.stdin if path == "-" else path
    reader = (lambda: pd.read_parquet(path)) if parquet else (lambda: pd.read_csv(source))
    try:
        return _read(path, reader, "Parquet" if parquet else "CSV")
    except DataError as exc:
        _fail(exc)


@app.command()
def predict(
    run: str = typer.Argument(..., help="A run folder saved by 'symreg fit' (or its model.json)."),
    data: str = typer.Argument(
        ..., help="CSV file ('-' for stdin) or .parquet file with the model's input columns."),
    out: str | None = typer.Option(
        None, "--out", "-o", help="Write to this .csv or .parquet file instead of stdout."),
    index: int | None = typer.Option(
        None, "--index", help="Row of the Pareto front to use (default: the chosen model)."),
) -> None:
    """Predict with a saved run: DATA's columns plus a predicted_<target> column, as CSV."""
    import pandas as pd

    from symreg import load
    from symreg.io import read_run

    try:
        model = load(run)
        target = str(read_run(run).get("metadata", {}).get("target") or "y")
    except (OSError, ValueError) as exc:
        _fail(exc)
    table = _read_table(data)
    names = list(model.variable_names_)
    missing = [n for n in names if n not in table.columns]
    if missing:
        _fail(f"{data} lacks column(s) {', '.join(missing)}; the model needs: {', '.join(names)}")
    features = table[names]
    bad = [c for c in names if not pd.api.types.is_numeric_dtype(features[c])
           or pd.api.types.is_bool_dtype(features[c])]
    if bad:
        _fail(f"non-numeric column(s) in {data}: {', '.join(bad)}")
    # a model fitted on a bare array checks that it gets a bare array
    X = features if hasattr(model, "feature_names_in_") else features.to_numpy(dtype=float)
    try:
        pred = model.predict(X, index=index)
    except (ValueError, IndexError) as exc:
        _fail(exc)
    column = f"predicted_{target}"
    result = table.assign(**{column: pred})
    if out is None:
        # pandas writes floats at full (round-trip) precision
        result.to_csv(sys.stdout, index=False)
    elif out.lower().endswith((".parquet", ".pq")):
        result.to_parquet(out, index=False)
    else:
        result.to_csv(out, index=False)


# ----------------------------------------------------------------------------
# symreg datasets
# ----------------------------------------------------------------------------

datasets_app = typer.Typer(
    help="The benchmark problems shipped with symreg: list, show, sample.",
    no_args_is_help=True,
)
app.add_typer(datasets_app, name="datasets")


def _problem(name: str) -> Any:
    from symreg.datasets import load_problem

    try:
        return load_problem(name)
    except ValueError as exc:
        _fail(f"{exc} (symreg datasets list SUITE shows the names)")


@datasets_app.command("list")
def datasets_list(
    suite: str | None = typer.Argument(
        None, help="A suite to list the problems of; without it, the suites."),
) -> None:
    """List the suites, or the problems of one suite."""
    from rich.console import Console
    from rich.table import Table

    from symreg.datasets import SUITES, load_suite

    console = Console()
    if suite is None:
        table = Table(title="benchmark suites", title_justify="left")
        table.add_column("suite")
        table.add_column("problems", justify="right")
        table.add_column("description")
        for name, text in SUITES.items():
            table.add_row(name, str(len(load_suite(name))), text)
        console.print(table)
        return
    try:
        problems = load_suite(suite)
    except ValueError as exc:
        _fail(exc)
    table = Table(title=f"{suite}: {len(problems)} problems", title_justify="left")
    table.add_column("name")
    table.add_column("variables", justify="right")
    table.add_column("formula", overflow="fold")
    for p in problems:
        table.add_row(p.name, str(p.n_variables), p.formula)
    console.print(table)


@datasets_app.command("show")
def datasets_show(name: str = typer.Argument(..., help="Problem name, e.g. Nguyen-7 or I.6.2a.")
                  ) -> None:
    """Show one problem: its formula, variables with ranges, and sampling."""
    from rich.console import Console

    p = _problem(name)
    console = Console()
    console.print(f"[bold]{p.name}[/bold]  (suite {p.suite})", highlight=False)
    console.print(f"formula    {p.formula}", highlight=False)
    console.print(f"sympy      {p.truth}", highlight=False)
    for v in p.variables:
        console.print(f"variable   {v.name} in [{v.low:g}, {v.high:g}]", highlight=False)
    for label, s in (("train", p.train), ("test", p.test)):
        ranges = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in s.ranges)
        steps = f" step {', '.join(f'{st:g}' for st in s.steps)}" if s.steps else ""
        console.print(f"{label:<10} {s.n} points, {s.kind} on {ranges}{steps}", highlight=False)
    if p.source:
        console.print(f"source     {p.source}", highlight=False)
    if p.notes:
        console.print(f"notes      {p.notes}", highlight=False)


def _target_name(variables: list[str]) -> str:
    return next(n for n in ("y", "target", "y_true", "f") if n not in variables)


@datasets_app.command("sample")
def datasets_sample(
    name: str = typer.Argument(..., help="Problem name, e.g. Nguyen-7 or I.6.2a."),
    n: int | None = typer.Option(
        None, "--n", min=1, help="Training points (default: the problem's own spec)."),
    noise: float = typer.Option(0.0, "--noise", min=0.0, help="Noise level (σ = level × RMS)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same points."),
    test: bool = typer.Option(False, "--test", help="Write the test points instead."),
    out: str | None = typer.Option(None, "--out", "-o", help="CSV file (default: stdout)."),
) -> None:
    """Write a sample of a problem as CSV: its variables and a target column y."""
    import pandas as pd

    p = _problem(name)
    try:
        sample = p.sample(n=n, noise=noise, seed=seed)
    except ValueError as exc:
        _fail(exc)
    X, y = (sample.X_test, sample.y_test) if test else (sample.X_train, sample.y_train)
    names = p.variable_names
    table = pd.DataFrame(X, columns=names).assign(**{_target_name(names): y})
    table.to_csv(sys.stdout if out is None else out, index=False)


# last, so that `symreg --help` lists it after the commands above; batch_cli takes _fail and
# _interrupted from this module when called, so neither import waits for the other
from symreg.app.batch_cli import batch_app

app.add_typer(batch_app, name="batch")

from symreg.app.train_cli import train  # noqa: E402

app.command()(train)


def main() -> None:
    """Console-script entry point (``symreg``)."""
    try:
        app(prog_name="symreg")
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
