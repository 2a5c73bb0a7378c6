"""Simplification of expressions: a fast token-level constant folder for the
search, a sympy-based simplifier for final results, and constant snapping.

* :func:`fold_constants` (:mod:`.fold`) works on the prefix tokens alone (no
  sympy) and runs in tens of microseconds, so the search can apply it to every
  candidate. It only makes rewrites that keep the function value up to
  round-off.
* :func:`rewrite_operators` (:mod:`.rewrite`) writes sympy's shorthand
  operators (``square``, ``inv``, integer powers, ...) with the operators a
  search allows.
* :func:`simplify` (:mod:`.sympy_child`) runs ``sympy.simplify`` (and a few
  cheaper sympy rewrites) on a final result, in a ``fork`` child that is killed
  at the deadline. A result is used only if it has fewer tokens and evaluates
  the same on test points.
* :func:`snap_constants` (:mod:`.snap`) replaces constants by nearby "nice"
  values (integers, fractions p/q with q <= 12, rational multiples of π) when
  the loss holds.

Formulas are rewritten as nested-tuple trees; :mod:`symreg.tree` owns that form
(conversion, sizes, powers under an allowed operator set).
"""

from __future__ import annotations

from .fold import fold_constants
from .rewrite import rewrite_operators
from .snap import nice_values, snap_constants
from .sympy_child import simplify

__all__ = [
    "fold_constants",
    "nice_values",
    "rewrite_operators",
    "simplify",
    "snap_constants",
]
