"""Saved runs (symreg.io): save / load round trips, the PySR hall-of-fame file,
and from_pysr."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import sympy

import symreg
from symreg import SymbolicRegressor, from_pysr, load
from symreg.expression import Expression
from symreg.io import (
    FORMAT_VERSION,
    pysr_equation,
    read_pysr_hall_of_fame,
    read_run,
    save,
)
from symreg.pareto import Candidate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n: int = 120):
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"mass": rng.uniform(0.5, 3.0, n), "speed": rng.uniform(-2.0, 2.0, n)})
    y = 0.5 * X["mass"] * X["speed"] ** 2 + 0.1 * np.sin(3 * X["mass"])
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = _data()
    model = SymbolicRegressor(maxsize=12, time_budget=2.0, random_state=0,
                              operators=["+", "-", "*", "/", "square", "sin"])
    model.fit(X, y)
    return model, X, y


@pytest.fixture(scope="module")
def run_dir(fitted, tmp_path_factory):
    model, _, _ = fitted
    return save(model, tmp_path_factory.mktemp("runs") / "run", metadata={"target": "energy"})


def test_run_folder_files(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.json", "hall_of_fame.csv", "hall_of_fame_full.csv"} <= names
    doc = json.loads((run_dir / "model.json").read_text())
    assert doc["format"] == "symreg.model" and doc["format_version"] == FORMAT_VERSION
    assert doc["variable_names"] == ["mass", "speed"]
    assert doc["metadata"]["target"] == "energy"
    assert doc["metadata"]["symreg_version"] == symreg.__version__
    assert doc["operators"] == ["add", "sub", "mul", "div", "square", "sin"]
    assert "pickle" not in (run_dir / "model.json").read_text()


def test_load_round_trip(fitted, run_dir):
    model, X, _ = fitted
    loaded = symreg.load(run_dir)
    assert isinstance(loaded, SymbolicRegressor)
    assert np.array_equal(loaded.predict(X), model.predict(X), equal_nan=True)
    for i in range(len(model.equations_)):
        assert np.array_equal(loaded.predict(X, index=i), model.predict(X, index=i),
                              equal_nan=True)
    cols = ["complexity", "loss", "score", "equation"]
    pd.testing.assert_frame_equal(loaded.equations_[cols], model.equations_[cols])
    assert loaded.best_index_ == model.best_index_
    assert loaded.best_ == model.best_
    assert loaded.sympy() == model.sympy()
    assert loaded.latex() == model.latex()
    assert loaded.get_params() == model.get_params()
    assert list(loaded.feature_names_in_) == ["mass", "speed"]
    assert loaded.n_evals_ == model.n_evals_
    assert [c.expr for c in loaded.hall_of_fame_.candidates()] == \
        [c.expr for c in model.hall_of_fame_.candidates()]
    # the model file itself works too, and the method on the estimator is the same save
    assert np.array_equal(load(run_dir / "model.json").predict(X), model.predict(X),
                          equal_nan=True)


def test_loaded_model_can_be_refitted(run_dir):
    X, y = _data()
    loaded = load(run_dir).set_params(time_budget=1.0, max_evals=2000)
    loaded.fit(X, y)
    assert loaded.score(X, y) > 0.9


def test_save_method_and_overwrite(fitted, tmp_path):
    model, X, _ = fitted
    path = model.save(tmp_path / "again")
    path = model.save(path)  # an earlier run's files are replaced
    assert np.array_equal(load(path).predict(X), model.predict(X), equal_nan=True)


def test_save_refuses_a_file(fitted, tmp_path):
    model, _, _ = fitted
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        save(model, target)


def test_unfitted_model_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save(SymbolicRegressor(), tmp_path / "x")


def test_callable_loss_is_left_out_with_a_warning(fitted, tmp_path):
    model, _, _ = fitted
    clone = load(save(model, tmp_path / "a"))
    clone.loss = lambda yt, yp: np.mean(np.abs(yt - yp))
    with pytest.warns(UserWarning, match="loss"):
        path = save(clone, tmp_path / "b")
    assert read_run(path)["params_not_saved"] == ["loss"]
    assert load(path).loss == "mse"


def test_parameters_round_trip(fitted, tmp_path):
    model, _, _ = fitted
    clone = load(save(model, tmp_path / "a"))
    clone.set_params(proposers=["lies"], guesses=["mass*speed**2", Expression.parse("x0 + 1")],
                     model_selection="bic", n_jobs=2)
    params = load(save(clone, tmp_path / "b")).get_params()
    assert params["proposers"] == ["lies"]
    assert params["guesses"] == ["mass*speed**2", "x0 + 1.0"]
    assert params["model_selection"] == "bic" and params["n_jobs"] == 2


def test_non_finite_numbers_are_strict_json(fitted, tmp_path):
    model, _, _ = fitted
    clone = load(save(model, tmp_path / "a"))
    expr = Expression(["add", "x0", "C"], [np.inf])  # complexity 3
    clone.hall_of_fame_._best[3] = Candidate(expr, 1e300, 3)
    path = save(clone, tmp_path / "b")
    text = (path / "model.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    members = {c.complexity: c for c in load(path).hall_of_fame_.candidates()}
    assert members[3].expr.constants[0] == np.inf


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")
    (tmp_path / "model.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a symreg model"):
        load(tmp_path)
    (tmp_path / "model.json").write_text("not json")
    with pytest.raises(ValueError, match="not a symreg model"):
        load(tmp_path)
    (tmp_path / "model.json").write_text(
        json.dumps({"format": "symreg.model", "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ValueError, match="upgrade symreg"):
        load(tmp_path)
    (tmp_path / "model.json").write_text(
        json.dumps({"format": "symreg.model", "format_version": FORMAT_VERSION, "params": {}}))
    with pytest.raises(ValueError, match="damaged"):
        load(tmp_path)


def test_full_hall_of_fame_csv(fitted, run_dir):
    model, X, _ = fitted
    table = pd.read_csv(run_dir / "hall_of_fame_full.csv")
    assert list(table["complexity"]) == [c.complexity for c in model.hall_of_fame_.candidates()]
    assert table["on_front"].sum() == len(model.equations_)
    assert table["chosen"].sum() == 1
    # the tokens and constants columns rebuild each member exactly
    for _, row in table.iterrows():
        expr = Expression(row["tokens"].split(), json.loads(row["constants"]))
        parsed = Expression.parse(row["equation"], ["mass", "speed"])
        np.testing.assert_allclose(parsed.evaluate(X), expr.evaluate(X), rtol=1e-12)


def test_pysr_hall_of_fame_file(fitted, run_dir):
    model, X, _ = fitted
    lines = (run_dir / "hall_of_fame.csv").read_text().splitlines()
    assert lines[0] == "Complexity,Loss,Equation"
    assert len(lines) == 1 + len(model.equations_)
    table = read_pysr_hall_of_fame(run_dir)
    assert list(table["complexity"]) == list(model.equations_["complexity"])
    np.testing.assert_array_equal(table["loss"], model.equations_["loss"])
    mass, speed = sympy.symbols("mass speed")
    for text, expr in zip(table["equation"], model.equations_["expression"]):
        # as PySR reads it: sympify, variables by name
        f = sympy.lambdify((mass, speed), sympy.sympify(text, locals={"mass": mass,
                                                                      "speed": speed}))
        got = np.broadcast_to(f(X["mass"].to_numpy(), X["speed"].to_numpy()), (len(X),))
        np.testing.assert_allclose(got, expr.evaluate(X), rtol=1e-10, atol=1e-12)


def test_pysr_equation_folds_constant_arithmetic():
    expr = Expression(["add", "x0", "add", "C", "C"], [1.5, 2.0], ["a"])
    assert expr.to_string(precision=None) == "a + add(1.5, 2.0)"
    assert pysr_equation(expr) == "a + 3.5"
    assert pysr_equation(Expression(["add", "x0", "C"], [-2.0], ["a"])) == "a - 2.0"
    assert pysr_equation(Expression(["sub", "x0", "C"], [-2.0])) == "x0 + 2.0"


PYSR_HOF = '''Complexity,Loss,Equation
1,4.1,"x1"
3,0.9,"(x0 * 2.0f0)"
5,0.2,"((x0 * x1) * 0.4)"
7,0.0041,"(x0 * (x1 ^ 2)) * 5.0e-1"
8,0.003,"max(x0, x1) * x1"
11,0.001,"((x0 * square(x1)) * 0.49) + (sin(x0 * 2.9) * 0.1)"
'''


def _pysr_run(tmp_path, text=PYSR_HOF):
    run = tmp_path / "outputs" / "20240101_000000_abcdef"
    run.mkdir(parents=True)
    (run / "hall_of_fame.csv").write_text(text)
    return run


def test_from_pysr(tmp_path):
    X, y = _data()
    with pytest.warns(UserWarning, match="max"):  # symreg has no max operator
        model = from_pysr(_pysr_run(tmp_path), X, y)
    assert model.variable_names_ == ["mass", "speed"]
    # constants refitted: the full law is (nearly) exact, far better than PySR's 0.001
    assert model.equations_["loss"].min() < 1e-20
    assert "sin(" in str(model.best_)
    np.testing.assert_allclose(model.predict(X), y, rtol=1e-9, atol=1e-9)
    assert set(model.operators) == {"add", "mul", "square", "sin"}  # x1 ^ 2 is square
    # re-rank PySR's laws with another selection, export them, hand them to fit as guesses
    with pytest.warns(UserWarning, match=r"'max\(x0, x1\) \* x1' \(unknown function 'max'\)"):
        accurate = from_pysr(_pysr_run(tmp_path / "b"), X, y, model_selection="accuracy")
    assert accurate.best_index_ == len(accurate.equations_) - 1
    assert isinstance(model.latex(), str) and model.torch() is not None
    guesses = [str(e) for e in model.equations_["expression"]]
    refit = SymbolicRegressor(guesses=guesses, time_budget=1.0, max_evals=500,
                              random_state=0).fit(X, y)
    assert refit.score(X, y) > 0.999999


def test_from_pysr_with_feature_names(tmp_path):
    X, y = _data()
    text = ('Complexity,Loss,Equation\n'
            '7,0.01,"(mass * (speed ^ 2)) * 0.5"\n'
            '3,0.5,"mass * 1.2e-3"\n')
    model = from_pysr(_pysr_run(tmp_path, text), X.to_numpy(), y.to_numpy(),
                      variable_names=["mass", "speed"])
    assert model.variable_names_ == ["mass", "speed"]
    assert not hasattr(model, "feature_names_in_")
    assert model.predict(X.to_numpy()).shape == (len(X),)
    # the file may also be named directly
    direct = from_pysr(_pysr_run(tmp_path / "c", text) / "hall_of_fame.csv", X, y)
    assert len(direct.equations_) == len(model.equations_)


def test_from_pysr_reads_a_symreg_run(fitted, run_dir):
    model, X, y = fitted
    again = from_pysr(run_dir, X, y, operators=model.operators)
    assert list(again.equations_["complexity"]) == list(model.equations_["complexity"])
    # refitted constants are at least as good as the saved ones
    assert np.all(again.equations_["loss"].to_numpy()
                  <= model.equations_["loss"].to_numpy() * (1 + 1e-6) + 1e-12)


def test_from_pysr_errors(tmp_path):
    X, y = _data()
    with pytest.raises(FileNotFoundError):
        from_pysr(tmp_path / "nothing", X, y)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="hall_of_fame"):
        from_pysr(tmp_path / "empty", X, y)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="Complexity,Loss,Equation"):
        from_pysr(bad, X, y)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text('Complexity,Loss,Equation\n3,1.0,"relu(x0)"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="no equation"):
            from_pysr(unknown, X, y)
