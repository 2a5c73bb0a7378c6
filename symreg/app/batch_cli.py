"""``symreg batch``: run batch discovery jobs, and show or export what a store holds.

Three forms share the name::

    symreg batch JOBS [--store PATH] [--workers N] [--ray ADDRESS]   # run (same as `batch run`)
    symreg batch status STORE
    symreg batch results STORE [--out results.csv | results.parquet] [--fronts]

The first argument picks the form: ``status`` and ``results`` (and ``run``) are sub-commands,
anything else is a jobs file or folder to run (:class:`_BatchGroup`). A file literally named
``status`` is run as ``symreg batch run status`` or ``symreg batch ./status``.

Exit codes of a run: 0 every job done; 1 some jobs failed (their errors are in the store);
2 bad input, one ``error: ...`` line; 130 interrupted (finished jobs stay in the store, a
re-run resumes the rest).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from .errors import EXIT_FAILED_JOBS, fail, interrupted


class _BatchGroup(TyperGroup):
    """A group whose default sub-command is ``run``: ``symreg batch JOBS`` means
    ``symreg batch run JOBS``, while ``status`` and ``results`` stay sub-commands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


batch_app = typer.Typer(
    cls=_BatchGroup,
    help="Run many datasets × settings and keep every result in a SQLite store "
         "(symreg batch JOBS | status STORE | results STORE).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _folder_settings(target: str | None, time: float | None, seeds: str | None,
                     maxsize: int | None, operators: str | None, n_jobs: int | None
                     ) -> dict[str, Any]:
    """The command-line settings of the folder form, as a [defaults] table."""
    out: dict[str, Any] = {}
    for key, value in (("target", target), ("time", time), ("maxsize", maxsize),
                       ("operators", operators), ("n_jobs", n_jobs)):
        if value is not None:
            out[key] = value
    if seeds is not None:
        try:
            out["seeds"] = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            fail(f"--seeds must be comma-separated integers such as 0,1,2, got {seeds!r}")
    return out


class _Display:
    """The rich progress bar: done / failed / total, elapsed and ETA; failures printed above."""

    def __init__(self, store: Path) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[running]} running"), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False)
        self.task: Any = None
        self.store = store

    def __call__(self, p: Any) -> None:
        finished = p.done + p.failed
        if self.task is None:
            # printed once the store is open: bad input before that is the only line shown
            self.console.print(f"store: {self.store}", highlight=False)
            if p.skipped or p.resumed:
                extra = f", {p.resumed} left running by a dead process" if p.resumed else ""
                self.console.print(f"{p.skipped} of {p.total} jobs already finished{extra}; "
                                   f"running {p.total - p.skipped}", highlight=False)
            self.task = self.progress.add_task("batch", total=p.total, completed=finished,
                                               failed=p.failed, running=p.running)
            self.progress.start()
            return
        if p.last is not None and not p.last[1].get("ok"):
            from rich.markup import escape

            job, out = p.last
            self.progress.console.print(
                f"[red]failed[/red] {escape(job.describe())}: {escape(str(out.get('error')))}",
                highlight=False, soft_wrap=True)
        self.progress.update(self.task, completed=finished, failed=p.failed, running=p.running)

    def stop(self) -> None:
        self.progress.stop()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _on_sigterm(handler: Any) -> Any:
    """Install a SIGTERM handler; returns the previous one (None off the main thread, where
    Python allows no handlers)."""
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return None


@batch_app.command("run")
def run(
    jobs: str = typer.Argument(
        ..., help="Jobs file (.toml, .yaml) or a folder of CSV/Parquet files (one job each)."),
    store: str | None = typer.Option(
        None, "--store", "-s",
        help="SQLite store (default: jobs.toml -> jobs.db, folder data/ -> data.db)."),
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=1,
        help="Jobs at the same time (default: usable cores / the largest n_jobs, or the Ray "
             "cluster's CPUs)."),
    ray: str | None = typer.Option(
        None, "--ray",
        help="Run on Ray: 'auto' (the running cluster), 'local' (start one here) or an "
             "address such as ray://host:10001."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Run the jobs recorded as failed again."),
    target: str | None = typer.Option(
        None, "--target", "-t", help="Folder form: column to predict (default: the last)."),
    time: float | None = typer.Option(
        None, "--time", help="Folder form: time budget per job in seconds (default 60)."),
    seeds: str | None = typer.Option(
        None, "--seeds", help="Folder form: comma-separated seeds, one job each (default 0)."),
    maxsize: int | None = typer.Option(None, "--maxsize", help="Folder form: largest complexity."),
    operators: str | None = typer.Option(
        None, "--operators", help="Folder form: comma-separated operator names."),
    n_jobs: int | None = typer.Option(
        None, "--n-jobs", help="Folder form: search workers (CPUs) per job."),
) -> None:
    """Run the jobs of JOBS that the store does not have yet; resume after a crash or Ctrl-C."""
    from .batch import run_batch
    from .jobs import BatchError
    from .jobs_file import default_store, load_jobs

    settings = _folder_settings(target, time, seeds, maxsize, operators, n_jobs)
    display = None
    previous = None
    try:
        try:
            job_list = load_jobs(jobs, settings or None)
        except BatchError as exc:
            fail(exc)
        store_path = Path(store) if store else default_store(jobs)
        display = _Display(store_path)
        # a scheduler's SIGTERM stops the batch as cleanly as Ctrl-C
        previous = _on_sigterm(_raise_interrupt)
        try:
            summary = run_batch(job_list, store_path, workers=workers, ray=ray,
                                retry_failed=retry_failed, on_progress=display)
        except BatchError as exc:
            display.stop()
            fail(exc)
    except KeyboardInterrupt:
        if display is not None:
            display.stop()
        interrupted()
    finally:
        if previous is not None:
            _on_sigterm(previous)
    display.stop()
    typer.echo(f"{summary.done} done, {summary.failed} failed of {summary.total} jobs "
               f"({summary.ran} run now, {summary.seconds:.1f} s); "
               f"see: symreg batch results {store_path}", err=True)
    if summary.failed:
        raise typer.Exit(EXIT_FAILED_JOBS)


def _open(store: str):
    from .store import JobStore, StoreError

    try:
        return JobStore(store, create=False)
    except StoreError as exc:
        fail(exc)


@batch_app.command("status")
def status(
    store: str = typer.Argument(..., help="The SQLite store of a batch."),
    show: int = typer.Option(10, "--show", min=0, help="Failed and running jobs listed."),
) -> None:
    """Show how many jobs are pending, running, done and failed, and why some failed."""
    from rich.console import Console
    from rich.table import Table

    from .jobs import describe

    db = _open(store)
    try:
        counts = db.counts()
        holder = db.holder()
        failed = db.records("failed")[:show] if show else []
        running = db.records("running")[:show] if show else []
    finally:
        db.close()
    console = Console()
    total = sum(counts.values())
    who = f"a batch is running ({holder})" if holder else "no batch is running"
    console.print(f"{store}: {total} jobs; {who}", highlight=False, soft_wrap=True)
    table = Table(show_header=True, title_justify="left")
    table.add_column("status")
    table.add_column("jobs", justify="right")
    for name, n in counts.items():
        label = name
        if name == "running" and n and not holder:
            label = "running (stale: left by a dead process; resumed on the next run)"
        table.add_row(label, str(n))
    console.print(table)
    for title, rows in (("failed", failed), ("running", running)):
        if not rows:
            continue
        listing = Table(title=title, title_justify="left")
        for col in ("id", "job", "detail"):
            listing.add_column(col, overflow="fold")
        for r in rows:
            detail = r.error if title == "failed" else f"pid {r.pid} on {r.host}"
            listing.add_row(r.id, describe(r.data, r.settings), detail or "")
        console.print(listing)


@batch_app.command("results")
def results(
    store: str = typer.Argument(..., help="The SQLite store of a batch."),
    out: str | None = typer.Option(
        None, "--out", "-o", help="Write a .csv or .parquet file instead of printing a table."),
    fronts: bool = typer.Option(
        False, "--fronts", help="One row per formula on each job's Pareto front."),
) -> None:
    """Print the results in a table, or export them (one row per job) to CSV or Parquet."""
    from ..datasets.tables import DataError, table_format, write_frame
    from .batch_export import result_rows
    from .jobs import describe

    if out:
        try:
            if out == "-":  # the table goes to the terminal without --out
                raise DataError(out)
            table_format(out)
        except DataError:
            fail(f"--out must end in .csv or .parquet, got {out}")
    db = _open(store)
    try:
        records = db.records()
    finally:
        db.close()
    rows = result_rows(records, fronts=fronts)
    if out:
        import pandas as pd

        frame = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["id"])
        try:
            write_frame(frame, out)
        except DataError as exc:
            fail(exc)
        typer.echo(f"wrote {len(rows)} rows to {out}", err=True)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{store}: {len(records)} jobs", title_justify="left")
    for col, justify in (("job", "left"), ("status", "left"), ("equation", "left"),
                         ("R²", "right"), ("time (s)", "right")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for rec in records:
        res = rec.result or {}
        r2 = res.get("r2")
        table.add_row(describe(rec.data, rec.settings), rec.status,
                      res.get("equation") or rec.error or "",
                      "" if r2 is None else f"{r2:.6g}",
                      "" if rec.wall_seconds is None else f"{rec.wall_seconds:.1f}")
    Console().print(table)
