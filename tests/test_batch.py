"""Tests of batch discovery jobs: the jobs file, the SQLite store, the pools, the CLI.

Every job fits a tiny CSV of y = k·a·b, which the search solves exactly after a few dozen
evaluations, so a batch of 20 takes a few seconds on two workers. Tests that look at what the
jobs found bound them by ``max_evals`` (or let them stop at the exact law) with a generous time
budget, so that a busy machine changes how long they take, not what they find.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from symreg.app.batch import Job, load_jobs, run_batch
from symreg.app.cli import app
from symreg.app.store import SCHEMA_VERSION, JobStore, StoreError

# wide enough that rich does not wrap the tables (paths under tmp_path are long)
runner = CliRunner(env={"COLUMNS": "300"})
ROOT = Path(__file__).resolve().parents[1]


def _datasets(folder: Path, n: int, rows: int = 30, noise: float = 0.0) -> list[Path]:
    """``n`` CSVs with columns a, b, y = (k + 1)·a·b (+ noise)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        a, b = rng.uniform(1, 3, rows), rng.uniform(1, 3, rows)
        y = (k + 1) * a * b + noise * rng.normal(size=rows)
        path = folder / f"d{k:02d}.csv"
        pd.DataFrame({"a": a, "b": b, "y": y}).to_csv(path, index=False)
        paths.append(path)
    return paths


def _jobs_file(tmp_path: Path, text: str, name: str = "jobs.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def _rows(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as conn:
        return conn.execute("SELECT id, status, attempts, finished_at FROM jobs").fetchall()


# ----------------------------------------------------------------------------
# the jobs file
# ----------------------------------------------------------------------------

GRID = """
[defaults]
target = "y"
time = 0.5
[[jobs]]
data = "data/*.csv"
seeds = [0, 1]
[[jobs]]
data = ["data/d00.csv", "data"]
maxsize = 12
[jobs.grid]
operators = ["+,*", ["+", "*", "sin"]]
"""


def test_grid_expands_datasets_times_settings(tmp_path):
    _datasets(tmp_path / "data", 3)
    jobs = load_jobs(_jobs_file(tmp_path, GRID))
    # 3 files × 2 seeds, then (1 + 3 files, d00 twice: kept once) × 2 operator sets
    assert len(jobs) == 3 * 2 + 3 * 2
    assert len({j.id for j in jobs}) == len(jobs)
    assert all(j.target == "y" and j.settings["time_budget"] == 0.5 for j in jobs)
    assert {j.settings.get("seed") for j in jobs[:6]} == {0, 1}
    assert {tuple(j.settings["operators"]) for j in jobs[6:]} == {("+", "*"),
                                                                  ("+", "*", "sin")}
    assert all(Path(j.data).is_absolute() for j in jobs)


def test_grid_over_targets_in_a_folder_with_glob_characters(tmp_path):
    folder = tmp_path / "run[1]"
    paths = _datasets(folder / "data", 2)
    for path in paths:
        pd.read_csv(path).assign(z=1.0).to_csv(path, index=False)
    jobs = load_jobs(_jobs_file(folder, '[[jobs]]\ndata = "data/*.csv"\n'
                                        '[jobs.grid]\ntarget = ["y", "z"]\n'))
    assert [(Path(j.data).name, j.target) for j in jobs] == [
        ("d00.csv", "y"), ("d01.csv", "y"), ("d00.csv", "z"), ("d01.csv", "z")]


def test_ids_are_stable_and_alias_blind(tmp_path):
    _datasets(tmp_path / "data", 2)
    toml = _jobs_file(tmp_path, '[[jobs]]\ndata = "data/*.csv"\ntarget = "y"\ntime = 2\n'
                                'operators = "+, *"\n')
    yaml = _jobs_file(tmp_path, "jobs:\n  - data: data/*.csv\n    target: y\n"
                                "    time_budget: 2.0\n    operators: ['+', '*']\n", "jobs.yaml")
    a, b = load_jobs(toml), load_jobs(yaml)
    assert [j.id for j in a] == [j.id for j in b] == [j.id for j in load_jobs(toml)]
    other = Job(a[0].data, "y", {**a[0].settings, "seed": 3})
    assert other.id != a[0].id


@pytest.mark.parametrize("text, expected", [
    # a typo'd key: named, the close match suggested, the allowed keys listed
    ('[[jobs]]\ndata = "data/*.csv"\nmaxsixe = 10\n',
     ["'maxsixe'", "job entry 1", "did you mean 'maxsize'?", "allowed keys:", "operators"]),
    ('[defaults]\ntaget = "y"\n[[jobs]]\ndata = "data/*.csv"\n',
     ["'taget'", "[defaults]", "did you mean 'target'?"]),
    ('[[job]]\ndata = "data/*.csv"\n', ["'job'", "did you mean 'jobs'?", "defaults, jobs"]),
    ('[[jobs]]\ndata = "data/*.csv"\n[jobs.grid]\nseeed = [1, 2]\n',
     ["'seeed'", "grid", "did you mean 'seed'?"]),
    ('[[jobs]]\ndata = "data/nothing*.csv"\n', ["no file matches", "nothing*.csv"]),
    ('[[jobs]]\ndata = "data/missing.csv"\n', ["no such file", "missing.csv"]),
    ('[[jobs]]\ndata = "data/*.csv"\ntime = "long"\n', ["time", "a number", "'long'"]),
    ('[[jobs]]\ndata = "data/*.csv"\nseeds = [0, 1]\nmaxsize = 0\n', ["maxsize", ">= 1"]),
    ('[[jobs]]\ndata = "data/*.csv"\nseeds = 3\n', ["seeds", "non-empty list"]),
    ('[[jobs]]\ndata = "data/*.csv"\noperators = "+,frobnicate"\n', ["frobnicate"]),
    ('[[jobs]]\ndata = "data/*.csv"\ntarget = "z"\n', ["'z'", "not found", "a, b, y"]),
    ('[[jobs]]\ndata = "data/*.csv"\ntime = 1\ntime_budget = 2\n', ["time_budget twice"]),
    ('[[jobs]]\nmaxsize = 3\n', ["no 'data'"]),
    ("[defaults]\n", ["non-empty 'jobs' list"]),
    ('[[jobs]\ndata = "x"\n', ["not valid TOML"]),
])
def test_bad_jobs_file_is_one_line_exit_2(tmp_path, text, expected):
    _datasets(tmp_path / "data", 2)
    result = runner.invoke(app, ["batch", str(_jobs_file(tmp_path, text))])
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    for part in expected:
        assert part in line, line
    assert not (tmp_path / "jobs.db").exists()  # nothing ran, nothing was recorded


def test_bad_input_outside_the_jobs_file(tmp_path):
    _datasets(tmp_path / "data", 1)
    for args, part in ((["batch", str(tmp_path / "nope.toml")], "no such file"),
                       (["batch", str(tmp_path / "data" / "d00.csv")], "cannot tell the format"),
                       (["batch", "status", str(tmp_path / "nope.db")], "no such store"),
                       (["batch", str(tmp_path / "data"), "--seeds", "1,x"], "--seeds"),
                       (["batch", str(_jobs_file(tmp_path, '[[jobs]]\ndata="data"\n')),
                         "--time", "1"], "--time")):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert part in _one_error_line(result)
    yaml = _jobs_file(tmp_path, "jobs:\n  - data: [unclosed\n", "bad.yaml")
    result = runner.invoke(app, ["batch", str(yaml)])
    assert result.exit_code == 2
    assert "not valid YAML" in _one_error_line(result)


# ----------------------------------------------------------------------------
# the store
# ----------------------------------------------------------------------------

def test_store_schema_version_and_foreign_files(tmp_path):
    path = tmp_path / "s.db"
    store = JobStore(path)
    store.add_jobs([("a", "x.csv", "y", {"seed": 0})])
    assert store.add_jobs([("a", "x.csv", "y", {"seed": 0}), ("b", "x.csv", None, {})]) == 1
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer symreg"):
        JobStore(path)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="not a symreg job store"):
        JobStore(other)


def test_one_batch_at_a_time(tmp_path):
    _datasets(tmp_path / "data", 1)
    jobs_file = _jobs_file(tmp_path, '[[jobs]]\ndata = "data"\ntime = 0.5\n')
    holder = JobStore(tmp_path / "jobs.db")
    holder.lock()
    try:
        result = runner.invoke(app, ["batch", str(jobs_file)])
        assert result.exit_code == 2
        assert "another batch is running" in _one_error_line(result)
        assert holder.holder() is not None
    finally:
        holder.close()
    assert JobStore(tmp_path / "jobs.db").holder() is None


# ----------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------

def test_folder_of_csvs_status_and_results(tmp_path):
    _datasets(tmp_path / "data", 3)
    # the folder form has no --max-evals; with a generous budget each job ends at the exact
    # law (after a few dozen evaluations), not at a wall-clock deadline
    result = runner.invoke(app, ["batch", str(tmp_path / "data"), "--target", "y",
                                 "--time", "60", "--seeds", "0,1", "--workers", "2"])
    assert result.exit_code == 0, result.output
    store = tmp_path / "data.db"  # the default store of a folder sits beside it
    assert "6 done, 0 failed of 6 jobs" in result.stderr
    assert sorted(r[1] for r in _rows(store)) == ["done"] * 6

    again = runner.invoke(app, ["batch", "run", str(tmp_path / "data"), "--target", "y",
                                "--time", "60", "--seeds", "0,1"])
    assert again.exit_code == 0, again.output
    assert "6 of 6 jobs already finished" in again.stderr
    assert "(0 run now" in again.stderr

    status = runner.invoke(app, ["batch", "status", str(store)])
    assert status.exit_code == 0, status.output
    assert "6 jobs; no batch is running" in status.stdout
    assert "│ done    │    6 │" in status.stdout

    shown = runner.invoke(app, ["batch", "results", str(store)])
    assert shown.exit_code == 0, shown.output
    assert "d02.csv seed=1" in shown.stdout and "a*b" in shown.stdout

    csv, parquet = tmp_path / "r.csv", tmp_path / "r.parquet"
    for out in (csv, parquet):
        done = runner.invoke(app, ["batch", "results", str(store), "--out", str(out)])
        assert done.exit_code == 0, done.output
    table, table_pq = pd.read_csv(csv), pd.read_parquet(parquet)
    assert len(table) == len(table_pq) == 6
    assert list(table.columns) == list(table_pq.columns)
    assert table["id"].is_unique and set(table["status"]) == {"done"}
    assert sorted(table["seed"]) == [0, 0, 0, 1, 1, 1]
    assert (table["r2"] > 0.99).all() and table["equation"].str.contains("a").all()
    assert table["loss"].dtype.kind == "f" and "loss_function" in table.columns
    assert (table["n_evals"] > 0).all() and (table["wall_seconds"] > 0).all()

    fronts = runner.invoke(app, ["batch", "results", str(store), "--fronts", "--out", str(csv)])
    assert fronts.exit_code == 0, fronts.output
    front = pd.read_csv(csv)
    assert front["id"].nunique() == 6 and front.groupby("id")["chosen"].sum().eq(1).all()
    assert {"complexity", "loss", "score"} <= set(front.columns)

    bad = runner.invoke(app, ["batch", "results", str(store), "--out", str(tmp_path / "r.txt")])
    assert bad.exit_code == 2 and ".csv or .parquet" in _one_error_line(bad)


def test_failed_jobs_are_rows_and_can_be_retried(tmp_path):
    data = _datasets(tmp_path / "data", 2)
    # three rows: readable, but too few to fit (a failure of the job, not of the batch)
    pd.read_csv(data[1]).head(3).to_csv(data[1], index=False)
    jobs_file = _jobs_file(tmp_path, '[[jobs]]\ndata = "data"\ntime = 0.5\n')
    store = tmp_path / "s.db"
    result = runner.invoke(app, ["batch", str(jobs_file), "--store", str(store)])
    assert result.exit_code == 1, result.output  # some jobs failed
    assert "1 done, 1 failed of 2 jobs" in result.stderr
    assert "d01.csv" in result.stderr and "need at least 5 samples" in result.stderr
    jobs = load_jobs(jobs_file)
    db = JobStore(store)
    failed = db.records("failed")
    assert len(failed) == 1 and failed[0].data == str(data[1])
    assert failed[0].error.startswith("ValueError: need at least 5 samples")
    assert "Traceback" in failed[0].traceback
    db.close()

    result = runner.invoke(app, ["batch", "status", str(store)])
    assert "need at least 5 samples" in result.stdout

    # a re-run leaves the failure alone; --retry-failed runs it again
    assert run_batch(jobs, store).ran == 0
    _datasets(tmp_path / "data", 2)  # repaired
    summary = run_batch(jobs, store, retry_failed=True)
    assert (summary.done, summary.failed, summary.ran) == (2, 0, 1)


def test_timeout_kills_the_job(tmp_path):
    _datasets(tmp_path / "data", 1, noise=0.1)  # never exact: the search would use its 30 s
    jobs = load_jobs(_jobs_file(tmp_path, '[[jobs]]\ndata = "data"\ntime = 30\ntimeout = 1\n'))
    start = time.monotonic()
    summary = run_batch(jobs, tmp_path / "s.db")
    assert time.monotonic() - start < 20
    assert summary.failed == 1
    record = JobStore(tmp_path / "s.db").records()[0]
    assert record.error.startswith("timed out") and record.status == "failed"


def test_interrupt_kills_running_jobs_and_keeps_finished_ones(tmp_path):
    _datasets(tmp_path / "data", 6)
    jobs = load_jobs(_jobs_file(tmp_path, '[[jobs]]\ndata = "data"\ntime = 0.5\n'))
    store = tmp_path / "s.db"
    running_pids: list[int] = []
    done_then: list[int] = []

    def interrupt(progress):
        if progress.done >= 2 and progress.running:
            done_then.append(progress.done)
            with sqlite3.connect(store) as conn:
                running_pids.extend(p for (p,) in conn.execute(
                    "SELECT pid FROM jobs WHERE status='running'"))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(jobs, store, workers=2, on_progress=interrupt)
    statuses = sorted(r[1] for r in _rows(store))
    assert statuses.count("done") == done_then[0] and "running" not in statuses
    assert statuses.count("pending") == 6 - done_then[0]
    assert running_pids and all(not _alive(p) for p in running_pids)

    summary = run_batch(jobs, store, workers=2)
    assert (summary.done, summary.ran) == (6, 6 - done_then[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its reaper has stopped running
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigkill_part_way_then_resume_gives_exactly_20_results(tmp_path):
    _datasets(tmp_path / "data", 20)
    jobs_file = _jobs_file(tmp_path, '[defaults]\ntarget = "y"\ntime = 60\nmax_evals = 2000\n'
                                     '[[jobs]]\ndata = "data/*.csv"\n')
    store = tmp_path / "jobs.db"
    proc = subprocess.Popen([sys.executable, "-m", "symreg", "batch", str(jobs_file),
                             "--workers", "2"], cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        done: list[tuple] = []
        while time.monotonic() < deadline and proc.poll() is None:
            if store.exists():
                try:
                    done = [r for r in _rows(store) if r[1] == "done"]
                except sqlite3.OperationalError:  # the schema is being created
                    done = []
                if len(done) >= 3:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {r[0]: r for r in _rows(store) if r[1] == "done"}
    assert 3 <= len(before) < 20
    assert len(_rows(store)) == 20  # every job was recorded up front

    result = runner.invoke(app, ["batch", str(jobs_file), "--workers", "2"])
    assert result.exit_code == 0, result.output
    after = _rows(store)
    assert len(after) == 20 and len({r[0] for r in after}) == 20
    assert all(r[1] == "done" for r in after)
    # the jobs that had finished were not run again
    for jid, row in before.items():
        assert next(r for r in after if r[0] == jid) == row
    assert f"{len(before)} of 20 jobs already finished" in result.stderr
    with sqlite3.connect(store) as conn:
        results = [json.loads(r) for (r,) in conn.execute("SELECT result FROM jobs")]
    assert all(r["r2"] > 0.99 and r["front"] for r in results)


def test_the_same_batch_on_a_local_ray_instance(tmp_path):
    pytest.importorskip("ray")
    _datasets(tmp_path / "data", 20)
    # bounded by evaluations, not seconds: Ray's start-up on a busy machine changes nothing
    jobs = load_jobs(_jobs_file(tmp_path, '[defaults]\ntarget = "y"\ntime = 60\n'
                                          'max_evals = 2000\n[[jobs]]\ndata = "data/*.csv"\n'))
    store = tmp_path / "ray.db"
    seen: list[int] = []
    summary = run_batch(jobs, store, ray="local", workers=2,
                        on_progress=lambda p: seen.append(p.done))
    assert (summary.total, summary.done, summary.failed) == (20, 20, 0)
    assert seen[-1] == 20
    rows = _rows(store)
    assert len(rows) == 20 and {r[1] for r in rows} == {"done"}
    records = JobStore(store).records()
    assert all(r.result["r2"] > 0.99 and r.pid != os.getpid() for r in records)



def test_a_relative_folder_and_jobs_file(tmp_path, monkeypatch):
    """``symreg batch data/`` as the README writes it: a folder relative to the working
    directory (its files were once joined to the folder twice: data/data/d00.csv)."""
    _datasets(tmp_path / "data", 2)
    _jobs_file(tmp_path, '[[jobs]]\ndata = "data/*.csv"\ntarget = "y"\n')
    monkeypatch.chdir(tmp_path)
    for source, defaults in (("data/", {"target": "y"}), ("data", None), ("jobs.toml", None)):
        jobs = load_jobs(source, defaults)
        assert [Path(j.data) for j in jobs] == [tmp_path / "data" / "d00.csv",
                                                tmp_path / "data" / "d01.csv"], source
