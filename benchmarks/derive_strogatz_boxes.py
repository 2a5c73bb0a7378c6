"""Derive the uniform sampling boxes of the ODE-Strogatz problems.

The ODE-Strogatz benchmark (14 problems: both right-hand sides of 7
two-dimensional systems from S. H. Strogatz, *Nonlinear Dynamics and Chaos*;
used in SRBench, La Cava et al. 2021, "Contemporary Symbolic Regression
Methods and their Relative Performance", NeurIPS Datasets and Benchmarks;
distributed via PMLB as ``strogatz_*``) ships simulated trajectories, so it
has no sampling ranges. Our harness samples the state (x, y) uniformly from
one box per system instead; this script derives those boxes from the
trajectories the benchmark was simulated with and writes them to
``symreg/datasets/data/strogatz_boxes.csv`` (columns system, x_low, x_high,
y_low, y_high, note).

Source of the initial conditions: ``simulate_ode.m`` of the ode-strogatz
repository (github.com/lacava/ode-strogatz), which simulates each system for
a time span of 10 (sampling step 0.1, 100 samples) from 4 initial conditions:

=========  ==========================================  ======================
system     x0                                          y0
=========  ==========================================  ======================
bacres     5 + wgn(1,1,1)                              10 + wgn(1,1,0.1)
barmag     Uniform(0, 2 pi)                            Uniform(0, 2 pi)
glider     5 + wgn(1,1,1)                              0 + wgn(1,1,0.1)
lv         fixed: (1,3), (4,1), (8,2), (3,3)
predprey   5 + wgn(1,1,1)                              10 + wgn(1,1,0.1)
shearflow  Uniform(-pi, pi)                            Uniform(-pi/2, pi/2)
vdp        Uniform(0, 1)                               Uniform(0, 1)
=========  ==========================================  ======================

MATLAB's ``wgn(m, n, p)`` takes the noise *power* p in dBW (1 ohm load), so
its standard deviation is sqrt(10**(p/10)): 1.12 for p=1 and 1.01 for p=0.1
(not 1 and 0.1, as the call is easily read). The published trajectories
confirm it: their y0 of bacres lie up to 3 away from 10 and those of glider
at 1.86, 0.87 and -1.32. That (default) reading is used here;
``--wgn-literal`` reads p as the standard deviation instead.

Per system the script draws ``--n-trajectories`` initial conditions (200 by
default instead of the original 4, to get the typical region rather than 4
samples; the 4 fixed ones of lv, cycled, with N(0, 0.1) jitter), integrates
the right-hand sides of the table (verbatim below) with
``scipy.integrate.solve_ivp`` (LSODA, which switches to a stiff method when
needed -- vdp with mu=10 is a relaxation oscillator --, rtol 1e-8, atol 1e-10)
on t in [0, 10], keeps the state every 0.01, and stops a trajectory (keeping
its states so far, and counting it) when it blows up (|x| or |y| > 1e3) or
reaches a singularity of its right-hand side (glider: speed x below 0.01,
where cos(y)/x is infinite; shearflow: |sin y| below 1e-3, where cot(y) is).
The box of each variable is the 0.5 % .. 99.5 % quantile range of all kept
states (time-weighted: where the trajectories spend their time), widened to
include where they start (mean +- 2 sd of the Gaussian starts, the full range
of the uniform ones, the 4 fixed starts of lv), rounded outward to a multiple
of a 1-2-2.5-5 step of at most a tenth of the range, then limited by
judgment so that no box touches a singularity:

* bacres, lv, predprey: populations / concentrations; the lower bounds are
  not rounded below 0 (x = 0 and y = 0 are invariant lines there).
* glider: cos(y)/x is infinite at speed x = 0. The slowest speeds (tops of
  the loops; a few slow starts stall, one of 200 down to the 0.01 stop) put
  the 0.5 % quantile of x near 0.49; rounded outward on the coarse step it
  would land on the pole itself, so it is rounded on the finer one (0.4;
  |cos(y)/x| <= 2.5), and the bound is never below 0.2. The flight-path angle
  y is not wrapped: the gliders that start fast loop the loop, so y keeps
  growing (to ~29 in the published data too); the box covers that unwrapped
  range (the right-hand sides are 2 pi-periodic in y, so it samples all
  phases).
* shearflow: cot(y) has poles at y = 0 and y = +-pi, and y0 ~ U(-pi/2, pi/2)
  puts half the trajectories on either side of the pole y = 0 (none crosses
  it: no trajectory reaches the |sin y| stop). One box straddling y = 0 would
  sample straight across the pole (unbounded, heavy-tailed targets). The
  system is symmetric under (x, y) -> (-x, -y), so the lower-half
  trajectories are mapped onto the upper half before taking quantiles, and the
  box is a sub-box of 0 < y < pi, never nearer than 0.1 to a pole
  (|cot y| <= 10); its lower bound is the 0.5 % quantile of y, ~0.19, rounded
  outward on the finer step (0.15, |cot y| <= 6.6). The starts near y = 0 are
  not added to it: they sit at the pole and leave it at once.

Spot-checked against some published trajectories (d_bacres1, d_glider1,
d_predprey1, d_shearflow1, d_vdp1 of ode-strogatz): integrated here from their
own first states they agree to a few percent at t = 9.9 (the Simulink runs
used looser tolerances); they lie in these boxes, except that the predprey ones dip to y = 2.25 (2.51 here from the
same starts) in the slow passage near x = 0, a little below y_low = 2.5, and
one glider stalls to speed 0.16, below x_low. Their labels also confirm the
table's vdp right-hand side 10 (y - (x^3 - x)/3), not the 10 (y - (x^3/3 - x))
written in simulate_ode.m.

Also printed: the raw quantiles, how many trajectories were stopped, and
the share of simulated states inside the chosen box.

Usage::

    .venv/bin/python benchmarks/derive_strogatz_boxes.py [--n-trajectories 200]
        [--seed 0] [--out symreg/datasets/data/strogatz_boxes.csv]
        [--wgn-literal] [--check]

``--check`` recomputes the boxes and compares them with the file at
``--out`` (exit status 1 on a difference) instead of writing it.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.integrate import solve_ivp

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "symreg" / "datasets" / "data" / "strogatz_boxes.csv"
COLUMNS = ["system", "x_low", "x_high", "y_low", "y_high", "note"]

T_END = 10.0
T_EVAL = np.linspace(0.0, T_END, 1001)  # the state every 0.01
RTOL, ATOL = 1e-8, 1e-10
Q_LOW, Q_HIGH = 0.005, 0.995
BLOWUP = 1e3

# The right-hand sides (dx/dt, dy/dt) of the ODE-Strogatz table, verbatim
# (PMLB's strogatz_<system>1 and strogatz_<system>2); cot is 1/tan.
FORMULAS: dict[str, tuple[str, str]] = {
    "bacres": ("20 - x - (x * y)/(1+0.5 * x**2)", "10 - (x * y)/(1+0.5 * x**2)"),
    "barmag": ("0.5 * sin(x - y) - sin(x)", "0.5 * sin(y - x) - sin(y)"),
    "glider": ("-0.05 * x**2 - sin(y)", "x - cos(y)/x"),
    "lv": ("3  * x - 2  * x * y - x**2", "2 * y - x * y - y**2"),
    "predprey": ("x  * ( 4 - x - (y)/(1+x) )", "y * ( (x)/(1+x) - 0.075 * y )"),
    "shearflow": ("cot(y) * cos(x)", "(cos(y)**2 + 0.1 *  sin(y)**2) * sin(x)"),
    "vdp": ("10 *  (y - (1)/(3) * (x**3-x))", "-(1)/(10) * x"),
}

NUMPY_FUNCTIONS = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "cot": lambda v: 1.0 / np.tan(v),
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "pi": np.pi,
}


def compile_formula(formula: str) -> Callable:
    """``f(x, y)`` evaluating a table formula with numpy (scalars or arrays)."""
    code = compile(formula, "<formula>", "eval")
    namespace = {"__builtins__": {}, **NUMPY_FUNCTIONS}

    def f(x, y):
        return eval(code, namespace, {"x": x, "y": y})

    return f


def wgn_std(power_dbw: float, literal: bool = False) -> float:
    """Standard deviation of MATLAB's ``wgn(1, 1, p)`` (p in dBW, 1 ohm)."""
    return power_dbw if literal else math.sqrt(10.0 ** (power_dbw / 10.0))


def _normal_ics(x_mean, x_dbw, y_mean, y_dbw):
    def sample(rng, n, literal):
        return np.column_stack(
            [
                x_mean + wgn_std(x_dbw, literal) * rng.standard_normal(n),
                y_mean + wgn_std(y_dbw, literal) * rng.standard_normal(n),
            ]
        )

    return sample


def _uniform_ics(x_low, x_high, y_low, y_high):
    def sample(rng, n, literal):
        return np.column_stack([rng.uniform(x_low, x_high, n), rng.uniform(y_low, y_high, n)])

    return sample


def _normal_starts(x_mean, x_dbw, y_mean, y_dbw):
    """mean +- 2 sd of the Gaussian initial conditions."""

    def region(literal):
        sx, sy = 2 * wgn_std(x_dbw, literal), 2 * wgn_std(y_dbw, literal)
        return (x_mean - sx, x_mean + sx), (y_mean - sy, y_mean + sy)

    return region


LV_FIXED_ICS = np.array([[1.0, 3.0], [4.0, 1.0], [8.0, 2.0], [3.0, 3.0]])
LV_JITTER = 0.1


def _lv_ics(rng, n, literal):
    base = LV_FIXED_ICS[np.arange(n) % len(LV_FIXED_ICS)]
    if n <= len(LV_FIXED_ICS):
        return base.copy()  # the original 4 exactly
    return base + LV_JITTER * rng.standard_normal(base.shape)


def _glider_speed(t, s):
    return s[0] - 0.01


def _shearflow_pole(t, s):
    return abs(math.sin(s[1])) - 1e-3


def _fold_shearflow(states):
    """(x, y) -> (-x, -y) where y < 0: the system's symmetry, onto 0 < y < pi."""
    states = states.copy()
    lower = states[:, 1] < 0
    states[lower] *= -1.0
    return states


class System(NamedTuple):
    # a NamedTuple, not a dataclass: tests import this script by path, outside
    # sys.modules, where dataclasses cannot resolve the string annotations
    name: str
    title: str
    sample_ics: Callable  # (rng, n, wgn_literal) -> (n, 2) initial states
    ic_valid: Callable | None = None  # (n, 2) -> bool mask; invalid ones are redrawn
    singular: Callable | None = None  # solve_ivp event: crosses 0 at a singularity
    fold: Callable | None = None  # maps states onto the side the box covers
    # (wgn_literal) -> ((x_lo, x_hi) | None, (y_lo, y_hi) | None): where the
    # trajectories start (the documented distribution); the box includes it
    starts: Callable | None = None
    x_limits: tuple[float, float] = (-math.inf, math.inf)  # the box stays inside
    y_limits: tuple[float, float] = (-math.inf, math.inf)
    note: str = ""


def _positive(ics):
    return np.all(ics > 0, axis=1)


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in [
        System(
            "bacres",
            "bacterial respiration",
            _normal_ics(5.0, 1.0, 10.0, 0.1),
            ic_valid=_positive,
            starts=_normal_starts(5.0, 1.0, 10.0, 0.1),
            x_limits=(0.0, math.inf),
            y_limits=(0.0, math.inf),
            note="concentrations (x = 0 and y = 0 bound the box); from y0 ~ 10 "
            "the trajectories climb toward the fixed point (10, 51) within t = 10, "
            "hence the long y range; no singularity",
        ),
        System(
            "barmag",
            "bar magnets",
            _uniform_ics(0.0, 2 * math.pi, 0.0, 2 * math.pi),
            starts=lambda literal: ((0.0, 2 * math.pi), (0.0, 2 * math.pi)),
            note="angles; starts uniform on [0, 2pi]^2 and relaxes to "
            "equilibria at multiples of 2pi; no singularity",
        ),
        System(
            "glider",
            "glider",
            _normal_ics(5.0, 1.0, 0.0, 0.1),
            ic_valid=lambda ics: ics[:, 0] > 0,
            starts=_normal_starts(5.0, 1.0, 0.0, 0.1),
            singular=_glider_speed,
            x_limits=(0.2, math.inf),
            note="x = speed; cos(y)/x is infinite at x = 0: x_low is the 0.5% "
            "quantile (slowest speeds at the tops of loops) rounded down on a fine "
            "step, never below 0.2; "
            "y = unwrapped flight-path angle, which grows as fast gliders loop "
            "the loop",
        ),
        System(
            "lv",
            "Lotka-Volterra competition",
            _lv_ics,
            starts=lambda literal: ((1.0, 8.0), (1.0, 3.0)),
            x_limits=(0.0, math.inf),
            y_limits=(0.0, math.inf),
            note="populations; the box includes the fixed starts (1,3) (4,1) "
            "(8,2) (3,3), which head for (3,0) or (0,2); no singularity",
        ),
        System(
            "predprey",
            "predator-prey",
            _normal_ics(5.0, 1.0, 10.0, 0.1),
            ic_valid=_positive,
            starts=_normal_starts(5.0, 1.0, 10.0, 0.1),
            x_limits=(0.0, math.inf),
            y_limits=(0.0, math.inf),
            note="populations (x = 0 and y = 0 invariant); the pole x = -1 of "
            "y/(1+x) lies outside the box",
        ),
        System(
            "shearflow",
            "shear flow",
            _uniform_ics(-math.pi, math.pi, -math.pi / 2, math.pi / 2),
            singular=_shearflow_pole,
            fold=_fold_shearflow,
            # y starts at the pole y = 0 and leaves it at once: x only
            starts=lambda literal: ((-math.pi, math.pi), None),
            y_limits=(0.1, math.pi - 0.1),
            note="cot(y) has poles at y = 0 and pi; trajectories never cross "
            "y = 0, so the y < 0 half is folded by the symmetry (x,y) -> "
            "(-x,-y); y_low is the 0.5% quantile rounded down on a fine step, "
            "never within 0.1 of a pole",
        ),
        System(
            "vdp",
            "van der Pol (mu = 10)",
            _uniform_ics(0.0, 1.0, 0.0, 1.0),
            starts=lambda literal: ((0.0, 1.0), (0.0, 1.0)),
            note="stiff (mu = 10) relaxation oscillation around the cubic "
            "nullcline y = (x^3-x)/3; the box includes the starts [0,1]^2; "
            "no singularity",
        ),
    ]
}


def draw_initial_conditions(system: System, n: int, rng, wgn_literal: bool = False):
    """``n`` initial states from the system's distribution (invalid ones redrawn)."""
    ics = system.sample_ics(rng, n, wgn_literal)
    if system.ic_valid is not None:
        for _ in range(100):
            bad = ~system.ic_valid(ics)
            if not bad.any():
                break
            ics[bad] = system.sample_ics(rng, int(bad.sum()), wgn_literal)
    return ics


def _blowup(t, s):
    return BLOWUP - max(abs(s[0]), abs(s[1]))


for _event in (_blowup, _glider_speed, _shearflow_pole):
    _event.terminal = True


def integrate(system: System, ic) -> tuple[np.ndarray, str]:
    """States (k, 2) at ``T_EVAL`` up to the end or a stop, and why it ended:
    "ok", "blow-up", "singular" or "failed"."""
    fx, fy = (compile_formula(f) for f in FORMULAS[system.name])

    def rhs(t, s):
        return [fx(s[0], s[1]), fy(s[0], s[1])]

    events = [_blowup] + ([system.singular] if system.singular else [])
    sol = solve_ivp(
        rhs,
        (0.0, T_END),
        np.asarray(ic, dtype=float),
        method="LSODA",
        t_eval=T_EVAL,
        events=events,
        rtol=RTOL,
        atol=ATOL,
    )
    states = sol.y.T
    states = states[np.all(np.isfinite(states), axis=1)]
    if sol.status == 1:
        why = "blow-up" if sol.t_events[0].size else "singular"
    elif sol.status == 0:
        why = "ok"
    else:
        why = "failed"
    return states, why


def simulate(name: str, n_trajectories: int, seed: int, wgn_literal: bool = False):
    """The trajectories of one system: a list of (states, why) as ``integrate``.

    The states are already folded where the system's box covers one side
    (shearflow)."""
    system = SYSTEMS[name]
    rng = np.random.default_rng([seed, list(SYSTEMS).index(name)])
    out = []
    for ic in draw_initial_conditions(system, n_trajectories, rng, wgn_literal):
        states, why = integrate(system, ic)
        if system.fold is not None:
            states = system.fold(states)
        out.append((states, why))
    return out


def nice_step(span: float) -> float:
    """The largest 1, 2, 2.5 or 5 times a power of ten that is <= span / 10."""
    raw = span / 10.0
    exp = math.floor(math.log10(raw))
    for m in (5.0, 2.5, 2.0, 1.0):
        if m * 10.0**exp <= raw * (1 + 1e-12):
            return m * 10.0**exp
    return 10.0 ** (exp - 1) * 5.0


def _clean(v: float, step: float) -> float:
    digits = max(0, -math.floor(math.log10(step)) + 2)
    return round(v, digits) + 0.0


def nice_interval(lo: float, hi: float, limits: tuple[float, float]) -> tuple[float, float]:
    """[lo, hi] rounded outward to a nice step, kept inside ``limits``: a bound
    that the step would carry past its limit is rounded outward to a fifth of
    the step instead, and no further than the limit (rounded inward)."""
    step = nice_step(hi - lo)
    fine = step / 5
    a = math.floor(lo / step + 1e-9) * step
    b = math.ceil(hi / step - 1e-9) * step
    if a < limits[0]:
        a = max(math.floor(lo / fine + 1e-9) * fine, math.ceil(limits[0] / fine - 1e-9) * fine)
    if b > limits[1]:
        b = min(math.ceil(hi / fine - 1e-9) * fine, math.floor(limits[1] / fine + 1e-9) * fine)
    return _clean(a, fine), _clean(b, fine)


def inside(states: np.ndarray, box: dict) -> np.ndarray:
    """Mask of the states (k, 2) inside a box row (x_low, ..., y_high)."""
    x, y = states[:, 0], states[:, 1]
    return (x >= box["x_low"]) & (x <= box["x_high"]) & (y >= box["y_low"]) & (y <= box["y_high"])


def _union(q, start) -> tuple[float, float]:
    if start is None:
        return float(q[0]), float(q[1])
    return min(float(q[0]), start[0]), max(float(q[1]), start[1])


STOPS = ("blow-up", "singular", "failed")


def derive(n_trajectories: int = 200, seed: int = 0, wgn_literal: bool = False):
    """The box rows (dicts with COLUMNS) and per-system statistics."""
    rows, stats = [], []
    for name, system in SYSTEMS.items():
        runs = simulate(name, n_trajectories, seed, wgn_literal)
        states = np.concatenate([s for s, _ in runs])
        qx = np.quantile(states[:, 0], [Q_LOW, Q_HIGH])
        qy = np.quantile(states[:, 1], [Q_LOW, Q_HIGH])
        sx, sy = system.starts(wgn_literal) if system.starts else (None, None)
        x_low, x_high = nice_interval(*_union(qx, sx), system.x_limits)
        y_low, y_high = nice_interval(*_union(qy, sy), system.y_limits)
        row = {"system": name, "x_low": x_low, "x_high": x_high}
        row.update({"y_low": y_low, "y_high": y_high, "note": system.note})
        per_traj = np.array([inside(s, row).mean() if len(s) else 0.0 for s, _ in runs])
        whys = [w for _, w in runs]
        rows.append(row)
        stats.append(
            {
                "system": name,
                "q": (*qx, *qy),
                "inside": inside(states, row).mean(),
                "traj80": (per_traj >= 0.8).mean(),
                "stopped": {w: whys.count(w) for w in STOPS if w in whys},
                "n": len(runs),
            }
        )
    return rows, stats


def _fmt(v: float) -> str:
    return f"{v:g}"


def to_csv(rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r["system"], *(_fmt(r[c]) for c in COLUMNS[1:5]), r["note"]])
    return buf.getvalue()


def read_boxes(path: Path | str = DEFAULT_OUT) -> dict[str, dict]:
    """The shipped boxes: system -> row with float bounds."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {
            r["system"]: {**r, **{c: float(r[c]) for c in COLUMNS[1:5]}} for r in csv.DictReader(fh)
        }


def report(rows, stats) -> str:
    header = (
        f"{'system':<10} {'x box':>16} {'y box':>16}   {'raw x q0.5-99.5%':>18} "
        f"{'raw y q0.5-99.5%':>18} {'inside':>7} {'traj>=80%':>9}  stopped"
    )
    lines = [header]
    for r, s in zip(rows, stats):
        stopped = ", ".join(f"{k} {v}/{s['n']}" for k, v in s["stopped"].items()) or "none"
        q = s["q"]
        xbox = f"[{_fmt(r['x_low'])}, {_fmt(r['x_high'])}]"
        ybox = f"[{_fmt(r['y_low'])}, {_fmt(r['y_high'])}]"
        qx, qy = f"[{q[0]:.3g}, {q[1]:.3g}]", f"[{q[2]:.3g}, {q[3]:.3g}]"
        lines.append(
            f"{r['system']:<10} {xbox:>16} {ybox:>16}   {qx:>18} {qy:>18} "
            f"{s['inside']:>7.1%} {s['traj80']:>9.0%}  {stopped}"
        )
    lines.append("")
    for r in rows:
        lines.append(f"{r['system']}: {r['note']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-trajectories", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument(
        "--wgn-literal",
        action="store_true",
        help="read wgn(1,1,p) of simulate_ode.m as N(0, p) instead of power p dBW",
    )
    ap.add_argument("--check", action="store_true", help="only verify the file at --out")
    args = ap.parse_args(argv)

    rows, stats = derive(args.n_trajectories, args.seed, args.wgn_literal)
    print(report(rows, stats))
    text = to_csv(rows)
    if args.check:
        try:
            shipped = args.out.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"\ncheck: cannot read {args.out}: {exc}")
            return 1
        if shipped != text:
            print(f"\ncheck: {args.out} differs from the derived boxes:\n{text}")
            return 1
        print(f"\ncheck: {args.out} matches")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
