"""The uniform sampling boxes of the ODE-Strogatz problems
(``symreg/datasets/data/strogatz_boxes.csv``, derived by
``benchmarks/derive_strogatz_boxes.py``): one box per system, finite
right-hand sides on it (the formulas of the shared Strogatz table, skipped
when that table is not there), no pole inside, and trajectories from the
documented initial conditions spend most of their time inside."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from symreg.datasets import load_problem

ROOT = Path(__file__).resolve().parents[1]
BOXES = ROOT / "symreg" / "datasets" / "data" / "strogatz_boxes.csv"
SYSTEMS = ["bacres", "barmag", "glider", "lv", "predprey", "shearflow", "vdp"]
# the Strogatz table (name, formula, variables): the shared one, in the
# checkout or next to it, else the packaged copy
TABLE_PATHS = [
    ROOT / "shared" / "benchmarks" / "strogatz.csv",
    ROOT.parent / "shared" / "benchmarks" / "strogatz.csv",
    ROOT / "symreg" / "datasets" / "data" / "strogatz.csv",
]

@pytest.fixture(scope="module")
def derive(load_benchmark):
    return load_benchmark("derive_strogatz_boxes")


@pytest.fixture(scope="module")
def boxes():
    with open(BOXES, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    return reader.fieldnames, rows


@pytest.fixture(scope="module")
def table():
    path = next((p for p in TABLE_PATHS if p.is_file()), None)
    if path is None:
        pytest.skip("no Strogatz table (shared/benchmarks/strogatz.csv) found")
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["name"]: r["formula"] for r in csv.DictReader(fh)}


def _box(boxes, system):
    row = next(r for r in boxes[1] if r["system"] == system)
    return {k: float(row[k]) for k in ("x_low", "x_high", "y_low", "y_high")}


def test_csv_has_one_box_per_system(boxes, derive):
    fieldnames, rows = boxes
    assert fieldnames == ["system", "x_low", "x_high", "y_low", "y_high", "note"]
    assert sorted(r["system"] for r in rows) == SYSTEMS
    for r in rows:
        b = _box(boxes, r["system"])
        assert all(math.isfinite(v) for v in b.values()), r
        assert b["x_low"] < b["x_high"] and b["y_low"] < b["y_high"], r
        assert r["note"] == derive.SYSTEMS[r["system"]].note
    # the reader of the script agrees
    assert derive.read_boxes(BOXES)["vdp"]["x_low"] == _box(boxes, "vdp")["x_low"]


def test_script_formulas_are_the_table(derive, table):
    for system in SYSTEMS:
        assert derive.FORMULAS[system] == (
            table[f"strogatz_{system}1"],
            table[f"strogatz_{system}2"],
        )


@pytest.mark.parametrize("system", SYSTEMS)
def test_rhs_finite_and_moderate_on_the_box(boxes, table, system):
    b = _box(boxes, system)
    rng = np.random.default_rng(2024)
    x = rng.uniform(b["x_low"], b["x_high"], 2000)
    y = rng.uniform(b["y_low"], b["y_high"], 2000)
    for k in (1, 2):
        # the packaged problem's own evaluation of the formula (sympy lambdify)
        f = load_problem(f"strogatz_{system}{k}").evaluate(np.column_stack([x, y]))
        assert np.all(np.isfinite(f)), (system, k)
        assert np.max(np.abs(f)) < 1e3, (system, k, np.max(np.abs(f)))


def test_boxes_keep_off_the_poles(boxes):
    # glider: cos(y)/x, pole at x = 0
    assert _box(boxes, "glider")["x_low"] >= 0.2
    # predprey: y/(1+x), pole at x = -1
    assert _box(boxes, "predprey")["x_low"] > -1
    # shearflow: cot(y), poles at multiples of pi; the box lies inside one strip
    b = _box(boxes, "shearflow")
    k = math.floor(b["y_low"] / math.pi)
    assert b["y_low"] - k * math.pi >= 0.1 and (k + 1) * math.pi - b["y_high"] >= 0.1


def test_nice_interval(derive):
    assert derive.nice_interval(-0.194, 1.0, (-math.inf, math.inf)) == (-0.2, 1.0)
    assert derive.nice_interval(0.488, 7.24, (-math.inf, math.inf)) == (0.0, 7.5)
    # the step would carry the bound past its limit: a fifth of the step instead
    assert derive.nice_interval(0.488, 7.24, (0.2, math.inf)) == (0.4, 7.5)
    assert derive.nice_interval(0.19, 2.95, (0.1, math.pi - 0.1)) == (0.15, 3.0)
    # ... and never past the limit
    assert derive.nice_interval(0.01, 3.2, (0.1, math.pi - 0.1)) == (0.1, 3.0)


@pytest.mark.parametrize("wgn_literal", [False, True], ids=["wgn-dBW", "wgn-literal"])
@pytest.mark.parametrize("system", SYSTEMS)
def test_trajectories_spend_most_time_in_the_box(derive, boxes, system, wgn_literal):
    # 8 fresh trajectories (another seed than the derivation's), states every 0.01
    runs = derive.simulate(system, 8, seed=12345, wgn_literal=wgn_literal)
    b = _box(boxes, system)
    per_trajectory = np.array([derive.inside(s, b).mean() for s, _ in runs])
    pooled = np.concatenate([derive.inside(s, b) for s, _ in runs]).mean()
    assert pooled >= 0.8, (system, pooled, per_trajectory)
    assert np.median(per_trajectory) >= 0.8, (system, per_trajectory)


@pytest.mark.slow
def test_shipped_file_is_reproduced(derive):
    assert derive.main(["--check"]) == 0
