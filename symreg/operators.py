"""The operator registry: one place that says what every operator is.

Each operator has a token name, an arity, a complexity, and three forms of
the same function (torch, numpy, sympy) plus its partial derivatives in
torch, used by the forward-mode constant fitter.

Domains are handled the same way everywhere: an operator outside its domain
returns NaN or ±inf (``log(-1)`` is NaN, ``1/0`` is inf, ``exp(1000)`` is inf)
and never raises. A candidate whose prediction is not finite gets an infinite
loss; nothing else happens.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy
import torch

__all__ = [
    "CONST",
    "DEFAULT_OPERATORS",
    "OPERATORS",
    "VARIABLE_RE",
    "Operator",
    "get",
    "is_variable",
    "renumber_variables",
    "resolve_operators",
    "variable_index",
]

# the two other kinds of token beside the operators: the constant placeholder
# and the variables, by column index (symreg.expression re-exports them)

#: the constant placeholder; the i-th ``C`` of an expression takes its i-th constant
CONST = "C"
#: a variable token, ``x<column>``
VARIABLE_RE = re.compile(r"^x(\d+)$")


def is_variable(token: str) -> bool:
    """Whether ``token`` is a variable (``x0``, ``x1``, ...)."""
    return VARIABLE_RE.match(token) is not None


def variable_index(token: str) -> int:
    """The column of a variable token."""
    return int(token[1:])


def renumber_variables(tokens: Sequence[str], columns) -> list[str]:
    """``tokens`` with each variable ``x{i}`` written ``x{columns[i]}`` (``columns``: a
    sequence or a mapping of column numbers); the other tokens as they are."""
    return [f"x{int(columns[variable_index(t)])}" if is_variable(t) else t for t in tokens]


@dataclass(frozen=True)
class Operator:
    """One operator of the expression language.

    Attributes
    ----------
    name : str
        The token used in prefix sequences (``"add"``, ``"sin"``).
    arity : int
        1 or 2.
    complexity : int
        What one node of this operator adds to an expression's complexity.
    torch_fn, numpy_fn, sympy_fn : callable
        The function in each library; all take ``arity`` positional arguments.
    torch_partials : callable
        ``(args, out) -> tuple`` of the partial derivatives with respect to each
        argument, as torch tensors, used for forward-mode derivatives.
    symbol : str or None
        The infix symbol for binary operators that print infix (``+``).
    commutative : bool
        Whether the arguments may be swapped (used for canonical keys).
    aliases : tuple of str
        Other plain names a user may give (``"+"``, ``"plus"``).
    """

    name: str
    arity: int
    complexity: int
    torch_fn: Callable = field(repr=False)
    numpy_fn: Callable = field(repr=False)
    sympy_fn: Callable = field(repr=False)
    torch_partials: Callable = field(repr=False)
    symbol: str | None = None
    commutative: bool = False
    aliases: tuple[str, ...] = ()


def _np_float(x):
    """``x`` as an array; integer and boolean input becomes float64.

    Integer arithmetic would otherwise give wrong answers or raise where the
    float functions give NaN/inf: ``np.reciprocal(0)`` is a huge negative
    integer and ``np.power(2, -1)`` raises.
    """
    x = np.asarray(x)
    return x.astype(np.float64) if x.dtype.kind in "biu" else x


def _np(fn: Callable) -> Callable:
    """The numpy form ``fn`` made safe for integer arguments (see :func:`_np_float`)."""

    def safe(*args):
        return fn(*(_np_float(a) for a in args))

    safe.__name__ = getattr(fn, "__name__", "numpy_fn")
    safe.__doc__ = fn.__doc__
    return safe


def _np_harmonic(x):
    from scipy.special import digamma

    return digamma(x + 1.0) + np.euler_gamma


def _sympy_pow(a, b):
    return sympy.Pow(a, b)


def _one(x):
    return torch.ones_like(x)


def _pow_partials(args, out):
    """Partials of ``a**b``, as torch's autograd gives them: where the base is
    0 they are 0 (rather than ``0*inf``) for ``b == 0`` and ``b >= 0``
    respectively, so a fit of ``x**c`` on data containing ``x = 0`` gets
    finite derivatives."""
    a, b = args
    zero = torch.zeros_like(out)
    d_a = torch.where(b == 0, zero, b * torch.pow(a, b - 1.0))
    d_b = torch.where((a == 0) & (b >= 0), zero, out * torch.log(a))
    return d_a, d_b


_EULER_GAMMA = float(np.euler_gamma)

_SPECS: list[Operator] = [
    # binary
    Operator("add", 2, 1, torch.add, np.add, lambda a, b: a + b,
             lambda args, out: (_one(args[0]), _one(args[1])),
             symbol="+", commutative=True, aliases=("+", "plus")),
    Operator("sub", 2, 1, torch.sub, np.subtract, lambda a, b: a - b,
             lambda args, out: (_one(args[0]), -_one(args[1])),
             symbol="-", aliases=("-", "minus")),
    Operator("mul", 2, 1, torch.mul, np.multiply, lambda a, b: a * b,
             lambda args, out: (args[1], args[0]),
             symbol="*", commutative=True, aliases=("*", "times", "mult")),
    Operator("div", 2, 1, torch.div, np.divide, lambda a, b: a / b,
             lambda args, out: (1.0 / args[1], -out / args[1]),
             symbol="/", aliases=("/", "divide")),
    Operator("pow", 2, 1, torch.pow, np.power, _sympy_pow, _pow_partials,
             symbol="^", aliases=("^", "**", "power")),
    # unary
    Operator("neg", 1, 1, torch.neg, np.negative, lambda a: -a,
             lambda args, out: (-_one(args[0]),)),
    Operator("inv", 1, 1, torch.reciprocal, np.reciprocal, lambda a: 1 / a,
             lambda args, out: (-out * out,)),
    Operator("square", 1, 1, torch.square, np.square, lambda a: a**2,
             lambda args, out: (2.0 * args[0],)),
    Operator("cube", 1, 1, lambda a: a * a * a, lambda a: a * a * a, lambda a: a**3,
             lambda args, out: (3.0 * args[0] * args[0],)),
    Operator("sqrt", 1, 1, torch.sqrt, np.sqrt, sympy.sqrt,
             lambda args, out: (0.5 / out,)),
    Operator("exp", 1, 1, torch.exp, np.exp, sympy.exp,
             lambda args, out: (out,)),
    Operator("log", 1, 1, torch.log, np.log, sympy.log,
             lambda args, out: (1.0 / args[0],), aliases=("ln",)),
    Operator("sin", 1, 1, torch.sin, np.sin, sympy.sin,
             lambda args, out: (torch.cos(args[0]),)),
    Operator("cos", 1, 1, torch.cos, np.cos, sympy.cos,
             lambda args, out: (-torch.sin(args[0]),)),
    Operator("tan", 1, 1, torch.tan, np.tan, sympy.tan,
             lambda args, out: (1.0 + out * out,)),
    Operator("tanh", 1, 1, torch.tanh, np.tanh, sympy.tanh,
             lambda args, out: (1.0 - out * out,)),
    Operator("abs", 1, 1, torch.abs, np.abs, sympy.Abs,
             lambda args, out: (torch.sign(args[0]),)),
    Operator("asin", 1, 1, torch.asin, np.arcsin, sympy.asin,
             lambda args, out: (torch.rsqrt(1.0 - args[0] * args[0]),), aliases=("arcsin",)),
    Operator("acos", 1, 1, torch.acos, np.arccos, sympy.acos,
             lambda args, out: (-torch.rsqrt(1.0 - args[0] * args[0]),), aliases=("arccos",)),
    Operator("atan", 1, 1, torch.atan, np.arctan, sympy.atan,
             lambda args, out: (1.0 / (1.0 + args[0] * args[0]),), aliases=("arctan",)),
    Operator("sinh", 1, 1, torch.sinh, np.sinh, sympy.sinh,
             lambda args, out: (torch.cosh(args[0]),)),
    Operator("cosh", 1, 1, torch.cosh, np.cosh, sympy.cosh,
             lambda args, out: (torch.sinh(args[0]),)),
    # H(x) = digamma(x + 1) + Euler's gamma: the harmonic number, extended to reals.
    Operator("harmonic", 1, 1, lambda a: torch.special.digamma(a + 1.0) + _EULER_GAMMA,
             _np_harmonic, sympy.harmonic,
             lambda args, out: (torch.special.polygamma(1, args[0] + 1.0),)),
]

# numpy forms accept integer input too (computed in float64)
_SPECS = [dataclasses.replace(op, numpy_fn=_np(op.numpy_fn)) for op in _SPECS]

OPERATORS: dict[str, Operator] = {op.name: op for op in _SPECS}

_ALIASES: dict[str, str] = {}
for _op in _SPECS:
    _ALIASES[_op.name] = _op.name
    for _alias in _op.aliases:
        _ALIASES[_alias] = _op.name

#: Suited to physics data: arithmetic, powers, roots, exp/log and trigonometry.
DEFAULT_OPERATORS: tuple[str, ...] = (
    "add", "sub", "mul", "div", "neg", "inv", "square", "cube", "sqrt",
    "exp", "log", "sin", "cos",
)


def get(name: str) -> Operator:
    """Return the operator called ``name`` (a token name or an alias).

    Raises
    ------
    ValueError
        If no operator has that name.
    """
    key = name.strip().lower()
    if key not in _ALIASES:
        known = ", ".join(sorted(OPERATORS))
        raise ValueError(f"unknown operator {name!r}; known operators: {known}")
    return OPERATORS[_ALIASES[key]]


def resolve_operators(names: Sequence[str] | str | None) -> tuple[str, ...]:
    """Turn user-given operator names into registry names, in registry order.

    ``None`` gives :data:`DEFAULT_OPERATORS`. A string is split on commas.
    Duplicates are removed. Raises ``ValueError`` naming an unknown operator.
    """
    if names is None:
        return DEFAULT_OPERATORS
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    chosen = {get(n).name for n in names}
    if not chosen:
        raise ValueError("operators: at least one operator is needed")
    return tuple(op.name for op in _SPECS if op.name in chosen)
