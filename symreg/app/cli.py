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


def _read_table(path: str) -> pd.DataFrame:
    """Read a CSV file (``-`` for stdin); any reading problem becomes a one-line error."""
    import pandas as pd

    source: Any = sys.stdin if path == "-" else path
    try:
        df = pd.read_csv(source)
    except FileNotFoundError:
        _fail(f"no such file: {path}")
    except IsADirectoryError:
        _fail(f"is a directory, not a CSV file: {path}")
    except PermissionError:
        _fail(f"permission denied: {path}")
    except pd.errors.EmptyDataError:
        _fail(f"no data in {'stdin' if path == '-' else path}")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        _fail(f"cannot read {'stdin' if path == '-' else path} as CSV: {exc}")
    if df.shape[0] == 0:
        _fail(f"no rows in {'stdin' if path == '-' else path}")
    return df


def _split_xy(df: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    import pandas as pd

    columns = [str(c) for c in df.columns]
    if target not in columns:
        _fail(f"target column {target!r} not found; columns are: {', '.join(columns)}")
    df = df.rename(columns=str)
    non_numeric = [
        c
        for c in df.columns
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_complex_dtype(df[c])
    ]
    if non_numeric:
        _fail(f"non-numeric column(s): {', '.join(non_numeric)}; symreg needs numbers only")
    X = df.drop(columns=[target])
    if X.shape[1] == 0:
        _fail(f"no feature columns: the file has only the target column {target!r}")
    return X, df[target]


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
    data: str = typer.Argument(..., help="CSV file with a header row, or '-' for stdin."),
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
        df = _read_table(data)
        X, y = _split_xy(df, target)
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
