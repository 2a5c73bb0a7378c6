"""``symreg datasets list|show|sample``: the benchmark problems shipped with symreg."""

from __future__ import annotations

from typing import Any

import typer

from .errors import fail

datasets_app = typer.Typer(
    help="The benchmark problems shipped with symreg: list, show, sample.",
    no_args_is_help=True,
)


def _problem(name: str) -> Any:
    from symreg.datasets import load_problem

    try:
        return load_problem(name)
    except ValueError as exc:
        fail(f"{exc} (symreg datasets list SUITE shows the names)")


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
        fail(exc)
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
    out: str | None = typer.Option(None, "--out", "-o", help="CSV or .parquet file (default: CSV on stdout)."),
) -> None:
    """Write a sample of a problem as CSV: its variables and a target column y."""
    import pandas as pd

    from symreg.datasets.tables import DataError, write_frame

    p = _problem(name)
    try:
        sample = p.sample(n=n, noise=noise, seed=seed)
    except ValueError as exc:
        fail(exc)
    X, y = (sample.X_test, sample.y_test) if test else (sample.X_train, sample.y_train)
    names = p.variable_names
    table = pd.DataFrame(X, columns=names).assign(**{_target_name(names): y})
    try:
        write_frame(table, "-" if out is None else out)
    except DataError as exc:
        fail(exc)
