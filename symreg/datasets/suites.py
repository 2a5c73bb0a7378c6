"""The standard problem suites, read from the tables shipped in ``symreg/datasets/data``.

The tables are byte-for-byte copies of public files (``data/SOURCES.md`` names
each one's repository, commit and licence, and lists their quirks); nothing is
fetched at run time. Which table a suite comes from:

============== ===================================================================
suite          problems
============== ===================================================================
feynman        the 100 AI Feynman equations (Udrescu & Tegmark 2020)
feynman_bonus  the 20 bonus equations of AI Feynman
strogatz       14 right-hand sides of 2-D ODEs (ODE-Strogatz, as in PMLB); the state
               is sampled from a box per system (``data/strogatz_boxes.csv``)
nguyen         Nguyen-1 ... Nguyen-12
nguyen_c       Nguyen-1c, 2c, 5c, 8c, 9c, 10c (constant variants, PTS table)
keijzer        Keijzer-1 ... 15
korns          Korns-1 ... 15 (13-15 only in the 2021 DSO table)
koza           Koza-1 ... 3 (Koza-1 is in no table; it is Nguyen-2's formula and data)
livermore      Livermore-1 ... 23 with 7a, 8a
livermore2     the 150 Livermore2-VarsN-k problems of the DSO table
constant       Constant-1 ... 8
r              R1 ... R3 and R1a ... R3a
vladislavleva  Vladislavleva-1 ... 8
jin            Jin-1 ... 6
neat           Neat-1 ... 9
misc           the other rows of the DSO table (Pagie-1, Nonic, Sine, Poly-*, Meier-*,
               Nguyen-12a, GrammarVAE-1, Const-Test-*)
============== ===================================================================

Where the tables overlap, the main DSO table wins (SOURCES.md: the PTS table
differs on Nguyen-7's range and on Livermore-5, 11, 14, 16). The PTS rows R1ast
... R3ast are R1a ... R3a under another name and are not repeated.
"""

from __future__ import annotations

import csv
import json
import re
from functools import lru_cache
from importlib import resources

from .problems import DEFAULT_TEST_POINTS, DEFAULT_TRAIN_POINTS, Problem, Sampling, Variable

__all__ = ["SUITES", "list_suites", "load_problem", "load_suite"]

#: suite name → one-line description (``symreg bench --help`` and ``list_suites`` show it)
SUITES: dict[str, str] = {
    "feynman": "AI Feynman: 100 physics equations (1-9 variables)",
    "feynman_bonus": "AI Feynman bonus: 20 harder physics equations",
    "strogatz": "ODE-Strogatz: 14 right-hand sides of 2-D dynamical systems",
    "nguyen": "Nguyen-1..12 (GP classics, 20 training points)",
    "nguyen_c": "Nguyen-1c, 2c, 5c, 8c, 9c, 10c (with real constants)",
    "keijzer": "Keijzer-1..15",
    "korns": "Korns-1..15 (5 variables on [-50, 50])",
    "koza": "Koza-1..3",
    "livermore": "Livermore-1..23 (with 7a, 8a)",
    "livermore2": "Livermore2: 150 random formulas of 2-7 variables",
    "constant": "Constant-1..8",
    "r": "R1..R3 and R1a..R3a (rational functions)",
    "vladislavleva": "Vladislavleva-1..8",
    "jin": "Jin-1..6",
    "neat": "Neat-1..9",
    "misc": "other GP benchmarks: Pagie-1, Nonic, Sine, Poly-*, Meier-*, ...",
}

#: table rows that are another row under a second name (not loaded twice)
ALIASES = {"R1ast": "R1a", "R2ast": "R2a", "R3ast": "R3a"}

_FAMILIES = [
    (r"Nguyen-\d+c", "nguyen_c"),
    (r"Nguyen-\d+", "nguyen"),
    (r"Keijzer-\d+", "keijzer"),
    (r"Korns-\d+", "korns"),
    (r"Koza-\d+", "koza"),
    (r"Livermore-\d+a?", "livermore"),
    (r"Livermore2-.*", "livermore2"),
    (r"Constant-\d+", "constant"),
    (r"R\d+a?", "r"),
    (r"Vladislavleva-\d+", "vladislavleva"),
    (r"Jin-\d+", "jin"),
    (r"Neat-\d+", "neat"),
]


def list_suites() -> list[str]:
    """Names accepted by :func:`load_suite`."""
    return list(SUITES)


def load_suite(name: str) -> list[Problem]:
    """The problems of a suite, in table order.

    >>> [p.name for p in load_suite("nguyen")][:3]
    ['Nguyen-1', 'Nguyen-2', 'Nguyen-3']
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in SUITES:
        raise ValueError(f"unknown suite {name!r}; suites are: {', '.join(SUITES)}")
    return list(_all_problems()[key])


def load_problem(name: str) -> Problem:
    """One problem by its table name, from any suite (``"I.6.2a"``, ``"Nguyen-7"``)."""
    for problems in _all_problems().values():
        for p in problems:
            if p.name == name:
                return p
    raise ValueError(f"no benchmark problem named {name!r}")


# ----------------------------------------------------------------------------
# reading the tables
# ----------------------------------------------------------------------------

def _rows(filename: str, **kwargs) -> list[dict[str, str]]:
    with resources.files(__package__).joinpath("data", filename).open(
            newline="", **kwargs) as f:
        return list(csv.DictReader(f))


@lru_cache(maxsize=1)
def _all_problems() -> dict[str, tuple[Problem, ...]]:
    suites: dict[str, list[Problem]] = {name: [] for name in SUITES}
    suites["feynman"] = _feynman("feynman_equations.csv", "feynman")
    suites["feynman_bonus"] = _feynman("feynman_bonus_equations.csv", "feynman_bonus")
    suites["strogatz"] = _strogatz()
    for p in _gp_problems():
        suites[p.suite].append(p)
    return {name: tuple(problems) for name, problems in suites.items()}


def _uniform(ranges, n: int) -> Sampling:
    return Sampling("uniform", tuple(ranges), n)


def _feynman(filename: str, suite: str) -> list[Problem]:
    problems = []
    # BOM, CRLF and trailing all-comma rows; "# variables" is wrong in ten rows,
    # so the variables are the non-empty v*_name columns
    for r in _rows(filename, encoding="utf-8-sig"):
        if not (r.get("Filename") or "").strip():
            continue
        variables = tuple(
            Variable(r[f"v{i}_name"].strip(), float(r[f"v{i}_low"]), float(r[f"v{i}_high"]))
            for i in range(1, 11) if (r.get(f"v{i}_name") or "").strip())
        ranges = [(v.low, v.high) for v in variables]
        problems.append(Problem(
            name=r["Filename"].strip(), suite=suite, formula=r["Formula"].strip(),
            variables=variables, train=_uniform(ranges, DEFAULT_TRAIN_POINTS),
            test=_uniform(ranges, DEFAULT_TEST_POINTS), source=filename))
    return problems


def _strogatz() -> list[Problem]:
    boxes = {r["system"]: r for r in _rows("strogatz_boxes.csv")}
    problems = []
    for r in _rows("strogatz.csv"):
        name = r["name"].strip()
        system = re.fullmatch(r"strogatz_(\w+?)\d", name).group(1)
        box = boxes[system]
        names = [v.strip() for v in r["variables"].split(",")]
        variables = (Variable(names[0], float(box["x_low"]), float(box["x_high"])),
                     Variable(names[1], float(box["y_low"]), float(box["y_high"])))
        ranges = [(v.low, v.high) for v in variables]
        problems.append(Problem(
            name=name, suite="strogatz", formula=r["formula"].strip(), variables=variables,
            train=_uniform(ranges, DEFAULT_TRAIN_POINTS), test=_uniform(ranges, DEFAULT_TEST_POINTS),
            source="strogatz.csv",
            notes=f"state sampled uniformly from a box around the {system} trajectories: "
                  f"{box['note']}"))
    return problems


def _suite_of(name: str) -> str:
    for pattern, suite in _FAMILIES:
        if re.fullmatch(pattern, name):
            return suite
    return "misc"


def _dso_sampling(spec_text: str, n_vars: int, notes: list[str]) -> Sampling | None:
    """A DSO ``train_spec``/``test_spec``: ``{"all"|"x1"...: {"U"|"E": [a, b, c]}}``."""
    if spec_text.strip() == "None":
        return None
    spec = json.loads(spec_text)
    per_var = [spec.get("all") or spec[f"x{i}"] for i in range(1, n_vars + 1)]
    kinds = {next(iter(s)) for s in per_var}
    if len(kinds) != 1:
        raise ValueError(f"mixed sampling kinds in {spec_text}")
    kind = kinds.pop()
    triples = [s[kind] for s in per_var]
    ranges = tuple((float(a), float(b)) for a, b, _ in triples)
    if kind == "U":
        counts = {int(c) for _, _, c in triples}
        return _uniform(ranges, max(counts))
    steps = []
    for a, b, c in triples:
        a, b, c = float(a), float(b), float(c)
        if (b - a) / c < 2 and c == int(c) and c >= 3:
            # "E": [-1, 1, 20] would be the single point -1 (and [-10, 10, 20] two
            # points); the third value is plainly a point count there (R1-R3,
            # R1a-R3a, Nonic), so take 20 even points
            note = f"grid [{a:g}, {b:g}, {c:g}] read as {int(c)} even points"
            if note not in notes:
                notes.append(note)
            c = (b - a) / (int(c) - 1)
        steps.append(c)
    return Sampling.grid(ranges, tuple(steps))


def _gp_problem(name: str, n_vars: int, formula: str, train: Sampling,
                test: Sampling | None, source: str, notes: list[str]) -> Problem:
    if test is None:  # no test spec: fresh uniform points over the training ranges
        test = _uniform(train.ranges, DEFAULT_TEST_POINTS)
    bounds = [(min(lo, tlo), max(hi, thi))
              for (lo, hi), (tlo, thi) in zip(train.ranges, test.ranges)]
    variables = tuple(Variable(f"x{i + 1}", lo, hi) for i, (lo, hi) in enumerate(bounds))
    return Problem(name=name, suite=_suite_of(name), formula=formula, variables=variables,
                   train=train, test=test, source=source, notes="; ".join(notes))


def _gp_problems() -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()

    def from_dso(filename: str, only: set[str] | None = None) -> None:
        for r in _rows(filename):
            name = r["name"].strip()
            if name in seen or (only is not None and name not in only):
                continue
            n_vars = int(r["variables"])
            notes: list[str] = []
            train = _dso_sampling(r["train_spec"], n_vars, notes)
            test = _dso_sampling(r["test_spec"], n_vars, notes)
            problems.append(_gp_problem(name, n_vars, r["expression"].strip(), train, test,
                                        filename, notes))
            seen.add(name)

    from_dso("gp_benchmarks.csv")
    from_dso("gp_benchmarks_dso_2021.csv", only={"Korns-13", "Korns-14", "Korns-15"})
    for r in _rows("gp_benchmarks_pts.csv"):
        name = r["name"].strip()
        if name in seen or name in ALIASES:
            continue
        n_vars = int(r["dimension"])
        triples = json.loads(r["range"])
        ranges = tuple((float(a), float(b)) for a, b, _ in triples)
        if r["distribution"].strip() != "U":
            raise ValueError(f"{name}: unexpected distribution {r['distribution']!r}")
        train = _uniform(ranges, int(triples[0][2]))
        problems.append(_gp_problem(name, n_vars, r["expression"].strip(), train, None,
                                    "gp_benchmarks_pts.csv", []))
        seen.add(name)
    # Koza-1 (x^4 + x^3 + x^2 + x on U[-1, 1, 20]) is in no table: it is Nguyen-2
    nguyen2 = next(p for p in problems if p.name == "Nguyen-2")
    problems.append(Problem(
        name="Koza-1", suite="koza", formula=nguyen2.formula, variables=nguyen2.variables,
        train=nguyen2.train, test=nguyen2.test, source=nguyen2.source,
        notes="in no table; the same formula and data as Nguyen-2 (Koza 1992)"))
    order = {p.name: i for i, p in enumerate(problems)}
    problems.sort(key=lambda p: (p.suite, _natural_key(p.name), order[p.name]))
    return problems


def _natural_key(name: str) -> list:
    # Nguyen-2 before Nguyen-10; Livermore-7 before Livermore-7a
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
