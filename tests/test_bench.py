"""The benchmark harness: problem selection, one process per task, failures as
rows, resumable output, summary, files and plot (with stand-in methods from
bench_fakes.py; the real peers are tested in test_bench_methods.py)."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from symreg.app.cli import app
from symreg.bench.methods import get_method
from symreg.bench.report import plot_results, summarize, write_results
from symreg.bench.runner import BenchConfig, machine_summary, run_bench, select_problems

FAKE = "bench_fakes"


def test_select_problems_seeded_subset():
    a = [p.name for p in select_problems("feynman", limit=20, seed=0)]
    b = [p.name for p in select_problems("feynman", limit=20, seed=0)]
    c = [p.name for p in select_problems("feynman", limit=20, seed=1)]
    assert a == b and a != c and len(a) == 20 == len(set(a))
    order = [p.name for p in select_problems("feynman")]
    assert a == [n for n in order if n in set(a)]  # table order kept
    assert len(select_problems("nguyen", limit=50)) == 12
    names = [p.name for p in select_problems("nguyen", names=["Nguyen-8", "Nguyen-1"])]
    assert names == ["Nguyen-1", "Nguyen-8"]
    with pytest.raises(ValueError, match="not in suite 'nguyen': Nguyen-99"):
        select_problems("nguyen", names=["Nguyen-99"])
    with pytest.raises(ValueError, match="unknown suite"):
        select_problems("nope")


def test_custom_method_spec():
    m = get_method(f"{FAKE}:Cubic")
    assert m.name == f"{FAKE}:Cubic" and m.missing() is None
    with pytest.raises(ValueError, match="cannot load method"):
        get_method("no_such_module:X")
    with pytest.raises(ValueError, match="not a symreg.bench.methods.Method"):
        get_method("json:dumps")
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        get_method("nope")


def test_failures_are_rows_and_work_is_kept(tmp_path):
    methods = [f"{FAKE}:{c}" for c in ("Cubic", "Raises", "Dies", "Hangs", "Garbage")]
    cfg = BenchConfig(suite="nguyen", problems=["Nguyen-1", "Nguyen-8"], methods=methods,
                      time_budget=0.5, workers=4, grace=6.0, symbolic_timeout=2.0,
                      out_dir=str(tmp_path / "run"))
    seen = []
    start = time.monotonic()
    rows = run_bench(cfg, on_row=seen.append)
    assert time.monotonic() - start < 90
    assert len(rows) == 10 and len(seen) == 10
    by = {(r["problem"], r["method"].split(":")[1]): r for r in rows}
    # rows come back in task order whatever order they finished in
    assert [(r["problem"], r["method"]) for r in rows] == [
        (p, m) for p in ("Nguyen-1", "Nguyen-8") for m in methods]

    ok = by[("Nguyen-1", "Cubic")]
    assert ok["status"] == "ok" and ok["solution"] and ok["exact"]
    assert ok["r2_test"] > 0.999999 and ok["size"] > 0 and ok["fit_seconds"] >= 0
    assert ok["n_train"] == 20 and ok["n_test"] == 1000
    wrong = by[("Nguyen-8", "Cubic")]
    assert wrong["status"] == "ok" and not wrong["solution"] and wrong["r2_test"] < 0.999

    assert by[("Nguyen-1", "Raises")]["status"] == "error"
    assert "always fails" in by[("Nguyen-1", "Raises")]["message"]
    assert by[("Nguyen-1", "Dies")]["status"] == "error"
    assert "exit code 3" in by[("Nguyen-1", "Dies")]["message"]
    assert by[("Nguyen-1", "Hangs")]["status"] == "timeout"
    assert by[("Nguyen-1", "Garbage")]["status"] == "error"

    lines = (tmp_path / "run" / "rows.jsonl").read_text().splitlines()
    assert len(lines) == 10

    # resume: finished tasks are not run again (Hangs would take its full deadline)
    start = time.monotonic()
    again = run_bench(cfg, resume=True)
    assert time.monotonic() - start < 5
    assert [r["status"] for r in again] == [r["status"] for r in rows]

    summary = {s["method"].split(":")[1]: s for s in summarize(rows)}
    assert summary["Cubic"]["solution_rate"] == 0.5 and summary["Cubic"]["r2_rate"] == 0.5
    assert summary["Cubic"]["failed"] == 0 and summary["Hangs"]["failed"] == 2
    assert summary["Raises"]["median_time"] is None

    paths = write_results(tmp_path / "run", rows, {"suite": "nguyen"}, machine_summary())
    data = json.loads(paths["json"].read_text())
    assert len(data["rows"]) == 10 and data["summary"][0]["method"] == methods[0]
    assert paths["csv"].read_text().count("\n") == 11
    png = plot_results(rows, tmp_path / "run" / "plot.png", title="test")
    assert png.stat().st_size > 5000


def test_cli_bench(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["bench", "--list"])
    assert res.exit_code == 0 and "feynman_bonus" in res.output and "strogatz" in res.output
    res = runner.invoke(app, ["bench", "nope"])
    assert res.exit_code == 2 and "unknown suite" in res.output
    res = runner.invoke(app, ["bench", "nguyen", "--methods", "symreg,nope"])
    assert res.exit_code == 2 and "unknown method 'nope'" in res.output
    out = tmp_path / "cli"
    res = runner.invoke(app, ["bench", "nguyen", "--problems", "Nguyen-1",
                              "--methods", f"{FAKE}:Cubic", "--time", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "100%" in res.output  # solution rate in the summary table
    for name in ("rows.jsonl", "results.csv", "results.json", "summary.csv", "plot.png"):
        assert (out / name).exists(), name
