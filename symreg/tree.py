"""Nested-tuple trees: the form in which formulas are built and rewritten.

An :class:`~symreg.expression.Expression` is a flat prefix token sequence, the
form the evaluator compiles and the search edits. Code that *builds* formulas
(the cheap structure tests, the simplifier's folder, the read-off of LIES and
DySymNet) works on a small tree instead:

* a Python ``float`` is a constant,
* a string ``"x<i>"`` is a variable,
* a tuple ``(op, child, ...)`` is an operator node.

This module owns that form: conversion in both directions
(:func:`expression_to_tree`, :func:`tree_to_expression`), its measures
(:func:`tree_size`, :func:`has_constant`), subtree spans of a token sequence
(:func:`subtree_ends`), and writing powers and products with only the operators
a search allows (:class:`TreeBuilder`, :func:`integer_power`).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from . import operators as ops
from .expression import CONST, Expression

__all__ = [
    "Disallowed",
    "Tree",
    "TreeBuilder",
    "expression_to_tree",
    "has_constant",
    "integer_power",
    "subtree_ends",
    "tree_size",
    "tree_to_expression",
    "tree_tokens",
]

#: a constant (float), a variable ("x<i>") or an operator node (op, child, ...)
Tree = float | str | tuple

_ARITY = {name: op.arity for name, op in ops.OPERATORS.items()}


# ----------------------------------------------------------------------------
# conversion
# ----------------------------------------------------------------------------

def expression_to_tree(expr: Expression) -> Tree:
    """The expression as a nested tuple tree (floats, ``"x<i>"``, ``(op, ...)``)."""
    consts = expr.constants.tolist()
    ci = len(consts)
    stack: list = []
    for tok in reversed(expr.tokens):
        if tok == CONST:
            ci -= 1
            stack.append(consts[ci])
            continue
        n = _ARITY.get(tok, 0)
        if n == 0:
            stack.append(tok)
        elif n == 1:
            stack.append((tok, stack.pop()))
        else:
            a = stack.pop()
            stack.append((tok, a, stack.pop()))
    return stack[0]


def _emit(node: Tree, tokens: list, consts: list) -> None:
    t = type(node)
    if t is float:
        tokens.append(CONST)
        consts.append(node)
    elif t is str:
        tokens.append(node)
    else:
        tokens.append(node[0])
        for child in node[1:]:
            _emit(child, tokens, consts)


def tree_tokens(tree: Tree) -> tuple[list[str], list[float]]:
    """The prefix tokens of a tree and its constants in token order."""
    tokens: list[str] = []
    consts: list[float] = []
    _emit(tree, tokens, consts)
    return tokens, consts


def tree_to_expression(tree: Tree, variable_names: Sequence[str] | None = None,
                       check: bool = False) -> Expression:
    """The Expression of a nested tuple tree."""
    tokens, consts = tree_tokens(tree)
    return Expression(tokens, consts, variable_names, check=check)


# ----------------------------------------------------------------------------
# measures
# ----------------------------------------------------------------------------

def tree_size(node: Tree) -> int:
    """Number of nodes (the complexity of the expression it writes)."""
    if type(node) is tuple:
        return 1 + sum(tree_size(c) for c in node[1:])
    return 1


def has_constant(node: Tree) -> bool:
    """Whether a constant appears anywhere in the tree."""
    if type(node) is float:
        return True
    if type(node) is tuple:
        return any(has_constant(c) for c in node[1:])
    return False


def subtree_ends(tokens: Sequence[str]) -> list[int]:
    """``ends[i]``: one past the last token of the subtree that starts at token ``i``
    of a prefix sequence (tokens that are not operators are leaves)."""
    n = len(tokens)
    ends = [0] * n
    stack: list[int] = []          # ends of the complete subtrees to the right
    for i in range(n - 1, -1, -1):
        end = i + 1
        for _ in range(_ARITY.get(tokens[i], 0)):
            end = stack.pop()
        ends[i] = end
        stack.append(end)
    return ends


# ----------------------------------------------------------------------------
# building with an allowed operator set
# ----------------------------------------------------------------------------

class Disallowed(Exception):
    """The tree needs an operator outside the allowed set."""


class TreeBuilder:
    """Builds tree nodes with only the allowed operators.

    Parameters
    ----------
    operators : sequence of str or None
        The allowed operators (aliases resolved); None allows every operator.
    """

    def __init__(self, operators: Sequence[str] | None):
        self.allowed = None if operators is None else frozenset(ops.resolve_operators(operators))

    def ok(self, *names: str) -> bool:
        """Whether all of ``names`` are allowed."""
        return self.allowed is None or all(n in self.allowed for n in names)

    def __call__(self, op: str, *args: Tree) -> tuple:
        if not self.ok(op):
            raise Disallowed(op)
        return (op, *args)

    # -- powers ----------------------------------------------------------------------
    def _chains(self, x: Tree) -> dict[int, Tree]:
        """x^k for k reachable by up to three square/cube steps: {k: node}."""
        out: dict[int, Tree] = {1: x}
        frontier = {1: x}
        for _ in range(3):
            nxt = {}
            for k, node in frontier.items():
                for name, m in (("square", 2), ("cube", 3)):
                    if self.ok(name) and k * m not in out and k * m not in nxt:
                        nxt[k * m] = (name, node)
            out.update(nxt)
            frontier = nxt
        return out

    def power(self, x: Tree, p: Fraction | float) -> Tree:
        """The shortest node for ``x^p``, ``p > 0`` (a Fraction or a float).

        Integer and half-integer Fractions are written with ``square``, ``cube``,
        ``mul`` and ``sqrt`` where allowed; ``pow(x, p)`` is the fallback. Ties
        prefer forms without a constant (``square(square(x))`` over
        ``pow(x, 4)``). Raises :class:`Disallowed` when nothing is possible.
        """
        options: list = []
        if isinstance(p, Fraction) and p.denominator in (1, 2):
            chains = self._chains(x)
            if p.denominator == 1:
                k = int(p)
                if k in chains:
                    options.append(chains[k])
                if k - 1 in chains and self.ok("mul"):
                    options.append(("mul", x, chains[k - 1]))
            else:
                k = p.numerator                    # x^(k/2), k odd
                if self.ok("sqrt"):
                    if k in chains:
                        options.append(("sqrt", chains[k]))
                    if (k - 1) // 2 in chains and self.ok("mul"):
                        options.append(("mul", chains[(k - 1) // 2], ("sqrt", x)))
        if self.ok("pow"):
            options.append(("pow", x, float(p)))
        if not options:
            raise Disallowed("pow")
        return min(options, key=lambda n: (tree_size(n), has_constant(n)))

    def small_power(self, a: Tree, k: int) -> Tree:
        """``a**k`` for a small integer ``k >= 1`` by repeated ``square``/``cube``
        and, failing those, ``mul`` (never ``pow``); raises :class:`Disallowed`."""
        if k == 1:
            return a
        if k == 2 and self.ok("square"):
            return ("square", a)
        if k == 3 and self.ok("cube"):
            return ("cube", a)
        if k % 2 == 0 and self.ok("square"):
            return ("square", self.small_power(a, k // 2))
        if k % 3 == 0 and self.ok("cube"):
            return ("cube", self.small_power(a, k // 3))
        if self.ok("mul"):
            return ("mul", self.small_power(a, k - 1), a)
        raise Disallowed("mul")

    def product(self, factors: Sequence[Tree]) -> Tree:
        """``factors[0] * factors[1] * ...``, left to right."""
        node = factors[0]
        for f in factors[1:]:
            node = self("mul", node, f)
        return node


_EVERY_OPERATOR = TreeBuilder(None)


def integer_power(g: Tree, k: int) -> Tree:
    """``g ** k`` (``k >= 1``) as a tree of ``square``, ``cube`` and ``mul``
    (the search's own spelling, whatever the operator set)."""
    return _EVERY_OPERATOR.small_power(g, k)
