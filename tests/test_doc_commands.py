"""Every ``symreg`` command line in README.md and docs/*.md runs as written.

The lines are read from the documents themselves: each line of a shell code block that calls
symreg, and each inline code span that is a whole ``symreg <command> ...`` line. They run with
``bash`` in one temporary folder, with relative paths, after the files they name have been
made there (a planet table at ``examples/data/kepler.csv``, ``data.csv``, a folder ``data/``,
``jobs.toml``, the saved run ``symreg-runs/period-20250101-120000`` ...); ``symreg`` and
``.venv/bin/symreg`` on that folder's PATH run this checkout. A line passes when it exits with
0 and prints no ``error:`` line.

Every line found must be listed below: in :data:`RUN` (run by default), :data:`SLOW` (long
budgets, run with ``-m slow``) or :data:`NOT_RUN` (with the reason). So a new documented line
fails :func:`test_every_documented_line_is_listed` until someone decides how to test it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHELL_FENCES = ("", "sh", "bash", "shell", "console")

#: lines run by default (short budgets, or a search that stops at an exact law at once)
RUN = {
    "symreg predict symreg-runs/period-20250101-120000 new_planets.csv > predictions.csv",
    "symreg datasets list",
    ".venv/bin/symreg bench --list",
    "symreg fit data.csv --target y",
    "symreg fit --help",
    "symreg batch jobs.toml",
    "symreg batch data/ --target y",
    "symreg predict RUN data.parquet --out predictions.parquet --index 2",
    "symreg datasets list nguyen",
    "symreg datasets show I.6.2a",
    "symreg datasets sample Nguyen-7 --n 100 --noise 0.01 --seed 1 > nguyen7.csv",
    "symreg datasets sample Nguyen-7 | symreg fit - --target y --time 10",
    "symreg batch data/ --target y --time 30 --seeds 0,1,2",
    "symreg batch status jobs.db",
    "symreg batch results jobs.db",
    "symreg batch results jobs.db --out results.csv",
    "symreg batch results jobs.db --fronts --out fronts.parquet",
    "symreg bench --list",
}

#: lines with budgets of minutes: run with ``pytest -m slow``
SLOW = {
    # a noisy real table: no exact law ends the search early, so it uses its 20 s
    ("symreg fit examples/data/kepler.csv --target period --time 20 --maxsize 10 "
    "--model-selection bic"),
    ".venv/bin/symreg bench nguyen --methods symreg,operon --time 20",
    (".venv/bin/symreg bench feynman --limit 20 --time 30 --methods symreg,operon,rils,gplearn "
    "--workers 2"),
    "symreg bench nguyen --methods symreg,operon --time 20",
    "symreg bench feynman --limit 20 --time 30 --methods symreg,operon,rils,gplearn --workers 2",
    "symreg bench strogatz --noise 0.01 --seed 1 --out runs/strogatz-noisy",
    # the same door as docs/app.md's pipe, which runs by default (each fit takes its 10 s)
    "symreg datasets sample Nguyen-7 --n 100 | symreg fit - --target y --time 10",
    # nine minutes of training each
    "symreg train --out runs/t --time 540",
}

#: lines not run, and why
NOT_RUN = {
    "symreg fit --proposers transformer": "an option in a sentence, not a command line",
    "symreg fit --proposers lies,dysymnet": "an option in a sentence, not a command line",
    "symreg train --time 540": "an option in a sentence, not a command line",
    "symreg batch status STORE": "a synopsis (STORE); runs as 'symreg batch status jobs.db'",
    "symreg batch results STORE --out results.parquet":
        "a synopsis (STORE); runs as 'symreg batch results jobs.db --fronts --out "
        "fronts.parquet'",
    "symreg batch JOBS [--store PATH] [--workers N] [--ray auto|local|ADDRESS] [--retry-failed]":
        "a synopsis",
    "symreg batch results STORE [--out results.csv | results.parquet] [--fronts]": "a synopsis",
    "symreg batch JOBS": "a synopsis (JOBS); runs as 'symreg batch jobs.toml'",
    "symreg batch run JOBS": "a synopsis (JOBS); runs as 'symreg batch jobs.toml'",
    "symreg train --out runs/t --steps 16000 --export symreg/neural/weights/transformer.pt":
        "16,000 training steps: hours on a CPU",
    "symreg train --out runs/t2 --init symreg/neural/weights/transformer.pt --device cuda":
        "needs a CUDA device and trains for hours",
}


def _doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _is_command(line: str) -> bool:
    return line.startswith(("symreg ", ".venv/bin/symreg ")) or "| symreg " in line


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#\s.*$", "", line).strip()


def documented_lines() -> dict[str, list[str]]:
    """Each symreg command line of the documents (as written, comments kept) -> where it is."""
    found: dict[str, list[str]] = {}
    for path in _doc_files():
        text = path.read_text(encoding="utf-8")
        fence: str | None = None
        for n, line in enumerate(text.splitlines(), 1):
            s = line.strip()
            if s.startswith("```"):
                fence = s[3:].strip().lower() if fence is None else None
                continue
            if fence is not None and fence in SHELL_FENCES and _is_command(s):
                found.setdefault(s, []).append(f"{path.name}:{n}")
        # inline code: `symreg batch data/ --target y`; a bare `symreg fit` names a command
        for m in re.finditer(r"`(symreg [a-z][^`]*)`", text):
            span = " ".join(m.group(1).split())
            if re.fullmatch(r"symreg( [a-z]+)+", span):
                continue
            n = text.count("\n", 0, m.start()) + 1
            found.setdefault(span, []).append(f"{path.name}:{n}")
    return found


def _by_command() -> dict[str, tuple[str, list[str]]]:
    """Command (comment stripped) -> (the line as written, where)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for line, where in documented_lines().items():
        key = _strip_comment(line)
        if key in out:
            out[key][1].extend(where)
        else:
            out[key] = (line, list(where))
    return out


def test_every_documented_line_is_listed():
    commands = set(_by_command())
    listed = RUN | SLOW | set(NOT_RUN)
    assert not commands - listed, ("documented symreg lines that this test does not know; "
                                   f"add them to RUN, SLOW or NOT_RUN: {sorted(commands - listed)}")
    assert not listed - commands, f"listed lines no longer in the docs: {sorted(listed - commands)}"
    assert not (RUN & SLOW) and not ((RUN | SLOW) & set(NOT_RUN))


def _table(path: Path, rows: int = 40, seed: int = 0) -> None:
    """Columns a, b and y = 2·a·b: the search finds it at once and stops."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(1, 3, rows), rng.uniform(1, 3, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"a": a, "b": b, "y": 2 * a * b}).to_csv(path, index=False)


def _run(line: str, cwd: Path, env: dict[str, str], timeout: float = 900
         ) -> subprocess.CompletedProcess:
    """``bash -o pipefail -c LINE`` in a session of its own, killed whole at the timeout."""
    proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", line], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{line!r} ran for more than {timeout:g} s")
    finally:
        if proc.poll() is None:  # interrupted: leave nothing running
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _check(result: subprocess.CompletedProcess, line: str) -> None:
    assert result.returncode == 0 and "error:" not in result.stderr, (
        f"{line!r} exited with {result.returncode}\n--- stderr ---\n{result.stderr[-3000:]}"
        f"\n--- stdout ---\n{result.stdout[-2000:]}")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder holding the files the documented lines name, and an environment whose
    ``symreg`` (and ``.venv/bin/symreg``) is this checkout."""
    ws = tmp_path_factory.mktemp("docs")
    for folder in (ws / "bin", ws / ".venv" / "bin"):
        folder.mkdir(parents=True)
        shim = folder / "symreg"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m symreg "$@"\n')
        shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{ws / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                         if p),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "160"}
    (ws / "examples" / "data").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "data" / "kepler.csv", ws / "examples" / "data")
    _table(ws / "data.csv")
    _table(ws / "data" / "d0.csv", seed=1)
    (ws / "jobs.toml").write_text('[defaults]\ntarget = "y"\n\n[[jobs]]\ndata = "data/*.csv"\n')
    planets = pd.read_csv(ws / "examples" / "data" / "kepler.csv")
    planets.drop(columns=["period"]).to_csv(ws / "new_planets.csv", index=False)
    planets.drop(columns=["period"]).to_parquet(ws / "data.parquet", index=False)
    # the saved run the predict lines name (RUN is a run folder too), and the store jobs.db
    setup = [("symreg fit examples/data/kepler.csv --target period --time 2 --maxsize 10 "
             "--out symreg-runs/period-20250101-120000"),
             "symreg batch jobs.toml"]
    for line in setup:
        _check(_run(line, ws, env), line)
    shutil.copytree(ws / "symreg-runs" / "period-20250101-120000", ws / "RUN")
    return ws, env


def _cases(lines: set[str], marks=()) -> list:
    where = _by_command()
    return [pytest.param(where[c][0], id=c[:60], marks=marks) for c in sorted(lines)
            if c in where]


@pytest.mark.parametrize("line", _cases(RUN))
def test_documented_line_runs(workspace, line):
    ws, env = workspace
    _check(_run(line, ws, env), line)


@pytest.mark.parametrize("line", _cases(SLOW, marks=pytest.mark.slow))
def test_documented_long_line_runs(workspace, line):
    ws, env = workspace
    _check(_run(line, ws, env, timeout=3600), line)
