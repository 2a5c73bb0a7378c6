"""Adapters that run each symbolic-regression method on one dataset under a time budget.

Every method has the same interface, :meth:`Method.fit`, which returns a
:class:`FittedModel`: the final formula as text over the given variable names
(readable by :func:`symreg.datasets.metrics.parse_formula`, plain operators), the
method's own ``predict`` and a JSON-serialisable ``info`` dict. The benchmark
harness runs every (problem, method) pair in a child process of its own, so the
adapters block, and may leave global state behind (warning filters, thread
counts) without harming later runs.

Third-party methods are imported inside ``fit``: :meth:`Method.missing` says,
cheaply, whether one can run and how to install it when not.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["METHOD_NAMES", "FittedModel", "Method", "formula_agreement", "get_method"]

METHOD_NAMES: tuple[str, ...] = ("symreg", "symreg+transformer", "symreg+neural", "operon", "rils",
                                 "gplearn", "pysr")

_BENCH_EXTRA = "pip install 'symreg[bench]'"


@dataclass
class FittedModel:
    """The result of one fit.

    Attributes
    ----------
    formula : str
        The final model over the given variable names, in Python/sympy syntax.
    predict : callable
        The method's own prediction on an ``[n, d]`` array.
    info : dict
        Method-specific extras worth logging (JSON-serialisable).
    """

    formula: str
    predict: Callable[[np.ndarray], np.ndarray]
    info: dict = field(default_factory=dict)


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or half-installed package
        return False


def formula_agreement(formula: str, variable_names: Sequence[str], X: np.ndarray,
                      predicted: np.ndarray, rtol: float = 1e-3) -> float | None:
    """Fraction of the rows where ``formula`` evaluates to ``predicted`` within ``rtol``.

    Rows where ``predicted`` is not finite are left out; ``None`` when the
    formula cannot be parsed or evaluated, or no row is left. The absolute
    tolerance is ``rtol`` times the RMS of the predictions, so that values near 0
    are not held to an impossible relative standard.
    """
    import sympy

    from ..datasets.metrics import parse_formula

    try:
        expr = parse_formula(formula)
        fn = sympy.lambdify([sympy.Symbol(n) for n in variable_names], expr, modules="numpy")
        with np.errstate(all="ignore"):
            got = np.broadcast_to(np.asarray(fn(*np.asarray(X, dtype=np.float64).T),
                                             dtype=np.float64), (len(X),))
    except Exception:  # noqa: BLE001 - any failure means "cannot tell"
        return None
    want = np.asarray(predicted, dtype=np.float64).reshape(-1)
    keep = np.isfinite(want)
    if not keep.any():
        return None
    atol = rtol * float(np.sqrt(np.mean(want[keep] ** 2)))
    return float(np.mean(np.isclose(got[keep], want[keep], rtol=rtol, atol=atol)))


class Method:
    """One symbolic-regression method behind a uniform interface."""

    name: str = ""
    #: the modules ``fit`` imports (``warm_up`` imports them ahead of the timed fit)
    modules: tuple[str, ...] = ()

    def missing(self) -> str | None:
        """``None`` when the method can run, else one line saying what to install."""
        return None

    def warm_up(self) -> None:
        """Import the method's libraries now, so that a timed ``fit`` excludes them."""
        for module in self.modules:
            importlib.import_module(module)

    def fit(self, X: np.ndarray, y: np.ndarray, variable_names: list[str], time_budget: float,
            seed: int, n_threads: int = 1) -> FittedModel:
        """Fit on ``X`` ([n, d]) and ``y`` ([n]) within about ``time_budget`` seconds.

        Parameters
        ----------
        X, y : ndarray
            Training data (converted to float64).
        variable_names : list of str
            One identifier per column of ``X``; the formula uses exactly these.
        time_budget : float
            Wall-clock seconds for the search.
        seed : int
            Random seed.
        n_threads : int, default=1
            Threads (or worker processes) the method may use.

        Returns
        -------
        FittedModel
            ``info`` also holds ``fit_seconds`` and ``formula_agreement`` (the
            fraction of training rows where the formula matches ``predict``).
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        names = [str(n) for n in variable_names]
        start = time.perf_counter()
        model = self._fit(X, y, names, float(time_budget), int(seed), max(1, int(n_threads)))
        model.info["fit_seconds"] = round(time.perf_counter() - start, 3)
        # cheap insurance against translation errors, logged rather than raised
        agreement = None
        with np.errstate(all="ignore"), contextlib.suppress(Exception):
            agreement = formula_agreement(model.formula, names, X, model.predict(X))
        model.info["formula_agreement"] = agreement
        return model

    def _fit(self, X: np.ndarray, y: np.ndarray, names: list[str], time_budget: float,
             seed: int, n_threads: int) -> FittedModel:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ----------------------------------------------------------------------------
# symreg (this package)
# ----------------------------------------------------------------------------

class SymregMethod(Method):
    name = "symreg"
    modules = ("symreg.regressor", "torch")
    #: extra SymbolicRegressor parameters of this variant
    options: dict = {}

    def _fit(self, X, y, names, time_budget, seed, n_threads):
        import torch

        from ..regressor import SymbolicRegressor

        # n_jobs == 1 searches in this process, whose torch would use every core
        previous = torch.get_num_threads()
        torch.set_num_threads(n_threads)
        try:
            # n_threads threads in all: n_threads search processes of one thread each
            model = SymbolicRegressor(time_budget=time_budget, random_state=seed, n_jobs=n_threads,
                                      **{"n_threads": 1, **self.options})
            model.fit(X, y, variable_names=names)
        finally:
            torch.set_num_threads(previous)
        info = {"n_evals": int(model.n_evals_), "complexity": int(model.best_.complexity),
                "search_time": round(float(model.search_time_), 3),
                "front_size": len(model.equations_)}
        return FittedModel(str(model.sympy()), model.predict, info)


class SymregNeuralMethod(SymregMethod):
    """symreg with the LIES and DySymNet proposers seeding the search."""

    name = "symreg+neural"
    options = {"proposers": ["lies", "dysymnet"]}


class SymregTransformerMethod(SymregMethod):
    """symreg with the pretrained transformer seeding the search and its priors."""

    name = "symreg+transformer"
    options = {"proposers": ["transformer"]}

    def missing(self):
        from symreg.neural.transformer_proposer import DEFAULT_WEIGHTS

        if not DEFAULT_WEIGHTS.exists():
            return f"the transformer's weights are not in this checkout ({DEFAULT_WEIGHTS})"
        return super().missing()

    def warm_up(self) -> None:
        super().warm_up()
        from symreg.neural.transformer_proposer import load_model

        load_model()  # read once per process, like the peers' imports


# ----------------------------------------------------------------------------
# Operon (pyoperon)
# ----------------------------------------------------------------------------

class OperonMethod(Method):
    name = "operon"
    modules = ("pyoperon.sklearn",)
    #: the operator set of SRBench's Operon configuration; with it the infix printer
    #: emits only + - * / ^ sin cos exp log sqrt (all unprotected in Operon)
    symbols = "add,sub,mul,div,constant,variable,sin,cos,exp,log,sqrt,square"

    def missing(self):
        if not _has_module("pyoperon"):
            return f"pyoperon is not installed: pip install pyoperon (or {_BENCH_EXTRA})"
        return None

    def _fit(self, X, y, names, time_budget, seed, n_threads):
        from pyoperon.sklearn import SymbolicRegressor

        model = SymbolicRegressor(
            allowed_symbols=self.symbols, objectives=["r2"], optimizer_iterations=5,
            population_size=1000, max_length=50, tournament_size=5,
            # generations and evaluations out of reach: the time limit stops the run
            generations=10**9, max_evaluations=10**15,
            # whole seconds only; rounding down keeps the run inside the budget
            max_time=max(1, int(time_budget)), random_state=seed, n_threads=n_threads,
            model_selection_criterion="mean_squared_error",
        )
        model.fit(X, y)
        # fixed-point with 12 decimals: Operon computes in float32, so this is exact enough
        text = model.get_model_string(model.model_, 12, names)
        info = {k: v if isinstance(v, (int, float, str)) else str(v)
                for k, v in model.stats_.items() if k != "random_state"}
        return FittedModel(_operon_to_python(text), model.predict, info)


def _operon_to_python(text: str) -> str:
    """Operon's infix text in Python syntax: only ``^`` (power) differs."""
    return text.replace("^", "**")


# ----------------------------------------------------------------------------
# RILS-ROLS
# ----------------------------------------------------------------------------

class RilsMethod(Method):
    name = "rils"
    modules = ("rils_rols.rils_rols",)

    def missing(self):
        if not _has_module("rils_rols"):
            return f"rils-rols is not installed: pip install rils-rols (or {_BENCH_EXTRA})"
        return None

    def _fit(self, X, y, names, time_budget, seed, n_threads):
        # RILS-ROLS is single-threaded: n_threads is unused
        from rils_rols.rils_rols import RILSROLSRegressor

        class _Unsimplified(RILSROLSRegressor):
            # RILS-ROLS ends with sympy.simplify in a thread for up to 2 s past the
            # budget, a thread it cannot stop; predict uses the raw tree anyway
            def call_model_symplify(self):
                self.model_simp = self.model

        # Its C++ loop stops once the whole seconds elapsed exceed max_time, i.e.
        # after max_time + 1 s: max_time = floor(budget) - 1 keeps within the budget.
        max_time = max(0, math.floor(time_budget) - 1)
        with contextlib.redirect_stdout(io.StringIO()):  # its constructor prints
            model = _Unsimplified(max_time=max_time, max_fit_calls=10**9, random_state=seed)
        model.fit(X, y)
        info = {"fit_calls": int(model.fit_calls), "total_time": float(model.total_time),
                "best_time": float(model.best_time), "raw_model": str(model.model)}
        return FittedModel(_rils_to_python(str(model.model), names), model.predict, info)


def _rils_to_python(text: str, names: Sequence[str]) -> str:
    """RILS-ROLS's model string over ``names``.

    It names columns ``x0, x1, ...`` (0-based), writes ``ln`` for the natural log
    and ``pow(a, b)``; constants carry 6 decimals (C++ ``std::to_string``). One
    regex pass renames every variable, so ``x1`` never clobbers ``x10`` and a new
    name is never renamed again.
    """
    text = re.sub(r"\bx(\d+)\b", lambda m: names[int(m.group(1))], text)
    return re.sub(r"\bln\(", "log(", text)


# ----------------------------------------------------------------------------
# gplearn
# ----------------------------------------------------------------------------

class GplearnMethod(Method):
    name = "gplearn"
    modules = ("gplearn.genetic",)

    def missing(self):
        if not _has_module("gplearn"):
            return f"gplearn is not installed: pip install gplearn (or {_BENCH_EXTRA})"
        return None

    def _fit(self, X, y, names, time_budget, seed, n_threads):
        # gplearn parallelises over the population; SRBench keeps n_jobs=1, and so do we
        from gplearn.genetic import SymbolicRegressor

        deadline = time.perf_counter() + time_budget
        # SRBench's gplearn settings; gplearn has no time limit, so we grow the run
        # with warm_start a few generations at a time until the budget is used
        est = SymbolicRegressor(
            population_size=1000, generations=1, tournament_size=20, init_depth=(2, 6),
            init_method="half and half", metric="mean absolute error",
            parsimony_coefficient=0.001, p_crossover=0.9, p_subtree_mutation=0.01,
            p_hoist_mutation=0.01, p_point_mutation=0.01, p_point_replace=0.05,
            max_samples=1.0, function_set=("add", "sub", "mul", "div", "log", "sqrt", "sin", "cos"),
            warm_start=True, low_memory=True, n_jobs=1, random_state=seed,
        )
        while True:
            before = len(getattr(est, "_programs", ()))
            t0 = time.perf_counter()
            est.fit(X, y)
            if len(est._programs) < est.generations:
                break  # gplearn's own stopping criterion (a perfect fit) ended the run
            per_gen = max((time.perf_counter() - t0) / max(1, len(est._programs) - before), 1e-3)
            # margin 1.5: programs grow, and so does the time per generation
            n_more = int((deadline - time.perf_counter()) / (1.5 * per_gen))
            if n_more < 1:
                break
            # chunks of about half a second keep the time estimate current
            est.set_params(generations=est.generations + min(n_more, max(1, int(0.5 / per_gen))))
        program = est._program
        info = {"generations": len(est._programs), "length": int(program.length_),
                "raw_fitness": float(program.raw_fitness_), "program": str(program)}
        return FittedModel(_gplearn_to_python(program.program, names), est.predict, info)


def _gplearn_to_python(program: list, names: Sequence[str]) -> str:
    """Infix text of a gplearn program (its prefix list of functions and terminals).

    The node list is used rather than ``str(program)``, which rounds constants to
    3 decimals. gplearn's protected functions are written as the plain functions
    they equal away from their guard band: its ``sqrt`` is ``sqrt(|a|)`` for
    every input, its ``log`` is ``log(|a|)`` except where ``|a| <= 0.001`` (there
    0), its ``div`` is ``a/b`` except where ``|b| <= 0.001`` (there 1).
    """
    from gplearn.functions import _Function

    formats = {"add": "({} + {})", "sub": "({} - {})", "mul": "({}*{})", "div": "({}/{})",
               "sqrt": "sqrt(Abs({}))", "log": "log(Abs({}))", "sin": "sin({})",
               "cos": "cos({})", "tan": "tan({})", "abs": "Abs({})", "neg": "(-{})",
               "inv": "(1/{})"}

    def build(i: int) -> tuple[str, int]:
        node = program[i]
        if isinstance(node, _Function):
            if node.name not in formats:
                raise ValueError(f"gplearn function {node.name!r} has no formula translation")
            args, j = [], i + 1
            for _ in range(node.arity):
                arg, j = build(j)
                args.append(arg)
            return formats[node.name].format(*args), j
        if isinstance(node, (int, np.integer)):
            return names[int(node)], i + 1
        value = repr(float(node))
        return (f"({value})" if value.startswith("-") else value), i + 1

    text, end = build(0)
    if end != len(program):
        raise ValueError("malformed gplearn program")
    return text


# ----------------------------------------------------------------------------
# PySR
# ----------------------------------------------------------------------------

class PysrMethod(Method):
    name = "pysr"
    modules = ("pysr",)

    def missing(self):
        if not _has_module("pysr"):
            return ("pysr is not installed: pip install pysr (it runs on Julia, which "
                    "juliacall downloads on first use)")
        if shutil.which("julia") is None and not _has_module("juliacall"):
            return ("PySR needs Julia: pip install juliacall (it downloads Julia on first "
                    "use) or put a `julia` executable on PATH")
        return None

    def _fit(self, X, y, names, time_budget, seed, n_threads):
        start = time.perf_counter()
        # Julia's thread count is fixed when juliacall starts, i.e. at this import
        os.environ.setdefault("PYTHON_JULIACALL_THREADS", str(n_threads))
        from pysr import PySRRegressor

        accepted = set(inspect.signature(PySRRegressor.__init__).parameters)
        outdir = tempfile.TemporaryDirectory(prefix="pysr-")
        kwargs: dict = {
            "binary_operators": ["+", "-", "*", "/"],
            "unary_operators": ["sin", "cos", "exp", "log", "sqrt", "square"],
            "niterations": 10**9,
            # importing pysr starts Julia (seconds): charge that to the budget
            "timeout_in_seconds": max(1.0, time_budget - (time.perf_counter() - start)),
            "random_state": seed, "verbosity": 0, "progress": False,
            # reproducible only when serial
            "deterministic": n_threads == 1, "procs": 0 if n_threads == 1 else n_threads,
        }
        # keep PySR's equation files out of the working directory
        if "output_directory" in accepted:  # PySR >= 1.0
            kwargs["output_directory"] = outdir.name
        else:
            kwargs["temp_equation_file"] = True
        if "parallelism" in accepted:  # PySR >= 0.19; earlier ones had `multithreading`
            kwargs["parallelism"] = "serial" if n_threads == 1 else "multithreading"
        else:
            kwargs["multithreading"] = n_threads > 1
        model = PySRRegressor(**{k: v for k, v in kwargs.items() if k in accepted})
        try:
            model.fit(X, y, variable_names=names)
        finally:
            outdir.cleanup()
        info: dict = {"n_equations": len(model.equations_)}
        with contextlib.suppress(Exception):  # the columns differ between versions
            best = model.get_best()
            info.update(complexity=int(best["complexity"]), loss=float(best["loss"]))
        return FittedModel(str(model.sympy()), model.predict, info)


_METHODS: dict[str, type[Method]] = {
    "symreg": SymregMethod, "symreg+neural": SymregNeuralMethod,
    "symreg+transformer": SymregTransformerMethod, "operon": OperonMethod, "rils": RilsMethod,
    "gplearn": GplearnMethod, "pysr": PysrMethod,
}


def get_method(name: str) -> Method:
    """The method called ``name``: one of :data:`METHOD_NAMES`, or
    ``"module:Class"`` for a :class:`Method` subclass of your own (importable in
    the harness's worker processes), so any method can be benchmarked alike.

    Raises
    ------
    ValueError
        For an unknown name, or a ``module:Class`` that cannot be imported or is
        not a Method.
    """
    if isinstance(name, str) and ":" in name:
        module_name, _, class_name = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot load method {name!r}: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise ValueError(f"{name!r} is not a symreg.bench.methods.Method subclass")
        method = cls()
        method.name = name
        return method
    try:
        return _METHODS[name]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHOD_NAMES)} "
                         "(or module:Class)") from None
