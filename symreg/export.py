"""Exports of fitted formulas: sympy, LaTeX (and a LaTeX table of the front), a
numpy callable and a ``torch.nn.Module`` whose constants are trainable.

Each function takes an :class:`~symreg.Expression` or a fitted
:class:`~symreg.SymbolicRegressor` (then ``index`` picks a row of its front;
``None``: the chosen model).

>>> f = to_numpy(model)                      # doctest: +SKIP
>>> module = to_torch(model)                 # doctest: +SKIP
>>> module(torch.as_tensor(X)).shape         # doctest: +SKIP
torch.Size([n])
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import sympy
import torch
from torch import nn

from .expression import Expression

__all__ = ["FittedModel", "NumpyFunction", "SymbolicModule", "latex_table", "to_latex",
           "to_numpy", "to_sympy", "to_torch"]


class FittedModel(Protocol):
    """What the exports need of a fitted :class:`~symreg.SymbolicRegressor` (the
    regressor sits above this module and imports it, so it is named by shape)."""

    equations_: Any
    best_index_: int

    def _expression(self, index: int | None) -> Expression: ...


def _expression(source: Expression | FittedModel, index: int | None) -> Expression:
    if isinstance(source, Expression):
        if index is not None:
            raise ValueError("index applies to a fitted SymbolicRegressor, not to an Expression")
        return source
    if not hasattr(source, "_expression"):
        raise TypeError(f"expected an Expression or a fitted SymbolicRegressor, got "
                        f"{type(source).__name__}")
    return source._expression(index)


# ----------------------------------------------------------------------------
# sympy and LaTeX
# ----------------------------------------------------------------------------

def to_sympy(source: Expression | FittedModel, index: int | None = None) -> sympy.Expr:
    """The formula as a sympy expression (variables by name, exact constants
    where they plainly are a fraction or a multiple of π)."""
    return _expression(source, index).sympy()


def to_latex(source: Expression | FittedModel, index: int | None = None,
             precision: int = 4) -> str:
    """The formula as LaTeX, constants with ``precision`` significant digits."""
    return _expression(source, index).latex(precision=precision)


def _latex_number(value: float, digits: int = 3) -> str:
    if not math.isfinite(value):
        return r"\infty" if value > 0 else (r"-\infty" if value < 0 else r"\text{NaN}")
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        power = f"10^{{{int(exponent)}}}"
        return power if mantissa == "1" else f"{mantissa} \\times {power}"
    return text


def latex_table(model: FittedModel, precision: int = 3, target: str = "y") -> str:
    """The Pareto front as a LaTeX table (booktabs), the chosen row in bold.

    Parameters
    ----------
    model : SymbolicRegressor
        A fitted estimator.
    precision : int, default=3
        Significant digits of the constants, losses and scores.
    target : str, default="y"
        Left-hand side of the equations.

    Returns
    -------
    str
        A ``table`` environment; it needs ``\\usepackage{booktabs}`` and
        ``amsmath``.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "equations_")
    lhs = sympy.latex(sympy.Symbol(target))
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        r"\begin{tabular}{@{}rrrl@{}}",
        r"\toprule",
        r"Complexity & Loss & Score & Equation \\",
        r"\midrule",
    ]
    for i, row in model.equations_.iterrows():
        eq = row["expression"].latex(precision=precision)
        cells = [str(int(row["complexity"])), f"${_latex_number(float(row['loss']), precision)}$",
                 f"${_latex_number(float(row['score']), precision)}$"]
        if i == model.best_index_:
            cells = [rf"\textbf{{{c}}}" if not c.startswith("$") else rf"$\mathbf{{{c[1:-1]}}}$"
                     for c in cells]
            eq_cell = rf"$\boldsymbol{{{lhs} = {eq}}}$"
        else:
            eq_cell = f"${lhs} = {eq}$"
        lines.append(" & ".join([*cells, eq_cell]) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        (r"\caption{Pareto front found by symreg: the most accurate formula at each "
         r"complexity; the chosen model is in bold.}"),
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------
# numpy
# ----------------------------------------------------------------------------

class NumpyFunction:
    """A formula as a plain numpy function of ``X`` ([n_samples, n_features]).

    Evaluates with :meth:`Expression.evaluate <symreg.expression.Expression.evaluate>`
    on a copy of the constants taken at construction, in float64; out-of-domain
    values give NaN or inf, never an exception.

    Attributes
    ----------
    expression : Expression
    """

    def __init__(self, expr: Expression):
        self.expression = expr
        # a copy: later changes to expr.constants do not change the function
        self._frozen = expr.with_constants(expr.constants)

    def __call__(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        need = self.expression.n_variables
        if need > X.shape[1]:
            raise ValueError(f"the formula uses {need} columns but X has {X.shape[1]}")
        return self._frozen.evaluate(X)

    def __repr__(self) -> str:
        return f"NumpyFunction({self.expression.to_string(precision=6)!r})"


def to_numpy(source: Expression | FittedModel, index: int | None = None) -> NumpyFunction:
    """The formula as a numpy callable ``f(X) -> y`` (needs numpy only, not torch)."""
    return NumpyFunction(_expression(source, index))


# ----------------------------------------------------------------------------
# torch
# ----------------------------------------------------------------------------

class SymbolicModule(nn.Module):
    """A formula as a ``torch.nn.Module`` with its constants as one trainable
    parameter vector.

    ``module(X)`` takes a float tensor ``[n, n_features]`` and returns ``[n]``.
    The input is cast to the parameters' dtype (float64 by default; ``.float()``
    switches the module to float32), so float32 and float64 input both work.
    After training, :meth:`to_expression` gives the formula with the new
    constants.

    Parameters
    ----------
    expr : Expression
    dtype : torch.dtype, default=torch.float64
    """

    def __init__(self, expr: Expression, dtype: torch.dtype = torch.float64):
        super().__init__()
        self._tokens = expr.tokens
        self._names = expr.variable_names
        self._skeleton = expr   # its tokens only: the values are the parameter's
        self.n_features = expr.n_variables
        self.constants = nn.Parameter(torch.as_tensor(expr.constants.copy(), dtype=dtype))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = torch.as_tensor(X)
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if self.n_features > X.shape[1]:
            raise ValueError(f"the formula uses {self.n_features} columns but X has "
                             f"{X.shape[1]}")
        c = self.constants
        X = X.to(dtype=c.dtype, device=c.device)
        # the expression's own tree fold; a constant is a 0-d view of the
        # parameter vector, so gradients flow back to it
        out = self._skeleton.reduce(lambda i: c[i], lambda j: X[:, j],
                                    lambda tok, op, args: op.torch_fn(*args), const_index=True)
        return out.expand(X.shape[0])

    def to_expression(self) -> Expression:
        """The formula with the module's current constants."""
        values = self.constants.detach().cpu().to(torch.float64).numpy()
        return Expression(self._tokens, values, self._names, check=False)

    def extra_repr(self) -> str:
        return f"{self.to_expression().to_string(precision=6)!r}"


def to_torch(source: Expression | FittedModel, index: int | None = None,
             dtype: torch.dtype = torch.float64) -> SymbolicModule:
    """The formula as a :class:`SymbolicModule` (constants as ``nn.Parameter``)."""
    return SymbolicModule(_expression(source, index), dtype=dtype)

