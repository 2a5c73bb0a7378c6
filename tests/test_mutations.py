"""Edits of prefix expressions (symreg.search.mutations)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from symreg.expression import CONST, Expression
from symreg.generate import random_expression
from symreg.search import mutations as mu
from symreg.tree import subtree_ends

OPS = ("add", "sub", "mul", "div", "sin", "cos", "exp", "square")
CTX = mu.MutationContext(n_features=3, operators=OPS, maxsize=20)


def _valid(e: Expression, ctx: mu.MutationContext = CTX) -> None:
    """A well-formed prefix expression in the context's variables and operators
    whose constants match its C tokens."""
    Expression(e.tokens, e.constants, check=True)          # raises when malformed
    assert subtree_ends(e.tokens)[0] == len(e.tokens)
    assert e.n_constants == e.tokens.count(CONST) == len(e.constants)
    for t in e.tokens:
        assert t == CONST or t in ctx.operators or t in {f"x{j}" for j in range(ctx.n_features)}


def _parents(n: int, seed: int = 0) -> list[Expression]:
    rng = np.random.default_rng(seed)
    return [random_expression(rng, CTX.n_features, OPS, max_tokens=15) for _ in range(n)]


@pytest.mark.parametrize("move", [mu.point_mutation, mu.replace_subtree, mu.insert_node,
                                  mu.hoist, mu.perturb_constants])
def test_every_move_yields_a_valid_expression_or_none(move):
    rng = np.random.default_rng(1)
    applied = 0
    for parent in _parents(200):
        child = move(rng, parent, CTX)
        if child is None:
            continue
        applied += 1
        _valid(child)
    assert applied > 50


def test_mutate_stays_within_maxsize_with_the_right_constants():
    rng = np.random.default_rng(2)
    ctx = mu.MutationContext(n_features=3, operators=OPS, maxsize=9)
    out = 0
    for parent in _parents(300, seed=3):
        if parent.complexity > ctx.maxsize:
            continue
        child = mu.mutate(rng, parent, ctx)
        if child is not None:
            out += 1
            _valid(child, ctx)
            assert child.complexity <= ctx.maxsize
    assert out > 100


def test_moves_keep_the_untouched_constants():
    # x0 * C0 + C1 with C0 = 2, C1 = 5: a hoist or point mutation elsewhere keeps them
    e = Expression(["add", "mul", "x0", CONST, CONST], [2.0, 5.0])
    rng = np.random.default_rng(0)
    for _ in range(50):
        child = mu.point_mutation(rng, e, CTX)
        if child is None:
            continue
        _valid(child)
        if child.tokens == e.tokens:
            # a constant redrawn: the other one stays
            assert int(np.sum(child.constants != e.constants)) <= 1
        elif child.tokens[2:] == e.tokens[2:]:
            # an operator swapped: the constants stay
            assert list(child.constants) == [2.0, 5.0]
    hoisted = [mu.hoist(np.random.default_rng(s), e, CTX) for s in range(30)]
    for h in hoisted:
        _valid(h)
        # each C left in the child carries its own value
        if h.tokens == ("mul", "x0", CONST):
            assert list(h.constants) == [2.0]
        if h.tokens == (CONST,):
            assert list(h.constants) in ([2.0], [5.0])


def test_perturb_constants_changes_one_constant_only():
    e = Expression(["add", "mul", "x0", CONST, CONST], [2.0, 5.0])
    rng = np.random.default_rng(4)
    for _ in range(20):
        child = mu.perturb_constants(rng, e, CTX)
        assert child.tokens == e.tokens
        assert int(np.sum(child.constants != e.constants)) <= 1
    assert mu.perturb_constants(rng, Expression(["x0"]), CTX) is None


def test_hoist_shrinks_and_insert_grows():
    rng = np.random.default_rng(5)
    for parent in _parents(100, seed=6):
        h = mu.hoist(rng, parent, CTX)
        if h is not None:
            assert len(h) < len(parent)
        g = mu.insert_node(rng, parent, CTX)
        if g is not None:
            assert len(g) in (len(parent) + 1, len(parent) + 2)


def test_crossover_swaps_a_subtree_of_a_for_one_of_b():
    a = Expression(["add", "x0", "mul", CONST, "x1"], [3.0])
    b = Expression(["sin", "sub", "x2", CONST], [7.0])
    ea, eb = subtree_ends(a.tokens), subtree_ends(b.tokens)
    subs_a = {a.tokens[i:ea[i]] for i in range(len(a))}
    subs_b = {b.tokens[j:eb[j]] for j in range(len(b))}
    seen = set()
    for s in range(200):
        child = mu.crossover(np.random.default_rng(s), a, b)
        _valid(child)
        seen.add(child.tokens)
        # the child is a with one subtree (at some i) replaced by one of b's subtrees
        ok = False
        for i in range(len(a)):
            for sub in subs_b:
                if child.tokens == a.tokens[:i] + sub + a.tokens[ea[i]:]:
                    ok = True
        assert ok
        # constants travel with their C tokens
        if child.tokens == ("add", "x0", "mul", CONST, "sub", "x2", CONST):
            assert list(child.constants) == [3.0, 7.0]
        if child.tokens == ("add", "x0", "mul", CONST, "x1"):
            assert list(child.constants) in ([3.0], [7.0])
    assert len(seen) > 5
    assert subs_a and subs_b


def test_deterministic_under_a_seed():
    parents = _parents(50, seed=8)

    def run(seed):
        rng = np.random.default_rng(seed)
        out = []
        for p, q in itertools.pairwise(parents):
            m = mu.mutate(rng, p, CTX)
            c = mu.crossover(rng, p, q)
            out.append((None if m is None else (m.tokens, m.constants.tolist()),
                        (c.tokens, c.constants.tolist())))
        return out

    assert run(9) == run(9)
    assert run(9) != run(10)
