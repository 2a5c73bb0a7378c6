"""Reading formulas: Python/numpy syntax and sympy trees to prefix tokens.

:meth:`Expression.parse <symreg.expression.Expression.parse>` and
:meth:`Expression.from_sympy <symreg.expression.Expression.from_sympy>` are
thin wrappers around :func:`parse_formula` and :func:`sympy_tokens`. Both build
an intermediate tree first (``("C", value, exact)`` | ``("x", index)`` |
``(op_name, child, ...)``), where the parser's rules apply: arithmetic on
literal numbers folds, and a power whose exponent is written with integers
becomes its own operator. This module knows the token vocabulary of
:mod:`symreg.operators` only; it never imports :mod:`symreg.expression`.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence

import numpy as np
import sympy

from . import operators as ops
from .operators import CONST, VARIABLE_RE

__all__ = ["parse_formula", "sympy_tokens"]


def parse_formula(text: str, variable_names: Sequence[str] | None = None
                  ) -> tuple[list[str], list[float]]:
    """The prefix tokens and constants of a formula in Python/numpy syntax.

    The rules are those of :meth:`symreg.expression.Expression.parse`.

    Raises
    ------
    ValueError
        On an empty formula, a syntax error, an unknown variable or function,
        or a function called with the wrong number of arguments.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("cannot parse an empty formula")
    try:
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ValueError(f"cannot parse formula {text!r}: {exc.msg}{where}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ValueError(f"cannot parse formula {text!r}: {exc}") from None
    builder = _Builder(variable_names)
    try:
        node = builder.visit(tree.body)
    except RecursionError:
        raise ValueError(f"cannot parse formula {text!r}: nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"cannot parse formula {text!r}: {exc}") from None
    return builder.finish(node)


def sympy_tokens(expr, variable_names: Sequence[str] | None = None
                 ) -> tuple[list[str], list[float]]:
    """The prefix tokens and constants of a sympy expression.

    The rules are those of :meth:`symreg.expression.Expression.from_sympy`.
    """
    builder = _Builder(variable_names)
    return builder.finish(builder.from_sympy(sympy.sympify(expr)))


# ----------------------------------------------------------------------------
# building intermediate trees from Python syntax trees and sympy trees
# ----------------------------------------------------------------------------

_AST_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_NAMED_CONSTANTS = {"pi": math.pi, "e": math.e, "E": math.e, "inf": math.inf, "nan": math.nan}
# module prefixes accepted before function and constant names (np.sin, math.pi)
_MODULES = frozenset({"np", "numpy", "math", "torch", "sympy", "sp", "scipy"})
# special powers (exponent written with integers) and their operators
_POWER_OPS = {2.0: "square", 3.0: "cube", 0.5: "sqrt", -1.0: "inv"}
_SYMPY_FUNCS = {
    sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan", sympy.tanh: "tanh",
    sympy.exp: "exp", sympy.log: "log", sympy.Abs: "abs", sympy.asin: "asin",
    sympy.acos: "acos", sympy.atan: "atan", sympy.sinh: "sinh", sympy.cosh: "cosh",
    sympy.harmonic: "harmonic",
}


class _Builder:
    """Builds intermediate trees: ``("C", value, exact)`` | ``("x", index)`` |
    ``(op_name, child, ...)``. ``exact`` marks a constant written with integer
    literals only (``2``, ``-1``, ``1/2``): those may turn a power into its own
    operator; decimals (``2.0``) and named constants may not."""

    def __init__(self, variable_names: Sequence[str] | None):
        self.names = list(variable_names) if variable_names is not None else None

    # -- shared helpers --
    def variable(self, name: str):
        if self.names is not None:
            if name in self.names:
                return ("x", self.names.index(name))
            if VARIABLE_RE.match(name):
                raise ValueError(f"unknown variable {name!r}; variables are {self.names}")
        m = VARIABLE_RE.match(name)
        if m and self.names is None:
            return ("x", int(m.group(1)))
        if name in _NAMED_CONSTANTS:
            return ("C", _NAMED_CONSTANTS[name], False)
        raise ValueError(f"unknown variable {name!r}" + (
            f"; variables are {self.names}" if self.names is not None else
            "; pass variable_names or use x0, x1, ..."))

    @staticmethod
    def is_const(node) -> bool:
        return node[0] == "C"

    @staticmethod
    def is_exact(node, value: float | None = None) -> bool:
        return (node[0] == "C" and len(node) > 2 and node[2]
                and (value is None or node[1] == value))

    def apply(self, name: str, *args, fold: bool = True):
        """Apply an operator. With ``fold``, arithmetic on literal constants is
        folded; always, a power with an exact special exponent (and 1/x with an
        exact 1) becomes its own operator."""
        if name == "pow":
            base, exponent = args
            if self.is_exact(exponent) and not self.is_const(base):
                p = float(exponent[1])
                if p in _POWER_OPS:
                    return (_POWER_OPS[p], base)
                if p == 1.0:
                    return base
        if (name == "div" and self.is_exact(args[0], 1.0) and not self.is_const(args[1])):
            return ("inv", args[1])
        if not fold:
            return (name, *args)
        if name == "neg" and self.is_const(args[0]):
            return ("C", -args[0][1], self.is_exact(args[0]))
        if name in ("add", "sub", "mul", "div", "pow") and all(self.is_const(a) for a in args):
            a, b = args[0][1], args[1][1]
            with np.errstate(all="ignore"):
                value = float(ops.OPERATORS[name].numpy_fn(np.float64(a), np.float64(b)))
            if math.isfinite(value):
                return ("C", value, self.is_exact(args[0]) and self.is_exact(args[1]))
        return (name, *args)

    @staticmethod
    def finish(node) -> tuple[list[str], list[float]]:
        """The prefix tokens and the constants of an intermediate tree."""
        tokens: list[str] = []
        consts: list[float] = []
        stack = [node]
        while stack:  # pre-order, iteratively (deep formulas do not recurse)
            n = stack.pop()
            head = n[0]
            if head == "C":
                tokens.append(CONST)
                consts.append(float(n[1]))
            elif head == "x":
                tokens.append(f"x{n[1]}")
            else:
                tokens.append(head)
                stack.extend(reversed(n[1:]))
        return tokens, consts

    # -- Python syntax --
    def visit(self, node):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                # a bad formula, reported like every other parse error
                raise ValueError(f"unsupported literal {node.value!r}")  # noqa: TRY004
            return ("C", float(node.value), isinstance(node.value, int))
        if isinstance(node, ast.Name):
            return self.variable(node.id)
        if isinstance(node, ast.Attribute):
            if (isinstance(node.value, ast.Name) and node.value.id in _MODULES
                    and node.attr in _NAMED_CONSTANTS):
                return ("C", _NAMED_CONSTANTS[node.attr], False)
            raise ValueError(f"unsupported name {ast.unparse(node)!r}")
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            if isinstance(node.op, ast.USub):
                return self.apply("neg", operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            raise ValueError(f"unsupported unary operator {type(node.op).__name__}")
        if isinstance(node, ast.BinOp):
            name = _AST_BINOPS.get(type(node.op))
            if name is None:
                raise ValueError(f"unsupported operator {type(node.op).__name__}")
            return self.apply(name, self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id in _MODULES):
                fname = func.attr
            elif isinstance(func, ast.Name):
                fname = func.id
            else:
                raise ValueError("only plain function calls like sin(x) are supported")
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise ValueError(f"{fname}: only positional arguments are supported")
            if fname in ("cot", "sec", "csc"):
                inner = {"cot": "tan", "sec": "cos", "csc": "sin"}[fname]
                self._expect(fname, node.args, 1)
                return ("inv", (inner, self.visit(node.args[0])))
            if fname == "sqr":
                fname = "square"
            try:
                op = ops.get(fname)
            except ValueError:
                known = sorted({*ops.OPERATORS, *(a for o in ops.OPERATORS.values()
                                                  for a in o.aliases if a.isidentifier()),
                                "cot", "sec", "csc"})
                raise ValueError(f"unknown function {fname!r}; known functions: "
                                 f"{', '.join(known)}") from None
            self._expect(fname, node.args, op.arity)
            args = [self.visit(a) for a in node.args]
            # a call by name builds the node as written (no folding of constants)
            return self.apply(op.name, *args, fold=False)
        raise ValueError(f"unsupported syntax {ast.unparse(node)!r}")

    @staticmethod
    def _expect(fname, args, n):
        if len(args) != n:
            raise ValueError(f"{fname}() takes {n} argument{'s' if n > 1 else ''}, "
                             f"got {len(args)}")

    # -- sympy trees --
    def from_sympy(self, expr):
        if expr.is_Number or expr in (sympy.pi, sympy.E) or expr.is_NumberSymbol:
            if not expr.is_real:
                raise ValueError(f"non-real constant {expr}")
            return ("C", float(expr))
        if expr.is_Symbol:
            return self.variable(expr.name)
        if expr.is_Add:
            terms = list(expr.as_ordered_terms())
            node = self.from_sympy(terms[0])
            for term in terms[1:]:
                coeff, rest = term.as_coeff_Mul()
                if coeff.is_Number and coeff < 0:
                    node = ("sub", node, self.from_sympy(-term))
                else:
                    node = ("add", node, self.from_sympy(term))
            return node
        if expr.is_Mul:
            coeff, rest = expr.as_coeff_Mul()
            if coeff == -1:
                return ("neg", self.from_sympy(rest))
            numer, denom = [], []
            for factor in expr.as_ordered_factors():
                if factor.is_Pow and factor.exp.is_Number and factor.exp < 0:
                    denom.append(factor.base ** (-factor.exp))
                elif factor.is_Rational and factor.q != 1 and not factor.is_Integer:
                    # 3/4 as a whole constant; keep it in the numerator
                    numer.append(factor)
                else:
                    numer.append(factor)
            def product(factors):
                node = self.from_sympy(factors[0])
                for f in factors[1:]:
                    node = ("mul", node, self.from_sympy(f))
                return node
            if not denom:
                return product(numer)
            denominator = product(denom)
            if not numer:
                return ("inv", denominator)
            return ("div", product(numer), denominator)
        if expr.is_Pow:
            base, exponent = expr.base, expr.exp
            if base == sympy.E:
                return ("exp", self.from_sympy(exponent))
            b = self.from_sympy(base)
            if exponent.is_Number:
                special = {2: "square", 3: "cube", sympy.Rational(1, 2): "sqrt", -1: "inv"}
                for value, name in special.items():
                    if exponent == value:
                        return (name, b)
                if exponent == sympy.Rational(-1, 2):
                    return ("inv", ("sqrt", b))
            return ("pow", b, self.from_sympy(exponent))
        func = expr.func
        if func in _SYMPY_FUNCS:
            return (_SYMPY_FUNCS[func], *[self.from_sympy(a) for a in expr.args])
        if func is sympy.cot:
            return ("inv", ("tan", self.from_sympy(expr.args[0])))
        if func is sympy.sec:
            return ("inv", ("cos", self.from_sympy(expr.args[0])))
        if func is sympy.csc:
            return ("inv", ("sin", self.from_sympy(expr.args[0])))
        raise ValueError(f"cannot convert {func} from sympy")
