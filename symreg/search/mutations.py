"""Edits of prefix expressions: the moves of the evolutionary refinement.

Each move takes a random generator and one or two parent expressions and
returns a new Expression, or None when the move does not apply. Constants
travel with their ``C`` tokens when subtrees are cut and spliced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import operators as ops
from ..expression import CONST, Expression, arity
from ..generate import random_tokens
from ..tree import subtree_ends

__all__ = ["MutationContext", "crossover", "mutate", "subtree_ends"]


@dataclass(frozen=True)
class MutationContext:
    n_features: int
    operators: tuple[str, ...]
    maxsize: int
    const_prob: float = 0.15

    @property
    def unary(self) -> tuple[str, ...]:
        return tuple(o for o in self.operators if ops.OPERATORS[o].arity == 1)

    @property
    def binary(self) -> tuple[str, ...]:
        return tuple(o for o in self.operators if ops.OPERATORS[o].arity == 2)


def _splice(expr: Expression, start: int, end: int, new_tokens: Sequence[str],
            new_consts: Sequence[float]) -> Expression:
    t = expr.tokens
    c0 = expr.const_offset(start)
    c1 = c0 + sum(1 for tok in t[start:end] if tok == CONST)
    tokens = t[:start] + tuple(new_tokens) + t[end:]
    consts = np.concatenate([expr.constants[:c0], np.asarray(new_consts, dtype=np.float64),
                             expr.constants[c1:]])
    return Expression(tokens, consts, expr.variable_names, check=False)


def _random_leaf(rng: np.random.Generator, ctx: MutationContext) -> str:
    if rng.random() < ctx.const_prob:
        return CONST
    return f"x{int(rng.integers(ctx.n_features))}"


def _new_subtree(rng: np.random.Generator, ctx: MutationContext, max_ops: int) -> tuple[list[str], np.ndarray]:
    n_ops = int(rng.integers(0, max_ops + 1))
    if n_ops == 0:
        tokens = [_random_leaf(rng, ctx)]
    else:
        tokens = random_tokens(rng, ctx.n_features, ctx.operators, n_ops, ctx.const_prob)
    n_c = tokens.count(CONST)
    return tokens, rng.normal(0.0, 1.0, size=n_c) if n_c else np.zeros(0)


# ---------------------------------------------------------------------------
# the moves
# ---------------------------------------------------------------------------

def point_mutation(rng, expr: Expression, ctx: MutationContext) -> Expression | None:
    """Swap one node for another of the same arity."""
    i = int(rng.integers(len(expr)))
    tok = expr.tokens[i]
    a = arity(tok)
    if a == 0:
        new = _random_leaf(rng, ctx)
        if new == tok and tok != CONST:
            return None
        value = [float(rng.normal())] if new == CONST else []
        return _splice(expr, i, i + 1, [new], value)
    pool = ctx.unary if a == 1 else ctx.binary
    if len(pool) < 2:
        return None
    new = pool[int(rng.integers(len(pool)))]
    if new == tok:
        return None
    tokens = expr.tokens[:i] + (new,) + expr.tokens[i + 1:]
    return Expression(tokens, expr.constants, expr.variable_names, check=False)


def replace_subtree(rng, expr: Expression, ctx: MutationContext) -> Expression | None:
    """Replace a random subtree by a new random one."""
    ends = subtree_ends(expr.tokens)
    i = int(rng.integers(len(expr)))
    tokens, consts = _new_subtree(rng, ctx, max_ops=3)
    return _splice(expr, i, ends[i], tokens, consts)


def insert_node(rng, expr: Expression, ctx: MutationContext) -> Expression | None:
    """Wrap a random subtree in a new operator (with a new leaf as the other argument)."""
    ends = subtree_ends(expr.tokens)
    i = int(rng.integers(len(expr)))
    sub = list(expr.tokens[i:ends[i]])
    c0 = expr.const_offset(i)
    sub_consts = list(expr.constants[c0: c0 + sub.count(CONST)])
    if ctx.binary and (not ctx.unary or rng.random() < 0.6):
        op = ctx.binary[int(rng.integers(len(ctx.binary)))]
        leaf = _random_leaf(rng, ctx)
        leaf_c = [float(rng.normal())] if leaf == CONST else []
        if rng.random() < 0.5:
            tokens, consts = [op] + sub + [leaf], sub_consts + leaf_c
        else:
            tokens, consts = [op, leaf] + sub, leaf_c + sub_consts
    elif ctx.unary:
        op = ctx.unary[int(rng.integers(len(ctx.unary)))]
        tokens, consts = [op] + sub, sub_consts
    else:
        return None
    return _splice(expr, i, ends[i], tokens, consts)


def hoist(rng, expr: Expression, ctx: MutationContext) -> Expression | None:
    """Replace an operator node by one of its arguments (shrinks the tree)."""
    ops_at = [i for i, t in enumerate(expr.tokens) if arity(t) > 0]
    if not ops_at:
        return None
    ends = subtree_ends(expr.tokens)
    i = ops_at[int(rng.integers(len(ops_at)))]
    children = []
    j = i + 1
    while j < ends[i]:
        children.append((j, ends[j]))
        j = ends[j]
    s, e = children[int(rng.integers(len(children)))]
    c0 = expr.const_offset(s)
    consts = expr.constants[c0: c0 + expr.tokens[s:e].count(CONST)]
    return _splice(expr, i, ends[i], expr.tokens[s:e], consts)


def perturb_constants(rng, expr: Expression, ctx: MutationContext) -> Expression | None:
    """Jitter the constants (scale and sign), or turn a variable leaf into a constant."""
    if expr.n_constants == 0:
        return None
    c = expr.constants.copy()
    k = int(rng.integers(len(c)))
    c[k] = c[k] * np.exp(rng.normal(0.0, 0.5)) * (1 if rng.random() < 0.9 else -1) + rng.normal(0.0, 0.1)
    return expr.with_constants(c)


def crossover(rng, a: Expression, b: Expression) -> Expression | None:
    """A random subtree of ``a`` replaced by a random subtree of ``b``."""
    ea, eb = subtree_ends(a.tokens), subtree_ends(b.tokens)
    i = int(rng.integers(len(a)))
    j = int(rng.integers(len(b)))
    c0 = b.const_offset(j)
    sub = b.tokens[j:eb[j]]
    return _splice(a, i, ea[i], sub, b.constants[c0: c0 + sub.count(CONST)])


_MOVES: list[tuple[float, Callable]] = [
    (0.25, point_mutation),
    (0.25, replace_subtree),
    (0.2, insert_node),
    (0.15, hoist),
    (0.15, perturb_constants),
]
_MOVE_P = np.array([w for w, _ in _MOVES]) / sum(w for w, _ in _MOVES)


def mutate(rng: np.random.Generator, expr: Expression, ctx: MutationContext,
           tries: int = 4) -> Expression | None:
    """Apply one random move; retries a few times when a move does not apply
    or breaks ``ctx.maxsize``."""
    for _ in range(tries):
        move = _MOVES[int(rng.choice(len(_MOVES), p=_MOVE_P))][1]
        child = move(rng, expr, ctx)
        if child is not None and child.complexity <= ctx.maxsize:
            return child
    return None
