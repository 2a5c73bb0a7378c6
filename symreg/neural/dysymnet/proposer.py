"""The DySymNet proposer: sample architectures, train, read off, refit, learn, repeat."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from ...constants import fit_constants
from ...evaluate import resolve_device
from ...expression import Expression
from ...operators import OPERATORS
from ...tree import tree_to_expression
from ..proposer import Proposer
from .config import DySymNetConfig
from .controller import Controller, risk_seeking_loss
from .data import prepare
from .model import BatchedSymbolicNetwork
from .readoff import _best_subsets, _read_off_or_none, _repair_domains, _without_negligible
from .training import train_networks

__all__ = ["DySymNetProposer"]

# ----------------------------------------------------------------------------
# the proposer
# ----------------------------------------------------------------------------

class DySymNetProposer(Proposer):
    """Candidate formulas from symbolic networks designed by a controller RNN.

    Parameters
    ----------
    config : DySymNetConfig, optional
    device : str or torch.device, optional
        Where the networks train; ``None``: CPU (deterministic everywhere; the
        nets are small enough that a CPU is not slower for few points).
    **overrides
        Fields of :class:`DySymNetConfig` to change, e.g. ``batch_size=16``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 40).reshape(-1, 1)
    >>> exprs = DySymNetProposer().propose(X, X[:, 0]**2 + X[:, 0], time_budget=5)
    """

    name = "dysymnet"

    def __init__(self, config: DySymNetConfig | None = None, *,
                 device: str | torch.device | None = None, **overrides):
        cfg = config if config is not None else DySymNetConfig()
        self.config = replace(cfg, **overrides) if overrides else cfg
        self.device = torch.device("cpu") if device is None else resolve_device(device)
        #: per-step records of the last :meth:`propose` call (for benchmarks)
        self.history_: list[dict] = []

    # -- one controller step ---------------------------------------------------------
    def _step(self, counts: np.ndarray, data: dict, gen: torch.Generator, rng_seed: int,
              deadline: float, fit_reserve: float, best_loss: float = math.inf
              ) -> tuple[np.ndarray, list, dict]:
        """Train, read off and refit one batch of architectures.

        ``best_loss`` is the best loss found before this step: only formulas that
        beat it go through :meth:`_drop_terms`.

        Returns the reward of each architecture, the fitted candidates
        ``[(expr, loss)]`` and timings.
        """
        cfg = self.config
        t0 = time.perf_counter()
        net = BatchedSymbolicNetwork(counts, data["d"], data["units"], cfg.max_units,
                                     dtype=cfg.dtype, device=self.device, generator=gen,
                                     init_std=cfg.init_std, init_sparse=cfg.init_sparse)
        net_mse = train_networks(net, data["Xt"], data["yt"], cfg, deadline=deadline - fit_reserve)
        t1 = time.perf_counter()
        exprs, owner = self._read_off(net, data, order=np.argsort(net_mse, kind="stable"))
        rewards = np.zeros(net.K)
        fitted: list[tuple[Expression, float]] = []
        if exprs and time.perf_counter() < deadline:
            fitted_exprs, losses = self._refit(exprs, data, rng_seed, deadline)
            nrmse = np.sqrt(np.maximum(losses, 0.0)) / data["y_std"]
            for e, l, k, r in zip(fitted_exprs, losses, owner, nrmse):
                if np.isfinite(l):
                    rewards[k] = max(rewards[k], 1.0 / (1.0 + r))
                    fitted.append((e, float(l)))
            # the clean-up costs about one more refit: only when that fits
            if time.perf_counter() + (time.perf_counter() - t1) < deadline:
                fitted += self._clean_up(fitted, data, rng_seed, deadline)
            fitted += self._drop_terms(fitted, data, rng_seed, deadline, below=best_loss,
                                       top=cfg.drop_top_step)
        t2 = time.perf_counter()
        return rewards, fitted, {"train_s": t1 - t0, "fit_s": t2 - t1}

    def _clean_up(self, fitted: list[tuple[Expression, float]], data: dict, seed: int,
                  deadline: float | None = None) -> list[tuple[Expression, float]]:
        """Fitted formulas without their negligible parts, refitted; those that fit as well.

        After the refit, the parts of a read-off that the data do not need have
        coefficients near 0 (``1e-9*sin(40*x)``) or are constant on the data
        (``cos(1e-7*x)``). :func:`_without_negligible` drops them at two tolerances;
        a cleaned formula is kept when its refit loses (almost) nothing.
        """
        from ...simplify import fold_constants

        cands: list[Expression] = []
        base: list[float] = []
        seen = {e.key() for e, _ in fitted}
        for e, loss in fitted:
            for tol in (1e-7, 1e-4):
                try:
                    tree = _without_negligible(e, data["X"], tol)
                    if tree is None:
                        continue
                    c = fold_constants(tree_to_expression(tree, data["names"]),
                                       operators=data["fold_ops"])
                except Exception:  # noqa: BLE001, S112 - an odd formula is just not cleaned
                    continue
                key = c.key()
                if key in seen or len(c) >= len(e):
                    continue
                seen.add(key)
                cands.append(c)
                base.append(loss)
        if not cands:
            return []
        refit, losses = self._refit(cands, data, seed, deadline)
        out = []
        for e, l, l0 in zip(refit, losses, base):
            if np.isfinite(l) and l <= max(l0 * (1 + 1e-6), data["exact"]):
                out.append((e, float(l)))
        return out

    def _drop_terms(self, fitted: list[tuple[Expression, float]], data: dict, seed: int,
                    deadline: float, below: float = math.inf, top: int | None = None
                    ) -> list[tuple[Expression, float]]:
        """The ``top`` (default ``drop_top``) best of ``fitted`` whose loss is below
        ``below``, with the
        terms the data do not need removed (:func:`symreg.reduce.drop_terms`).

        A network's skip connections leave terms beside the law that nearly cancel
        on the data (``-0.04*x + 0.12*sin(0.34*x)`` on [0, 1]); neither is small,
        so :meth:`_clean_up` keeps them, and with them the formula is not the law.
        Each removal round refits every variant, so only new bests that fit
        almost exactly (MSE at most ``drop_below`` times var(y)) pay for it: a
        formula that holds the law beside cancelling terms fits that well.
        """
        from ...reduce import drop_terms

        cfg = self.config
        n_top = cfg.drop_top if top is None else top
        if n_top <= 0 or not fitted or time.perf_counter() > deadline:
            return []
        limit = min(below, cfg.drop_below * data["y_var"])
        top = sorted(((e, l) for e, l in fitted if l < limit),
                     key=lambda el: (max(el[1], data["exact"]), el[0].complexity))
        chosen: list[tuple[Expression, float]] = []
        seen: set[str] = set()
        for e, loss in top:
            if len(chosen) >= n_top:
                break
            key = e.key()
            if key not in seen:
                seen.add(key)
                chosen.append((e, loss))
        if not chosen:
            return []
        reduced = drop_terms([e for e, _ in chosen], [l for _, l in chosen], data["X"],
                             data["y"], rounds=cfg.drop_rounds, floor=data["exact"],
                             operators=data["fold_ops"], max_points=cfg.max_points,
                             n_restarts=cfg.fit_restarts, max_iter=cfg.fit_iter,
                             device=self.device, seed=seed, deadline=deadline)
        return [(r, l) for (r, l), (e, _) in zip(reduced, chosen) if r is not e]

    def _read_off(self, net: BatchedSymbolicNetwork, data: dict,
                  order: Sequence[int] | None = None) -> tuple[list[Expression], list[int]]:
        """Every network read off in each of ``cfg.readoffs`` ways, and with its
        output layer refitted on its best few units (:func:`_best_subsets`), as
        Expressions, with the network each came from.

        A skeleton read off twice is kept once, from the network that comes first
        in ``order`` (best trained first): its constants are the refit's start,
        and a better-trained net starts it nearer the law. Roots and logs whose
        argument the trained net only used through the protection
        (:func:`_repair_domains`) are rewritten to be defined on the data.
        """
        from ...simplify import fold_constants

        cfg = self.config
        exprs: list[Expression] = []
        owner: list[int] = []
        seen: set[str] = set()
        with torch.no_grad():
            H = net.forward(data["Xt"], features=True).cpu().numpy()
        feature_rms = np.sqrt(np.mean(H * H, axis=1))
        yt = data["yt"].cpu().numpy()
        order = range(net.K) if order is None else [int(k) for k in order]
        scaled = {"x_scale": data["x_scale"], "max_nodes": 4 * cfg.max_tokens}

        def trees():
            for k in order:
                ways = [{"threshold": thr, "max_terms": mt, "keep_bias": kb}
                        for thr, mt, kb in cfg.readoffs]
                # the output layer refitted on the few unit outputs that explain y best
                ways += [{"output": out}
                         for out in _best_subsets(H[k], yt, cfg.subset_size, cfg.subset_pool)]
                for way in ways:
                    yield k, _read_off_or_none(net, k, y_scale=data["y_std"],
                                               y_offset=data["y_mean"],
                                               feature_rms=feature_rms[k], **scaled, **way)

        for k, tree in trees():
            if tree is None:
                continue
            try:
                tree = _repair_domains(tree, data["X"])
                expr = fold_constants(tree_to_expression(tree, data["names"]),
                                      operators=data["fold_ops"])
            except (ValueError, OverflowError, ZeroDivisionError, RecursionError):
                continue
            if len(expr) > cfg.max_tokens or not np.isfinite(expr.constants).all():
                continue
            key = expr.key()
            if key in seen:
                continue
            seen.add(key)
            exprs.append(expr)
            owner.append(k)
        return exprs, owner

    def _refit(self, exprs: list[Expression], data: dict, seed: int,
               deadline: float | None = None) -> tuple[list[Expression], np.ndarray]:
        """Constants of ``exprs`` fitted (batched), in chunks of ``fit_chunk`` so that a
        ``deadline`` can stop it between chunks; the unfitted ones get loss inf."""
        from ...simplify import fold_constants

        cfg = self.config
        out = list(exprs)
        losses = np.full(len(exprs), np.inf)
        last = 0.0   # the time of the previous chunk: the next one is not started if it
        for lo in range(0, len(exprs), cfg.fit_chunk):  # would likely end past the deadline
            t0 = time.perf_counter()
            if deadline is not None and t0 + last > deadline:
                break
            chunk = exprs[lo:lo + cfg.fit_chunk]
            try:
                with np.errstate(all="ignore"):
                    fitted, loss = fit_constants(chunk, data["X"], data["y"],
                                                 n_restarts=cfg.fit_restarts,
                                                 max_iter=cfg.fit_iter, device=self.device,
                                                 max_points=cfg.max_points, seed=seed,
                                                 deadline=deadline)
            except Exception:  # noqa: BLE001, S112 - a failed refit costs this chunk only
                continue
            for i, e in enumerate(fitted):
                try:
                    out[lo + i] = fold_constants(e, operators=data["fold_ops"])
                except Exception:  # noqa: BLE001
                    out[lo + i] = e
            losses[lo:lo + len(chunk)] = np.asarray(loss, dtype=np.float64)
            last = time.perf_counter() - t0
        return out, losses

    # -- the search --------------------------------------------------------------------
    def propose(self, X: np.ndarray, y: np.ndarray, *, n: int = 32, time_budget: float = 10.0,
                seed: int = 0, operators: Sequence[str] | None = None,
                variable_names: Sequence[str] | None = None) -> list[Expression]:
        """Search architectures for ``time_budget`` seconds; the best ``n`` formulas.

        See :meth:`Proposer.propose`. Formulas come best first: by MSE (losses
        that are exact to round-off count as equal), then by complexity.
        """
        threads = torch.get_num_threads()
        if self.config.threads is not None and self.device.type == "cpu":
            torch.set_num_threads(self.config.threads)
        try:
            return self._propose(X, y, n, time_budget, seed, operators, variable_names)
        finally:
            torch.set_num_threads(threads)

    def _propose(self, X, y, n, time_budget, seed, operators, variable_names) -> list[Expression]:
        start = time.perf_counter()
        deadline = start + float(time_budget)
        self.history_ = []
        try:
            data = self._prepare(X, y, seed, operators, variable_names)
        except (ValueError, TypeError):
            return []
        if data is None:
            return []
        cfg = self.config
        hall: dict[str, tuple[float, int, Expression]] = {}

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            controller = Controller(cfg.max_layers, len(data["units"]), cfg.max_units,
                                    cfg.hidden, cfg.p_units)
        copt = torch.optim.Adam(controller.parameters(), lr=cfg.controller_lr)
        gen = torch.Generator().manual_seed(seed)
        # what the read-off and the refit of one step cost, guessed until measured
        fit_reserve = min(max(0.3 * float(time_budget), 0.1), 3.0)
        elite: list[tuple[float, np.ndarray]] = []
        step = 0
        try:
            while time.perf_counter() < deadline - 0.5 * fit_reserve:
                if cfg.max_steps is not None and step >= cfg.max_steps:
                    break
                n_elite = min(cfg.n_elite, len(elite), cfg.batch_size - 1)
                n_sampled = cfg.batch_size - n_elite
                counts, depth, logp, ent = controller.sample(n_sampled, gen)
                if n_elite:
                    counts = np.concatenate([counts, np.stack([c for _, c in elite[:n_elite]])])
                best = min((v[0] for v in hall.values()), default=math.inf)
                rewards, fitted, times = self._step(counts, data, gen, seed + step, deadline,
                                                    fit_reserve, best_loss=best)
                # the best architectures so far (by the best reward any of their runs had)
                for r, c in zip(rewards.tolist(), counts):
                    same = [i for i, (_, e) in enumerate(elite) if np.array_equal(e, c)]
                    if same:
                        i = same[0]
                        elite[i] = (max(elite[i][0], r), elite[i][1])
                    elif r > 0:
                        elite.append((r, c.copy()))
                elite.sort(key=lambda rc: -rc[0])
                del elite[max(cfg.n_elite, 0):]
                rewards = rewards[:n_sampled]
                fit_reserve = min(1.5 * times["fit_s"] + 0.05, 0.5 * float(time_budget))
                for e, loss in fitted:
                    key = e.key()
                    # a formula with constants for half the points or more can
                    # interpolate them (sin(6e4*x) does): not a law
                    if e.n_constants > data["max_constants"]:
                        continue
                    if key not in hall or loss < hall[key][0]:
                        hall[key] = (loss, e.complexity, e)
                if np.isfinite(rewards).all() and rewards.max() > 0:
                    copt.zero_grad()
                    loss = risk_seeking_loss(rewards, logp, ent, cfg.risk_epsilon,
                                             cfg.entropy_weight)
                    if torch.isfinite(loss):
                        loss.backward()
                        copt.step()
                best = min((v[0] for v in hall.values()), default=math.inf)
                self.history_.append({"step": step, "depth": depth.tolist(),
                                      "rewards": rewards.tolist(), "best_mse": best, **times})
                step += 1
                if cfg.stop_when_exact and best <= data["stop"]:
                    break
        except KeyboardInterrupt:  # Ctrl-C: the best so far
            pass

        ranked = sorted(hall.values(), key=lambda v: (max(v[0], data["exact"]), v[1]))
        return self._finish([(e, loss) for loss, _, e in ranked[:n]], data, seed, deadline)

    def _finish(self, ranked: list[tuple[Expression, float]], data: dict, seed: int,
                deadline: float) -> list[Expression]:
        """The best few without the terms the data do not need and simplified with
        sympy, while the budget allows; names set."""
        cfg = self.config
        # the search stops at the first exact formula, before its terms were tried
        reduced = self._drop_terms(ranked[:cfg.drop_top], data, seed, deadline)
        if reduced:
            n = len(ranked)
            pool: dict[str, tuple[Expression, float]] = {}
            for e, loss in reduced + ranked:
                pool.setdefault(e.key(), (e, loss))
            ranked = sorted(pool.values(),
                            key=lambda el: (max(el[1], data["exact"]), el[0].complexity))[:n]
        out = [e for e, _ in ranked]
        if cfg.simplify_top > 0 and deadline - time.perf_counter() > 1.0:
            from ...simplify import simplify

            for i in range(min(cfg.simplify_top, len(out))):
                left = deadline - time.perf_counter()
                if left < 0.5:
                    break
                try:
                    out[i] = simplify(out[i], timeout=min(1.0, left / 3), X=data["X"],
                                      operators=data["fold_ops"])
                except Exception:  # noqa: BLE001, S110 - keep the unsimplified formula
                    pass
        if data["allowed"] is not None:
            allowed = data["allowed"]
            out = [e for e in out if all(t not in _OPERATOR_TOKENS or t in allowed
                                         for t in e.tokens)]
        return [e.with_names(data["names"]) for e in out]

    def _prepare(self, X, y, seed: int, operators, variable_names) -> dict | None:
        """Data as tensors (subsampled, x scaled, y standardised) and the settings
        (:func:`~symreg.neural.dysymnet.data.prepare`)."""
        return prepare(self.config, self.device, X, y, seed, operators, variable_names)


_OPERATOR_TOKENS = frozenset(OPERATORS)
