"""MCTS over expression structure (symreg.search.mcts) and its use in the search."""

import numpy as np

from symreg.expression import Expression
from symreg.search.engine import SearchConfig, _Search
from symreg.search.mcts import StructureMCTS, mine_subtrees, reward


def test_mine_subtrees_keeps_constants_and_needs_a_variable():
    e = Expression.parse("2.5*sin(x0*x1) + exp(1.5)")
    subs = {str(s) for s in mine_subtrees([e], min_size=2, max_size=5)}
    assert "sin(x0*x1)" in subs
    assert "x0*x1" in subs
    assert not any("exp" in s and "x" not in s for s in subs)
    with_const = [s for s in mine_subtrees([e], max_size=9) if s.n_constants]
    assert any(np.isclose(s.constants, 2.5).any() for s in with_const)


def test_reward_prefers_accurate_then_simple():
    assert reward(0.0, 3, 30) > reward(0.01, 3, 30) > reward(0.1, 3, 30)
    assert reward(0.0, 3, 30) > reward(0.0, 20, 30)
    assert reward(float("inf"), 3, 30) == 0.0


def test_puct_concentrates_on_the_rewarding_slot():
    rng = np.random.default_rng(0)
    tree = StructureMCTS(4, ["add", "mul", "sin"], rng, max_slots=2, max_slots_deep=2)
    chose_x2 = 0
    for i in range(300):
        path, _menu, slots = tree.select()
        good = any(s.tokens == ("x2",) for s in slots)
        tree.backup(path, 1.0 if good else 0.1)
        if i >= 200:
            chose_x2 += good
    # late simulations pick the subtree that pays far more often than chance (2 of 5)
    assert chose_x2 > 70
    assert tree.visits[()] == 300


def test_prior_steers_the_first_choices():
    rng = np.random.default_rng(0)

    def prior(chosen, candidates):
        return np.array([10.0 if c.tokens == ("x3",) else 0.01 for c in candidates])

    tree = StructureMCTS(6, ["add", "mul"], rng, prior=prior)
    picks = []
    for _ in range(12):
        path, _menu, slots = tree.select()
        picks.append(any(s.tokens == ("x3",) for s in slots))
        tree.backup(path, 0.5)
    assert sum(picks) >= 10


def test_a_failing_prior_is_ignored():
    def prior(chosen, candidates):
        raise RuntimeError("model not loaded")

    tree = StructureMCTS(3, ["add", "mul"], np.random.default_rng(0), prior=prior)
    _path, _menu, slots = tree.select()
    assert slots


def test_pool_keeps_the_best_mined_subtrees():
    tree = StructureMCTS(2, ["add", "mul", "sin"], np.random.default_rng(0), pool_size=5)
    fixed = len(tree.pool)  # x0, x1, C
    assert fixed == 3
    subs = [Expression.parse(t) for t in ("sin(x0)", "x0*x1", "x0 + x1", "sin(x1)")]
    tree.add_to_pool(subs, [0.5, 0.1, 0.9, 0.05])
    kept = {str(e) for e in tree.pool[fixed:]}
    assert kept == {"x0*x1", "sin(x1)"}
    # a duplicate is not added twice
    assert tree.add_to_pool([Expression.parse("x0*x1")], [0.0]) == 0


def test_same_seed_same_paths():
    def run():
        tree = StructureMCTS(3, ["add", "mul", "exp"], np.random.default_rng(7))
        out = []
        for k in range(20):
            path, _menu, slots = tree.select()
            tree.backup(path, (k % 3) / 3)
            out.append((path, tuple(s.tokens for s in slots)))
        return out

    assert run() == run()


def test_tree_search_recovers_a_law_out_of_reach_of_small_enumeration():
    rng = np.random.default_rng(3)
    X = rng.uniform(1.0, 3.0, size=(400, 4))
    y = X[:, 0] * X[:, 1] * np.log(X[:, 2] / X[:, 3])
    cfg = SearchConfig(operators=("add", "sub", "mul", "div", "log", "exp"), time_budget=60,
                       seed=0)
    s = _Search(X, y, cfg, None, None)
    s.seed_exprs = []
    for _ in range(20):
        s._tree_search(2, reserve=0.0)
        if s._exact():
            break
    assert s._exact(), [str(c.expr) for c in s.hof.front()]
