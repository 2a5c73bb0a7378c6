"""Benchmark: the symreg batch evaluator against a naive sympy/numpy loop.

Measures, in one run on this machine:

(a) candidates scored per second, from Expression objects to losses:
    fresh random expressions at a few hundred points. symreg side:
    ``evaluate_batch(exprs, X, y)`` (float32, compilation included, median of
    a few repeats, each on a freshly generated set so no cache can help).
    Naive side: per expression ``sympy.lambdify`` of
    ``expr.sympy(exact_constants=False)`` with the "numpy" module, called on the
    columns of X, MSE in numpy (float64); compilation included. The naive loop
    is timed on a random subset of the same expressions and reported per
    candidate. Target: symreg/naive >= 30x.

(b) node·rows per second at many points: nodes are prefix tokens
    (``len(expr.tokens)``, leaves included) times rows. symreg side:
    ``evaluate_batch`` with ``y`` (losses), compilation included, with
    ``share_subtrees=True`` and ``False``. With sharing, a shared node is
    computed once but still counted, so the ``False`` figure is the
    like-for-like per-node figure. Naive side: the same expressions already
    lambdified (compilation not counted), each called on the points plus the
    MSE in numpy. Target: symreg/naive >= 1x.

(c) per-thread node·rows per second against numpy in the same dtype
    (``torch.set_num_threads(1)``), in float32 and in float64, at 10^4 points
    (``--c-exprs`` expressions) and at 10^6 points (``--c-big-exprs``, fewer,
    so that the section stays near a minute). symreg side: ``evaluate_batch``
    with ``y`` (losses), compilation included, ``dtype`` float32 or float64,
    ``share_subtrees=False`` (like-for-like) and ``True``. numpy side: the same
    expressions already lambdified, called on the columns of X cast to that
    dtype, MSE ``np.mean(np.square(pred - y))`` with y in that dtype, timed on
    the expressions whose lambdified form gives a real array of that dtype
    (sympy folds some to a constant, some to complex numbers), and node·rows
    counted on those. The two sides
    are timed interleaved, repeat by repeat, so a busy machine slows both.
    Targets (issue 18): symreg/numpy >= 1x at 10^4 points and >= 1.5x at
    10^6 points.

Usage::

    .venv/bin/python benchmarks/bench_evaluator.py [--n-exprs 10000] [--seed 0]
        [--device cpu|cuda|auto] [--parts abc] [--json out.json]

Section (c) alone, as measured for issue 18 (one thread, about a minute)::

    .venv/bin/python benchmarks/bench_evaluator.py --parts c --device cpu
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# the repo root (symreg from a checkout without an installed symreg), then this
# folder (_common, also when a test loads this script from its path)
for _dir in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

import sympy
from _common import cuda_missing, finish, machine_info, machine_lines

from symreg.evaluate import compile_batch, evaluate_batch, resolve_device
from symreg.generate import random_expressions

N_FEATURES = 3
MAX_TOKENS = 30
TARGETS = {"a_candidates_ratio": 30.0, "b_node_rows_ratio": 1.0,
           "c_small_ratio": 1.0, "c_big_ratio": 1.5}


# ----------------------------------------------------------------------------
# data and machine
# ----------------------------------------------------------------------------

def make_data(n_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """X uniform in [-3, 3]^3 and y = x0*sin(x1) + x2**2."""
    X = rng.uniform(-3.0, 3.0, size=(n_points, N_FEATURES))
    y = X[:, 0] * np.sin(X[:, 1]) + X[:, 2] ** 2
    return X, y


# ----------------------------------------------------------------------------
# the naive side
# ----------------------------------------------------------------------------

_SYMBOLS = sympy.symbols(" ".join(f"x{i}" for i in range(N_FEATURES)))


def naive_compile(expr):
    """``sympy.lambdify`` of the expression, or None when sympy cannot print it
    for numpy (e.g. a ``zoo`` that sympy folded out of ``C/(x0 - x0)``)."""
    try:
        return sympy.lambdify(_SYMBOLS, expr.sympy(exact_constants=False), modules="numpy")
    except Exception:  # noqa: BLE001 - any failure is an infinite loss, like the evaluator's
        return None


def naive_loss(fn, cols, y: np.ndarray) -> float:
    """MSE of a lambdified function on the columns; non-finite -> inf."""
    if fn is None:
        return float("inf")
    with np.errstate(all="ignore"):
        try:
            pred = np.asarray(fn(*cols))
        except Exception:  # noqa: BLE001
            return float("inf")
        if np.iscomplexobj(pred):  # sympy folded e.g. sqrt(-2) to a complex constant
            if np.any(pred.imag != 0):
                return float("inf")
            pred = pred.real
        mse = float(np.mean(np.square(pred - y)))
    return mse if np.isfinite(mse) else float("inf")


def naive_score(exprs, X, y) -> tuple[np.ndarray, int]:
    """Compile and score each expression; returns losses and compile failures."""
    cols = [X[:, i] for i in range(X.shape[1])]
    out = np.empty(len(exprs))
    failed = 0
    for i, e in enumerate(exprs):
        fn = naive_compile(e)
        failed += fn is None
        out[i] = naive_loss(fn, cols, y)
    return out, failed


# ----------------------------------------------------------------------------
# timing helpers
# ----------------------------------------------------------------------------

def _timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _agreement(a: np.ndarray, b: np.ndarray, rtol: float = 1e-2) -> float:
    """Share of candidates on which two loss vectors agree (both inf, or close)."""
    both_inf = ~np.isfinite(a) & ~np.isfinite(b)
    both_fin = np.isfinite(a) & np.isfinite(b)
    close = np.zeros_like(both_fin)
    fa, fb = a[both_fin], b[both_fin]
    close[both_fin] = np.abs(fa - fb) <= rtol * np.maximum(1.0, np.abs(fb))
    return float(np.mean(both_inf | close)) if len(a) else 1.0


# ----------------------------------------------------------------------------
# the benchmark
# ----------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-exprs", type=int, default=10_000,
                   help="(a) random expressions scored by symreg per repeat (default 10000)")
    p.add_argument("--n-points", type=int, default=200, help="(a) points (default 200)")
    p.add_argument("--naive-subset", type=int, default=1_000,
                   help="(a) random subset of the same expressions timed on the naive side "
                        "(default 1000)")
    p.add_argument("--b-exprs", type=int, default=2_000,
                   help="(b) expressions evaluated at many points (default 2000)")
    p.add_argument("--b-points", type=int, default=10_000, help="(b) points (default 10000)")
    p.add_argument("--c-exprs", type=int, default=2_000,
                   help="(c) expressions at --c-points (default 2000)")
    p.add_argument("--c-points", type=int, default=10_000, help="(c) points (default 10000)")
    p.add_argument("--c-big-exprs", type=int, default=60,
                   help="(c) expressions at --c-big-points (default 60)")
    p.add_argument("--c-big-points", type=int, default=1_000_000,
                   help="(c) points of the large case (default 1000000)")
    p.add_argument("--parts", default="abc",
                   help="sections to run, a subset of 'abc' (default all)")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed repeats of the symreg side and of naive (b); median reported")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                   help="symreg device; 'auto' is CUDA when available, else CPU")
    p.add_argument("--json", metavar="PATH", help="also write all figures to this JSON file")
    p.add_argument("--quiet", action="store_true", help="print nothing (for tests)")
    return p.parse_args(argv)


def run(args) -> dict:
    dev = resolve_device(args.device)
    rng = np.random.default_rng(args.seed)
    warm = random_expressions(64, N_FEATURES, max_tokens=MAX_TOKENS, seed=args.seed + 999_983)

    out: dict = {}
    exprs: list = []
    if "a" in args.parts:
        X, y = make_data(args.n_points, rng)
        evaluate_batch(warm, X, y, device=dev)           # first torch call, imports
        naive_score(warm[:16], X, y)                      # sympy printer / lambdify set-up

        sets = [random_expressions(args.n_exprs, N_FEATURES, max_tokens=MAX_TOKENS,
                                   seed=args.seed + r) for r in range(args.repeats)]
        sr_times, sr_losses = [], None
        for r, exprs in enumerate(sets):
            t, losses = _timed(lambda ex=exprs: evaluate_batch(ex, X, y, device=dev))
            sr_times.append(t)
            if r == 0:
                sr_losses = losses
        sr_time = statistics.median(sr_times)
        sr_rate = args.n_exprs / sr_time

        exprs = sets[0]
        k = min(args.naive_subset, args.n_exprs)
        subset = np.sort(rng.choice(args.n_exprs, size=k, replace=False))
        sub_exprs = [exprs[i] for i in subset]
        nv_time, (nv_losses, nv_failed) = _timed(lambda: naive_score(sub_exprs, X, y))
        nv_rate = k / nv_time
        part_a = {
            "n_exprs": args.n_exprs,
            "n_points": args.n_points,
            "mean_tokens": float(np.mean([len(e.tokens) for e in exprs])),
            "finite_share": float(np.mean(np.isfinite(sr_losses))),
            "symreg_seconds": sr_time,
            "symreg_seconds_all": sr_times,
            "symreg_candidates_per_s": sr_rate,
            "naive_subset": k,
            "naive_seconds": nv_time,
            "naive_seconds_per_candidate": nv_time / k,
            "naive_candidates_per_s": nv_rate,
            "naive_compile_failures": int(nv_failed),
            "loss_agreement": _agreement(sr_losses[subset], nv_losses),
            "ratio": sr_rate / nv_rate,
            "target_ratio": TARGETS["a_candidates_ratio"],
        }
        del sets

        out["a"] = part_a
    if "b" in args.parts:
        Xb, yb = make_data(args.b_points, rng)
        bexprs = exprs[: min(args.b_exprs, len(exprs))] if exprs else []
        if len(bexprs) < args.b_exprs:  # more than (a) generated: make more, same seed
            bexprs = random_expressions(args.b_exprs, N_FEATURES, max_tokens=MAX_TOKENS, seed=args.seed)
        tokens = np.array([len(e.tokens) for e in bexprs])
        nodes = int(tokens.sum())
        evaluate_batch(warm, Xb, yb, device=dev)

        part_b: dict = {"n_exprs": len(bexprs), "n_points": args.b_points, "nodes": nodes,
                        "node_rows": nodes * args.b_points}
        for share in (True, False):
            times = []
            for _ in range(args.repeats):
                t, _losses = _timed(lambda s=share: evaluate_batch(bexprs, Xb, yb, device=dev,
                                                                   share_subtrees=s))
                times.append(t)
            key = f"symreg_share_{str(share).lower()}"
            part_b[key + "_seconds"] = statistics.median(times)
            part_b[key + "_seconds_all"] = times
            part_b[key + "_node_rows_per_s"] = nodes * args.b_points / statistics.median(times)
        # how much work sharing saves: operator nodes computed vs present (one compile, untimed)
        leaves = int(sum(sum(1 for t in e.tokens if t == "C" or t.startswith("x")) for e in bexprs))
        prog = compile_batch(bexprs, N_FEATURES, "cpu", share_subtrees=True)
        part_b["operator_nodes"] = nodes - leaves
        part_b["operator_nodes_computed_shared"] = int(
            prog.n_rows - N_FEATURES - len(prog.const_values))

        fns = [naive_compile(e) for e in bexprs]          # compilation not counted
        ok = [i for i, f in enumerate(fns) if f is not None]
        ok_fns = [fns[i] for i in ok]
        nv_nodes = int(tokens[ok].sum())
        cols = [Xb[:, i] for i in range(N_FEATURES)]
        naive_loss(ok_fns[0], cols, yb) if ok_fns else None  # warm-up
        times = []
        for _ in range(args.repeats):
            t, _ = _timed(lambda: [naive_loss(f, cols, yb) for f in ok_fns])
            times.append(t)
        part_b["naive_seconds"] = statistics.median(times)
        part_b["naive_seconds_all"] = times
        part_b["naive_exprs_evaluated"] = len(ok)
        part_b["naive_nodes"] = nv_nodes
        part_b["naive_node_rows_per_s"] = nv_nodes * args.b_points / statistics.median(times)
        part_b["ratio_share_false"] = (part_b["symreg_share_false_node_rows_per_s"]
                                       / part_b["naive_node_rows_per_s"])
        part_b["ratio_share_true"] = (part_b["symreg_share_true_node_rows_per_s"]
                                      / part_b["naive_node_rows_per_s"])
        part_b["target_ratio"] = TARGETS["b_node_rows_ratio"]
        out["b"] = part_b
    if "c" in args.parts:
        out["c"] = run_c(args, dev, warm)
    return out


# ----------------------------------------------------------------------------
# (c) one thread, against numpy in the same dtype
# ----------------------------------------------------------------------------

def numpy_mse_loop(fns, cols, y) -> list[float]:
    """MSE of each lambdified function, in the dtype of ``cols`` and ``y``."""
    out = []
    with np.errstate(all="ignore"):
        for fn in fns:
            try:
                pred = fn(*cols)
            except Exception:  # noqa: BLE001 - like the evaluator, bad numbers never raise
                out.append(float("inf"))
                continue
            out.append(float(np.mean(np.square(pred - y))))
    return out


def _stays_in_dtype(fn, cols) -> bool:
    """Whether the lambdified function gives a real array of the columns' dtype:
    not a constant sympy folded it to (no work), not complex (sympy folded
    e.g. log(-2) into a complex constant: more work) nor promoted."""
    if fn is None:
        return False
    probe = [c[:64] for c in cols]
    with np.errstate(all="ignore"):
        try:
            pred = fn(*probe)
        except Exception:  # noqa: BLE001
            return False
    return isinstance(pred, np.ndarray) and pred.shape == (len(probe[0]),) and \
        pred.dtype == cols[0].dtype


def _c_case(exprs, fns, n_points, dtype_name, repeats, dev, rng) -> dict:
    """One (points, dtype) cell of section (c): both sides timed interleaved;
    ``fns`` are the expressions lambdified (compilation not counted)."""
    import torch

    X, y = make_data(n_points, rng)
    dtype = getattr(torch, dtype_name)
    np_dtype = np.dtype(dtype_name)
    cols = [np.ascontiguousarray(X[:, i], dtype=np_dtype) for i in range(N_FEATURES)]
    yc = y.astype(np_dtype)
    ok = [i for i, f in enumerate(fns) if _stays_in_dtype(f, cols)]
    tokens = np.array([len(e.tokens) for e in exprs])
    nodes, nv_nodes = int(tokens.sum()), int(tokens[ok].sum())
    ok_fns = [fns[i] for i in ok]
    times: dict[str, list[float]] = {"share_false": [], "share_true": [], "numpy": []}
    for _ in range(repeats):
        for share in (False, True):
            t, _l = _timed(lambda s=share: evaluate_batch(exprs, X, y, device=dev, dtype=dtype,
                                                          share_subtrees=s))
            times[f"share_{str(share).lower()}"].append(t)
        t, _l = _timed(lambda: numpy_mse_loop(ok_fns, cols, yc))
        times["numpy"].append(t)
    cell = {"n_points": n_points, "dtype": dtype_name, "n_exprs": len(exprs), "nodes": nodes,
            "numpy_exprs": len(ok), "numpy_nodes": nv_nodes}
    for key, ts in times.items():
        work = (nv_nodes if key == "numpy" else nodes) * n_points
        cell[f"{key}_seconds_all"] = ts
        cell[f"{key}_node_rows_per_s"] = work / statistics.median(ts)
    for share in ("false", "true"):
        cell[f"ratio_share_{share}"] = (cell[f"share_{share}_node_rows_per_s"]
                                       / cell["numpy_node_rows_per_s"])
    return cell


def run_c(args, dev, warm) -> dict:
    """Section (c) on one torch thread (restored afterwards)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(args.seed + 3)
        exprs = random_expressions(args.c_exprs, N_FEATURES, max_tokens=MAX_TOKENS,
                                   seed=args.seed + 7)
        big = exprs[: args.c_big_exprs]
        fns = [naive_compile(e) for e in exprs]      # once for every cell
        Xw, yw = make_data(256, rng)
        for dtype in (torch.float32, torch.float64):
            evaluate_batch(warm, Xw, yw, device=dev, dtype=dtype)
        cells = []
        for n_points, subset, target in ((args.c_points, exprs, TARGETS["c_small_ratio"]),
                                         (args.c_big_points, big, TARGETS["c_big_ratio"])):
            for dtype_name in ("float32", "float64"):
                cell = _c_case(subset, fns[: len(subset)], n_points, dtype_name, args.repeats,
                               dev, rng)
                cell["target_ratio"] = target
                cells.append(cell)
    finally:
        torch.set_num_threads(threads)
    return {"cells": cells, "torch_threads": 1}


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------

def _f(x: float) -> str:
    """Compact human number."""
    if x >= 1e6:
        return f"{x:.3g}".replace("e+0", "e").replace("e+", "e")
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def format_report(res: dict) -> str:
    m = res["machine"]
    dtype = "float32"
    lines = [
        "symreg batch-evaluator benchmark",
        *machine_lines(m, "sympy"),
        f"device   : {m['device']} (symreg side); (a), (b): symreg {dtype}, naive numpy "
        f"float64 on the CPU" if {"a", "b"} & set(res) else f"device   : {m['device']}",
    ]
    if "a" in res:
        a = res["a"]
        lines += [
            "",
            f"(a) candidates scored per second, Expression -> loss, {a['n_points']} points, "
            f"compilation included",
            f"    random expressions: 3 features, <= {MAX_TOKENS} tokens, mean "
            f"{a['mean_tokens']:.1f} tokens; {100 * a['finite_share']:.0f}% finite losses",
            f"    {'side':<44}{'candidates':>11}{'seconds':>10}{'candidates/s':>15}",
            f"    {'symreg evaluate_batch (median of ' + str(len(a['symreg_seconds_all'])) + ')':<44}"
            f"{a['n_exprs']:>11,}{a['symreg_seconds']:>10.3f}{_f(a['symreg_candidates_per_s']):>15}",
            f"    {'naive sympy.lambdify + numpy MSE':<44}"
            f"{a['naive_subset']:>11,}{a['naive_seconds']:>10.3f}{_f(a['naive_candidates_per_s']):>15}",
            f"    naive: {1e3 * a['naive_seconds_per_candidate']:.2f} ms per candidate; "
            f"{a['naive_compile_failures']} could not be lambdified (scored inf); "
            f"losses agree with symreg on {100 * a['loss_agreement']:.1f}% of the subset",
            "    (differences: sympy rewrites sqrt(x)**2 -> x, exp(log(x)) -> x, x - x -> 0, removing "
            "domain errors; float32 vs float64 overflow)",
            f"    ratio symreg/naive: {a['ratio']:,.0f}x   (target >= {a['target_ratio']:.0f}x: "
            f"{'met' if a['ratio'] >= a['target_ratio'] else 'NOT met'})",
        ]
    if "b" in res:
        b = res["b"]
        lines += [
            "",
            f"(b) node·rows per second, {b['n_points']:,} points, {b['n_exprs']:,} expressions, "
            f"losses (nodes = prefix tokens, leaves included)",
            f"    {'side':<44}{'nodes':>11}{'seconds':>10}{'node·rows/s':>15}",
            f"    {'symreg share_subtrees=True  (compile incl.)':<44}{b['nodes']:>11,}"
            f"{b['symreg_share_true_seconds']:>10.3f}{_f(b['symreg_share_true_node_rows_per_s']):>15}",
            f"    {'symreg share_subtrees=False (compile incl.)':<44}{b['nodes']:>11,}"
            f"{b['symreg_share_false_seconds']:>10.3f}"
            f"{_f(b['symreg_share_false_node_rows_per_s']):>15}",
            f"    {'naive lambdified numpy (compile NOT incl.)':<44}{b['naive_nodes']:>11,}"
            f"{b['naive_seconds']:>10.3f}{_f(b['naive_node_rows_per_s']):>15}",
            f"    sharing: {b['operator_nodes_computed_shared']:,} of {b['operator_nodes']:,} operator "
            f"nodes computed; shared nodes are computed once but counted every time,",
            "    so share_subtrees=False is the like-for-like per-node figure.",
            f"    naive: {b['naive_exprs_evaluated']:,} of {b['n_exprs']:,} expressions lambdified; "
            "sympy's automatic simplification may drop nodes it then never computes.",
            f"    ratio symreg/naive, share_subtrees=False: {b['ratio_share_false']:.2f}x   "
            f"(target >= {b['target_ratio']:.0f}x: "
            f"{'met' if b['ratio_share_false'] >= b['target_ratio'] else 'NOT met'})",
            f"    ratio symreg/naive, share_subtrees=True : {b['ratio_share_true']:.2f}x",
        ]
    if "c" in res:
        lines += _format_c(res["c"])
    return "\n".join(lines)


def _format_c(c: dict) -> list[str]:
    lines = [
        "",
        ("(c) node·rows per second on ONE thread, symreg vs numpy in the same dtype, losses "
         "(MSE), compilation included on the symreg side, not on the numpy side"),
        (f"    {'points':>9}{'dtype':>9}{'exprs':>7}{'symreg share=False':>20}"
         f"{'share=True':>12}{'numpy':>10}{'ratio':>8}{'(share)':>9}{'target':>8}"),
    ]
    for cell in c["cells"]:
        met = "met" if cell["ratio_share_false"] >= cell["target_ratio"] else "NOT met"
        lines.append(
            f"    {cell['n_points']:>9,}{cell['dtype']:>9}{cell['n_exprs']:>7,}"
            f"{_f(cell['share_false_node_rows_per_s']):>20}{_f(cell['share_true_node_rows_per_s']):>12}"
            f"{_f(cell['numpy_node_rows_per_s']):>10}{cell['ratio_share_false']:>7.2f}x"
            f"{cell['ratio_share_true']:>8.2f}x{cell['target_ratio']:>6.1f}x {met}")
    kept = ", ".join(f"{cell['numpy_exprs']}/{cell['n_exprs']}" for cell in c["cells"])
    lines += [
        "    ratio: symreg share_subtrees=False (like for like) / numpy; (share): with sharing.",
        "    numpy: X's columns and y cast to the dtype, the MSE in that dtype; timed on the",
        "    expressions whose lambdified form gives a real array of that dtype (not a constant",
        f"    sympy folded it to, not complex): {kept}; nodes counted on those only.",
        "    Medians of the repeats, the two sides interleaved.",
    ]
    return lines


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns all figures (and writes --json when given)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if skipped := cuda_missing(args):
        return skipped
    res = {"machine": machine_info(__file__, argv, resolve_device(args.device),
                                    sympy=sympy.__version__)}
    res.update(run(args))
    res["settings"] = {k: v for k, v in vars(args).items() if k not in ("json", "quiet")}
    return finish(res, args, format_report, "figures")


if __name__ == "__main__":
    main()
