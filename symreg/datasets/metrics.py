"""SRBench-style metrics: symbolic-solution checks and a forgiving R².

* :func:`round_constants` rounds every float of a sympy expression to a few
  significant digits (floats that round to an integer become integers), the
  normalisation SRBench applies to a model before comparing it with the truth.
* :func:`symbolic_solution` is the SRBench "symbolic solution" test (La Cava
  et al. 2021, *Contemporary symbolic regression methods and their relative
  performance*): the model equals the truth up to an additive constant or a
  nonzero constant factor.
* :func:`exact_difference` is the stricter test: the difference of the model
  (constants rounded) and the truth simplifies to exactly 0.
* :func:`r2_score` is the coefficient of determination that returns ``-inf``
  for non-finite predictions instead of raising.

``sympy.simplify`` can take unbounded time on unlucky inputs and a thread
cannot be stopped, so both symbolic tests run in a forked child process that is
killed at the deadline (a timeout counts as "not a solution"). They never raise
on odd input: anything that cannot be parsed or compared returns ``False``.
"""

from __future__ import annotations

import io
import logging
import math
import signal
import threading
import time
import tokenize
from collections.abc import Iterable

import numpy as np
import sympy
from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

from ..processes import kill_children, start_child, start_context, wait_children

__all__ = [
    "exact_difference",
    "parse_formula",
    "r2_score",
    "round_constants",
    "simplify_within",
    "symbolic_solution",
]

logger = logging.getLogger(__name__)

#: floats smaller than this in magnitude are set to 0 by :func:`round_constants`
#: (SRBench's ``round_floats`` does the same with 1e-4)
ZERO_BELOW = 1e-4

# ----------------------------------------------------------------------------
# rounding
# ----------------------------------------------------------------------------


def _round_sig(value: float, digits: int) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits - 1}e}")


def round_constants(expr: sympy.Expr, digits: int = 3, zero_below: float = ZERO_BELOW,
                    rational: bool = False) -> sympy.Expr:
    """``expr`` with every ``sympy.Float`` rounded to ``digits`` significant digits.

    Floats that round to an integer become ``sympy.Integer`` (so ``1.0000001*x``
    becomes ``x``), and floats smaller than ``zero_below`` in magnitude become
    0, as SRBench's ``round_floats`` does (it uses 1e-4). With ``rational`` the
    remaining rounded floats become exact rationals (``0.333`` → 333/1000), which
    keeps later sympy arithmetic free of round-off; without it they are sympy
    Floats of ``digits`` decimal digits of precision (``sympy.Float(v, digits)``,
    as SRBench), which print as the rounded value. Exact numbers (Integer,
    Rational, π) are left alone.

    >>> x = sympy.Symbol("x")
    >>> round_constants(1.0000001*x**2 + 2.71828*x + 1e-9)
    x**2 + 2.72*x
    """
    digits = max(int(digits), 1)
    repl = {}
    for f in expr.atoms(sympy.Float):
        v = float(f)
        if not math.isfinite(v):
            continue
        if abs(v) < zero_below:
            repl[f] = sympy.Integer(0)
            continue
        r = _round_sig(v, digits)
        if r == int(r):
            repl[f] = sympy.Integer(int(r))
        elif rational:
            repl[f] = sympy.Rational(repr(r))
        else:
            repl[f] = sympy.Float(r, digits)
    return expr.xreplace(repl) if repl else expr


# ----------------------------------------------------------------------------
# parsing
# ----------------------------------------------------------------------------

_FUNCTIONS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "exp": sympy.exp, "log": sympy.log,
    "ln": sympy.log, "sqrt": sympy.sqrt, "abs": sympy.Abs, "Abs": sympy.Abs,
    "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan, "arcsin": sympy.asin,
    "arccos": sympy.acos, "arctan": sympy.atan, "sinh": sympy.sinh, "cosh": sympy.cosh,
    "tanh": sympy.tanh, "pow": sympy.Pow, "Pow": sympy.Pow,
    "div": lambda a, b: a / b, "square": lambda a: a**2, "cube": lambda a: a**3,
    "inv": lambda a: 1 / a, "neg": lambda a: -a, "sign": sympy.sign,
}
_CONSTANTS = {"pi": sympy.pi}


def parse_formula(text: str) -> sympy.Expr:
    """Parse a formula string with explicit symbols.

    Every name that is not a known function applied with ``(`` (``sin``,
    ``pow``, ``div``, ...) or ``pi`` becomes a plain ``sympy.Symbol``, so names
    such as ``E``, ``I``, ``S``, ``N``, ``beta`` or ``gamma`` are variables,
    not sympy objects. ``^`` means power. Raises on a malformed formula.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a formula string, got {type(text).__name__}")
    local: dict = {}
    toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    for i, tok in enumerate(toks):
        if tok.type != tokenize.NAME:
            continue
        name = tok.string
        is_call = i + 1 < len(toks) and toks[i + 1].string == "("
        if is_call and name in _FUNCTIONS:
            local[name] = _FUNCTIONS[name]
        elif name in _CONSTANTS:
            local[name] = _CONSTANTS[name]
        else:
            local[name] = sympy.Symbol(name)
    expr = parse_expr(text, local_dict=local,
                      transformations=standard_transformations + (convert_xor,))
    return sympy.sympify(expr)


def _as_expr(obj) -> sympy.Expr:
    if isinstance(obj, str):
        return parse_formula(obj)
    if hasattr(obj, "sympy") and callable(obj.sympy) and not isinstance(obj, sympy.Basic):
        obj = obj.sympy()  # a symreg Expression
    if isinstance(obj, (int, float)):
        return sympy.sympify(obj)
    if not isinstance(obj, sympy.Expr):
        raise TypeError(f"cannot compare a {type(obj).__name__}")
    return obj


def _normalise_symbols(exprs, positive: frozenset[str]):
    """Replace every symbol by a symbol of the same name: positive when the name
    is in ``positive``, real otherwise (the data are real)."""
    names = set()
    for e in exprs:
        names.update(s.name for s in e.free_symbols if isinstance(s, sympy.Symbol))
    new = {n: sympy.Symbol(n, positive=True) if n in positive else sympy.Symbol(n, real=True)
           for n in names}
    out = []
    for e in exprs:
        repl = {s: new[s.name] for s in e.free_symbols if isinstance(s, sympy.Symbol)}
        out.append(e.xreplace(repl))
    return out


# ----------------------------------------------------------------------------
# the comparison (runs in the child)
# ----------------------------------------------------------------------------

_BAD = (sympy.nan, sympy.zoo, sympy.oo, -sympy.oo)


def _is_constant(e: sympy.Expr) -> bool:
    """No free symbol left and a finite number."""
    return (not e.free_symbols and not any(e.has(b) for b in _BAD)
            and e.is_extended_real is not False)


def _is_zero(e: sympy.Expr) -> bool:
    return e == 0 or (isinstance(e, sympy.Number) and float(e) == 0.0)


class _OutOfTime(Exception):
    pass


def simplify_within(expr: sympy.Expr, seconds: float) -> sympy.Expr:
    """``sympy.simplify(expr)``, or ``expr`` unchanged when that takes longer than
    ``seconds`` (a SIGALRM timer: only in the main thread of a POSIX process,
    which the forked checking child is; elsewhere ``expr`` is returned as is)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        return expr
    if threading.current_thread() is not threading.main_thread():
        return expr

    def _alarm(signum, frame):
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return sympy.simplify(expr)
    except _OutOfTime:
        return expr
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _compare(model, truth, positive: frozenset[str], strict: bool, digits: int,
             simplify_seconds: float = 0.0) -> bool:
    model = _as_expr(model)
    truth = _as_expr(truth)
    model, truth = _normalise_symbols([model, truth], positive)
    # as SRBench does, the model is simplified before its constants are rounded, so
    # that nested constants (0.44*(1.13*x)) are merged first and rounded once
    model = simplify_within(model, simplify_seconds)
    # rounded floats become exact rationals so that the arithmetic below is exact
    model = round_constants(model, digits, rational=True)
    truth = round_constants(truth, digits, rational=True)
    if any(model.has(b) for b in _BAD):
        return False
    diff = model - truth
    if _is_zero(diff) or _is_zero(sympy.expand(diff)):
        return True
    if not strict and _is_constant(diff):
        return True
    diff = sympy.simplify(diff)
    if _is_zero(diff):
        return True
    if strict:
        return False
    if _is_constant(diff):
        return True
    if _is_zero(truth):  # the ratio is meaningless; the difference decided
        return False
    ratio = sympy.simplify(model / truth)
    return _is_constant(ratio) and not _is_zero(ratio)


def _child(model, truth, positive, strict, digits, simplify_seconds) -> bool:
    try:
        return bool(_compare(model, truth, positive, strict, digits, simplify_seconds))
    except BaseException:  # noqa: BLE001 - anything odd is "not a solution"
        return False


def _check(model, truth, positive: Iterable[str], timeout: float, strict: bool,
           digits: int) -> bool:
    try:
        pos = frozenset(str(p) for p in (positive or ()))
        timeout = float(timeout)
    except Exception:  # noqa: BLE001
        return False
    ctx = start_context("fork")
    if ctx is None:  # no safe way to stop sympy: run in process, without a deadline
        try:
            return bool(_compare(model, truth, pos, strict, digits))
        except Exception:  # noqa: BLE001
            return False
    try:
        # up to 40 % of the time may go to simplifying the model alone (then it is kept as is);
        # a daemon in the parent's process group: the child only runs sympy
        child = start_child(_child, (model, truth, pos, strict, digits, 0.4 * timeout),
                            method=ctx, timeout=timeout, new_group=False, daemon=True)
    except OSError as exc:  # cannot fork (process limits)
        logger.warning("symbolic check: cannot fork (%s); running without a timeout", exc)
        try:
            return bool(_compare(model, truth, pos, strict, digits))
        except Exception:  # noqa: BLE001
            return False
    children = [child]
    try:
        while children:
            for end in wait_children(children, max(child.deadline - time.monotonic(), 0.0),
                                     join_seconds=1.0):
                if end.status == "timeout":
                    logger.warning("symbolic check timed out after %.1f s: model %s, truth %s",
                                   timeout, _short(model), _short(truth))
                # a child that died without an answer: not a solution
                return end.status == "ok" and bool(end.value)
    finally:
        kill_children(children)
    return False


def _short(obj, n: int = 80) -> str:
    try:
        text = str(obj)
    except Exception:  # noqa: BLE001
        text = repr(type(obj))
    return text if len(text) <= n else text[: n - 3] + "..."


def symbolic_solution(model, truth, positive: Iterable[str] = (), timeout: float = 10.0,
                      digits: int = 3) -> bool:
    """The SRBench symbolic-solution test: is ``model`` the true formula?

    ``model`` and ``truth`` are sympy expressions, formula strings (parsed by
    :func:`parse_formula`, every name a plain symbol) or symreg
    ``Expression`` objects. Symbols are matched by name; those named in
    ``positive`` become positive symbols in both (so ``sqrt(a**3)`` equals
    ``a*sqrt(a)``), all others real ones. As in SRBench, the model is first
    simplified (given at most 40 % of ``timeout``; past that it is used as it
    is), so that nested constants such as ``0.44*(1.13*x)`` merge before
    rounding; then the constants of both are rounded to ``digits`` significant
    digits (:func:`round_constants`; below 1e-4 they become 0).

    The model passes when ``simplify(model - truth)`` is 0, **or** that
    difference is a constant (no symbol left), **or** ``simplify(model / truth)``
    is a nonzero constant. The last two are SRBench's definition: a model that
    differs from the truth by an additive offset or a scale factor counts as a
    symbolic solution (``x**2 + 3`` solves ``x**2``). For a truth of 0 only the
    difference criteria apply. See :func:`exact_difference` for the strict test.

    The sympy work runs in a forked child killed after ``timeout`` seconds; a
    timeout returns ``False`` (and logs a warning). Never raises: input that
    cannot be parsed or compared returns ``False``. Where ``fork`` does not
    exist (Windows) the check runs in process without a deadline.
    """
    return _check(model, truth, positive, timeout, strict=False, digits=digits)


def exact_difference(model, truth, positive: Iterable[str] = (), timeout: float = 10.0,
                     digits: int = 3) -> bool:
    """The strict test: with its constants rounded to ``digits`` significant
    digits, the sympy difference of ``model`` and ``truth`` simplifies to 0.

    Same input, positivity, rounding, timeout and never-raise rules as
    :func:`symbolic_solution`, but an additive offset or a scale factor is a
    failure (``x**2 + 3`` does not solve ``x**2``).
    """
    return _check(model, truth, positive, timeout, strict=True, digits=digits)


# ----------------------------------------------------------------------------
# R²
# ----------------------------------------------------------------------------

def r2_score(y, yhat) -> float:
    """Coefficient of determination, ``-inf`` when a prediction is not finite.

    Like ``sklearn.metrics.r2_score`` otherwise (including its convention for a
    constant ``y``: 1.0 for a perfect prediction, 0.0 for any other). Raises
    ``ValueError`` only for unequal lengths, empty input or non-finite ``y``.
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    try:
        yhat = np.asarray(yhat, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return -math.inf
    if yhat.size == 1 and y.size > 1:
        yhat = np.full_like(y, yhat[0])
    if y.shape != yhat.shape:
        raise ValueError(f"y has {y.size} values but yhat has {yhat.size}")
    if y.size == 0:
        raise ValueError("r2_score of empty arrays")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or inf")
    if not np.all(np.isfinite(yhat)):
        return -math.inf
    with np.errstate(over="ignore", invalid="ignore"):
        ss_res = float(np.sum((y - yhat) ** 2))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
    if not math.isfinite(ss_res):
        return -math.inf
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot
