"""Benchmark problems, user tables and SRBench-style metrics.

* :func:`load_suite` / :func:`list_suites`: the standard problem sets (AI Feynman,
  Nguyen, Keijzer, Korns, Strogatz, ...) shipped inside the package, each a list of
  :class:`Problem` with variables, sampling ranges, the true formula as sympy and
  ``sample(n, noise, seed)``. Sources and licences: ``docs/datasets.md``.
* :func:`load_csv` / :func:`load_parquet`: a user's table split into features and
  target, with one-line errors (:class:`DataError`) for bad files.
* :mod:`~symreg.datasets.metrics`: the SRBench symbolic-solution test, R².
"""

from .metrics import exact_difference, r2_score, round_constants, symbolic_solution
from .problems import Problem, Sample, Sampling, Variable, parse_truth
from .suites import SUITES, list_suites, load_problem, load_suite
from .tables import DataError, Table, load_csv, load_parquet

__all__ = [
    "SUITES",
    "DataError",
    "Problem",
    "Sample",
    "Sampling",
    "Table",
    "Variable",
    "exact_difference",
    "list_suites",
    "load_csv",
    "load_parquet",
    "load_problem",
    "load_suite",
    "parse_truth",
    "r2_score",
    "round_constants",
    "symbolic_solution",
]
