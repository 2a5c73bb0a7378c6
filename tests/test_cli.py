"""Tests of the ``symreg`` command line (symreg.app.cli)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from symreg.app.cli import app

ROOT = Path(__file__).resolve().parents[1]
KEPLER = ROOT / "examples" / "data" / "kepler.csv"

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def test_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    assert "fit" in result.output
    assert "info" in result.output


def test_fit_help():
    result = runner.invoke(app, ["fit", "--help"])
    assert result.exit_code == 0, result.output
    assert "--target" in result.output


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    result = runner.invoke(app, ["fit", str(missing), "--target", "y"])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "nope.csv" in line


def test_unknown_target_column():
    result = runner.invoke(app, ["fit", str(KEPLER), "--target", "mass"])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "mass" in line
    assert "semi_major_axis" in line  # the message lists the columns that exist


def test_non_numeric_column(tmp_path):
    path = tmp_path / "bodies.csv"
    path.write_text("body,a,period\nEarth,1.0,1.0\nMars,1.524,1.881\nJupiter,5.203,11.86\n")
    result = runner.invoke(app, ["fit", str(path), "--target", "period"])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "body" in line


def test_unknown_target_from_stdin():
    result = runner.invoke(app, ["fit", "-", "--target", "z"], input="x,y\n1,2\n3,4\n")
    assert result.exit_code == 2
    _one_error_line(result)


@pytest.fixture(scope="module")
def kepler_run(tmp_path_factory):
    """End to end: Kepler's third law (period = a**1.5) from the shipped data, saved."""
    out = tmp_path_factory.mktemp("runs") / "kepler"
    # bounded by evaluations with a generous budget: what it finds does not depend on how
    # busy the machine is
    result = runner.invoke(app, ["fit", str(KEPLER), "--target", "period", "--time", "60",
                                 "--max-evals", "1000", "--maxsize", "12", "--json",
                                 "--out", str(out)])
    return result, out


def test_fit_kepler_json(kepler_run):
    result, out = kepler_run
    assert result.exit_code == 0, result.output + (
        "" if result.exception is None else repr(result.exception)
    )
    payload = json.loads(result.stdout)
    assert isinstance(payload["equations"], list) and payload["equations"]
    for eq in payload["equations"]:
        assert {"complexity", "loss", "score", "equation"} <= set(eq)
    assert isinstance(payload["best"], str)
    assert payload["r2"] > 0.99
    assert payload["run_dir"] == str(out)
    assert payload["interrupted"] is False
    for name in ("model.json", "hall_of_fame.csv", "hall_of_fame_full.csv",
                 "pareto_front.png", "predicted_vs_observed.png"):
        assert name in payload["files"]
        assert (out / name).stat().st_size > 0, name


def test_saved_run_metadata_and_plots(kepler_run):
    _, out = kepler_run
    from symreg.io import read_run

    meta = read_run(out)["metadata"]
    assert meta["target"] == "period"
    assert meta["data"] == str(KEPLER)
    assert meta["n_samples"] == 19
    assert meta["r2_train"] > 0.99
    for png in ("pareto_front.png", "predicted_vs_observed.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width >= 600 and height >= 500, (png, width, height)


def test_predict_matches_python(kepler_run, tmp_path):
    """The saved run predicts the same from Python (symreg.load) and from `symreg predict`."""
    import numpy as np
    import pandas as pd

    import symreg

    _, out = kepler_run
    model = symreg.load(out)
    table = pd.read_csv(KEPLER)
    expected = model.predict(table[["semi_major_axis"]])

    result = runner.invoke(app, ["predict", str(out), str(KEPLER)])
    assert result.exit_code == 0, result.output
    printed = pd.read_csv(io.StringIO(result.stdout))
    assert list(printed.columns) == ["semi_major_axis", "period", "predicted_period"]
    assert np.array_equal(printed["predicted_period"].to_numpy(), expected)

    # to a file, from stdin, without the target column, and another row of the front
    features = table[["semi_major_axis"]].to_csv(index=False)
    dest = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(out), "-", "--out", str(dest), "--index", "0"],
                           input=features)
    assert result.exit_code == 0, result.output
    written = pd.read_csv(dest)
    assert np.array_equal(written["predicted_period"].to_numpy(),
                          model.predict(table[["semi_major_axis"]], index=0))


def test_predict_bad_input(kepler_run, tmp_path):
    _, out = kepler_run
    result = runner.invoke(app, ["predict", str(tmp_path / "norun"), str(KEPLER)])
    assert result.exit_code == 2
    assert "norun" in _one_error_line(result)

    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["predict", str(out), str(other)])
    assert result.exit_code == 2
    assert "semi_major_axis" in _one_error_line(result)

    text = tmp_path / "text.csv"
    text.write_text("semi_major_axis\nfar\nnear\n")
    result = runner.invoke(app, ["predict", str(out), str(text)])
    assert result.exit_code == 2
    assert "non-numeric" in _one_error_line(result)

    result = runner.invoke(app, ["predict", str(out), str(KEPLER), "--index", "99"])
    assert result.exit_code == 2
    assert "out of range" in _one_error_line(result)


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = runner.invoke(app, ["fit", str(empty), "--target", "y"])
    assert result.exit_code == 2
    assert "empty.csv" in _one_error_line(result)
    header_only = tmp_path / "header.csv"
    header_only.write_text("x,y\n")
    result = runner.invoke(app, ["fit", str(header_only), "--target", "y"])
    assert result.exit_code == 2
    assert "no rows" in _one_error_line(result)


def test_out_must_not_clobber_other_files(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    result = runner.invoke(app, ["fit", str(KEPLER), "--target", "period", "--out", str(a_file)])
    assert result.exit_code == 2
    assert "--out" in _one_error_line(result)
    folder = tmp_path / "pysr_outputs"
    folder.mkdir()
    (folder / "hall_of_fame.csv").write_text("Complexity,Loss,Equation\n")
    result = runner.invoke(app, ["fit", str(KEPLER), "--target", "period", "--out", str(folder)])
    assert result.exit_code == 2
    assert "not an empty folder" in _one_error_line(result)
    assert (folder / "hall_of_fame.csv").read_text() == "Complexity,Loss,Equation\n"


def test_proposers_option(tmp_path):
    result = runner.invoke(app, ["fit", str(KEPLER), "--target", "period", "--proposers", ","])
    assert result.exit_code == 2
    assert "--proposers" in _one_error_line(result)
    # the names reach the estimator, which rejects an unknown one before searching
    out = tmp_path / "never"
    result = runner.invoke(app, ["fit", str(KEPLER), "--target", "period", "--proposers",
                                 "lies,nosuch", "--out", str(out)])
    assert result.exit_code == 2
    assert "nosuch" in _one_error_line(result)
    assert not out.exists()  # nothing is saved for a fit that never ran


def test_default_run_folder_and_table_output(tmp_path, monkeypatch):
    """Without --out the run goes to symreg-runs/<target>-<stamp>; piped output is the
    final table only (no live redraws)."""
    monkeypatch.chdir(tmp_path)
    data = "a,b,y\n" + "".join(f"{a},{b},{2 * a + b}\n" for a in range(4) for b in range(4))
    result = runner.invoke(app, ["fit", "-", "--target", "y", "--time", "2", "--max-evals",
                                 "3000", "--operators", "+,*"], input=data)
    assert result.exit_code == 0, result.output
    runs = list((tmp_path / "symreg-runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("y-")
    assert (runs[0] / "model.json").exists()
    assert "saved to" in result.stdout and runs[0].name in result.stdout
    assert "Pareto front for y" in result.stdout
    assert "elapsed" not in result.stdout  # the live view stays off when not a terminal
    assert result.stdout.count("Pareto front for y") == 1


def test_datasets_list_show_sample(tmp_path):
    result = runner.invoke(app, ["datasets", "list"])
    assert result.exit_code == 0, result.output
    assert "feynman" in result.stdout and "nguyen" in result.stdout

    result = runner.invoke(app, ["datasets", "list", "nguyen"])
    assert result.exit_code == 0, result.output
    assert "Nguyen-7" in result.stdout

    result = runner.invoke(app, ["datasets", "show", "Nguyen-7"])
    assert result.exit_code == 0, result.output
    assert "x1" in result.stdout and "log" in result.stdout and "train" in result.stdout

    dest = tmp_path / "n7.csv"
    result = runner.invoke(app, ["datasets", "sample", "Nguyen-7", "--n", "30", "--seed", "1",
                                 "--out", str(dest)])
    assert result.exit_code == 0, result.output
    import numpy as np
    import pandas as pd

    from symreg.datasets import load_problem

    table = pd.read_csv(dest)
    assert list(table.columns) == ["x1", "y"]
    X, y, _, _ = load_problem("Nguyen-7").sample(n=30, seed=1)
    np.testing.assert_array_equal(table["x1"].to_numpy(), X[:, 0])
    np.testing.assert_array_equal(table["y"].to_numpy(), y)

    result = runner.invoke(app, ["datasets", "sample", "Nguyen-7", "--n", "5", "--test"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "x1,y"

    for args in (["show", "Nguyen-99"], ["list", "nosuchsuite"], ["sample", "Nguyen-99"]):
        result = runner.invoke(app, ["datasets", *args])
        assert result.exit_code == 2, args
        _one_error_line(result)


def test_sample_then_fit_from_stdin(tmp_path):
    """A new user's first run: sample a shipped problem, fit it from stdin."""
    sample = runner.invoke(app, ["datasets", "sample", "Nguyen-1", "--n", "40"])
    assert sample.exit_code == 0
    result = runner.invoke(app, ["fit", "-", "--target", "y", "--time", "60", "--max-evals",
                                 "3000", "--json", "--out", str(tmp_path / "n1")],
                           input=sample.stdout)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["r2"] > 0.999


@pytest.mark.parametrize("args", [["info"]])
def test_info(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "torch" in result.output
    assert "device" in result.output
    assert "weights" in result.output
    assert "sin" in result.output


def test_info_weights(monkeypatch):
    from symreg.app import cli

    monkeypatch.setattr(cli, "_weights", list)
    assert "weights none" in runner.invoke(app, ["info"]).stdout
    monkeypatch.setattr(cli, "_weights", lambda: ["transformer.pt (12.0 MiB)"])
    assert "transformer.pt (12.0 MiB)" in runner.invoke(app, ["info"]).stdout


def test_plots_of_an_exact_front(tmp_path):
    """An exact formula (loss 0) has no place on a log axis: it is drawn on its own line,
    without matplotlib warnings."""
    import warnings

    import numpy as np

    import symreg
    from symreg.app.plots import FRONT_PNG, PREDICTIONS_PNG, write_plots

    rng = np.random.default_rng(0)
    X = rng.uniform(1, 2, size=(40, 2))
    y = 2 * X[:, 0] + X[:, 1]
    hof = tmp_path / "hall_of_fame.csv"
    hof.write_text('Complexity,Loss,Equation\n1,1.0,"x0"\n5,0.0,"2.0*x0 + x1"\n')
    model = symreg.from_pysr(hof, X, y)
    assert model.equations_["loss"].iloc[-1] < 1e-20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = write_plots(model, tmp_path / "run", X, y, target="z")
    assert [p.name for p in paths] == [FRONT_PNG, PREDICTIONS_PNG]
    for p in paths:
        assert p.read_bytes()[:4] == b"\x89PNG"


def test_fit_with_the_shipped_transformer_and_a_hypothesis(tmp_path, one_torch_thread):
    """The shipped weights load, and an excluded operator never appears."""
    from symreg.neural.transformer_proposer import DEFAULT_WEIGHTS

    if not DEFAULT_WEIGHTS.exists():
        pytest.fail(f"the transformer's weights are not in the package: {DEFAULT_WEIGHTS}")
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(200, 2))
    path = tmp_path / "wave.csv"
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": np.sin(x[:, 0]) * x[:, 1]}).to_csv(path, index=False)
    result = runner.invoke(app, ["fit", str(path), "--target", "y", "--time", "3", "--json",
                                 "--proposers", "transformer", "--hypothesis", "exclude=sin,cos",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert not any("sin" in eq["equation"] or "cos" in eq["equation"]
                   for eq in payload["equations"])
