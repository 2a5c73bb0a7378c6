"""benchmarks/bench_jobs.py: its summary and report, on made-up rows (no fits)."""

from __future__ import annotations


def _row(name, a, b):
    return {"problem": name,
            "1": {"seconds": a[0], "exact": a[1], "formula": "", "busy_cores": 0.0},
            "2": {"seconds": b[0], "exact": b[1], "formula": "", "busy_cores": 0.1}}


def test_summary_and_report(load_benchmark):
    bench = load_benchmark("bench_jobs")
    rows = [_row("A", (2.0, True), (1.0, True)), _row("B", (4.0, True), (4.0, True)),
            _row("C", (30.0, False), (12.0, True)), _row("D", (3.0, True), (30.0, False))]
    s = bench.summarize(rows, [1, 2])
    assert s["recovered"] == {"1": 3, "2": 3}
    assert s["n_recovered_by_all"] == 2
    assert s["median_seconds_recovered_by_all"] == {"1": 3.0, "2": 2.5}
    assert s["median_ratio"] == 0.75          # median of 0.5 and 1.0
    assert s["only"] == {"1": ["D"], "2": ["C"]}
    res = {"settings": {"jobs": [1, 2], "suite": "feynman", "time": 30.0, "seed": 0},
           "machine": {"date": "d", "command": "c", "cpu_model": "cpu", "cpu_cores": 2,
                       "cpu_cores_usable": 2, "python": "3", "torch": "2", "numpy": "2",
                       "torch_threads": 1, "sympy": "1"},
           "rows": rows, "summary": s}
    text = bench.format_report(res)
    assert "n_jobs=2: 3 recovered" in text and "recovered only here: C" in text
    assert "median per-law time ratio n_jobs=2 / n_jobs=1: 0.75" in text
