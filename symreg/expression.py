"""Expression: a formula as prefix tokens plus the values of its constants.

One representation flows through symreg: the transformer reads and writes
these tokens, the evaluator compiles them, the search edits them. Tokens are
operator names from :mod:`symreg.operators`, variables ``x0, x1, ...`` (by
column index; display names are kept beside them) and the constant
placeholder ``C``. The i-th ``C`` in the sequence takes ``constants[i]``.

>>> e = Expression.parse("x0*sin(x1) + 2.5")
>>> e.tokens
('add', 'mul', 'x0', 'sin', 'x1', 'C')
>>> str(e)
'x0*sin(x1) + 2.5'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction

import numpy as np
import sympy

from . import operators as ops
from .operators import CONST, is_variable, variable_index
from .parse import parse_formula, sympy_tokens

__all__ = ["CONST", "Expression", "arity", "is_variable", "variable_index"]


def arity(token: str) -> int:
    op = ops.OPERATORS.get(token)
    return op.arity if op is not None else 0


def _check_prefix(tokens: Sequence[str]) -> None:
    """Raise ValueError unless ``tokens`` is one complete prefix expression."""
    need = 1
    for i, tok in enumerate(tokens):
        if need == 0:
            raise ValueError(f"tokens after a complete expression at position {i}: {tokens!r}")
        if tok in ops.OPERATORS:
            need += ops.OPERATORS[tok].arity - 1
        elif tok == CONST or is_variable(tok):
            need -= 1
        else:
            raise ValueError(f"unknown token {tok!r}")
    if need != 0 or not tokens:
        raise ValueError(f"incomplete prefix expression: {tokens!r}")


# ----------------------------------------------------------------------------
# constants as exact sympy numbers where they plainly are one
# ----------------------------------------------------------------------------

def _small_fraction(x: float, max_den: int = 1000) -> Fraction | None:
    """The fraction p/q (q <= max_den) that equals x to float precision, if any.

    The tolerance is relative, so a tiny constant (1e-14) is never taken for 0.
    """
    if not math.isfinite(x) or abs(x) > 1e15:  # huge floats are integers, not exact ones
        return None
    frac = Fraction(x).limit_denominator(max_den)
    if abs(float(frac) - x) <= 1e-12 * abs(x):
        return frac
    return None


def _short_decimal(x: float, max_digits: int = 6) -> Fraction | None:
    """The exact decimal that ``x`` was written as, if its shortest form is short.

    ``1.3939`` (which a benchmark formula writes as ``0.53*2.63``) becomes
    13939/10000. Fitted constants have 15-17 significant digits and never
    qualify; very large and very small magnitudes are left alone.
    """
    if x == 0 or not math.isfinite(x) or not (1e-6 <= abs(x) < 1e9):
        return None
    dec = Decimal(repr(x)).normalize()
    if len(dec.as_tuple().digits) > max_digits:
        return None
    return Fraction(dec)


#: Irrational factors that physics constants are small fractions of (1/(4π),
#: √(2π), 1/√(2π) of a Gaussian, √2), as (value, exact sympy form). Shared by
#: the exact printing of constants here and by constant snapping in the search.
NICE_FACTORS: tuple[tuple[float, sympy.Expr], ...] = (
    (math.pi, sympy.pi), (math.pi**2, sympy.pi**2), (1 / math.pi, 1 / sympy.pi),
    (math.sqrt(math.pi), sympy.sqrt(sympy.pi)), (1 / math.sqrt(math.pi), 1 / sympy.sqrt(sympy.pi)),
    (math.sqrt(2.0), sympy.sqrt(2)), (math.sqrt(2 * math.pi), sympy.sqrt(2 * sympy.pi)),
    (1 / math.sqrt(2 * math.pi), 1 / sympy.sqrt(2 * sympy.pi)),
)


def constant_to_sympy(value: float) -> sympy.Expr:
    """An exact sympy number for a constant that is plainly rational or q·π^k.

    In order: a fraction p/q with q <= 1000 that equals the value to float
    precision; a small fraction times π, π², 1/π, √π, 1/√π, √2, √(2π), 1/√(2π)
    or e; a decimal of at
    most six significant digits (``1.3939`` is 13939/10000), taken exactly.
    Anything else becomes a 15-digit ``sympy.Float``.
    """
    value = float(value)
    if not math.isfinite(value):
        return sympy.nan if math.isnan(value) else (sympy.oo if value > 0 else -sympy.oo)
    if value == 0:
        return sympy.Integer(0)
    frac = _small_fraction(value)
    if frac is not None:
        return sympy.Rational(frac.numerator, frac.denominator)
    for factor, symbolic in NICE_FACTORS + ((math.e, sympy.E),):
        frac = _small_fraction(value / factor, 100)
        if frac is not None and frac != 0:
            return sympy.Rational(frac.numerator, frac.denominator) * symbolic
    frac = _short_decimal(value)
    if frac is not None:
        return sympy.Rational(frac.numerator, frac.denominator)
    return sympy.Float(value, 15)


def _format_constant(value: float, precision: int | None) -> str:
    if precision is None:
        return repr(float(value))
    text = f"{value:.{precision}g}"
    return text


# precedences of the infix printer: higher binds tighter (Python's rules)
_P_ADD, _P_MUL, _P_NEG, _P_POW, _P_ATOM = 1, 2, 3, 4, 9
_INFIX = {"add": _P_ADD, "sub": _P_ADD, "mul": _P_MUL, "div": _P_MUL}
# nodes that the parser folds into one constant when all their arguments are
# literal constants and they are written with operators (1.5 + 2, -2.5, 3**2, 1/4)
_FOLDABLE = frozenset({"add", "sub", "mul", "div", "pow", "neg", "square", "cube", "inv"})


# ----------------------------------------------------------------------------
# Expression
# ----------------------------------------------------------------------------

class Expression:
    """A formula: prefix tokens and the values of its constant placeholders.

    Parameters
    ----------
    tokens : sequence of str
        A complete prefix expression over operator names, ``x<i>`` and ``C``.
    constants : array-like of float, optional
        One value per ``C`` token, in order. Defaults to ones.
    variable_names : sequence of str, optional
        Display names for ``x0, x1, ...``.
    """

    __slots__ = ("_complexity", "_hash", "constants", "tokens", "variable_names")

    def __init__(self, tokens: Sequence[str], constants: Iterable[float] | None = None,
                 variable_names: Sequence[str] | None = None, *, check: bool = True):
        self.tokens: tuple[str, ...] = tuple(tokens)
        if check:
            _check_prefix(self.tokens)
        n_const = self.tokens.count(CONST)
        if constants is None:
            values = np.ones(n_const, dtype=np.float64)
        else:
            values = np.array(constants, dtype=np.float64).reshape(-1)
        if values.shape[0] != n_const:
            raise ValueError(f"expression has {n_const} constant placeholders but "
                             f"{values.shape[0]} constant values were given")
        self.constants: np.ndarray = values
        self.variable_names: tuple[str, ...] | None = (
            tuple(variable_names) if variable_names is not None else None)
        self._complexity: int | None = None
        self._hash: int | None = None

    # -- basic properties ----------------------------------------------------
    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def n_constants(self) -> int:
        return int(self.constants.shape[0])

    @property
    def complexity(self) -> int:
        """Sum of node complexities: each operator its own, each leaf 1."""
        if self._complexity is None:  # the tokens never change: count once
            total = 0
            for tok in self.tokens:
                op = ops.OPERATORS.get(tok)
                total += op.complexity if op is not None else 1
            self._complexity = total
        return self._complexity

    @property
    def variables(self) -> tuple[int, ...]:
        """Indices of the variables used, sorted."""
        return tuple(sorted({variable_index(t) for t in self.tokens if is_variable(t)}))

    @property
    def n_variables(self) -> int:
        """One more than the largest variable index used (0 if none)."""
        used = self.variables
        return used[-1] + 1 if used else 0

    def with_constants(self, constants: Iterable[float]) -> Expression:
        return Expression(self.tokens, constants, self.variable_names, check=False)

    def with_names(self, variable_names: Sequence[str] | None) -> Expression:
        return Expression(self.tokens, self.constants, variable_names, check=False)

    def name_of(self, index: int) -> str:
        if self.variable_names is not None and index < len(self.variable_names):
            return self.variable_names[index]
        return f"x{index}"

    def subtree_end(self, start: int) -> int:
        """Index one past the subtree that starts at ``start``."""
        need = 1
        i = start
        while need:
            need += arity(self.tokens[i]) - 1
            i += 1
        return i

    def const_offset(self, position: int) -> int:
        """How many constants come before token ``position``."""
        return self.tokens[:position].count(CONST)

    # -- equality and hashing --------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.tokens == other.tokens and np.array_equal(
            self.constants, other.constants, equal_nan=True)

    def __hash__(self) -> int:
        if self._hash is None:
            # hash what __eq__ compares: -0.0 as 0.0 and every NaN alike
            values = np.where(np.isnan(self.constants), np.nan, self.constants) + 0.0
            self._hash = hash((self.tokens, values.tobytes()))
        return self._hash

    def reduce(self, on_const, on_variable, on_operator, *, const_index: bool = False):
        """Fold the tree bottom-up: ``on_const(value)``, ``on_variable(index)``
        and ``on_operator(token, operator, args)`` give each node's result from
        its arguments' results. Iterative, so deep expressions are fine.

        With ``const_index``, ``on_const`` gets the constant's position in
        :attr:`constants` instead of its value (for evaluators whose constants
        live elsewhere, such as the trainable parameters of
        :func:`symreg.export.to_torch`).
        """
        stack: list = []
        cidx = len(self.constants)
        for tok in reversed(self.tokens):
            if tok == CONST:
                cidx -= 1
                stack.append(on_const(cidx if const_index else float(self.constants[cidx])))
            elif is_variable(tok):
                stack.append(on_variable(variable_index(tok)))
            else:
                op = ops.OPERATORS[tok]
                args = [stack.pop() for _ in range(op.arity)]  # first argument on top
                stack.append(on_operator(tok, op, args))
        return stack[0]

    def key(self, constants: bool = False, digits: int = 8) -> str:
        """A canonical key for de-duplication.

        Arguments of commutative operators are sorted, so ``x0 + x1`` and
        ``x1 + x0`` share a key. With ``constants=False`` (the default) all
        constants read ``C`` (the skeleton); otherwise they are written with
        ``digits`` significant digits.
        """
        def on_operator(tok, op, args):
            if op.commutative:
                args.sort()
            return f"{tok}({','.join(args)})"

        return self.reduce(lambda v: f"{v:.{digits}g}" if constants else CONST,
                           lambda i: f"x{i}", on_operator)

    # -- printing ------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Expression({self.to_string(precision=6)!r})"

    def __str__(self) -> str:
        return self.to_string(precision=6)

    def to_string(self, precision: int | None = None, names: Sequence[str] | None = None) -> str:
        """Infix text in Python syntax that :meth:`parse` reads back.

        ``precision`` is the number of significant digits of constants
        (``None``: full precision, so that ``parse`` gives back exactly this
        expression: the same tokens and the same constant values).

        Brackets follow Python's precedence and associativity, so the text
        parses to the same tree (``x - (y - z)``, ``x/(y*z)``, ``-x**2`` is
        ``neg(square(x))``, ``(-x)**2`` is ``square(neg(x))``). A node whose
        arguments are all constants is written as a call by its token name
        (``add(1.5, 2.0)``, ``neg(2.5)``, ``square(3.0)``), which ``parse``
        keeps as written instead of folding it into one constant.
        """
        names = names if names is not None else self.variable_names

        # each node gives (text, precedence, is a constant leaf)
        def on_const(value):
            text = _format_constant(value, precision)
            return (text, _P_NEG if text.startswith("-") else _P_ATOM, True)

        def on_variable(i):
            return (names[i] if names is not None and i < len(names) else f"x{i}", _P_ATOM, False)

        def on_operator(tok, op, args):
            if all(a[2] for a in args) and tok in _FOLDABLE:
                # infix would fold into one constant: write the node as a call
                return (f"{tok}({', '.join(a[0] for a in args)})", _P_ATOM, False)
            if tok in _INFIX:
                (a, pa, _), (b, pb, b_const) = args
                p = _INFIX[tok]
                if precision is not None and tok in ("add", "sub") and b_const and b.startswith("-"):
                    # for reading, x + (-2) is x - 2 (this text parses to sub, not add)
                    tok = "sub" if tok == "add" else "add"
                    op = ops.OPERATORS[tok]
                    b, pb = b[1:], _P_ATOM
                left = a if pa >= p else f"({a})"
                # the right operand needs brackets at equal precedence (x - (y - z),
                # x + (y + z)); a leading minus is bracketed for readability
                right = b if pb > p and pb != _P_NEG else f"({b})"
                sep = f" {op.symbol} " if p == _P_ADD else op.symbol
                return (f"{left}{sep}{right}", p, False)
            if tok == "pow":
                (a, pa, _), (b, pb, _) = args
                base = a if pa == _P_ATOM else f"({a})"
                exponent = b if pb == _P_ATOM else f"({b})"
                return (f"{base}**{exponent}", _P_POW, False)
            (a, pa, _), = args
            if tok == "neg":
                return (f"-{a if pa >= _P_POW else f'({a})'}", _P_NEG, False)
            if tok in ("square", "cube"):
                base = a if pa == _P_ATOM else f"({a})"
                return (f"{base}**{2 if tok == 'square' else 3}", _P_POW, False)
            if tok == "inv":
                return (f"1/{a if pa >= _P_POW else f'({a})'}", _P_MUL, False)
            return (f"{tok}({a})", _P_ATOM, False)

        return self.reduce(on_const, on_variable, on_operator)[0]

    # -- sympy -----------------------------------------------------------------------
    def sympy(self, variable_names: Sequence[str] | None = None, exact_constants: bool = True,
              symbols: dict | None = None) -> sympy.Expr:
        """The formula as a sympy expression.

        With ``exact_constants`` (the default), constants that equal a small
        fraction, or one times π, to float precision become exact numbers.
        ``symbols`` may map variable names to sympy symbols (to carry
        assumptions such as positivity).
        """
        names = variable_names if variable_names is not None else self.variable_names
        symbols = symbols or {}
        def symbol(i: int) -> sympy.Symbol:
            name = names[i] if names is not None and i < len(names) else f"x{i}"
            return symbols.get(name) or sympy.Symbol(name)

        return self.reduce(
            lambda v: constant_to_sympy(v) if exact_constants else sympy.Float(v, 15),
            symbol, lambda tok, op, args: op.sympy_fn(*args))

    def latex(self, variable_names: Sequence[str] | None = None, precision: int = 4) -> str:
        """LaTeX for the formula, constants shown with ``precision`` digits."""
        expr = self.sympy(variable_names)
        expr = expr.xreplace({f: sympy.Float(f, precision) for f in expr.atoms(sympy.Float)})
        return sympy.latex(expr)

    # -- numerical evaluation ----------------------------------------------------------
    def evaluate(self, X) -> np.ndarray:
        """Evaluate on the rows of ``X`` ([n_samples, n_features]) in float64.

        Out-of-domain values give NaN or inf, never an exception.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if self.n_variables > X.shape[1]:
            raise ValueError(f"expression uses x{self.n_variables - 1} but X has "
                             f"{X.shape[1]} columns")
        n = X.shape[0]
        with np.errstate(all="ignore"):
            out = self.reduce(lambda v: np.full(n, v), lambda i: X[:, i],
                              lambda tok, op, args: op.numpy_fn(*args))
        return np.broadcast_to(np.asarray(out, dtype=np.float64), (n,)).copy()

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens), "constants": [float(c) for c in self.constants],
                "variable_names": list(self.variable_names) if self.variable_names else None}

    @classmethod
    def from_dict(cls, data: dict) -> Expression:
        return cls(data["tokens"], data.get("constants"), data.get("variable_names"))

    # -- construction from text --------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, variable_names: Sequence[str] | None = None) -> Expression:
        """Read a formula in Python/numpy syntax.

        Variables are ``x0, x1, ...`` or the given ``variable_names``.
        Numbers and ``pi``/``e`` become constants; ``^`` means power.
        Functions are operator names or aliases (``sin``, ``ln``, ``arcsin``,
        ``abs``...), also with a module prefix (``np.sin``), plus ``pow(a, b)``,
        ``div(a, b)``, ``cot``, ``sec`` and ``csc``.

        Written with operators, arithmetic on literal numbers is folded
        (``2*pi`` is one constant, ``-3`` a negative constant). A power whose
        exponent is written with integers becomes its own operator (``x**2``
        is ``square(x)``, ``x**3`` ``cube``, ``x**(1/2)`` ``sqrt``, ``x**-1``
        and ``1/x`` ``inv``), while a decimal exponent stays a constant that
        a fitter may tune (``x**2.0`` is ``pow(x, 2.0)``). A call by an
        operator's name builds that node as written, without folding
        (``add(1.5, 2.0)``, ``neg(2.5)``). :meth:`to_string` relies on these
        rules to print text that parses back to the same expression.

        Raises
        ------
        ValueError
            On an empty formula, a syntax error, an unknown variable or
            function, or a function called with the wrong number of arguments.
        """
        tokens, constants = parse_formula(text, variable_names)
        return cls(tokens, constants, variable_names)

    @classmethod
    def from_sympy(cls, expr, variable_names: Sequence[str] | None = None) -> Expression:
        """Convert a sympy expression.

        Symbols map to variables by ``variable_names`` (or ``x<i>`` names);
        numbers become constants. Sums become chains of ``add``/``sub``,
        products of ``mul``/``div``, and integer powers 2, 3, 1/2 and -1
        ``square``, ``cube``, ``sqrt`` and ``inv``.
        """
        tokens, constants = sympy_tokens(expr, variable_names)
        return cls(tokens, constants, variable_names)
