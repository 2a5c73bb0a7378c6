"""Tests of the ``symreg`` command line (symreg.app.cli)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from symreg.app.cli import app

ROOT = Path(__file__).resolve().parents[1]
KEPLER = ROOT / "examples" / "data" / "kepler.csv"

runner = CliRunner()


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


def test_fit_kepler_json():
    """End to end: Kepler's third law (period = a**1.5) from the shipped data."""
    result = runner.invoke(app, ["fit", str(KEPLER), "--target", "period", "--time", "5", "--json"])
    assert result.exit_code == 0, result.output + (
        "" if result.exception is None else repr(result.exception)
    )
    payload = json.loads(result.stdout)
    assert isinstance(payload["equations"], list) and payload["equations"]
    for eq in payload["equations"]:
        assert {"complexity", "loss", "score", "equation"} <= set(eq)
    assert isinstance(payload["best"], str)
    assert payload["r2"] > 0.99


@pytest.mark.parametrize("args", [["info"]])
def test_info(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "torch" in result.output
