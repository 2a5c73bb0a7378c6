"""Random expressions: used by the search (new material, mutations), the
benchmarks and the tests. Pure numpy randomness, seeded by the caller."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import operators as ops
from .expression import CONST, Expression

__all__ = ["random_expression", "random_expressions", "random_tokens"]


def random_tokens(rng: np.random.Generator, n_features: int, operators: Sequence[str],
                  n_ops: int, const_prob: float = 0.2) -> list[str]:
    """A random prefix sequence with exactly ``n_ops`` operator nodes.

    Trees grow by repeatedly replacing a random open leaf with an operator,
    which gives bushy and deep shapes alike. Leaves are constants with
    probability ``const_prob`` and otherwise a uniformly chosen variable.
    """
    unary = [o for o in operators if ops.OPERATORS[o].arity == 1]
    binary = [o for o in operators if ops.OPERATORS[o].arity == 2]
    # a tree as nested lists: [op, child...] or a leaf placeholder None
    root: list = [None]
    open_slots: list[tuple[list, int]] = [(root, 0)]
    for _ in range(n_ops):
        k = int(rng.integers(len(open_slots)))
        parent, idx = open_slots.pop(k)
        use_binary = binary and (not unary or rng.random() < 0.5)
        op = binary[int(rng.integers(len(binary)))] if use_binary else unary[int(rng.integers(len(unary)))]
        node = [op] + [None] * ops.OPERATORS[op].arity
        parent[idx] = node
        open_slots.extend((node, j) for j in range(1, len(node)))
    # written out in prefix order with a stack (a closure calling itself would be
    # a reference cycle holding rng until the garbage collector's next pass)
    out: list[str] = []
    stack = [root[0]]
    while stack:
        node = stack.pop()
        if node is None:
            if rng.random() < const_prob:
                out.append(CONST)
            else:
                out.append(f"x{int(rng.integers(n_features))}")
            continue
        out.append(node[0])
        stack.extend(reversed(node[1:]))
    return out


def random_expression(rng: np.random.Generator, n_features: int, operators: Sequence[str],
                      max_tokens: int = 30, const_prob: float = 0.2,
                      const_range: tuple[float, float] = (-3.0, 3.0)) -> Expression:
    """One random expression of at most ``max_tokens`` tokens."""
    # n_ops operators make at most 2*n_ops + 1 tokens
    n_ops = int(rng.integers(1, max(2, (max_tokens - 1) // 2 + 1)))
    tokens = random_tokens(rng, n_features, operators, n_ops, const_prob)
    while len(tokens) > max_tokens:
        n_ops = max(1, n_ops - 1)
        tokens = random_tokens(rng, n_features, operators, n_ops, const_prob)
    n_c = tokens.count(CONST)
    return Expression(tokens, rng.uniform(*const_range, size=n_c), check=False)


def random_expressions(n: int, n_features: int, operators: Sequence[str] | None = None,
                       max_tokens: int = 30, seed: int = 0, const_prob: float = 0.2) -> list[Expression]:
    """``n`` random expressions, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    operators = ops.resolve_operators(operators)
    return [random_expression(rng, n_features, operators, max_tokens, const_prob) for _ in range(n)]
