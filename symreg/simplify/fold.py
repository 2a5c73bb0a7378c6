"""Token-level constant folding: :func:`fold_constants`.

It works on the prefix tokens alone (no sympy) and runs in tens of
microseconds, so the search can apply it to every candidate. It only makes
rewrites that keep the function value up to round-off. The folder builds a
nested-tuple tree (:mod:`symreg.tree`) bottom-up, applying its rules as each
node is made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import operators as ops
from ..expression import CONST, Expression
from ..tree import Disallowed, tree_tokens

__all__ = ["fold_constants"]

_ARITY = {name: op.arity for name, op in ops.OPERATORS.items()}
_NUMPY = {name: op.numpy_fn for name, op in ops.OPERATORS.items()}
_TINY = 2.2250738585072014e-308   # smallest normal float64
_HUGE = 1.7976931348623157e308

def _good(v: float) -> bool:
    """A product/quotient/sum we may put in place of two constants: finite and
    not in the subnormal range (where it would have lost precision)."""
    a = abs(v)
    return a == 0.0 or _TINY <= a <= _HUGE


def _good_product(v: float, x: float, y: float) -> bool:
    if v == 0.0:
        return x == 0.0 or y == 0.0
    return _TINY <= abs(v) <= _HUGE


_POW_SPECIAL = ((2.0, "square"), (3.0, "cube"), (0.5, "sqrt"), (-1.0, "inv"))


class _Folder:
    """Bottom-up rewriting of nested-tuple trees; see :func:`fold_constants`.

    ``mk(op, a, b)`` builds the node ``op(a, b)`` from already-folded children,
    applying the rewrite rules (which call ``mk`` again for the nodes they
    build). A rule that would need an operator outside ``allowed`` raises
    :class:`Disallowed`, which makes ``mk`` fall back to the plain node.
    """

    __slots__ = ("allowed", "tol")

    def __init__(self, tol: float, allowed: frozenset | None):
        self.tol = tol
        self.allowed = allowed

    # -- entry ----------------------------------------------------------------------
    def mk(self, op: str, a, b=None):
        if self.allowed is not None and op not in self.allowed:
            raise Disallowed(op)
        if b is None:
            if type(a) is float:
                return self._fold(op, a)
            try:
                return self._unary(op, a)
            except Disallowed:
                return (op, a)
        ta = type(a) is float
        tb = type(b) is float
        if ta and tb:
            return self._fold(op, a, b)
        try:
            if op == "mul":
                return self._mul(a, b, ta, tb)
            if op == "add":
                return self._add(a, b, ta, tb)
            if op == "sub":
                return self._sub(a, b, ta, tb)
            if op == "div":
                return self._div(a, b, ta, tb)
            if op == "pow" and tb:
                return self._pow(a, b)
        except Disallowed:
            pass
        return (op, a, b)

    @staticmethod
    def _fold(op: str, a: float, b: float | None = None):
        """An operator on constants only: one constant, when finite."""
        with np.errstate(all="ignore"):
            if b is None:
                v = float(_NUMPY[op](np.float64(a)))
            else:
                v = float(_NUMPY[op](np.float64(a), np.float64(b)))
        if math.isfinite(v):
            return v
        return (op, a) if b is None else (op, a, b)

    # -- unary ----------------------------------------------------------------------
    def _unary(self, op: str, a):
        if op == "neg" and type(a) is tuple:
            h = a[0]
            if h == "neg":                                   # --g -> g
                return a[1]
            if h == "mul" and type(a[1]) is float:           # -(c*g) -> (-c)*g
                return self.mk("mul", -a[1], a[2])
            if h == "div" and type(a[1]) is float:           # -(c/g) -> (-c)/g
                return self.mk("div", -a[1], a[2])
            if h == "sub":                                   # -(p-q) -> q-p
                return self.mk("sub", a[2], a[1])
            if h == "add" and type(a[2]) is float:           # -(g+c) -> (-c)-g
                return self.mk("sub", -a[2], a[1])
        elif op == "inv" and type(a) is tuple and type(a[1]) is float and a[1] != 0.0:
            h = a[0]
            if h == "mul" or h == "div":
                inv = 1.0 / a[1]
                if _good(inv) and inv != 0.0:               # 1/(c*g) -> (1/c)/g
                    return self.mk("div" if h == "mul" else "mul", inv, a[2])
        return (op, a)

    # -- binary -----------------------------------------------------------------------
    def _mul(self, a, b, ta: bool, tb: bool):
        if tb:                                               # constant first
            a, b, ta = b, a, True
        if ta:
            c = a
            if type(b) is tuple:
                h = b[0]
                if h == "mul" and type(b[1]) is float:       # c*(d*g) -> (cd)*g
                    p = c * b[1]
                    if _good_product(p, c, b[1]):
                        return self.mk("mul", p, b[2])
                elif h == "neg":                             # c*(-g) -> (-c)*g
                    return self.mk("mul", -c, b[1])
                elif h == "div" and type(b[1]) is float:     # c*(d/g) -> (cd)/g
                    p = c * b[1]
                    if _good_product(p, c, b[1]):
                        return self.mk("div", p, b[2])
            if abs(c - 1.0) <= self.tol:
                return b
            if abs(c + 1.0) <= self.tol:
                return self.mk("neg", b)
            return ("mul", c, b)
        # no constant argument: lift constants and signs out of the product
        if type(a) is tuple:
            if a[0] == "mul" and type(a[1]) is float:
                return self.mk("mul", a[1], self.mk("mul", a[2], b))
            if a[0] == "neg":
                return self.mk("neg", self.mk("mul", a[1], b))
        if type(b) is tuple:
            if b[0] == "mul" and type(b[1]) is float:
                return self.mk("mul", b[1], self.mk("mul", a, b[2]))
            if b[0] == "neg":
                return self.mk("neg", self.mk("mul", a, b[1]))
        return ("mul", a, b)

    def _div(self, a, b, ta: bool, tb: bool):
        if tb:                                               # g/c -> (1/c)*g
            c = b
            if c != 0.0:
                inv = 1.0 / c
                if _good(inv) and inv != 0.0:
                    return self.mk("mul", inv, a)
            return ("div", a, b)
        if ta:
            c = a
            if type(b) is tuple:
                h = b[0]
                if h == "mul" and type(b[1]) is float and b[1] != 0.0:   # c/(d*g) -> (c/d)/g
                    q = c / b[1]
                    if _good_product(q, c, 1.0):
                        return self.mk("div", q, b[2])
                elif h == "div" and type(b[1]) is float and b[1] != 0.0:  # c/(d/g) -> (c/d)*g
                    q = c / b[1]
                    if _good_product(q, c, 1.0):
                        return self.mk("mul", q, b[2])
                elif h == "neg":                                          # c/(-g) -> (-c)/g
                    return self.mk("div", -c, b[1])
            return ("div", c, b)
        if type(a) is tuple and a[0] == "mul" and type(a[1]) is float:   # (c*g)/h -> c*(g/h)
            return self.mk("mul", a[1], self.mk("div", a[2], b))
        if type(b) is tuple and b[0] == "mul" and type(b[1]) is float and b[1] != 0.0:
            inv = 1.0 / b[1]                                            # g/(c*h) -> (1/c)*(g/h)
            if _good(inv) and inv != 0.0:
                return self.mk("mul", inv, self.mk("div", a, b[2]))
        return ("div", a, b)

    def _add(self, a, b, ta: bool, tb: bool):
        if ta:                                               # constant last
            a, b, tb = b, a, True
        if tb:
            c = b
            if type(a) is tuple:
                h = a[0]
                if h == "add" and type(a[2]) is float:       # (g+d)+c -> g+(d+c)
                    s = a[2] + c
                    if _good(s):
                        if abs(s) <= self.tol * max(abs(c), abs(a[2])):
                            return a[1]
                        return self.mk("add", a[1], s)
                elif h == "sub" and type(a[1]) is float:     # (d-g)+c -> (d+c)-g
                    s = a[1] + c
                    if _good(s):
                        if abs(s) <= self.tol * max(abs(c), abs(a[1])):
                            s = 0.0
                        return self.mk("sub", s, a[2])
            if abs(c) <= self.tol:
                return a
            return ("add", a, c)
        # no constant argument: lift constants out of the sum, absorb negations
        if type(a) is tuple:
            h = a[0]
            if h == "add" and type(a[2]) is float:           # (g+c)+h -> (g+h)+c
                return self.mk("add", self.mk("add", a[1], b), a[2])
            if h == "sub" and type(a[1]) is float:           # (c-g)+h -> (h-g)+c
                return self.mk("add", self.mk("sub", b, a[2]), a[1])
            if h == "neg":                                   # (-g)+h -> h-g
                return self.mk("sub", b, a[1])
        if type(b) is tuple:
            h = b[0]
            if h == "add" and type(b[2]) is float:           # g+(h+c) -> (g+h)+c
                return self.mk("add", self.mk("add", a, b[1]), b[2])
            if h == "sub" and type(b[1]) is float:           # g+(c-h) -> (g-h)+c
                return self.mk("add", self.mk("sub", a, b[2]), b[1])
            if h == "neg":                                   # g+(-h) -> g-h
                return self.mk("sub", a, b[1])
        return ("add", a, b)

    def _sub(self, a, b, ta: bool, tb: bool):
        if tb:
            if abs(b) <= self.tol:                           # g-0 -> g
                return a
            return self.mk("add", a, -b)                     # g-c -> g+(-c)
        if ta:
            c = a
            if type(b) is tuple:
                h = b[0]
                if h == "add" and type(b[2]) is float:       # c-(g+d) -> (c-d)-g
                    s = c - b[2]
                    if _good(s):
                        if abs(s) <= self.tol * max(abs(c), abs(b[2])):
                            s = 0.0
                        return self.mk("sub", s, b[1])
                elif h == "sub" and type(b[1]) is float:     # c-(d-g) -> g+(c-d)
                    s = c - b[1]
                    if _good(s):
                        if abs(s) <= self.tol * max(abs(c), abs(b[1])):
                            return b[2]
                        return self.mk("add", b[2], s)
                elif h == "neg":                             # c-(-g) -> g+c
                    return self.mk("add", b[1], c)
            if abs(c) <= self.tol:                           # 0-g -> -g
                return self.mk("neg", b)
            return ("sub", c, b)
        if type(a) is tuple:
            h = a[0]
            if h == "add" and type(a[2]) is float:           # (g+c)-h -> (g-h)+c
                return self.mk("add", self.mk("sub", a[1], b), a[2])
            if h == "sub" and type(a[1]) is float:           # (c-g)-h -> c-(g+h)
                return self.mk("sub", a[1], self.mk("add", a[2], b))
        if type(b) is tuple:
            h = b[0]
            if h == "add" and type(b[2]) is float:           # g-(h+c) -> (g-h)+(-c)
                return self.mk("add", self.mk("sub", a, b[1]), -b[2])
            if h == "sub" and type(b[1]) is float:           # g-(c-h) -> (g+h)+(-c)
                return self.mk("add", self.mk("add", a, b[2]), -b[1])
            if h == "neg":                                   # g-(-h) -> g+h
                return self.mk("add", a, b[1])
        return ("sub", a, b)

    def _pow(self, a, c: float):
        if abs(c - 1.0) <= self.tol:
            return a
        for value, name in _POW_SPECIAL:
            if abs(c - value) <= self.tol * abs(value):
                return self.mk(name, a)
        return ("pow", a, c)


def fold_constants(expr: Expression, tol: float = 1e-12,
                   operators: Sequence[str] | None = None) -> Expression:
    """Fold and merge constants on the prefix tokens (no sympy; microseconds).

    Rewrites, bottom-up:

    * an operator whose arguments are all constants becomes one constant
      (computed with the operator's numpy form; only when finite);
    * nested scales and offsets merge: ``c*(d*g) -> (cd)*g``,
      ``(g+c)+d -> g+(c+d)``, ``c-(g+d) -> (c-d)-g``, ``g/c -> (1/c)*g``, …;
      constants are lifted out of products and sums so that they can merge
      (``(c*g)*h -> c*(g*h)``, ``(g+c)+h -> (g+h)+c``); ``sub(g, c)`` becomes
      ``add(g, -c)``; constants go first in products and last in sums;
    * ``1*g``, ``g+0``, ``g-0`` become ``g`` (``|c-1| <= tol``, ``|c| <= tol``,
      and for a merged sum ``|c| <= tol * max(|parts|)``); ``-1*g`` becomes
      ``neg(g)``; ``0-g`` becomes ``neg(g)``;
    * signs are absorbed: ``--g -> g``, ``-(c*g) -> (-c)*g``,
      ``g+(-h) -> g-h``, ``g-(-h) -> g+h``, ``-(p-q) -> q-p``;
    * ``pow(g, c)`` with c = 1, 2, 3, 1/2, -1 becomes ``g``, ``square``,
      ``cube``, ``sqrt``, ``inv``.

    The function value is kept up to round-off wherever the original is
    finite (``0*g`` is *not* folded, as it would change the domain). With
    ``operators`` given, no rewrite introduces an operator outside that set
    and the expression's own operators. Returns ``expr`` itself when nothing
    changes.
    """
    allowed = None
    if operators is not None:
        allowed = frozenset(operators) | frozenset(t for t in expr.tokens if t in _ARITY)
    folder = _Folder(tol, allowed)
    mk = folder.mk
    consts = expr.constants.tolist()
    ci = len(consts)
    stack: list = []
    push, pop = stack.append, stack.pop
    for tok in reversed(expr.tokens):
        if tok == CONST:
            ci -= 1
            push(consts[ci])
            continue
        n = _ARITY.get(tok, 0)
        if n == 0:
            push(tok)
        elif n == 1:
            push(mk(tok, pop()))
        else:
            a = pop()
            push(mk(tok, a, pop()))
    tokens, values = tree_tokens(stack[0])
    if tuple(tokens) == expr.tokens and values == consts:
        return expr
    return Expression(tokens, values, expr.variable_names, check=False)
