"""symreg.datasets: the shipped suites, sampling, and user tables."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sympy

from symreg.datasets import DataError, list_suites, load_csv, load_parquet, load_problem, load_suite
from symreg.datasets.suites import ALIASES
from symreg.expression import Expression

DATA = Path(__file__).resolve().parents[1] / "symreg" / "datasets" / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def all_problems():
    return [p for s in list_suites() for p in load_suite(s)]


def test_suite_sizes():
    sizes = {s: len(load_suite(s)) for s in list_suites()}
    assert sizes["feynman"] == 100
    assert sizes["feynman_bonus"] == 20
    assert sizes["strogatz"] == 14
    assert sizes["nguyen"] == 12
    assert sizes["nguyen_c"] == 6
    assert sizes["korns"] == 15
    assert sizes["koza"] == 3
    assert sizes["keijzer"] == 15
    assert sizes["constant"] == 8
    assert sizes["r"] == 6
    assert [p.name for p in load_suite("nguyen")] == [f"Nguyen-{i}" for i in range(1, 13)]
    assert all(n > 0 for n in sizes.values())


def test_unknown_suite_names_the_choices():
    with pytest.raises(ValueError, match="unknown suite 'nope'.*feynman"):
        load_suite("nope")
    with pytest.raises(ValueError, match="no benchmark problem"):
        load_problem("Nguyen-99")
    assert load_suite("Feynman-Bonus")[0].suite == "feynman_bonus"


def _table_names() -> set[str]:
    names = set()
    for f in ("feynman_equations.csv", "feynman_bonus_equations.csv"):
        with open(DATA / f, encoding="utf-8-sig", newline="") as fh:
            names |= {r["Filename"] for r in csv.DictReader(fh) if r["Filename"].strip()}
    for f in ("gp_benchmarks.csv", "gp_benchmarks_dso_2021.csv", "gp_benchmarks_pts.csv",
              "strogatz.csv"):
        with open(DATA / f, newline="") as fh:
            names |= {r["name"] for r in csv.DictReader(fh)}
    return names


def test_every_table_row_is_a_problem():
    loaded = [p.name for p in all_problems()]
    assert len(loaded) == len(set(loaded)), "a problem is in two suites"
    missing = _table_names() - set(loaded) - set(ALIASES)
    assert not missing
    assert set(ALIASES.values()) <= set(loaded)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/benchmarks not beside the checkout")
def test_shipped_tables_are_the_shared_ones():
    for f in SHARED.iterdir():
        assert (DATA / f.name).read_bytes() == f.read_bytes(), f.name


def test_every_problem_samples_finite_data():
    for p in all_problems():
        s = p.sample(seed=0)
        d = p.n_variables
        assert s.X_train.shape == (len(s.y_train), d) and s.X_test.shape == (len(s.y_test), d)
        assert len(s.y_train) >= 10 and len(s.y_test) >= 10, p.name
        for a in s:
            assert np.all(np.isfinite(a)), p.name
        for i, v in enumerate(p.variables):
            assert v.low <= s.X_train[:, i].min() and s.X_train[:, i].max() <= v.high + 1e-9


def _same(a: sympy.Expr, b: sympy.Expr) -> bool:
    return a == b or sympy.simplify(a - b) == 0


def test_every_formula_round_trips_through_expression():
    failures = []
    rng = np.random.default_rng(0)
    for p in all_problems():
        e = Expression.parse(p.formula, variable_names=p.variable_names)
        if not _same(e.sympy(), p.truth):
            failures.append(f"{p.name}: {e.sympy()} != {p.truth}")
            continue
        back = Expression.from_sympy(p.truth, variable_names=p.variable_names)
        X = p.sample(n=50, seed=1).X_train[rng.permutation(50)[:20]]
        with np.errstate(all="ignore"):
            ours, theirs = back.evaluate(X), p.evaluate(X)
        # lambdify and the Expression evaluator round differently; where a formula
        # is ill-conditioned (sin of exp(exp(x3))/...) a point may differ, so most
        # points, not all, must agree
        close = np.isclose(ours, theirs, rtol=1e-8, atol=1e-10)
        if close.mean() < 0.9:
            failures.append(f"{p.name}: from_sympy evaluates differently")
    assert not failures, "\n".join(failures)


def test_sampling_is_reproducible_and_seeded():
    p = load_problem("I.6.2a")
    a, b = p.sample(n=100, seed=3), p.sample(n=100, seed=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = p.sample(n=100, seed=4)
    assert not np.array_equal(a.X_train, c.X_train)
    # independent of what was sampled before
    load_problem("I.6.2").sample(seed=3)
    np.testing.assert_array_equal(p.sample(n=100, seed=3).X_train, a.X_train)
    assert a.X_train.shape == (100, 1)
    assert p.sample().X_train.shape == (1000, 1)


def test_noise_on_training_target_only():
    p = load_problem("I.12.1")
    clean = p.sample(n=2000, seed=0)
    noisy = p.sample(n=2000, noise=0.1, seed=0)
    np.testing.assert_array_equal(clean.X_train, noisy.X_train)
    np.testing.assert_array_equal(clean.y_test, noisy.y_test)
    np.testing.assert_array_equal(clean.y_train, p.evaluate(clean.X_train))
    resid = noisy.y_train - clean.y_train
    rms = np.sqrt(np.mean(clean.y_train**2))
    assert 0.09 < resid.std() / rms < 0.11
    with pytest.raises(ValueError, match="noise"):
        p.sample(noise=-1)
    with pytest.raises(ValueError, match="at least 1"):
        p.sample(n=0)


def test_table_specs():
    n7 = load_problem("Nguyen-7")
    assert (n7.variables[0].low, n7.variables[0].high) == (0.0, 2.0)  # DSO table, not PTS
    s = n7.sample()
    assert s.X_train.shape == (20, 1) and s.X_test.shape == (1000, 1)
    k6 = load_problem("Keijzer-6")  # grids: x = 1..50 train, 1..120 test
    s = k6.sample()
    np.testing.assert_array_equal(s.X_train[:, 0], np.arange(1, 51))
    assert s.X_test.shape == (120, 1)
    r1 = load_problem("R1")  # "E": [-1, 1, 20] means 20 even points
    np.testing.assert_allclose(r1.sample().X_train[:, 0], np.linspace(-1, 1, 20))
    assert "even points" in r1.notes
    k11 = load_problem("Keijzer-11")  # a 601 x 601 test grid is subsampled
    assert k11.sample().X_test.shape == (10_000, 2)
    k5 = load_problem("Keijzer-5")  # per-variable ranges
    assert [(v.low, v.high) for v in k5.variables] == [(-1, 1), (-1, 1), (1, 2)]
    # n for a grid problem: uniform points over its ranges
    assert k6.sample(n=30).X_train.shape == (30, 1)
    koza1 = load_problem("Koza-1")
    assert koza1.truth == load_problem("Nguyen-2").truth
    np.testing.assert_allclose(load_problem("Neat-6").evaluate(np.array([[1.0], [3.0]])),
                               [1.0, 1 + 1 / 2 + 1 / 3])


def test_feynman_variables_and_positivity():
    p = load_problem("I.6.2")
    assert p.variable_names == ["sigma", "theta"]
    assert p.positive == ["sigma", "theta"]
    assert p.truth.free_symbols == {sympy.Symbol("sigma"), sympy.Symbol("theta")}
    # a row whose "# variables" column is wrong: the v*_name columns decide
    p = load_problem("I.18.12")
    assert p.n_variables == len(p.truth.free_symbols)
    assert load_problem("Nguyen-1").positive == []


def test_strogatz_boxes_documented():
    for p in load_suite("strogatz"):
        assert p.variable_names == ["x", "y"]
        assert "box" in p.notes
        assert all(v.low < v.high for v in p.variables)


def test_problems_pickle():
    p = load_problem("II.6.15a")
    p.evaluate(np.ones((2, p.n_variables)))  # fills the compiled-formula cache
    q = pickle.loads(pickle.dumps(p))
    assert q.name == p.name and q.truth == p.truth
    np.testing.assert_array_equal(q.sample(n=10).X_train, p.sample(n=10).X_train)


# ----------------------------------------------------------------------------
# user tables
# ----------------------------------------------------------------------------

def test_load_csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,2,3\n4,5,9\n")
    X, y = load_csv(path, target="y")
    assert list(X.columns) == ["a", "b"] and y.tolist() == [3, 9]
    X, y = load_csv(path)  # the last column by default
    assert y.name == "y"
    X, y = load_csv(path, target="a")
    assert list(X.columns) == ["b", "y"]


@pytest.mark.parametrize("content,target,message", [
    (None, "y", "no such file"),
    ("", "y", "no data in"),
    ("a,y\n", "y", "no rows in"),
    ("a,y\n1,2\n", "z", "target column 'z' not found .* columns are: a, y"),
    ("a,y\nx,2\n", "y", "non-numeric column"),
    ("y\n1\n2\n", "y", "no feature columns"),
    ('a,y\n1,"2\n', "y", "cannot read"),
])
def test_load_csv_errors(tmp_path, content, target, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        load_csv(path, target=target)
    assert "\n" not in str(info.value)


def test_load_csv_directory(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        load_csv(tmp_path)


def test_load_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "t": [0.5, 0.25, 0.125], "y": [2.0, 4.0, 6.0]})
    path = tmp_path / "d.parquet"
    df.to_parquet(path)
    X, y = load_parquet(path, target="y")
    assert list(X.columns) == ["x", "t"] and y.tolist() == [2.0, 4.0, 6.0]
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet at all")
    with pytest.raises(DataError, match="cannot read .* as Parquet"):
        load_parquet(bad, target="y")
