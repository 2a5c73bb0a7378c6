"""symreg: discover closed-form equations from data.

>>> from symreg import SymbolicRegressor
>>> model = SymbolicRegressor(time_budget=30).fit(X, y)   # doctest: +SKIP
>>> model.equations_                                     # doctest: +SKIP
>>> model.save("my-run"); symreg.load("my-run")          # doctest: +SKIP

The public names are loaded on first use, so ``import symreg`` (and the
command line's ``--help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Expression", "SymbolicRegressor", "__version__", "from_pysr", "load"]

if TYPE_CHECKING:  # pragma: no cover
    from .expression import Expression
    from .regressor import SymbolicRegressor, from_pysr, load


def __getattr__(name: str):
    if name == "SymbolicRegressor":
        from .regressor import SymbolicRegressor

        return SymbolicRegressor
    if name == "Expression":
        from .expression import Expression

        return Expression
    if name in ("load", "from_pysr"):
        from . import regressor

        return getattr(regressor, name)
    raise AttributeError(f"module 'symreg' has no attribute {name!r}")
