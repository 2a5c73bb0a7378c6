"""The evaluator benchmark script runs end to end (tiny sizes; this checks that
it runs and reports sensible figures, not how fast anything is)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_bench_evaluator_runs_with_tiny_sizes(tmp_path, load_benchmark):
    bench = load_benchmark("bench_evaluator")
    out = tmp_path / "bench.json"
    res = bench.main(["--n-exprs", "200", "--naive-subset", "50", "--b-exprs", "100",
                      "--b-points", "1000", "--repeats", "1", "--device", "cpu",
                      "--c-exprs", "60", "--c-points", "500", "--c-big-exprs", "10",
                      "--c-big-points", "3000", "--json", str(out), "--quiet"])

    assert {"machine", "a", "b", "c", "settings"} <= set(res)
    for key in ("date", "command", "cpu_model", "cpu_cores", "torch", "device", "torch_threads"):
        assert key in res["machine"], key
    assert res["machine"]["device"] == "cpu"

    a = res["a"]
    assert a["n_exprs"] == 200 and a["naive_subset"] == 50
    for key in ("symreg_candidates_per_s", "naive_candidates_per_s", "ratio",
                "symreg_seconds", "naive_seconds"):
        assert a[key] > 0, key
    assert 0.0 <= a["loss_agreement"] <= 1.0

    b = res["b"]
    assert b["n_exprs"] == 100 and b["n_points"] == 1000 and b["nodes"] > 0
    for key in ("symreg_share_true_node_rows_per_s", "symreg_share_false_node_rows_per_s",
                "naive_node_rows_per_s", "ratio_share_false", "ratio_share_true"):
        assert b[key] > 0, key
    assert 0 < b["operator_nodes_computed_shared"] <= b["operator_nodes"]

    cells = res["c"]["cells"]
    assert [(c["n_points"], c["dtype"]) for c in cells] == [
        (500, "float32"), (500, "float64"), (3000, "float32"), (3000, "float64")]
    for c in cells:
        assert c["n_exprs"] == (60 if c["n_points"] == 500 else 10)
        assert 0 < c["numpy_exprs"] <= c["n_exprs"] and 0 < c["numpy_nodes"] <= c["nodes"]
        for key in ("share_false_node_rows_per_s", "share_true_node_rows_per_s",
                    "numpy_node_rows_per_s", "ratio_share_false", "ratio_share_true"):
            assert c[key] > 0, key
    assert [c["target_ratio"] for c in cells] == [1.0, 1.0, 1.5, 1.5]

    assert json.loads(out.read_text())["a"]["n_exprs"] == 200
    report = bench.format_report(res)
    assert "candidates scored per second" in report and "ONE thread" in report


@pytest.mark.slow
def test_bench_evaluator_runs_one_part(load_benchmark):
    bench = load_benchmark("bench_evaluator")
    res = bench.main(["--parts", "c", "--c-exprs", "20", "--c-points", "300", "--c-big-exprs", "5",
                      "--c-big-points", "600", "--repeats", "1", "--device", "cpu", "--quiet"])
    assert "c" in res and "a" not in res and "b" not in res
    assert "candidates scored per second" not in bench.format_report(res)


@pytest.mark.slow
def test_bench_evaluator_cuda_skips_without_gpu(load_benchmark):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present; the skip path is not reachable")
    res = load_benchmark("bench_evaluator").main(["--device", "cuda", "--quiet"])
    assert "skipped" in res
