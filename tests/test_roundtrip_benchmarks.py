"""Round trip string -> Expression -> sympy, exact for every formula of the
benchmark tables shipped in ``symreg/datasets/data`` (copies of
``shared/benchmarks``: Feynman, bonus Feynman, the GP tables of DSO and PTS,
Strogatz), read here row by row, straight from the CSV files.

The truth is :func:`symreg.datasets.parse_truth`: ``sympy.sympify`` of the formula text, with every variable name
bound to a plain Symbol (``gamma``, ``beta``, ``I``, ``E_n``, ``C`` would
otherwise be sympy objects) and the DSO/numpy function names mapped to sympy
(``ln``, ``arcsin``, ``pow``, ``div``, ``harmonic``, ``cot`` ...).

Decimal literals: plain ``sympify`` reads ``1.23`` as a 15-digit Float and then
folds eagerly (``sqrt(1.23*x)`` becomes ``1.109...*sqrt(x)``, ``0.53*(x - 2.63)``
becomes ``0.53*x - 1.3939``), which no exact comparison survives. So each decimal
literal is first replaced by the number it stands for once read into float64,
as :func:`symreg.expression.constant_to_sympy` gives it (``0.3`` is 3/10,
``1./3`` is 1/3, the 21-digit ``3.14159265358979323846`` is π, ``2.1380940889``
a Float); that function is tested on its own in test_expression.py. Integer
arithmetic in the text (``3/2``, ``1/(4*pi)``) stays exact sympy arithmetic.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import sympy

from symreg.datasets.problems import TABLE_FUNCTIONS, parse_truth
from symreg.expression import Expression

# the copies shipped in the package (byte-for-byte those of shared/benchmarks)
BENCHMARKS = Path(__file__).resolve().parents[1] / "symreg" / "datasets" / "data"

_FUNCTIONS = TABLE_FUNCTIONS


# ----------------------------------------------------------------------------
# reading the tables (quirks: see shared/benchmarks/SOURCES.md)
# ----------------------------------------------------------------------------

def _read(name: str, **kwargs) -> list[dict]:
    with open(BENCHMARKS / name, newline="", **kwargs) as f:
        return list(csv.DictReader(f))


def _feynman(name: str) -> list[tuple[str, str, list[str]]]:
    rows = []
    # BOM, CRLF and trailing all-comma rows; the "# variables" column is wrong in
    # some rows, so the names are the non-empty v*_name columns
    for r in _read(name, encoding="utf-8-sig"):
        if not (r.get("Filename") or "").strip():
            continue
        names = [r[f"v{i}_name"].strip() for i in range(1, 11)
                 if (r.get(f"v{i}_name") or "").strip()]
        rows.append((r["Filename"], r["Formula"], names))
    return rows


def _dso(name: str) -> list[tuple[str, str, list[str]]]:
    return [(r["name"], r["expression"], [f"x{i}" for i in range(1, int(r["variables"]) + 1)])
            for r in _read(name)]


def _pts(name: str) -> list[tuple[str, str, list[str]]]:
    return [(r["name"], r["expression"], [f"x{i}" for i in range(1, int(r["dimension"]) + 1)])
            for r in _read(name)]


def _strogatz(name: str) -> list[tuple[str, str, list[str]]]:
    return [(r["name"], r["formula"], [v.strip() for v in r["variables"].split(",")])
            for r in _read(name)]


TABLES = {
    "feynman_equations.csv": (_feynman, 100),
    "feynman_bonus_equations.csv": (_feynman, 20),
    "gp_benchmarks.csv": (_dso, None),
    "gp_benchmarks_dso_2021.csv": (_dso, None),
    "gp_benchmarks_pts.csv": (_pts, None),
    "strogatz.csv": (_strogatz, 14),
}


def _rows(table: str) -> list[tuple[str, str, list[str]]]:
    reader, expected = TABLES[table]
    rows = reader(table)
    assert rows, f"{table}: no rows read"
    if expected is not None:
        assert len(rows) == expected, f"{table}: {len(rows)} rows, expected {expected}"
    return rows


def truth_of(text: str, names: list[str]) -> sympy.Expr:
    """The formula as sympy reads it (see the module docstring)."""
    return parse_truth(text, names)


def _same(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Exact equality; cheap tests first, simplify only where they fail."""
    if a == b:
        return True
    d = a - b
    return d == 0 or sympy.expand(d) == 0 or sympy.simplify(d) == 0


# ----------------------------------------------------------------------------
# the tests
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("table", sorted(TABLES))
def test_string_to_sympy_is_exact(table):
    failures = []
    for name, text, names in _rows(table):
        truth = truth_of(text, names)
        try:
            e = Expression.parse(text, variable_names=names)
            back = e.sympy()
        except ValueError as exc:
            failures.append(f"{name}: {text!r}: {exc}")
            continue
        if e.n_variables > len(names):
            failures.append(f"{name}: uses x{e.n_variables - 1} beyond {names}")
        if not _same(back, truth):
            failures.append(f"{name}: {text!r}\n    back:  {back}\n    truth: {truth}")
    assert not failures, f"{len(failures)} rows of {table} fail:\n" + "\n".join(failures)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_from_sympy_round_trip(table):
    failures = []
    for name, text, names in _rows(table):
        truth = truth_of(text, names)
        try:
            back = Expression.from_sympy(truth, variable_names=names).sympy()
        except ValueError as exc:
            failures.append(f"{name}: {truth}: {exc}")
            continue
        if not _same(back, truth):
            failures.append(f"{name}: {truth}\n    back: {back}")
    assert not failures, f"{len(failures)} rows of {table} fail:\n" + "\n".join(failures)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_printed_formula_parses_back(table):
    """Expression -> text -> Expression is the identity on the benchmark formulas."""
    for name, text, names in _rows(table):
        e = Expression.parse(text, variable_names=names)
        again = Expression.parse(e.to_string(precision=None), variable_names=names)
        assert again == e and again.tokens == e.tokens, name


@pytest.mark.parametrize("table", sorted(TABLES))
def test_evaluate_matches_sympy_numerically(table):
    """A numerical cross-check of the same formulas, independent of the literal
    handling above: Expression.evaluate against plain ``sympy.sympify`` of the
    text at random points (where both are finite and real)."""
    rng = np.random.default_rng(0)
    failures = []
    checked = 0
    for name, text, names in _rows(table):
        truth = sympy.sympify(text, locals={**_FUNCTIONS, **{n: sympy.Symbol(n) for n in names}})
        syms = [sympy.Symbol(n) for n in names]
        fn = sympy.lambdify(syms, truth.rewrite(sympy.polygamma) if truth.has(sympy.harmonic)
                            else truth, modules=["scipy", "numpy"])
        X = np.concatenate([rng.uniform(0.5, 3.0, size=(20, len(names))),
                            rng.uniform(-3.0, 3.0, size=(20, len(names)))])
        with np.errstate(all="ignore"):
            expected = np.asarray(fn(*X.T), dtype=complex) * np.ones(len(X))
            got = Expression.parse(text, variable_names=names).evaluate(X)
        ok = np.isfinite(got) & np.isfinite(expected) & (np.abs(expected.imag) < 1e-12)
        if not ok.any():
            continue  # e.g. sqrt(-x2 - x3 - 1) on these points
        checked += 1
        if not np.allclose(got[ok], expected.real[ok], rtol=1e-9, atol=1e-12):
            failures.append(name)
    assert not failures, f"{table}: {failures}"
    assert checked >= 0.9 * len(_rows(table))


def test_variable_names_that_are_sympy_objects():
    # I, E, S, N, beta, gamma, lambda-like names are plain variables here
    names = ["I", "E", "S", "N", "beta", "gamma", "C", "Q", "lambd"]
    text = "I*E + S/N - beta**gamma + C*Q*lambd"
    e = Expression.parse(text, variable_names=names)
    assert _same(e.sympy(), truth_of(text, names))
    assert {s.name for s in e.sympy().free_symbols} == set(names)
