"""``symreg fit``: fit equations to a table, show live progress, save the run.

The run folder (``--out``, or ``symreg-runs/<target>-<date>-<time>``) holds the model, the
hall of fame and plots (docs/app.md describes the format); the last line says where.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from . import errors
from .errors import EXIT_INTERRUPTED, fail

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def _load_data(path: str, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of a CSV (``-``: stdin) or Parquet file; any problem
    with the file or its columns becomes a one-line error."""
    from symreg.datasets.tables import DataError, read_table

    try:
        table = read_table(path, target=target)
    except DataError as exc:
        fail(exc)
    return table.X, table.y


def _parse_operators(text: str) -> list[str]:
    ops = [tok.strip() for tok in text.split(",") if tok.strip()]
    if not ops:
        fail("--operators is empty; give a comma-separated list such as '+,-,*,/,sin'")
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
        fail(f"{option} is empty; give a comma-separated list")
    return items


def _parse_hypothesis(text: str) -> dict[str, Any]:
    """``include=sin,cos; exclude=exp; subtree=m*v; complexity=9`` as a hypotheses dict."""
    out: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        key, sep, value = (x.strip() for x in part.partition("="))
        if not sep or not value:
            fail(f"--hypothesis: expected key=value, got {part!r}")
        if key in ("include", "exclude"):
            out.setdefault(key, []).extend(_split_list(value, f"--hypothesis {key}"))
        elif key in ("subtree", "subtrees"):
            out.setdefault("subtrees", []).append(value)
        elif key == "complexity":
            if not value.isdigit() or int(value) < 1:
                fail(f"--hypothesis: complexity must be a positive integer, got {value!r}")
            out["complexity"] = int(value)
        else:
            fail(f"--hypothesis: unknown key {key!r}; allowed: include, exclude, subtree, complexity")
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
            fail(f"--out {out} exists and is not an empty folder or a symreg run")
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
            fail("--proposers/--hypothesis is not supported by this version of symreg")
        console = Console()
        display = FitDisplay(console, target, time, jobs, [str(c) for c in X.columns])
        # the live view would be mixed into the JSON document on stdout
        display.enabled = display.enabled and not as_json
        try:
            with display:
                model.fit(X, y, callback=display.update)
            r2 = float(model.score(X, y))
        except ValueError as exc:
            fail(exc)
    except KeyboardInterrupt:
        errors.interrupted()  # before the search had anything to keep

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
            "dropped_features": [str(f) for f in model.dropped_features_["feature"]],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_front(model, r2, target, console)
        dropped = model.dropped_features_
        if len(dropped):
            console.print(f"dropped {len(dropped)} of {model.n_features_in_} columns as "
                          f"uninformative: {', '.join(map(str, dropped['feature']))}",
                          highlight=False)
        if interrupted:
            console.print("interrupted: the best formulas found so far are kept", style="yellow",
                          highlight=False)
        console.print(f"{model.n_evals_:,} evaluations in {model.search_time_:.1f} s; "
                      f"saved to [bold]{run}[/bold] ({', '.join(written)})", highlight=False)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
