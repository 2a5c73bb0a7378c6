"""The search's tree-search passes: MCTS over structure plus layered evaluation.

A mixin of :class:`symreg.search.engine._Search`, called from the evolution
phase. A Monte Carlo tree search (:mod:`.mcts`) picks an operator menu and a few
base subtrees; a layered exhaustive pass (:mod:`.layered`) evaluates every
expression over them; the best are fitted and offered to the hall of fame, and
their subtrees feed the tree's pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..expression import Expression
from .layered import layered_evaluate
from .mcts import StructureMCTS, mine_subtrees, reward
from .tuning import (
    LAYERED_LIMITS_CPU,
    LAYERED_LIMITS_CUDA,
    LAYERED_TOP_K,
    TREE_FITS,
    TREE_MAX_ITER,
    TREE_MIN_SUBTREE,
    TREE_RESTARTS,
    TREE_SUBTREE_PARTS,
)

__all__: list[str] = []


class TreeSearch:
    """The MCTS + layered passes of a search."""

    def _layered_limits(self) -> tuple[int, int]:
        """(nodes a stored layer may keep, bytes of one chunk) for this device:
        a depth-3 pass costs about 4·max_stored² candidates."""
        if torch.device(self.cfg.device).type == "cuda":
            return LAYERED_LIMITS_CUDA
        return LAYERED_LIMITS_CPU

    def _tree_search(self, n_simulations: int, reserve: float
                     ) -> tuple[list[Expression], np.ndarray]:
        """Run a few MCTS simulations, each one layered pass over the slots the
        tree picks; returns the passes' best expressions and their scores."""
        cfg = self.cfg
        if self.tree is None:
            self.tree = StructureMCTS(self.X.shape[1], cfg.operators, self.rng,
                                      prior=cfg.structure_prior)
            self._mine(self.seed_exprs)
        self._mine([c.expr for c in self.hof.front()])
        max_stored, memory = self._layered_limits()
        out: list[Expression] = []
        out_nmse: list[np.ndarray] = []
        for _ in range(n_simulations):
            if self.budget.exhausted(reserve) or self._exact():
                break
            path, menu, slots = self.tree.select()
            res = layered_evaluate(slots, self.Xs, self.ys, menu.operators(self.tree.binary),
                                   depth=menu.depth, top_k=LAYERED_TOP_K, max_stored=max_stored,
                                   memory_budget=memory, device=cfg.device,
                                   seed=int(self.rng.integers(1 << 31)))
            self.budget.evals += res.n_evaluated
            exprs = [e for e in res.expressions if e.complexity <= cfg.maxsize]
            if not exprs:
                self.tree.backup(path, 0.0)
                continue
            nmse = self._score(exprs)
            order = [i for i in np.argsort(nmse, kind="stable")[:TREE_FITS] if np.isfinite(nmse[i])]
            fitted, losses = self._fit_into_hof([exprs[i] for i in order],
                                                n_restarts=TREE_RESTARTS,
                                                max_iter=TREE_MAX_ITER)
            r = max((reward(loss / self.var_y, e.complexity, cfg.maxsize)
                     for e, loss in zip(fitted, losses)), default=0.0)
            self.tree.backup(path, r)
            out += exprs
            out_nmse.append(nmse)
            self._mine([exprs[i] for i in order])
        return out, (np.concatenate(out_nmse) if out_nmse else np.zeros(0))

    def _mine(self, exprs: Sequence[Expression]) -> None:
        """Offer the subtrees of ``exprs`` to the tree's pool, scored on their own."""
        subs = [e for e in mine_subtrees(exprs, max_size=max(TREE_MIN_SUBTREE,
                                                      self.cfg.maxsize // TREE_SUBTREE_PARTS))
                if e.n_variables <= self.X.shape[1]]
        if subs:
            self.tree.add_to_pool(subs, self._score(subs))

