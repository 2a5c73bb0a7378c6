"""The LIES proposer: restarts of train, prune and read off, until the budget is spent."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from ...constants import fit_constants
from ...evaluate import evaluate_batch
from ...expression import Expression
from ...tree import tree_to_expression
from ..groups import find_reductions
from ..proposer import Proposer
from .config import UNITS, LIESConfig
from .model import LIESNet, _Features, _features, _scale
from .polish import _allowed_ok, _tidy, snap_exponents
from .readoff import group_weights, read_off
from .training import prune, train

__all__ = ["LIESProposer"]


class LIESProposer(Proposer):
    """Candidate formulas read off sparse LIES networks.

    Parameters
    ----------
    config : LIESConfig, optional
        Network and training settings.
    max_restarts : int
        Most networks trained per call.
    n_threads : int, optional
        Torch threads during the call (restored afterwards); ``None`` keeps the
        current setting. One by default: the tensors are small, and more threads
        only contend (on a loaded 2-core machine a step became 15 times slower).

    Notes
    -----
    Restarts cycle through the log-space mode (when ``y`` has one sign and no
    zeros), the plain target with ``log|x|`` inputs and the plain target without
    them, with seeds ``seed, seed + 1, ...``; they stop at the
    time budget, at ``max_restarts``, or once a formula fits to round-off. Results
    depend only on the seed as long as the budget lets every restart finish (step
    counts are fixed; the clock only cuts them short).
    """

    name = "lies"

    def __init__(self, config: LIESConfig | None = None, max_restarts: int = 8,
                 n_threads: int | None = 1):
        self.config = config if config is not None else LIESConfig()
        self.max_restarts = int(max_restarts)
        self.n_threads = n_threads

    def propose(self, X: np.ndarray, y: np.ndarray, *, n: int = 32, time_budget: float = 10.0,
                seed: int = 0, operators: Sequence[str] | None = None,
                variable_names: Sequence[str] | None = None) -> list[Expression]:
        """Train LIES networks and return up to ``n`` formulas, best first.

        See :meth:`symreg.neural.proposer.Proposer.propose`. Never raises on
        numerical trouble: a restart that fails contributes nothing.
        """
        start = time.monotonic()
        deadline = start + max(0.0, float(time_budget))
        self.reductions_ = []
        old_threads = torch.get_num_threads()
        if self.n_threads is not None:
            torch.set_num_threads(int(self.n_threads))
        try:
            out = self._propose(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64),
                                int(n), deadline, int(seed), operators)
        finally:
            if self.n_threads is not None:
                torch.set_num_threads(old_threads)
        if variable_names is not None:
            out = [e.with_names(variable_names) for e in out]
        return out

    # -- the work ------------------------------------------------------------------
    def _propose(self, X, y, n, deadline, seed, operators) -> list[Expression]:
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        keep = np.isfinite(y) & np.isfinite(X).all(axis=1)
        X, y = X[keep], y[keep]
        if len(y) < 3 or n < 1:
            return []
        allowed = None if operators is None else frozenset(operators)
        mean_y = float(np.mean(y))
        std_y = _scale(y - mean_y)
        if std_y == 1.0 and np.all(y == mean_y):   # a constant target
            return [Expression(["C"], [mean_y])]
        kinds = [k for k in self.config.units
                 if UNITS.get(k, "?") is None or allowed is None or UNITS[k] in allowed]
        kinds = [k for k in kinds for _ in range(self.config.width)]   # grouped by kind
        rng = np.random.default_rng(seed)
        rows = (np.sort(rng.choice(len(y), self.config.max_rows, replace=False))
                if len(y) > self.config.max_rows else np.arange(len(y)))
        Xt, yt = X[rows], y[rows]
        positive = bool(np.all(y > 0)) or bool(np.all(y < 0))
        # log|x| inputs are read back as powers (or logs): they need one of these
        log_inputs = allowed is None or bool(allowed & {"log", "pow", "mul", "div"})
        with_log = _features(Xt, log_inputs)
        plain = _features(Xt, False)
        # (target, inputs) of the restarts, in turn: log space first when it applies
        # (a product of powers is linear there), then the plain target with and
        # without the log|x| inputs (which make products easy but sums harder to
        # read: the network likes to approximate x by a mixture of log x terms)
        modes = ([("log", with_log), ("raw", with_log), ("raw", plain)] if positive
                 else [("raw", with_log), ("raw", plain)])
        with np.errstate(over="ignore"):
            var_y = float(np.var(y))
        var_y = var_y if 0 < var_y < math.inf else 1.0
        pool: dict[tuple, tuple[Expression, float]] = {}
        groups: list[np.ndarray] = []   # exponent vectors the networks learned
        budget_total = max(deadline - time.monotonic(), 0.0)
        # time kept for reading off, fitting and snapping the last network
        reserve = min(1.5, 0.15 * budget_total)
        last = 0.0
        for r in range(self.max_restarts):
            t0 = time.monotonic()
            # a restart cut short by the clock trains badly: start one only when
            # about half the previous one's time is left
            if deadline - reserve - t0 < max(0.05 * budget_total, 0.5 * last):
                break
            mode, feats = modes[r % len(modes)]
            try:
                trees, learned = self._restart(mode, Xt, yt, feats, kinds, seed + r,
                                               deadline - reserve)
                groups += learned
                new = self._finish(trees, X, y, allowed, seed + r, deadline)
            except Exception:  # noqa: BLE001, S112 - numerical trouble: this restart adds nothing
                continue
            finally:
                last = time.monotonic() - t0
            for e, loss in new:
                k = (e.tokens, np.round(e.constants, 8).tobytes())
                if k not in pool or loss < pool[k][1]:
                    pool[k] = (e, loss)
            if any(loss <= 1e-14 * var_y for _, loss in new):
                break        # a formula fits to round-off: nothing more to find here
        # the groups the networks learned, kept where the data bear them out
        self.reductions_ = find_reductions(X, y, groups)
        ranked = sorted(pool.values(),
                        key=lambda el: (math.log10(max(el[1] / var_y, 1e-14))
                                        + 0.04 * el[0].complexity, el[0].complexity))
        return [e for e, _ in ranked[:n]]

    def _restart(self, mode: str, X, y, feats: _Features, kinds, seed: int,
                 deadline: float) -> tuple[list, list[np.ndarray]]:
        """Train, prune and read off one network; returns its trees (one per
        sparsity level) and its units' exponent vectors (:func:`group_weights`)."""
        cfg = self.config
        F = torch.tensor(feats.F, dtype=torch.float64)
        if mode == "log":
            ly = np.log(np.abs(y))
            shift, scale = float(np.mean(ly)), _scale(ly - np.mean(ly))
            t = torch.tensor((ly - shift) / scale, dtype=torch.float64)
            sign = 1.0 if y[0] > 0 else -1.0
        else:
            shift = float(np.mean(y))
            scale = _scale(y - shift)
            t = torch.tensor((y - shift) / scale, dtype=torch.float64)
            sign = 0.0
        gen = torch.Generator().manual_seed(int(seed))
        net = LIESNet(F.shape[1], kinds, cfg.n_layers, cfg, gen)
        # a shuffled row order, so that the importance subset is a random one
        perm = torch.randperm(F.shape[0], generator=gen)
        Fp, tp = F[perm], t[perm]
        train(net, Fp, tp, cfg.steps, l1=cfg.l1, warmup=int(cfg.warmup * cfg.steps),
              deadline=deadline)
        snaps = prune(net, Fp, tp, deadline=deadline)
        trees, groups = [], []
        for _, state in snaps:
            net.load(state)
            groups += group_weights(net, feats, X.shape[1])
            trees.append(read_off(net, feats, Fp, out_scale=scale, out_shift=shift,
                                  log_target=sign))
        return trees, groups

    def _finish(self, trees: list, X, y, allowed, seed: int, deadline: float
                ) -> list[tuple[Expression, float]]:
        """Trees -> folded, fitted, snapped expressions with their losses."""
        from ...simplify import fold_constants, snap_constants

        exprs: dict[tuple, Expression] = {}
        for tree in trees:
            try:
                e = _tidy(fold_constants(tree_to_expression(tree, check=True)))
            except Exception:  # noqa: BLE001, S112 - an odd tree is skipped
                continue
            if len(e) > 80:
                continue
            exprs.setdefault(e.tokens, e)
        cands = list(exprs.values())
        if not cands:
            return []
        fitted, losses = fit_constants(cands, X, y, n_restarts=1, max_iter=60, seed=seed)
        # the read-off constants themselves can be better than a failed refit
        raw = np.array(evaluate_batch(cands, X, y, dtype=torch.float64, device="cpu"))
        out = []
        order = np.argsort(np.minimum(losses, raw), kind="stable")
        for rank, i in enumerate(order.tolist()):
            e, loss = (fitted[i], float(losses[i])) if losses[i] <= raw[i] else (cands[i], float(raw[i]))
            if not math.isfinite(loss):
                continue
            e = fold_constants(e)
            if rank < 6 and time.monotonic() < deadline:
                # the most accurate few: round exponents, then snap the other constants
                e, loss = snap_exponents(e, X, y, loss, seed=seed)
                if e.n_constants:
                    e, loss = snap_constants(e, X, y, loss, device="cpu")
                    e = _tidy(fold_constants(e))
            e = _allowed_ok(e, allowed)
            if e is None:
                continue
            out.append((e, loss))
        return out
