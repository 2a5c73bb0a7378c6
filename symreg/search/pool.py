"""Run several search workers and merge their halls of fame.

``n_jobs == 1`` runs inline (progress callbacks work, nothing is started).
More workers run in spawned processes, each with its own seed and a share of
the CPU threads; they stop at one shared wall-clock deadline, so process
start-up eats into the budget instead of extending it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np

from ..expression import Expression
from ..pareto import HallOfFame
from .engine import SearchConfig, SearchProgress, SearchResult, search

__all__ = ["run_search"]


def _worker(X, y, w, config: SearchConfig, seeds, deadline: float, threads: int) -> SearchResult:
    import torch

    torch.set_num_threads(threads)
    config = replace(config, time_budget=max(0.5, deadline - time.time()))
    return search(X, y, config, w, seeds)


def run_search(X: np.ndarray, y: np.ndarray, config: SearchConfig, n_jobs: int = 1,
               sample_weight: np.ndarray | None = None, seeds: Sequence[Expression] = (),
               callback: Callable[[SearchProgress], None] | None = None) -> SearchResult:
    """Search with ``n_jobs`` workers (seeds ``config.seed + k``) and merge."""
    if n_jobs <= 1:
        return search(X, y, config, sample_weight, seeds, callback)
    deadline = time.time() + config.time_budget
    threads = max(1, (os.cpu_count() or 1) // n_jobs)
    per_worker_evals = None if config.max_evals is None else max(1, config.max_evals // n_jobs)
    ctx = mp.get_context("spawn")
    results: list[SearchResult] = []
    interrupted = False
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_worker, X, y, sample_weight,
                               replace(config, seed=config.seed + k, max_evals=per_worker_evals),
                               list(seeds), deadline, threads) for k in range(n_jobs)]
        for fut in futures:
            while True:
                try:
                    results.append(fut.result())
                    break
                except KeyboardInterrupt:
                    # the workers got the same Ctrl-C and are returning their best
                    interrupted = True
    return _merge(results, config, interrupted)


def _merge(results: list[SearchResult], config: SearchConfig, interrupted: bool) -> SearchResult:
    floor = results[0].hall_of_fame.loss_floor
    hof = HallOfFame(config.maxsize, loss_floor=floor)
    for r in results:
        cands = r.hall_of_fame.candidates()
        hof.update([c.expr for c in cands], [c.loss for c in cands])
    phases: dict[str, float] = {}
    for r in results:
        for k, v in r.phases.items():
            phases[k] = max(phases.get(k, 0.0), v)
    return SearchResult(hof, sum(r.n_evals for r in results), max(r.elapsed for r in results),
                        interrupted or any(r.interrupted for r in results),
                        any(r.stopped_early for r in results), phases)
