"""A benchmark problem: variables with sampling ranges, the true formula, sampled data.

A :class:`Problem` knows how its training and test points are drawn (a
:class:`Sampling` per split) and draws them reproducibly: the same problem, ``n``,
``noise`` and ``seed`` always give the same arrays, whatever else was sampled
before, because the random stream is seeded from ``seed`` and the problem's name.

Noise follows SRBench: Gaussian with σ = ``noise`` × RMS(y), added to the
training target only; the test target stays exact.
"""

from __future__ import annotations

import ast
import math
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, NamedTuple

import numpy as np
import sympy

from ..expression import constant_to_sympy

__all__ = ["TABLE_FUNCTIONS", "Problem", "Sample", "Sampling", "Variable", "parse_truth"]

#: test sets larger than this (2-D grids at step 0.01 reach 361,201 points) are
#: subsampled, seeded, to this many rows
MAX_TEST_POINTS = 10_000
#: default sizes where the table gives none (Feynman, Strogatz, a test split)
DEFAULT_TRAIN_POINTS = 1000
DEFAULT_TEST_POINTS = 1000

#: the function names of the tables (numpy and DSO spellings) mapped to sympy
TABLE_FUNCTIONS = {
    "ln": sympy.log, "log": sympy.log, "exp": sympy.exp, "sqrt": sympy.sqrt,
    "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan,
    "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan,
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot,
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "abs": sympy.Abs,
    "pow": sympy.Pow, "div": lambda a, b: a / b, "harmonic": sympy.harmonic, "pi": sympy.pi,
}


def parse_truth(text: str, names: list[str] | tuple[str, ...]) -> sympy.Expr:
    """A table formula as an exact sympy expression.

    Every name in ``names`` is a plain ``Symbol`` (``gamma``, ``I``, ``E_n`` are
    variables, not sympy objects); numpy and DSO spellings (``ln``, ``arcsin``,
    ``pow(a, b)``, ``div(a, b)``, ``cot``, ``harmonic``) map to sympy. Each decimal
    literal becomes the number it stands for once read as a float
    (:func:`symreg.expression.constant_to_sympy`: ``0.3`` is 3/10, the 21-digit
    ``3.14159265358979323846`` is π), because plain ``sympify`` would fold
    ``sqrt(1.23*x)`` into ``1.109...*sqrt(x)`` and break exact comparisons.
    """
    literals: dict[str, sympy.Expr] = {}

    class _Literals(ast.NodeTransformer):
        def visit_Constant(self, node: ast.Constant) -> ast.AST:
            if isinstance(node.value, float):
                key = f"_literal{len(literals)}"
                literals[key] = constant_to_sympy(node.value)
                return ast.copy_location(ast.Name(key, ast.Load()), node)
            return node

    tree = _Literals().visit(ast.parse(text.strip(), mode="eval"))
    local: dict = dict(TABLE_FUNCTIONS)
    local.update({n: sympy.Symbol(n) for n in names})
    local.update(literals)
    return sympy.sympify(ast.unparse(tree), locals=local)


@dataclass(frozen=True)
class Variable:
    """An input variable and the interval it is sampled from."""

    name: str
    low: float
    high: float

    @property
    def positive(self) -> bool:
        """Sampled from non-negative values only: declared positive when checking a
        symbolic solution, so that ``sqrt(a**3)`` and ``a*sqrt(a)`` compare equal."""
        return self.low >= 0


@dataclass(frozen=True)
class Sampling:
    """How one split's points are drawn.

    ``kind="uniform"``: ``n`` points, each variable uniform on its own
    ``(low, high)`` in ``ranges``. ``kind="grid"``: the Cartesian product of the
    per-variable grids ``low, low + step, ... <= high`` (``steps`` holds the step
    of each variable); ``n`` is then the grid size.
    """

    kind: Literal["uniform", "grid"]
    ranges: tuple[tuple[float, float], ...]
    n: int
    steps: tuple[float, ...] = ()

    @staticmethod
    def grid(ranges: tuple[tuple[float, float], ...], steps: tuple[float, ...]) -> Sampling:
        n = math.prod(len(_grid_axis(lo, hi, st)) for (lo, hi), st in zip(ranges, steps))
        return Sampling("grid", tuple(ranges), n, tuple(steps))

    def draw(self, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
        """The points as an ``[n, d]`` float64 array (a grid ignores ``n``)."""
        if self.kind == "grid":
            axes = [_grid_axis(lo, hi, st) for (lo, hi), st in zip(self.ranges, self.steps)]
            mesh = np.meshgrid(*axes, indexing="ij")
            return np.stack([m.reshape(-1) for m in mesh], axis=1)
        lows = np.array([lo for lo, _ in self.ranges])
        highs = np.array([hi for _, hi in self.ranges])
        size = self.n if n is None else int(n)
        return rng.uniform(lows, highs, size=(size, len(self.ranges)))


def _grid_axis(low: float, high: float, step: float) -> np.ndarray:
    # inclusive of ``high`` (Keijzer-6 trains on x = 1, 2, ..., 50)
    count = math.floor((high - low) / step + 1e-9) + 1
    return low + step * np.arange(count)


class Sample(NamedTuple):
    """Training and test arrays of one problem (``X_*`` are ``[n, d]``)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Attributes
    ----------
    name : str
        As in the source table (``"Nguyen-7"``, ``"I.6.2a"``, ``"strogatz_vdp1"``).
    suite : str
        The suite it belongs to (``"nguyen"``, ``"feynman"``, ...).
    formula : str
        The true formula as written in the source table.
    variables : tuple of Variable
        Inputs in column order, each with the interval it is sampled from (the
        union of the training and test ranges).
    train, test : Sampling
        How the training and the test points are drawn.
    source : str
        The file the problem was read from.
    notes : str
        Anything that departs from the table (a reinterpreted spec, a chosen box).
    """

    name: str
    suite: str
    formula: str
    variables: tuple[Variable, ...]
    train: Sampling
    test: Sampling
    source: str = ""
    notes: str = ""
    _cache: dict = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __getstate__(self) -> dict:
        # the compiled formula and the cached sympy tree are rebuilt on demand
        return {k: v for k, v in self.__dict__.items() if k not in ("_cache", "truth")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "_cache", {})

    @property
    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def n_variables(self) -> int:
        return len(self.variables)

    @property
    def positive(self) -> list[str]:
        """Names of the variables sampled from non-negative values only."""
        return [v.name for v in self.variables if v.positive]

    @cached_property
    def truth(self) -> sympy.Expr:
        """The true formula as an exact sympy expression (see :func:`parse_truth`)."""
        return parse_truth(self.formula, self.variable_names)

    def evaluate(self, X: np.ndarray) -> np.ndarray:
        """The true formula at the rows of ``X`` (float64; NaN where undefined)."""
        fn = self._cache.get("fn")
        if fn is None:
            expr = self.truth
            if expr.has(sympy.harmonic):  # numpy has no harmonic; digamma does it
                expr = expr.rewrite(sympy.polygamma)
            syms = [sympy.Symbol(n) for n in self.variable_names]
            fn = sympy.lambdify(syms, expr, modules=["scipy", "numpy"])
            self._cache["fn"] = fn
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            out = np.asarray(fn(*X.T))
            if np.iscomplexobj(out):
                out = np.where(np.abs(out.imag) < 1e-12, out.real, np.nan)
            return np.broadcast_to(out.astype(np.float64), (X.shape[0],)).copy()

    def sample(self, n: int | None = None, noise: float = 0.0, seed: int = 0,
               n_test: int | None = None) -> Sample:
        """Training and test data.

        Parameters
        ----------
        n : int, optional
            Training points. Default: the table's training spec (e.g. 20 points
            for Nguyen, the whole grid for Keijzer-1), 1000 where it gives none.
            Given for a grid problem, ``n`` points are drawn uniformly over the
            grid's ranges instead.
        noise : float
            SRBench's noise level: Gaussian noise of σ = ``noise`` × RMS(y) is
            added to the training target only.
        seed : int
            Same problem, arguments and seed: the same arrays.
        n_test : int, optional
            Test points; default the table's test spec (at most 10,000 points of
            a grid, subsampled) or 1000 uniform points over the training ranges.

        Points where the formula is not a finite real number (``log`` of a
        negative, a pole) are dropped and, for uniform sampling, redrawn.
        """
        if n is not None and int(n) < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite non-negative level, got {noise}")
        rng = np.random.default_rng([int(seed), zlib.crc32(self.name.encode())])
        train = self.train
        if n is not None and train.kind == "grid":
            train = Sampling("uniform", train.ranges, int(n))
        X, y = self._finite_points(train, rng, n)
        test = self.test
        if n_test is not None and test.kind == "grid":
            test = Sampling("uniform", test.ranges, int(n_test))
        Xt, yt = self._finite_points(test, rng, n_test)
        if len(yt) > MAX_TEST_POINTS:
            keep = np.sort(rng.choice(len(yt), MAX_TEST_POINTS, replace=False))
            Xt, yt = Xt[keep], yt[keep]
        if noise > 0:
            rms = float(np.sqrt(np.mean(y**2)))
            y = y + rng.normal(0.0, noise * rms, size=y.shape)
        return Sample(X, y, Xt, yt)

    def _finite_points(self, sampling: Sampling, rng: np.random.Generator,
                       n: int | None) -> tuple[np.ndarray, np.ndarray]:
        if sampling.kind == "grid":
            X = sampling.draw(rng)
            y = self.evaluate(X)
            ok = np.isfinite(y)
            if not ok.any():
                raise ValueError(f"{self.name}: the formula is not finite anywhere on its grid")
            return X[ok], y[ok]
        want = sampling.n if n is None else int(n)
        xs, ys, have = [], [], 0
        for _ in range(100):
            X = sampling.draw(rng, max(want - have, 16) * 2)
            y = self.evaluate(X)
            ok = np.isfinite(y)
            xs.append(X[ok])
            ys.append(y[ok])
            have += int(ok.sum())
            if have >= want:
                return np.concatenate(xs)[:want], np.concatenate(ys)[:want]
        raise ValueError(f"{self.name}: the formula is finite on too few points of its ranges "
                         f"({have} of the {want} wanted after 100 rounds)")
