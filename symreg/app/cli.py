"""The ``symreg`` command line: the root command, ``symreg info`` and the entry point.

Heavy imports (torch, pandas, the core) happen inside the commands so that
``symreg --help`` answers at once.

Exit codes (:mod:`symreg.app.errors`): 0 success; 2 bad input (missing file, unknown column,
non-numeric data, or a ``ValueError`` from ``fit``), printed as one ``error: ...`` line on
stderr; 130 interrupted (``symreg fit`` first saves and prints the best formulas found so far).

Commands, each in a module of its own: ``fit`` (:mod:`~symreg.app.fit_cli`: live progress in a
terminal, the front, a saved run folder), ``bench`` (:mod:`~symreg.app.bench_cli`), ``info``
(here), ``predict`` (:mod:`~symreg.app.predict_cli`: a saved run on new data), ``train``
(:mod:`~symreg.app.train_cli`), ``datasets list|show|sample``
(:mod:`~symreg.app.datasets_cli`: the shipped problems) and ``batch``
(:mod:`~symreg.app.batch_cli`). docs/app.md describes them and the saved-run format.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .batch_cli import batch_app
from .bench_cli import bench
from .datasets_cli import datasets_app
from .errors import EXIT_INTERRUPTED
from .fit_cli import fit
from .predict_cli import predict
from .train_cli import train

__all__ = ["app", "main"]

# tests import the --hypothesis parser from here, where it lived before the split
from .fit_cli import _parse_hypothesis  # noqa: F401

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


def _weights() -> list[str]:
    """The neural weights shipped under symreg/neural/weights (name and size)."""
    import symreg

    folder = Path(symreg.__file__).parent / "neural" / "weights"
    if not folder.is_dir():
        return []
    return [f"{f.relative_to(folder)} ({f.stat().st_size / 2**20:.1f} MiB)"
            for f in sorted(folder.rglob("*")) if f.is_file() and not f.name.startswith(".")]


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


# the order of `symreg --help`
app.command()(fit)
app.command()(bench)
app.command()(info)
app.command()(predict)
app.add_typer(datasets_app, name="datasets")
app.add_typer(batch_app, name="batch")
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
