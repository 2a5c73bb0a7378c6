"""Benchmark: the DySymNet proposer on its own (issue 6).

Two figures:

(a) **Recovery of Nguyen-1 ... 12.** For each problem the training sample of the
    ``nguyen`` suite (``Problem.sample(seed=seed)``: 20 points, as the GP benchmark
    table specifies) goes to the DySymNet proposer alone, no tree search, with a
    budget of ``--time`` seconds (target: 20 s on a 2-core CPU). By default the
    proposer is called directly; its candidates come back with fitted constants
    and are refitted once more with :func:`symreg.constants.fit_constants`; the
    best by MSE wins (MSEs exact to round-off, below 1e-16·var(y), count as equal
    and the lower complexity wins). With ``--regressor`` the fit goes through
    ``SymbolicRegressor(proposers=["dysymnet"], search=False)`` instead. The
    winner is checked with SRBench's symbolic-solution test
    (:func:`symreg.datasets.metrics.symbolic_solution`: equal to the truth up to
    an additive constant or a scale factor, constants rounded to 3 significant
    digits; variables declared positive where the training range is). Target:
    at least 6 of 12.

(b) **Step-time ratio.** The time of one full controller step with 10
    architectures (sampling, training them together as one batched model,
    reading every network off, refitting the constants, term elimination of a
    new best, the policy update) over the time of training one of them alone
    with the same settings (the same data, steps and learning rate). The
    ``--repeats`` steps follow one another as in a run (each knows the best
    loss so far, so only a formula that beats it pays for term elimination); the median
    ratio is reported, and beside it the ratio of the batched training alone.
    Target: at most 3. Both timings run in the same process one after
    the other, so a busy machine slows both alike; the ratio is what counts.

Usage::

    .venv/bin/python benchmarks/bench_dysymnet.py [--time 20] [--seed 0]
        [--problems 1-12] [--repeats 5] [--skip-recovery] [--skip-ratio]
        [--regressor] [--device cpu|cuda] [--set FIELD=VALUE ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import ast
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

for _dir in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

import torch
from _common import cuda_missing, finish, machine_info, machine_lines

from symreg.constants import fit_constants
from symreg.datasets import load_suite
from symreg.datasets.metrics import symbolic_solution
from symreg.neural.dysymnet import (
    BatchedSymbolicNetwork,
    Controller,
    DySymNetConfig,
    DySymNetProposer,
    risk_seeking_loss,
    train_networks,
)


def _problems(spec: str) -> list:
    suite = {int(p.name.split("-")[1]): p for p in load_suite("nguyen")}
    chosen: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            chosen.update(range(int(lo), int(hi) + 1))
        elif part:
            chosen.add(int(part))
    return [suite[k] for k in sorted(chosen) if k in suite]


# ----------------------------------------------------------------------------
# (a) recovery
# ----------------------------------------------------------------------------

def _best_direct(X, y, names, time_budget: float, seed: int, device: str,
                 overrides: dict | None = None):
    proposer = DySymNetProposer(device=device, **(overrides or {}))
    exprs = proposer.propose(X, y, n=32, time_budget=time_budget, seed=seed,
                             variable_names=names)
    if not exprs:
        return None, proposer
    # the constants come fitted: one short refit from there (no restarts) only
    # confirms them on all points
    with np.errstate(all="ignore"):
        fitted, losses = fit_constants(exprs, X, y, n_restarts=0, max_iter=20, seed=seed)
    floor = 1e-16 * float(np.var(y))
    order = sorted(range(len(fitted)),
                   key=lambda i: (max(losses[i], floor) if np.isfinite(losses[i]) else np.inf,
                                  fitted[i].complexity))
    return fitted[order[0]].with_names(names), proposer


def _best_regressor(X, y, names, time_budget: float, seed: int, device: str,
                    overrides: dict | None = None):
    from symreg.regressor import SymbolicRegressor

    model = SymbolicRegressor(proposers=["dysymnet"], search=False, time_budget=time_budget,
                              random_state=seed, device=device)
    model.fit(X, y, variable_names=names)
    return model.best_, None


def run_recovery(problems, time_budget: float, seed: int, device: str,
                 via_regressor: bool, quiet: bool, overrides: dict | None = None) -> list[dict]:
    rows = []
    for p in problems:
        sample = p.sample(seed=seed)
        X, y = sample.X_train, sample.y_train
        positive = p.variable_names if all(lo >= 0 for lo, _ in p.train.ranges) else []
        start = time.perf_counter()
        row = {"problem": p.name, "truth": str(p.truth), "budget": time_budget}
        try:
            fn = _best_regressor if via_regressor else _best_direct
            best, proposer = fn(X, y, p.variable_names, time_budget, seed, device, overrides)
        except Exception as exc:  # noqa: BLE001 - report and go on
            best, proposer = None, None
            row["error"] = f"{type(exc).__name__}: {exc}"
        row["seconds"] = time.perf_counter() - start
        row["steps"] = len(proposer.history_) if proposer is not None else None
        row["equation"] = "" if best is None else str(best)
        row["solved"] = bool(best is not None and symbolic_solution(
            best, p.truth, positive=positive, timeout=20.0))
        rows.append(row)
        if not quiet:
            print(f"  {p.name}: {'solved' if row['solved'] else 'missed'} in "
                  f"{row['seconds']:.1f} s ({row['steps']} steps)  {row['equation'][:90]}",
                  file=sys.stderr, flush=True)
    return rows


# ----------------------------------------------------------------------------
# (b) step-time ratio
# ----------------------------------------------------------------------------

def run_ratio(repeats: int, seed: int, device: str, batch: int = 10) -> dict:
    """Median over ``repeats`` of (one controller step of ``batch`` architectures) /
    (training one of them alone), same data and settings.

    Two ratios: *training* (the batched training of the ``batch`` networks) and
    *full step* (sampling, batched training, read-off of every network, constant
    refit and clean-up, term elimination of a new best, controller update), both
    over training one network alone. The steps follow one another as in a run:
    each is given the best loss of the ones before, so (as in the proposer) only
    a formula that beats it goes through term elimination.
    """
    dev = torch.device(device)
    proposer = DySymNetProposer(DySymNetConfig(batch_size=batch), device=device)
    cfg = proposer.config
    threads = torch.get_num_threads()
    if dev.type == "cpu" and cfg.threads is not None:
        torch.set_num_threads(cfg.threads)   # as the proposer runs
    p = _problems("5")[0]                      # sin(x²)cos(x) - 1: 20 points
    sample = p.sample(seed=seed)
    data = proposer._prepare(sample.X_train, sample.y_train, seed, None, p.variable_names)
    units = data["units"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        controller = Controller(cfg.max_layers, len(units), cfg.max_units, cfg.hidden,
                                cfg.p_units)
    copt = torch.optim.Adam(controller.parameters(), lr=cfg.controller_lr)
    gen = torch.Generator().manual_seed(seed)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def train(counts) -> float:
        net = BatchedSymbolicNetwork(counts, data["d"], units, cfg.max_units, dtype=cfg.dtype,
                                     device=dev, generator=gen, init_std=cfg.init_std,
                                     init_sparse=cfg.init_sparse)
        sync()
        t = time.perf_counter()
        train_networks(net, data["Xt"], data["yt"], cfg)
        sync()
        return time.perf_counter() - t

    best = [math.inf]   # the best loss of the steps so far, as the proposer passes it

    def full_step() -> tuple[float, np.ndarray]:
        sync()
        t = time.perf_counter()
        counts, _, logp, ent = controller.sample(batch, gen)
        rewards, fitted, _ = proposer._step(counts, data, gen, seed, math.inf, 0.0,
                                            best_loss=best[0])
        best[0] = min([best[0]] + [loss for _, loss in fitted])
        copt.zero_grad()
        risk_seeking_loss(rewards, logp, ent, cfg.risk_epsilon, cfg.entropy_weight).backward()
        copt.step()
        sync()
        return time.perf_counter() - t, counts

    rows = {"single_s": [], "batched_train_s": [], "full_step_s": []}
    try:
        train(controller.sample(batch, gen)[0])      # warm-up (allocator, first calls)
        for _ in range(repeats):
            t_step, counts = full_step()
            rows["full_step_s"].append(t_step)
            rows["batched_train_s"].append(train(counts))
            rows["single_s"].append(statistics.median(train(counts[k:k + 1])
                                                      for k in range(3)))
    finally:
        torch.set_num_threads(threads)
    train_ratios = [b / s for b, s in zip(rows["batched_train_s"], rows["single_s"])]
    step_ratios = [b / s for b, s in zip(rows["full_step_s"], rows["single_s"])]
    return {"batch": batch, "repeats": repeats, "steps": cfg.steps_sparse + cfg.steps_finetune,
            **rows, "train_ratios": train_ratios, "step_ratios": step_ratios,
            "median_train_ratio": statistics.median(train_ratios),
            "median_ratio": statistics.median(step_ratios)}


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------

def format_report(res: dict) -> str:
    s = res["settings"]
    lines = ["symreg DySymNet proposer benchmark", *machine_lines(res["machine"], "sympy"), ""]
    if res.get("rows"):
        rows = res["rows"]
        how = ("SymbolicRegressor(proposers=['dysymnet'], search=False)" if s["regressor"]
               else "DySymNetProposer().propose, refit, best by MSE")
        lines += [f"(a) Nguyen recovery: {how}, time_budget={s['time']:g} s, seed {s['seed']}",
                  "    SRBench symbolic solution (constants to 3 digits; offset/scale allowed)",
                  f"{'problem':<10} {'solved':<7} {'seconds':>8} {'steps':>6}  equation"]
        for r in rows:
            eq = r["equation"] if "error" not in r else f"ERROR {r['error']}"
            lines.append(f"{r['problem']:<10} {'yes' if r['solved'] else 'NO':<7} "
                         f"{r['seconds']:>8.1f} {r['steps'] if r['steps'] is not None else '-':>6}"
                         f"  {eq[:80]}")
        k = sum(r["solved"] for r in rows)
        lines.append(f"recovered: {k}/{len(rows)}")
        missed = [r for r in rows if not r["solved"]]
        if missed:
            lines.append("misses: " + "; ".join(f"{r['problem']} ({r['truth']})" for r in missed))
        lines.append("")
    if res.get("ratio"):
        r = res["ratio"]
        def fmt(values):
            return " ".join(f"{v:.2f}" for v in values)

        lines += [(f"(b) step time: one controller step of {r['batch']} architectures vs "
                   f"training one alone ({r['steps']} Adam steps each), {r['repeats']} repeats"),
                  "    full step s       : " + fmt(r["full_step_s"]),
                  "    batched training s: " + fmt(r["batched_train_s"]),
                  "    one network s     : " + fmt(r["single_s"]) + "  (median of 3)",
                  "    full step / one   : " + fmt(r["step_ratios"]),
                  "    training  / one   : " + fmt(r["train_ratios"]),
                  (f"median ratio, full step: {r['median_ratio']:.2f} (target <= 3); "
                   f"training only: {r['median_train_ratio']:.2f}")]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--time", type=float, default=20.0, help="budget per problem, seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--problems", default="1-12", help="e.g. 1-12, 1,5,7")
    p.add_argument("--repeats", type=int, default=5, help="repeats of the step-time ratio")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--regressor", action="store_true",
                   help="fit through SymbolicRegressor(proposers=['dysymnet'], search=False)")
    p.add_argument("--skip-recovery", action="store_true")
    p.add_argument("--skip-ratio", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a DySymNetConfig field in (a), e.g. --set batch_size=20")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if skipped := cuda_missing(args):
        return skipped
    import sympy

    res = {"machine": machine_info(__file__, argv, torch.device(args.device),
                                   sympy=sympy.__version__),
           "settings": {k: v for k, v in vars(args).items() if k not in ("json", "quiet")}}
    if not args.skip_ratio:
        res["ratio"] = run_ratio(args.repeats, args.seed, args.device)
        if not args.quiet:
            print(f"  step-time ratio: median {res['ratio']['median_ratio']:.2f}",
                  file=sys.stderr, flush=True)
    if not args.skip_recovery:
        overrides = {}
        for item in args.set:
            key, value = item.split("=", 1)
            overrides[key.strip()] = ast.literal_eval(value.strip())
        res["rows"] = run_recovery(_problems(args.problems), args.time, args.seed, args.device,
                                   args.regressor, args.quiet, overrides)
        res["n_solved"] = sum(r["solved"] for r in res["rows"])
    return finish(res, args, format_report, "figures")


if __name__ == "__main__":
    main()
