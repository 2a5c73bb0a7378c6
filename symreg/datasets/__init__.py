"""Benchmark problems and SRBench-style metrics.

For now this package holds the metrics (:mod:`symreg.datasets.metrics`); the
benchmark suites (Feynman, Nguyen, Keijzer, Korns, Strogatz, ...) come later.
"""

from .metrics import exact_difference, r2_score, round_constants, symbolic_solution

__all__ = ["exact_difference", "r2_score", "round_constants", "symbolic_solution"]
