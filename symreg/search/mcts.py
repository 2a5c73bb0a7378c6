"""Monte Carlo tree search over expression structure.

The tree decides what the layered evaluator (:mod:`~symreg.search.layered`)
works on. A path from the root makes one choice per level:

1. the *operator menu*: which unary operators are in play and how many layers
   the pass may stack (all unary operators at depth 2, or one of them at
   depth 3; the binary operators are always in play);
2. then, one slot at a time, which base subtree fills the next slot, from a
   *pool* that starts with the variables, a constant and the seeds, and grows
   with subtrees mined from the hall of fame and from earlier passes — so a
   depth-2 pass over mined depth-2 pieces reaches depth-4 formulas; or *stop*.

Selection is PUCT: ``Q + c·P·√N(parent) / (1 + N(child))`` with ``Q`` the mean
reward below a child and ``P`` a prior over the actions. The prior is uniform
unless a ``prior`` callable is given (the hook through which a neural model's
opinion of the candidate subtrees will enter). A selected path that ends
early is completed by a random roll-out; the reward of the pass comes back
from the caller (fitted accuracy with a complexity term) and is backed up
along the path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import operators as ops
from ..expression import CONST, Expression
from ..tree import subtree_ends

__all__ = ["Menu", "StructureMCTS", "StructurePrior", "mine_subtrees", "reward"]

#: ``prior(chosen_slots, candidates) -> weights``: one non-negative weight per
#: candidate subtree (the caller normalises); ``None`` means uniform.
StructurePrior = Callable[[Sequence[Expression], Sequence[Expression]], np.ndarray]

_STOP = -1


@dataclass(frozen=True)
class Menu:
    """Operators in play and layers of one layered pass."""

    unary: tuple[str, ...]
    depth: int

    def operators(self, binary: Sequence[str]) -> tuple[str, ...]:
        return tuple(binary) + self.unary


def reward(nmse: float, complexity: int, maxsize: int, parsimony: float = 0.2) -> float:
    """Reward of a fitted formula in [0, 1): accuracy, less a complexity term."""
    if not math.isfinite(nmse):
        return 0.0
    acc = 1.0 / (1.0 + math.sqrt(max(nmse, 0.0)))
    return max(0.0, acc - parsimony * complexity / max(maxsize, 1))


def mine_subtrees(exprs: Sequence[Expression], min_size: int = 2, max_size: int = 9
                  ) -> list[Expression]:
    """Distinct subtrees of ``exprs`` (constants kept) of ``min_size``–``max_size``
    tokens that hold at least one variable."""
    out: list[Expression] = []
    seen: set[tuple] = set()
    for e in exprs:
        toks = e.tokens
        # constant index at each token position
        const_at = np.cumsum([0] + [t == CONST for t in toks])
        ends = subtree_ends(toks)
        for i, end in enumerate(ends):
            n = end - i
            if not min_size <= n <= max_size:
                continue
            sub = toks[i:end]
            if not any(t.startswith("x") and t[1:].isdigit() for t in sub):
                continue
            consts = e.constants[const_at[i]:const_at[end]]
            key = (sub, np.round(consts, 6).tobytes())
            if key in seen:
                continue
            seen.add(key)
            out.append(Expression(sub, consts, check=False))
    return out


class StructureMCTS:
    """PUCT search over (operator menu, slot subtrees).

    Parameters
    ----------
    n_features : int
    operators : sequence of str
        The operators of the search; the binary ones are always in play.
    rng : numpy.random.Generator
    max_slots : int
        Most slots in one pass (fewer when the menu is deep: a depth-3 pass
        over many slots would not fit a CPU's budget).
    pool_size : int
        Most subtrees in the pool; the variables and the constant always stay.
    c_puct : float
        Exploration weight.
    prior : StructurePrior, optional
        Prior over candidate subtrees; uniform when ``None``.
    """

    def __init__(self, n_features: int, operators: Sequence[str], rng: np.random.Generator,
                 max_slots: int = 5, max_slots_deep: int = 4, pool_size: int = 40,
                 c_puct: float = 1.0, prior: StructurePrior | None = None):
        self.rng = rng
        self.binary = tuple(o for o in operators if ops.OPERATORS[o].arity == 2)
        unary = tuple(o for o in operators if ops.OPERATORS[o].arity == 1)
        menus = [Menu(unary, 2)] if unary else []
        menus += [Menu((u,), 3) for u in unary] + [Menu((), 3)]
        self.menus = menus
        self.max_slots = max_slots
        self.max_slots_deep = max_slots_deep
        self.pool_size = pool_size
        self.c_puct = c_puct
        self.prior = prior
        self.pool: list[Expression] = [Expression([f"x{j}"]) for j in range(n_features)]
        self.pool.append(Expression([CONST], [1.0]))
        self.n_fixed = len(self.pool)
        self.pool_score: list[float] = [math.inf] * len(self.pool)
        self._pool_keys = {self._pool_key(e) for e in self.pool}
        # visit counts and summed rewards, keyed by the path's actions
        self.visits: dict[tuple, int] = {}
        self.value: dict[tuple, float] = {}

    # -- the pool ----------------------------------------------------------------
    @staticmethod
    def _pool_key(e: Expression) -> tuple:
        return (e.tokens, np.round(e.constants, 6).tobytes())

    def add_to_pool(self, exprs: Sequence[Expression], scores: Sequence[float] | None = None
                    ) -> int:
        """Offer subtrees to the pool (lower score = better; the worst mined
        entries leave when it is full). Returns how many were new."""
        scores = [math.inf] * len(exprs) if scores is None else list(scores)
        added = 0
        for e, s in zip(exprs, scores):
            k = self._pool_key(e)
            if k in self._pool_keys:
                continue
            if len(self.pool) >= self.pool_size:
                worst = max(range(self.n_fixed, len(self.pool)), key=lambda i: self.pool_score[i],
                            default=None)
                if worst is None or not s < self.pool_score[worst]:
                    continue
                # replacing an entry changes what its index means: forget the
                # statistics of every path through it
                self._forget(worst)
                self._pool_keys.discard(self._pool_key(self.pool[worst]))
                self.pool[worst], self.pool_score[worst] = e, s
            else:
                self.pool.append(e)
                self.pool_score.append(s)
            self._pool_keys.add(k)
            added += 1
        return added

    def _forget(self, index: int) -> None:
        for table in (self.visits, self.value):
            for path in [p for p in table if index in p[1:]]:
                del table[path]

    # -- search -------------------------------------------------------------------
    def _actions(self, path: tuple) -> list[int]:
        if not path:
            return list(range(len(self.menus)))
        menu = self.menus[path[0]]
        slots = [a for a in path[1:] if a != _STOP]
        if (path[-1] == _STOP and len(path) > 1) or len(slots) >= self._cap(menu):
            return []
        last = slots[-1] if slots else -1
        acts = list(range(last + 1, len(self.pool)))
        return acts + ([_STOP] if len(slots) >= 2 else [])

    def _cap(self, menu: Menu) -> int:
        return self.max_slots if menu.depth <= 2 else self.max_slots_deep

    def _priors(self, path: tuple, actions: list[int]) -> np.ndarray:
        p = np.ones(len(actions))
        if path and self.prior is not None:
            chosen = [self.pool[a] for a in path[1:] if a != _STOP]
            cands = [i for i, a in enumerate(actions) if a != _STOP]
            try:
                w = np.asarray(self.prior(chosen, [self.pool[actions[i]] for i in cands]),
                               dtype=np.float64)
                if w.shape == (len(cands),) and np.all(np.isfinite(w)) and np.all(w >= 0) \
                        and w.sum() > 0:
                    p[cands] = w / w.sum() * len(cands)
            except Exception:  # noqa: BLE001, S110 - a failing prior must not stop the search
                pass
        return p / p.sum()

    def select(self) -> tuple[tuple, Menu, list[Expression]]:
        """One path: PUCT down the visited part, one new node, random roll-out.

        Returns the path (to hand back to :meth:`backup`), the operator menu and
        the slot subtrees of the pass.
        """
        path: tuple = ()
        while True:
            actions = self._actions(path)
            if not actions:
                break
            prior = self._priors(path, actions)
            n_parent = self.visits.get(path, 0)
            parent_q = self.value.get(path, 0.0) / n_parent if n_parent else 0.0
            best, best_u = actions[0], -math.inf
            for a, p in zip(actions, prior):
                child = path + (a,)
                n = self.visits.get(child, 0)
                # unvisited children start from the parent's mean (first-play urgency)
                q = self.value[child] / n if n else parent_q
                u = q + self.c_puct * p * math.sqrt(n_parent + 1) / (1 + n)
                if u > best_u:
                    best, best_u = a, u
            path = path + (best,)
            if self.visits.get(path, 0) == 0:
                break  # a new node: expand it and roll out from here
        menu = self.menus[path[0]]
        slots = [a for a in path[1:] if a != _STOP]
        stopped = len(path) > 1 and path[-1] == _STOP
        if not stopped:
            # roll-out: a random number of further slots, drawn by the prior
            room = self._cap(menu) - len(slots)
            extra = int(self.rng.integers(max(0, 2 - len(slots)), room + 1)) if room > 0 else 0
            free = [a for a in range(len(self.pool)) if a not in slots]
            if extra and free:
                w = self._priors(path, free)
                picks = self.rng.choice(len(free), size=min(extra, len(free)), replace=False, p=w)
                slots += [free[i] for i in picks]
        return path, menu, [self.pool[a] for a in sorted(slots)]

    def backup(self, path: tuple, reward_value: float) -> None:
        """Add one visit with ``reward_value`` to every node on ``path``."""
        for i in range(len(path) + 1):
            node = path[:i]
            self.visits[node] = self.visits.get(node, 0) + 1
            self.value[node] = self.value.get(node, 0.0) + reward_value
