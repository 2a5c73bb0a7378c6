"""Stand-in methods for the benchmark-harness tests (loaded as ``bench_fakes:Class``
in the harness's worker processes)."""

from __future__ import annotations

import os
import time

import numpy as np

from symreg.bench.methods import FittedModel, Method


class Cubic(Method):
    """Least-squares cubic in x1: exact on Nguyen-1, wrong on Nguyen-8."""

    def _fit(self, X, y, names, time_budget, seed, n_threads):
        c = [float(v) for v in np.polyfit(X[:, 0], y, 3)]
        x = names[0]
        formula = f"{c[0]!r}*{x}**3 + {c[1]!r}*{x}**2 + {c[2]!r}*{x} + {c[3]!r}"
        return FittedModel(formula, lambda Z: np.polyval(c, Z[:, 0]), {})


class Raises(Method):
    def _fit(self, X, y, names, time_budget, seed, n_threads):
        raise RuntimeError("this method always fails")


class Dies(Method):
    def _fit(self, X, y, names, time_budget, seed, n_threads):
        os._exit(3)


class Hangs(Method):
    def _fit(self, X, y, names, time_budget, seed, n_threads):
        time.sleep(3600)


class Garbage(Method):
    """A formula nobody can parse, and predictions of the wrong length."""

    def _fit(self, X, y, names, time_budget, seed, n_threads):
        return FittedModel("x1 +* (", lambda Z: np.zeros(3), {})
