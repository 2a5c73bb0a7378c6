"""Writing an expression with only the operators a search allows: :func:`rewrite_operators`.

Sympy's output uses shorthand operators (``square``, ``inv``, ``sqrt``, integer
``pow``) that a user's operator set may lack; this spells them with the allowed
ones, through the powers of :class:`symreg.tree.TreeBuilder`.
"""

from __future__ import annotations

from .. import operators as ops
from ..expression import Expression
from ..tree import Disallowed, TreeBuilder, expression_to_tree, tree_to_expression

__all__ = ["rewrite_operators"]

_ARITY = {name: op.arity for name, op in ops.OPERATORS.items()}

# equivalents of the shorthand operators that sympy's output uses, in order of
# preference, for searches whose operator set lacks them
_REWRITES = {
    "square": (("mul",), lambda a: ("mul", a, a)),
    "cube": (("mul",), lambda a: ("mul", a, ("mul", a, a))),
    "inv": (("div",), lambda a: ("div", 1.0, a)),
    "neg": (("mul",), lambda a: ("mul", -1.0, a)),
    "sqrt": (("pow",), lambda a: ("pow", a, 0.5)),
}


def rewrite_operators(expr: Expression, allowed: frozenset[str]) -> Expression | None:
    """``expr`` with ``square``, ``cube``, ``inv``, ``neg``, ``sqrt`` and integer
    powers written with allowed operators (``x*x`` for ``x**2``, ``(x**2)**2``
    for ``pow(x, 4)``), or None if that is not possible."""
    if all(t not in _ARITY or t in allowed for t in expr.tokens):
        return expr
    builder = TreeBuilder(allowed)
    try:
        return tree_to_expression(_walk(expression_to_tree(expr), allowed, builder),
                                  expr.variable_names)
    except Disallowed:
        return None


def _walk(node, allowed: frozenset[str], builder: TreeBuilder):
    """``node`` rewritten into the allowed operators; raises Disallowed.

    A module function, not a closure: a closure that calls itself is a
    reference cycle, left for the garbage collector on every call."""
    if not isinstance(node, tuple):
        return node
    args = [_walk(a, allowed, builder) for a in node[1:]]
    op = node[0]
    if op == "pow" and "pow" not in allowed and isinstance(args[1], float):
        k = args[1]
        if k == int(k) and 1 <= abs(k) <= 8:
            base = builder.small_power(args[0], int(abs(k)))
            if k > 0:
                return base
            if "inv" in allowed:
                return ("inv", base)
            if "div" in allowed:
                return ("div", 1.0, base)
        if k == 0.5 and "sqrt" in allowed:
            return ("sqrt", args[0])
        raise Disallowed
    if op in allowed:
        return (op, *args)
    if op in _REWRITES:
        needs, build = _REWRITES[op]
        if all(n in allowed for n in needs):
            return build(*args)
    raise Disallowed
