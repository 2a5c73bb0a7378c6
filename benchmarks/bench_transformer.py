"""Benchmark: the pretrained transformer on fresh synthetic problems (issue 5).

Targets (2-core CPU): on 1,000 fresh problems (a seed the training and
validation never used; 1–3 variables, up to 6 operators, 200 points each) the
correct skeleton is among the 32 beams for ≥ 50 %; proposing 32 skeletons for one
dataset takes ≤ 1 s. Hypotheses are obeyed: an excluded operator never appears in
a beam, a required subtree appears in ≥ 90 % of the beams, and accuracy with a
correct hypothesis beats accuracy without.

"Correct skeleton" means the beam's :func:`~symreg.neural.vocab.skeleton_key`
(constants as ``C``; sums and products flattened and their terms sorted, so the
order and grouping of ``x0*x1*x2`` do not matter) equals the truth's, which went
through the generator's constant folding. That is strict otherwise: a beam that is
the same function written differently (``x0/x1`` against ``x0*inv(x1)``, or with an
extra constant) is a miss.

For each problem: no hypothesis, through :meth:`TransformerProposer.propose` as a
user gets it (the model reads 64-point subsets and their beams are pooled); then
beam searches on all the points with the full correct hypothesis (1–2 operators
that appear, 2 that do not, one subtree of ≥ 3 tokens, the length), the exclusion
only and the subtree only (skipped with ``--plain-only``). The timing is of
:meth:`TransformerProposer.propose` (variable selection, encoding, beam searches,
pooling) with no hypothesis.

Usage::

    .venv/bin/python benchmarks/bench_transformer.py [--n 1000] [--seed 424242]
        [--weights symreg/neural/weights/transformer.pt] [--beams 32] [--threads 2]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

for _dir in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

import numpy as np
import torch
from _common import finish, machine_info, machine_lines

from symreg.neural.generator import GeneratorConfig, random_hypothesis, unique_samples
from symreg.neural.transformer import encode_points
from symreg.neural.transformer_proposer import TransformerProposer, load_model
from symreg.neural.vocab import Hypothesis, contains_subtree, skeleton_key


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1000, help="problems")
    p.add_argument("--seed", type=int, default=424242, help="test-set seed")
    p.add_argument("--weights", default=None, help="weights file (default: shipped)")
    p.add_argument("--beams", type=int, default=32)
    p.add_argument("--points", type=int, default=200)
    p.add_argument("--threads", type=int, default=None, help="torch threads for the timing")
    p.add_argument("--workers", type=int, default=1, help="processes for the accuracy figures")
    p.add_argument("--time-n", type=int, default=100, help="problems timed (alone, afterwards)")
    p.add_argument("--plain-only", action="store_true",
                   help="only the accuracy without a hypothesis (and the timing)")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def full_hypothesis(rng, skeleton, operators, max_complexity) -> Hypothesis:
    """A correct hypothesis with every part switched on."""
    for _ in range(50):
        h = random_hypothesis(rng, skeleton, operators, max_complexity, p_include=1.0,
                              p_exclude=1.0, p_subtree=1.0, p_complexity=1.0, p_empty=0.0)
        if h.include and h.exclude and h.complexity:
            return h
    return h


def score_chunk(task) -> dict:
    """Accuracy and obedience figures for a slice of the problems (one process)."""
    weights, beams, seed, lo, hi, n, points, plain_only = task
    torch.set_num_threads(1)
    model, _ = load_model(weights)
    vocab = model.vocab
    config = GeneratorConfig(min_vars=1, max_vars=3, max_ops=6, n_points=points)
    problems = unique_samples(n, seed, config)[lo:hi]
    rng = np.random.default_rng([seed, lo])
    out = {k: 0 for k in ("plain", "full", "exclude_only", "subtree_only", "excluded_seen",
                          "sub_beams", "sub_total", "sub_problems")}
    rows = []
    for s in problems:
        want = skeleton_key(s.skeleton)
        pts = encode_points(s.X, s.y, model.config.max_vars)
        k = s.X.shape[1]

        def hit(found) -> bool:
            return any(skeleton_key(t) == want for t, _ in found)  # noqa: B023

        # no hypothesis: what a user gets, through the proposer (64-point subsets, pooled)
        proposer = TransformerProposer(weights, beam_width=beams)
        proposer.propose(s.X, s.y, n=beams, seed=lo + len(rows))
        plain = proposer.beams_
        out["plain"] += hit(plain)
        if plain_only:
            rows.append({"truth": " ".join(s.skeleton), "n_vars": k, "plain_hit": hit(plain),
                         "top": " ".join(plain[0][0]) if plain else ""})
            continue
        hyp = full_hypothesis(rng, s.skeleton, vocab.operators, vocab.max_complexity)
        full = model.beam_search(pts, k, beam_width=beams, hypothesis=hyp)
        out["full"] += hit(full)
        exc = Hypothesis(exclude=hyp.exclude)
        found = model.beam_search(pts, k, beam_width=beams, hypothesis=exc)
        out["exclude_only"] += hit(found)
        out["excluded_seen"] += sum(any(o in t for o in exc.exclude) for t, _ in found + full)
        if hyp.subtrees:
            sub = Hypothesis(subtrees=hyp.subtrees[:1])
            found = model.beam_search(pts, k, beam_width=beams, hypothesis=sub)
            out["subtree_only"] += hit(found)
            out["sub_problems"] += 1
            out["sub_beams"] += sum(contains_subtree(t, sub.subtrees[0]) for t, _ in found)
            out["sub_total"] += len(found)
        rows.append({"truth": " ".join(s.skeleton), "n_vars": k, "plain_hit": hit(plain),
                     "full_hit": hit(full), "top": " ".join(plain[0][0]) if plain else ""})
    out["rows"] = rows
    return out


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    _, card = load_model(args.weights)
    t0 = time.monotonic()
    chunks = np.linspace(0, args.n, args.workers + 1).astype(int)
    tasks = [(args.weights, args.beams, args.seed, int(lo), int(hi), args.n, args.points,
              args.plain_only)
             for lo, hi in zip(chunks[:-1], chunks[1:])]
    if args.workers > 1:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            parts = pool.map(score_chunk, tasks)
    else:
        parts = [score_chunk(t) for t in tasks]
    score_seconds = time.monotonic() - t0
    total = {k: sum(p[k] for p in parts) for k in parts[0] if k != "rows"}
    rows = [r for p in parts for r in p["rows"]]
    # timing alone in this process, after the scoring: the machine is otherwise idle
    config = GeneratorConfig(min_vars=1, max_vars=3, max_ops=6, n_points=args.points)
    timed = unique_samples(args.n, args.seed, config)[:args.time_n]
    proposer = TransformerProposer(args.weights, beam_width=args.beams)
    times = []
    for i, s in enumerate(timed):
        t = time.perf_counter()
        proposer.propose(s.X, s.y, n=args.beams, seed=i)
        times.append(time.perf_counter() - t)
    n = len(rows)
    by_vars = {k: [r["plain_hit"] for r in rows if r["n_vars"] == k] for k in (1, 2, 3)}
    rate = (lambda k, d=n: None if args.plain_only else total[k] / max(1, d))
    res = {
        "machine": machine_info(__file__, argv, None),
        "card": {k: card.get(k) for k in ("steps", "samples_seen", "train_seconds", "parameters")},
        "n_problems": n, "beams": args.beams, "score_seconds": score_seconds,
        "top_beams_rate": total["plain"] / n,
        "top_beams_rate_by_vars": {k: (sum(v) / len(v) if v else None) for k, v in by_vars.items()},
        "with_full_hypothesis_rate": rate("full"),
        "with_exclusion_rate": rate("exclude_only"),
        "with_subtree_rate": rate("subtree_only", total["sub_problems"]),
        "subtree_problems": total["sub_problems"],
        "excluded_operator_in_beams": None if args.plain_only else total["excluded_seen"],
        "required_subtree_share": rate("sub_beams", total["sub_total"]),
        "timed_problems": len(times),
        "propose_seconds_median": statistics.median(times),
        "propose_seconds_p90": float(np.quantile(times, 0.9)),
        "propose_seconds_max": max(times),
        "rows": rows,
    }
    return finish(res, args, format_report, "figures")


def format_report(r: dict) -> str:
    if r["with_full_hypothesis_rate"] is None:  # --plain-only
        return "\n".join(machine_lines(r["machine"]) + [
            f"weights  : {r['card']}",
            f"problems : {r['n_problems']} fresh (1-3 variables, <= 6 operators), {r['beams']} beams",
            f"correct skeleton among beams, no hypothesis      : {r['top_beams_rate']:.1%}  "
            "(target >= 50%)",
            "  by variables: " + ", ".join(f"{k}: {v:.1%}" for k, v in
                                           r["top_beams_rate_by_vars"].items() if v is not None),
            f"propose {r['beams']} for 200 points ({r['timed_problems']} problems, alone): median "
            f"{r['propose_seconds_median']:.3f} s, p90 {r['propose_seconds_p90']:.3f} s, "
            f"max {r['propose_seconds_max']:.3f} s  (target <= 1 s)"])
    return "\n".join(machine_lines(r["machine"]) + [
        f"weights  : {r['card']}",
        f"problems : {r['n_problems']} fresh (1-3 variables, <= 6 operators), {r['beams']} beams",
        f"correct skeleton among beams, no hypothesis      : {r['top_beams_rate']:.1%}  (target >= 50%)",
        "  by variables: " + ", ".join(f"{k}: {v:.1%}" for k, v in r["top_beams_rate_by_vars"].items()
                                       if v is not None),
        f"  with the full correct hypothesis               : {r['with_full_hypothesis_rate']:.1%}",
        f"  with the exclusions only                       : {r['with_exclusion_rate']:.1%}",
        f"  with the subtree only ({r['subtree_problems']} problems)          : "
        f"{r['with_subtree_rate']:.1%}",
        f"beams containing an excluded operator            : {r['excluded_operator_in_beams']}  (target 0)",
        f"beams containing the required subtree            : {r['required_subtree_share']:.1%}  "
        "(target >= 90%)",
        f"propose {r['beams']} for 200 points ({r['timed_problems']} problems, alone): median {r['propose_seconds_median']:.3f} s, "
        f"p90 {r['propose_seconds_p90']:.3f} s, max {r['propose_seconds_max']:.3f} s  (target <= 1 s)",
    ])


if __name__ == "__main__":
    main()
