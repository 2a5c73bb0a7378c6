"""Saved runs: a fitted estimator's state (:class:`~symreg.fitted.FittedState`) in a folder.

A run folder holds plain text only (no pickle, so a run can be read by any
tool and opened safely from anywhere):

``model.json``
    Everything :func:`load` needs: the estimator's parameters, the variable
    names, the operators, every hall-of-fame member and the Pareto front as
    prefix tokens with full-precision constants, the chosen row, and metadata
    (version, date, evaluations, search time, anything the caller adds). The
    document carries ``"format": "symreg.model"`` and a ``format_version``.
``hall_of_fame_full.csv``
    The whole hall of fame, one row per complexity: loss, whether the row is
    on the front and chosen, the equation, its prefix tokens and constants.
``hall_of_fame.csv``
    The Pareto front in PySR's format (``Complexity,Loss,Equation``, variables
    by name, sympy-parsable), so tools written for PySR runs read it, and
    :func:`from_pysr` reads it back.

This module reads and writes runs as :class:`~symreg.fitted.FittedState`, plain
data; it never sees the estimator. ``symreg.load`` and ``symreg.from_pysr``
(in :mod:`symreg.regressor`) turn what it reads into a fitted estimator:
:func:`read_state` gives the state of a symreg run, and
:func:`read_pysr_hall_of_fame` with :func:`pysr_expressions` the formulas of a
PySR run, whose constants ``from_pysr`` refits on the data given.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from . import operators as ops
from .expression import CONST, Expression
from .fitted import FittedState, equations_table
from .pareto import HallOfFame
from .screening import DROPPED_COLUMNS, empty_dropped

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "pysr_equation",
    "pysr_expressions",
    "read_pysr_hall_of_fame",
    "read_run",
    "read_state",
    "save",
]

FORMAT = "symreg.model"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
FULL_HOF_FILE = "hall_of_fame_full.csv"
PYSR_HOF_FILE = "hall_of_fame.csv"


# ----------------------------------------------------------------------------
# JSON-safe numbers: non-finite floats are written as strings, since strict
# JSON has no NaN or Infinity
# ----------------------------------------------------------------------------

def _num(value: float) -> float | str:
    f = float(value)
    if math.isfinite(f):
        return f
    return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")


def _unnum(value: Any) -> float:
    return float(value)  # float("inf"), float("nan") read the strings back


def _json_param(value: Any) -> tuple[bool, Any]:
    """``(True, json_value)`` for a parameter JSON can hold, else ``(False, None)``."""
    if value is None or isinstance(value, (bool, str)):
        return True, value
    if isinstance(value, (int, np.integer)):
        return True, int(value)
    if isinstance(value, (float, np.floating)):
        return True, _num(value)
    if isinstance(value, Expression):
        return True, value.to_string(precision=None)
    if isinstance(value, (list, tuple)):
        items = [_json_param(v) for v in value]
        if all(ok for ok, _ in items):
            return True, [v for _, v in items]
    return False, None


def _expr_record(expr: Expression) -> dict[str, Any]:
    return {"tokens": list(expr.tokens), "constants": [_num(c) for c in expr.constants]}


def _expr_from_record(rec: dict[str, Any], names: Sequence[str]) -> Expression:
    return Expression(rec["tokens"], [_unnum(c) for c in rec["constants"]], names)


# ----------------------------------------------------------------------------
# saving
# ----------------------------------------------------------------------------

class HasFittedState(Protocol):
    """What :func:`save` accepts besides a state: a fitted estimator."""

    def to_state(self) -> FittedState: ...


def save(model: FittedState | HasFittedState, path: str | Path, *,
         metadata: dict[str, Any] | None = None) -> Path:
    """Write a fitted estimator to the run folder ``path`` (created if needed).

    Parameters
    ----------
    model : FittedState or SymbolicRegressor
        A fitted estimator (anything with ``to_state()``) or its state.
    path : str or Path
        The run folder. Files of an earlier run there are replaced.
    metadata : dict, optional
        JSON-serialisable extras kept under ``"metadata"`` (the CLI stores the
        target column, the data file and the training R²).

    Returns
    -------
    Path
        The run folder.

    Notes
    -----
    Parameters that JSON cannot hold (a callable ``loss``, proposer objects)
    are left out with a warning; :func:`load` then uses their defaults.
    """
    state = model if isinstance(model, FittedState) else model.to_state()
    run = Path(path)
    if run.exists() and not run.is_dir():
        raise ValueError(f"cannot save the run to {run}: it is a file, not a folder")
    run.mkdir(parents=True, exist_ok=True)
    doc = _document(state, metadata or {})
    text = json.dumps(doc, indent=2, allow_nan=False)
    (run / MODEL_FILE).write_text(text + "\n", encoding="utf-8")
    _full_hof_table(state).to_csv(run / FULL_HOF_FILE, index=False)
    (run / PYSR_HOF_FILE).write_text(_pysr_hof_text(state), encoding="utf-8")
    return run


def _document(state: FittedState, metadata: dict[str, Any]) -> dict[str, Any]:
    from . import __version__

    params: dict[str, Any] = {}
    dropped = []
    for key, value in state.params.items():
        ok, jvalue = _json_param(value)
        if ok:
            params[key] = jvalue
        else:
            dropped.append(key)
    if dropped:
        warnings.warn(f"parameters not saved (JSON cannot hold them): {', '.join(dropped)}; "
                      "the loaded model uses their defaults", stacklevel=3)
    table = state.equations
    hof = state.hall_of_fame
    names = list(state.variable_names)
    feature_names = state.feature_names_in
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "params": params,
        "params_not_saved": dropped,
        "variable_names": names,
        "feature_names_in": None if feature_names is None else [str(f) for f in feature_names],
        "n_features_in": int(state.n_features_in),
        "operators": list(ops.resolve_operators(state.params.get("operators"))),
        "best_index": int(state.best_index),
        "front": [
            {
                "complexity": int(row["complexity"]),
                "loss": _num(row["loss"]),
                "score": _num(row["score"]),
                "equation": str(row["equation"]),
                **_expr_record(row["expression"]),
            }
            for _, row in table.iterrows()
        ],
        "hall_of_fame": {
            "maxsize": int(hof.maxsize),
            "loss_floor": _num(hof.loss_floor),
            "members": [{"complexity": int(c.complexity), "loss": _num(c.loss),
                         **_expr_record(c.expr)} for c in hof.candidates()],
        },
        "fit": {
            "n_evals": int(state.n_evals),
            "search_time": _num(state.search_time),
            "interrupted": bool(state.interrupted),
            "n_proposals": int(state.n_proposals),
            "proposer_times": {str(k): _num(v) for k, v in state.proposer_times.items()},
            "dropped_features": _dropped_records(state.dropped_features),
        },
        "metadata": {
            "symreg_version": __version__,
            "saved_at": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            **metadata,
        },
    }


def _dropped_records(table: pd.DataFrame | None) -> list[dict[str, Any]]:
    """``dropped_features_`` as JSON records (numbers through :func:`_num`)."""
    if table is None:
        return []
    def value(v):
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return int(v)
        return v if isinstance(v, str) else _num(v)

    return [{k: value(v) for k, v in row.items()} for row in table.to_dict(orient="records")]


def _dropped_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    if not records:
        return empty_dropped()
    table = pd.DataFrame([{k: (v if k in ("feature", "reason") else _unnum(v))
                           for k, v in r.items()} for r in records])
    table = table.reindex(columns=list(DROPPED_COLUMNS))
    table["index"] = table["index"].astype(int)
    return table


def _full_hof_table(state: FittedState) -> pd.DataFrame:
    names = list(state.variable_names)
    front_keys = {(e.tokens, e.constants.tobytes()) for e in state.equations["expression"]}
    best = state.best
    rows = []
    for c in state.hall_of_fame.candidates():
        e = c.expr.with_names(names)
        rows.append({
            "complexity": c.complexity,
            "loss": c.loss,
            "on_front": (e.tokens, e.constants.tobytes()) in front_keys,
            "chosen": e.tokens == best.tokens and np.array_equal(e.constants, best.constants),
            "equation": pysr_equation(e),
            "tokens": " ".join(e.tokens),
            "constants": json.dumps([_num(v) for v in e.constants]),
        })
    return pd.DataFrame(rows, columns=["complexity", "loss", "on_front", "chosen", "equation",
                                       "tokens", "constants"])


_FOLDABLE = frozenset({"add", "sub", "mul", "div", "pow", "neg", "square", "cube", "inv"})


def pysr_equation(expr: Expression, variable_names: Sequence[str] | None = None) -> str:
    """The formula as PySR writes it in ``hall_of_fame.csv``: infix text that
    ``sympy.sympify`` (PySR's reader) and :meth:`Expression.parse` both read,
    variables by name, constants at full precision.

    Arithmetic on constants alone (``add(1.5, 2.0)``, which
    :meth:`Expression.to_string` keeps as a call so that its own parser gives
    back the same tokens) is folded into one number, since sympy has no
    ``add`` function.
    """
    def on_operator(tok, op, args):
        if tok in _FOLDABLE and all(a[0] == CONST for a in args):
            with np.errstate(all="ignore"):
                value = float(op.numpy_fn(*[np.float64(a[1]) for a in args]))
            if math.isfinite(value):
                return (CONST, value)
        if tok in ("add", "sub") and args[1][0] == CONST and args[1][1] < 0:
            # x + (-c) reads as x - c (exactly the same number)
            return ("sub" if tok == "add" else "add", args[0], (CONST, -args[1][1]))
        return (tok, *args)

    tree = expr.reduce(lambda v: (CONST, v), lambda i: (f"x{i}",), on_operator)
    tokens: list[str] = []
    consts: list[float] = []
    stack = [tree]
    while stack:  # pre-order, iteratively
        node = stack.pop()
        tokens.append(node[0])
        if node[0] == CONST:
            consts.append(node[1])
        elif len(node) > 1:
            stack.extend(reversed(node[1:]))
    names = variable_names if variable_names is not None else expr.variable_names
    return Expression(tokens, consts, names, check=False).to_string(precision=None)


def _pysr_hof_text(state: FittedState) -> str:
    # PySR quotes the equation field without escaping it and reads everything past
    # the second comma as the equation; equations never contain a double quote
    names = list(state.variable_names)
    lines = ["Complexity,Loss,Equation"]
    for _, row in state.equations.iterrows():
        loss = float(row["loss"])
        lines.append(f'{int(row["complexity"])},{loss!r},"{pysr_equation(row["expression"], names)}"')
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------

def _model_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / MODEL_FILE
    if not p.exists():
        raise FileNotFoundError(f"no saved symreg run at {path} (looked for {p})")
    return p


def read_run(path: str | Path) -> dict[str, Any]:
    """The ``model.json`` document of a run folder (or of the file itself).

    Raises ``FileNotFoundError`` when there is none and ``ValueError`` when the
    file is not a symreg model or was written by a newer format.
    """
    p = _model_file(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p} is not a symreg model file: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{p} is not a symreg model file (no \"format\": \"{FORMAT}\")")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{p} has model format version {version!r}; this symreg reads "
                         f"versions up to {FORMAT_VERSION} (upgrade symreg)")
    return doc


def read_state(path: str | Path) -> FittedState:
    """The fitted state of a saved run (``symreg.load`` makes it an estimator).

    Parameters
    ----------
    path : str or Path
        A run folder (as written by :func:`save`, ``SymbolicRegressor.save``
        or ``symreg fit``) or its ``model.json``.

    Returns
    -------
    FittedState
        Its ``params`` are the saved parameters as JSON holds them.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_run`; ``ValueError`` also when the document is damaged.
    """
    doc = read_run(path)
    try:
        params = dict(doc["params"])
        names = [str(n) for n in doc["variable_names"]]
        n_features = int(doc["n_features_in"])
        feature_names = doc.get("feature_names_in")
        hof_doc = doc["hall_of_fame"]
        hof = HallOfFame(int(hof_doc["maxsize"]), loss_floor=_unnum(hof_doc["loss_floor"]))
        members = hof_doc["members"]
        hof.update([_expr_from_record(m, names).with_names(None) for m in members],
                   [_unnum(m["loss"]) for m in members])
        rows = doc["front"]
        front = [_expr_from_record(r, names) for r in rows]
        equations = equations_table(front, [int(r["complexity"]) for r in rows],
                                    [_unnum(r["loss"]) for r in rows],
                                    [_unnum(r["score"]) for r in rows])
        best_index = int(doc["best_index"])
        if not -len(front) <= best_index < len(front):
            raise IndexError(f"best_index {best_index} is off the front of {len(front)} rows")
        fit = doc.get("fit", {})
        return FittedState(
            params=params, variable_names=names, n_features_in=n_features,
            feature_names_in=None if feature_names is None else [str(f) for f in feature_names],
            hall_of_fame=hof, equations=equations, best_index=best_index,
            n_evals=int(fit.get("n_evals", 0)),
            search_time=_unnum(fit.get("search_time", 0.0)),
            interrupted=bool(fit.get("interrupted", False)),
            n_proposals=int(fit.get("n_proposals", 0)),
            proposer_times={k: _unnum(v) for k, v in fit.get("proposer_times", {}).items()},
            dropped_features=_dropped_table(fit.get("dropped_features", [])))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"{_model_file(path)} is damaged: {type(exc).__name__}: {exc}") from None


# ----------------------------------------------------------------------------
# PySR runs
# ----------------------------------------------------------------------------

# Julia writes Float32 literals as 1.5f0 and may use 1.5e-5; Python reads the latter only
_JULIA_FLOAT = re.compile(r"\b(\d+\.\d+)[eEfF]([+-]?\d+)\b")
_PYSR_HOF_NAMES = ("hall_of_fame.csv.bkup", "hall_of_fame.csv", "hall_of_fame.csv.bak")


def _pysr_hof_file(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"no PySR run at {path}")
    for name in _PYSR_HOF_NAMES:
        if (path / name).is_file():
            return path / name
    # older PySR versions name the file hall_of_fame_<date>.csv
    older = sorted(path.glob("hall_of_fame_*.csv"), key=lambda p: p.stat().st_mtime)
    if older:
        return older[-1]
    raise FileNotFoundError(f"no hall_of_fame.csv in {path}")


def read_pysr_hall_of_fame(path: str | Path) -> pd.DataFrame:
    """PySR's ``hall_of_fame.csv`` (a run folder or the file) as a table with
    columns ``complexity``, ``loss``, ``equation`` (Julia float literals turned
    into Python ones)."""
    file = _pysr_hof_file(Path(path))
    lines = [ln for ln in file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    header = [h.strip().strip('"').lower() for h in lines[0].split(",")] if lines else []
    if header[:3] != ["complexity", "loss", "equation"]:
        raise ValueError(f"{file} is not a PySR hall of fame (expected the header "
                         f"Complexity,Loss,Equation)")
    rows = []
    for ln in lines[1:]:
        # the equation field is quoted but not escaped and may hold commas (max(x, y)):
        # it is everything after the second comma, as PySR itself reads it
        complexity, loss, equation = ln.split(",", 2)
        equation = equation.strip().removeprefix('"').removesuffix('"')
        rows.append((int(complexity), float(loss), _JULIA_FLOAT.sub(r"\1e\2", equation)))
    return pd.DataFrame(rows, columns=["complexity", "loss", "equation"])


def _parse_pysr(text: str, names: Sequence[str]) -> Expression:
    try:
        return Expression.parse(text, names)
    except ValueError:
        # a run fitted without feature names writes x0, x1, ...
        if re.search(r"\bx\d+\b", text):
            return Expression.parse(text).with_names(list(names))
        raise


def pysr_expressions(table: pd.DataFrame, variable_names: Sequence[str], *,
                     source: str | Path = "the hall of fame") -> list[Expression]:
    """The equations of a PySR hall of fame (:func:`read_pysr_hall_of_fame`) as
    expressions over ``variable_names`` (or ``x0, x1, ...``).

    Equations symreg cannot read (an operator it lacks) are skipped with one
    warning; ``ValueError`` when none can be read (``source`` names the run).
    """
    exprs: list[Expression] = []
    skipped = []
    for text in table["equation"]:
        try:
            exprs.append(_parse_pysr(text, variable_names))
        except ValueError as exc:
            # the parser's message ends with the list of every known function: cut it
            reason = str(exc).split(": ", 1)[-1].split(";")[0]
            skipped.append(f"{text!r} ({reason})")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} equation(s) symreg cannot read: "
                      + "; ".join(skipped), stacklevel=3)
    if not exprs:
        raise ValueError(f"no equation of {source} could be read")
    return exprs
