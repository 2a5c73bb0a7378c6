"""How the ``symreg`` commands end on bad input or Ctrl-C: exit codes and one-line errors.

Every command module imports these from here (never from :mod:`symreg.app.cli`, which
imports the command modules), so the command line has no import cycle.
"""

from __future__ import annotations

from typing import NoReturn

import typer

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED_JOBS", "EXIT_INTERRUPTED", "fail", "interrupted"]

#: bad input: a missing file, an unknown column, non-numeric data, a ``ValueError`` from ``fit``
EXIT_BAD_INPUT = 2
#: ``symreg batch``: some jobs failed (their errors are in the store)
EXIT_FAILED_JOBS = 1
#: Ctrl-C (or SIGTERM for a batch)
EXIT_INTERRUPTED = 130


def fail(message: object) -> NoReturn:
    """Print one ``error: ...`` line on stderr and exit with code 2."""
    text = " ".join(str(message).split()) or "invalid input"
    typer.echo(f"error: {text}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def interrupted() -> NoReturn:
    """Print ``interrupted`` on stderr and exit with code 130."""
    typer.echo("interrupted", err=True)
    raise typer.Exit(EXIT_INTERRUPTED)
