"""Simplification of expressions: a fast token-level constant folder for the
search, a sympy-based simplifier for final results, and constant snapping.

* :func:`fold_constants` works on the prefix tokens alone (no sympy) and runs
  in tens of microseconds, so the search can apply it to every candidate. It
  only makes rewrites that keep the function value up to round-off.
* :func:`simplify` runs ``sympy.simplify`` (and a few cheaper sympy rewrites)
  on a final result. Sympy can take unbounded time on unlucky inputs and a
  thread cannot be stopped, so on Linux the work runs in a ``fork`` child that
  is killed at the deadline; the cheap rewrites are streamed back first, so a
  timeout still yields them. Elsewhere (no safe ``fork``) only the cheap,
  near-linear rewrites (``powsimp``, ``together``) run, in process. A result
  is used only if it has fewer tokens and evaluates the same on test points.
* :func:`snap_constants` replaces constants by nearby "nice" values (integers,
  fractions p/q with q <= 12, rational multiples of π) when the loss holds.

Trees
-----
The folder parses the prefix tokens into a small nested-tuple tree: a float is
a constant, a string ``"x<i>"`` a variable, and ``(op, child, ...)`` an
operator node. :mod:`symreg.tree` owns that form
(conversion, sizes, powers under an allowed operator set).
"""

from __future__ import annotations

import math
import os
import pickle
import select
import signal
import struct
import sys
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from . import operators as ops
from .expression import CONST, NICE_FACTORS, Expression
from .tree import Disallowed, TreeBuilder, expression_to_tree, tree_to_expression, tree_tokens

__all__ = [
    "fold_constants",
    "nice_values",
    "simplify",
    "snap_constants",
]

_ARITY = {name: op.arity for name, op in ops.OPERATORS.items()}
_NUMPY = {name: op.numpy_fn for name, op in ops.OPERATORS.items()}
_TINY = 2.2250738585072014e-308   # smallest normal float64
_HUGE = 1.7976931348623157e308


# ----------------------------------------------------------------------------
# trees
# ----------------------------------------------------------------------------

# equivalents of the shorthand operators that sympy's output uses, in order of
# preference, for searches whose operator set lacks them
_REWRITES = {
    "square": (("mul",), lambda a: ("mul", a, a)),
    "cube": (("mul",), lambda a: ("mul", a, ("mul", a, a))),
    "inv": (("div",), lambda a: ("div", 1.0, a)),
    "neg": (("mul",), lambda a: ("mul", -1.0, a)),
    "sqrt": (("pow",), lambda a: ("pow", a, 0.5)),
}


def rewrite_operators(expr: Expression, allowed: frozenset[str]) -> Expression | None:
    """``expr`` with ``square``, ``cube``, ``inv``, ``neg``, ``sqrt`` and integer
    powers written with allowed operators (``x*x`` for ``x**2``, ``(x**2)**2``
    for ``pow(x, 4)``), or None if that is not possible."""
    if all(t not in _ARITY or t in allowed for t in expr.tokens):
        return expr
    builder = TreeBuilder(allowed)

    def walk(node):
        if not isinstance(node, tuple):
            return node
        args = [walk(a) for a in node[1:]]
        op = node[0]
        if op == "pow" and "pow" not in allowed and isinstance(args[1], float):
            k = args[1]
            if k == int(k) and 1 <= abs(k) <= 8:
                base = builder.small_power(args[0], int(abs(k)))
                if k > 0:
                    return base
                if "inv" in allowed:
                    return ("inv", base)
                if "div" in allowed:
                    return ("div", 1.0, base)
            if k == 0.5 and "sqrt" in allowed:
                return ("sqrt", args[0])
            raise Disallowed
        if op in allowed:
            return (op, *args)
        if op in _REWRITES:
            needs, build = _REWRITES[op]
            if all(n in allowed for n in needs):
                return build(*args)
        raise Disallowed

    try:
        return tree_to_expression(walk(expression_to_tree(expr)), expr.variable_names)
    except Disallowed:
        return None


# ----------------------------------------------------------------------------
# fold_constants
# ----------------------------------------------------------------------------

def _good(v: float) -> bool:
    """A product/quotient/sum we may put in place of two constants: finite and
    not in the subnormal range (where it would have lost precision)."""
    a = abs(v)
    return a == 0.0 or _TINY <= a <= _HUGE


def _good_product(v: float, x: float, y: float) -> bool:
    if v == 0.0:
        return x == 0.0 or y == 0.0
    return _TINY <= abs(v) <= _HUGE


_POW_SPECIAL = ((2.0, "square"), (3.0, "cube"), (0.5, "sqrt"), (-1.0, "inv"))


class _Folder:
    """Bottom-up rewriting of nested-tuple trees; see :func:`fold_constants`.

    ``mk(op, a, b)`` builds the node ``op(a, b)`` from already-folded children,
    applying the rewrite rules (which call ``mk`` again for the nodes they
    build). A rule that would need an operator outside ``allowed`` raises
    :class:`Disallowed`, which makes ``mk`` fall back to the plain node.
    """

    __slots__ = ("allowed", "tol")

    def __init__(self, tol: float, allowed: frozenset | None):
        self.tol = tol
        self.allowed = allowed

    # -- entry ----------------------------------------------------------------------
    def mk(self, op: str, a, b=None):
        if self.allowed is not None and op not in self.allowed:
            raise Disallowed(op)
        if b is None:
            if type(a) is float:
                return self._fold(op, a)
            try:
                return self._unary(op, a)
            except Disallowed:
                return (op, a)
        ta = type(a) is float
        tb = type(b) is float
        if ta and tb:
            return self._fold(op, a, b)
        try:
            if op == "mul":
                return self._mul(a, b, ta, tb)
            if op == "add":
                return self._add(a, b, ta, tb)
            if op == "sub":
                return self._sub(a, b, ta, tb)
            if op == "div":
                return self._div(a, b, ta, tb)
            if op == "pow" and tb:
                return self._pow(a, b)
        except Disallowed:
            pass
        return (op, a, b)

    @staticmethod
    def _fold(op: str, a: float, b: float | None = None):
        """An operator on constants only: one constant, when finite."""
        with np.errstate(all="ignore"):
            if b is None:
                v = float(_NUMPY[op](np.float64(a)))
            else:
                v = float(_NUMPY[op](np.float64(a), np.float64(b)))
        if math.isfinite(v):
            return v
        return (op, a) if b is None else (op, a, b)

    # -- unary ----------------------------------------------------------------------
    def _unary(self, op: str, a):
        if op == "neg" and type(a) is tuple:
            h = a[0]
            if h == "neg":                                   # --g -> g
                return a[1]
            if h == "mul" and type(a[1]) is float:           # -(c*g) -> (-c)*g
                return self.mk("mul", -a[1], a[2])
            if h == "div" and type(a[1]) is float:           # -(c/g) -> (-c)/g
                return self.mk("div", -a[1], a[2])
            if h == "sub":                                   # -(p-q) -> q-p
                return self.mk("sub", a[2], a[1])
            if h == "add" and type(a[2]) is float:           # -(g+c) -> (-c)-g
                return self.mk("sub", -a[2], a[1])
        elif op == "inv" and type(a) is tuple and type(a[1]) is float and a[1] != 0.0:
            h = a[0]
            if h == "mul" or h == "div":
                inv = 1.0 / a[1]
                if _good(inv) and inv != 0.0:               # 1/(c*g) -> (1/c)/g
                    return self.mk("div" if h == "mul" else "mul", inv, a[2])
        return (op, a)

    # -- binary -----------------------------------------------------------------------
    def _mul(self, a, b, ta: bool, tb: bool):
        if tb:                                               # constant first
            a, b, ta = b, a, True
        if ta:
            c = a
            if type(b) is tuple:
                h = b[0]
                if h == "mul" and type(b[1]) is float:       # c*(d*g) -> (cd)*g
                    p = c * b[1]
                    if _good_product(p, c, b[1]):
                        return self.mk("mul", p, b[2])
                elif h == "neg":                             # c*(-g) -> (-c)*g
                    return self.mk("mul", -c, b[1])
                elif h == "div" and type(b[1]) is float:     # c*(d/g) -> (cd)/g
                    p = c * b[1]
                    if _good_product(p, c, b[1]):
                        return self.mk("div", p, b[2])
            if abs(c - 1.0) <= self.tol:
                return b
            if abs(c + 1.0) <= self.tol:
                return self.mk("neg", b)
            return ("mul", c, b)
        # no constant argument: lift constants and signs out of the product
        if type(a) is tuple:
            if a[0] == "mul" and type(a[1]) is float:
                return self.mk("mul", a[1], self.mk("mul", a[2], b))
            if a[0] == "neg":
                return self.mk("neg", self.mk("mul", a[1], b))
        if type(b) is tuple:
            if b[0] == "mul" and type(b[1]) is float:
                return self.mk("mul", b[1], self.mk("mul", a, b[2]))
            if b[0] == "neg":
                return self.mk("neg", self.mk("mul", a, b[1]))
        return ("mul", a, b)

    def _div(self, a, b, ta: bool, tb: bool):
        if tb:                                               # g/c -> (1/c)*g
            c = b
            if c != 0.0:
                inv = 1.0 / c
                if _good(inv) and inv != 0.0:
                    return self.mk("mul", inv, a)
            return ("div", a, b)
        if ta:
            c = a
            if type(b) is tuple:
                h = b[0]
                if h == "mul" and type(b[1]) is float and b[1] != 0.0:   # c/(d*g) -> (c/d)/g
                    q = c / b[1]
                    if _good_product(q, c, 1.0):
                        return self.mk("div", q, b[2])
                elif h == "div" and type(b[1]) is float and b[1] != 0.0:  # c/(d/g) -> (c/d)*g
                    q = c / b[1]
                    if _good_product(q, c, 1.0):
                        return self.mk("mul", q, b[2])
                elif h == "neg":                                          # c/(-g) -> (-c)/g
                    return self.mk("div", -c, b[1])
            return ("div", c, b)
        if type(a) is tuple and a[0] == "mul" and type(a[1]) is float:   # (c*g)/h -> c*(g/h)
            return self.mk("mul", a[1], self.mk("div", a[2], b))
        if type(b) is tuple and b[0] == "mul" and type(b[1]) is float and b[1] != 0.0:
            inv = 1.0 / b[1]                                            # g/(c*h) -> (1/c)*(g/h)
            if _good(inv) and inv != 0.0:
                return self.mk("mul", inv, self.mk("div", a, b[2]))
        return ("div", a, b)

    def _add(self, a, b, ta: bool, tb: bool):
        if ta:                                               # constant last
            a, b, tb = b, a, True
        if tb:
            c = b
            if type(a) is tuple:
                h = a[0]
                if h == "add" and type(a[2]) is float:       # (g+d)+c -> g+(d+c)
                    s = a[2] + c
                    if _good(s):
                        if abs(s) <= self.tol * max(abs(c), abs(a[2])):
                            return a[1]
                        return self.mk("add", a[1], s)
                elif h == "sub" and type(a[1]) is float:     # (d-g)+c -> (d+c)-g
                    s = a[1] + c
                    if _good(s):
                        if abs(s) <= self.tol * max(abs(c), abs(a[1])):
                            s = 0.0
                        return self.mk("sub", s, a[2])
            if abs(c) <= self.tol:
                return a
            return ("add", a, c)
        # no constant argument: lift constants out of the sum, absorb negations
        if type(a) is tuple:
            h = a[0]
            if h == "add" and type(a[2]) is float:           # (g+c)+h -> (g+h)+c
                return self.mk("add", self.mk("add", a[1], b), a[2])
            if h == "sub" and type(a[1]) is float:           # (c-g)+h -> (h-g)+c
                return self.mk("add", self.mk("sub", b, a[2]), a[1])
            if h == "neg":                                   # (-g)+h -> h-g
                return self.mk("sub", b, a[1])
        if type(b) is tuple:
            h = b[0]
            if h == "add" and type(b[2]) is float:           # g+(h+c) -> (g+h)+c
                return self.mk("add", self.mk("add", a, b[1]), b[2])
            if h == "sub" and type(b[1]) is float:           # g+(c-h) -> (g-h)+c
                return self.mk("add", self.mk("sub", a, b[2]), b[1])
            if h == "neg":                                   # g+(-h) -> g-h
                return self.mk("sub", a, b[1])
        return ("add", a, b)

    def _sub(self, a, b, ta: bool, tb: bool):
        if tb:
            if abs(b) <= self.tol:                           # g-0 -> g
                return a
            return self.mk("add", a, -b)                     # g-c -> g+(-c)
        if ta:
            c = a
            if type(b) is tuple:
                h = b[0]
                if h == "add" and type(b[2]) is float:       # c-(g+d) -> (c-d)-g
                    s = c - b[2]
                    if _good(s):
                        if abs(s) <= self.tol * max(abs(c), abs(b[2])):
                            s = 0.0
                        return self.mk("sub", s, b[1])
                elif h == "sub" and type(b[1]) is float:     # c-(d-g) -> g+(c-d)
                    s = c - b[1]
                    if _good(s):
                        if abs(s) <= self.tol * max(abs(c), abs(b[1])):
                            return b[2]
                        return self.mk("add", b[2], s)
                elif h == "neg":                             # c-(-g) -> g+c
                    return self.mk("add", b[1], c)
            if abs(c) <= self.tol:                           # 0-g -> -g
                return self.mk("neg", b)
            return ("sub", c, b)
        if type(a) is tuple:
            h = a[0]
            if h == "add" and type(a[2]) is float:           # (g+c)-h -> (g-h)+c
                return self.mk("add", self.mk("sub", a[1], b), a[2])
            if h == "sub" and type(a[1]) is float:           # (c-g)-h -> c-(g+h)
                return self.mk("sub", a[1], self.mk("add", a[2], b))
        if type(b) is tuple:
            h = b[0]
            if h == "add" and type(b[2]) is float:           # g-(h+c) -> (g-h)+(-c)
                return self.mk("add", self.mk("sub", a, b[1]), -b[2])
            if h == "sub" and type(b[1]) is float:           # g-(c-h) -> (g+h)+(-c)
                return self.mk("add", self.mk("add", a, b[2]), -b[1])
            if h == "neg":                                   # g-(-h) -> g+h
                return self.mk("add", a, b[1])
        return ("sub", a, b)

    def _pow(self, a, c: float):
        if abs(c - 1.0) <= self.tol:
            return a
        for value, name in _POW_SPECIAL:
            if abs(c - value) <= self.tol * abs(value):
                return self.mk(name, a)
        return ("pow", a, c)


def fold_constants(expr: Expression, tol: float = 1e-12,
                   operators: Sequence[str] | None = None) -> Expression:
    """Fold and merge constants on the prefix tokens (no sympy; microseconds).

    Rewrites, bottom-up:

    * an operator whose arguments are all constants becomes one constant
      (computed with the operator's numpy form; only when finite);
    * nested scales and offsets merge: ``c*(d*g) -> (cd)*g``,
      ``(g+c)+d -> g+(c+d)``, ``c-(g+d) -> (c-d)-g``, ``g/c -> (1/c)*g``, …;
      constants are lifted out of products and sums so that they can merge
      (``(c*g)*h -> c*(g*h)``, ``(g+c)+h -> (g+h)+c``); ``sub(g, c)`` becomes
      ``add(g, -c)``; constants go first in products and last in sums;
    * ``1*g``, ``g+0``, ``g-0`` become ``g`` (``|c-1| <= tol``, ``|c| <= tol``,
      and for a merged sum ``|c| <= tol * max(|parts|)``); ``-1*g`` becomes
      ``neg(g)``; ``0-g`` becomes ``neg(g)``;
    * signs are absorbed: ``--g -> g``, ``-(c*g) -> (-c)*g``,
      ``g+(-h) -> g-h``, ``g-(-h) -> g+h``, ``-(p-q) -> q-p``;
    * ``pow(g, c)`` with c = 1, 2, 3, 1/2, -1 becomes ``g``, ``square``,
      ``cube``, ``sqrt``, ``inv``.

    The function value is kept up to round-off wherever the original is
    finite (``0*g`` is *not* folded, as it would change the domain). With
    ``operators`` given, no rewrite introduces an operator outside that set
    and the expression's own operators. Returns ``expr`` itself when nothing
    changes.
    """
    allowed = None
    if operators is not None:
        allowed = frozenset(operators) | frozenset(t for t in expr.tokens if t in _ARITY)
    folder = _Folder(tol, allowed)
    mk = folder.mk
    consts = expr.constants.tolist()
    ci = len(consts)
    stack: list = []
    push, pop = stack.append, stack.pop
    for tok in reversed(expr.tokens):
        if tok == CONST:
            ci -= 1
            push(consts[ci])
            continue
        n = _ARITY.get(tok, 0)
        if n == 0:
            push(tok)
        elif n == 1:
            push(mk(tok, pop()))
        else:
            a = pop()
            push(mk(tok, a, pop()))
    tokens, values = tree_tokens(stack[0])
    if tuple(tokens) == expr.tokens and values == consts:
        return expr
    return Expression(tokens, values, expr.variable_names, check=False)


# ----------------------------------------------------------------------------
# simplify (sympy)
# ----------------------------------------------------------------------------

def _sympy_candidates(sym, full: bool):
    """Sympy rewrites of ``sym``, cheapest first (a generator)."""
    import sympy

    yield sym
    yield sympy.powsimp(sym)
    yield sympy.together(sym)
    if full:
        yield sympy.simplify(sym)
        yield sympy.expand(sym)
        yield sympy.factor_terms(sym)


def _convert(cand, names) -> tuple[tuple[str, ...], list[float]] | None:
    try:
        e = Expression.from_sympy(cand, names)
    except Exception:  # noqa: BLE001 - anything sympy gives that we cannot read
        return None
    return e.tokens, e.constants.tolist()


_WARMED = False


def _warm_up() -> None:
    """Run ``sympy.simplify`` once in this process on a fixed small formula.

    Sympy loads and initialises much of its simplification machinery lazily,
    on first use; a forked child would redo that (~0.1 s) on every call.
    Done once per process (~0.2 s) it is inherited by every child.
    """
    global _WARMED
    _WARMED = True
    import sympy

    w = sympy.Symbol("w")
    sympy.simplify(sympy.sin(w) ** 2 + sympy.cos(w) ** 2 + w / (w + 1.5)
                   + sympy.exp(w) * sympy.log(w) + 2.5 * sympy.sqrt(w) ** 3)


def _candidates_in_child(sym, names, timeout: float) -> list:
    """Run the sympy rewrites in a forked child, streaming results back; kill
    the child at the deadline. Returns the (tokens, constants) received."""
    deadline = time.monotonic() + timeout
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork in a threaded process
        pid = os.fork()
    if pid == 0:  # child: never returns
        try:
            os.close(r)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            for cand in _sympy_candidates(sym, full=True):
                conv = _convert(cand, names)
                if conv is None:
                    continue
                data = pickle.dumps(conv, protocol=pickle.HIGHEST_PROTOCOL)
                os.write(w, struct.pack("<I", len(data)))
                view = memoryview(data)
                while view:
                    view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001, S110
            pass
        finally:
            os._exit(0)
    os.close(w)
    buf = bytearray()
    results: list = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([r], [], [], left)
            if not ready:
                break
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break  # the child finished
            buf.extend(chunk)
            while len(buf) >= 4:
                (size,) = struct.unpack("<I", buf[:4])
                if len(buf) < 4 + size:
                    break
                results.append(pickle.loads(bytes(buf[4: 4 + size])))
                del buf[: 4 + size]
    finally:
        os.close(r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    return results


def _test_points(n_features: int, X=None, seed: int = 12345) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = max(n_features, 1)
    parts = [rng.uniform(0.1, 3.0, size=(32, d)),
             rng.uniform(-3.0, 3.0, size=(32, d)),
             rng.choice([-1.0, 1.0], size=(32, d)) * 10.0 ** rng.uniform(-2, 3, size=(32, d))]
    if X is not None:
        Xa = np.asarray(X, dtype=np.float64)
        if Xa.ndim == 1:
            Xa = Xa.reshape(-1, 1)
        if Xa.ndim == 2 and Xa.shape[1] >= d and Xa.shape[0]:
            idx = rng.choice(Xa.shape[0], size=min(64, Xa.shape[0]), replace=False)
            parts.insert(0, Xa[idx, :d])
    return np.concatenate(parts, axis=0)


def _same_function(a: Expression, b: Expression, P: np.ndarray, rtol: float = 1e-6) -> bool:
    """Whether ``b`` equals ``a`` (to ``rtol``) wherever ``a`` is finite, on
    enough of the points ``P``."""
    try:
        va = a.evaluate(P)
        vb = b.evaluate(P)
    except Exception:  # noqa: BLE001
        return False
    ok = np.isfinite(va)
    if ok.sum() < 4:
        return False
    va, vb = va[ok], vb[ok]
    if not np.isfinite(vb).all():
        return False
    scale = np.max(np.abs(va))
    with np.errstate(all="ignore"):
        return bool(np.all(np.abs(va - vb) <= rtol * np.abs(va) + 1e-9 * (scale + 1e-300)))


def simplify(expr: Expression, timeout: float = 1.0, *, X=None,
             operators: Sequence[str] | None = None) -> Expression:
    """A shorter equivalent of ``expr`` found with sympy, or ``expr`` itself.

    ``sympy.simplify`` (plus ``powsimp``, ``together``, ``expand`` and
    ``factor_terms``) is applied to ``expr.sympy(exact_constants=False)`` and
    read back with the same variable names; each result then goes through
    :func:`fold_constants`. The shortest result (fewest tokens) is returned if
    it is shorter than ``expr`` and evaluates the same (relative 1e-6) on test
    points wherever ``expr`` is finite: random points of both signs and
    several magnitudes, plus up to 64 rows of ``X`` when given. With
    ``operators`` given, results using other operators (and not in ``expr``)
    are rejected.

    Hanging is impossible by construction: on Linux the sympy work runs in a
    ``fork`` child that is killed after ``timeout`` seconds (the cheap
    rewrites come back first, so they survive a timeout of ``simplify``
    itself); on platforms without a safe ``fork`` only ``powsimp`` and
    ``together`` run, in process. The first call with ``timeout >= 0.5`` in a
    process warms sympy up in the parent (~0.2 s, within the timeout), which
    makes later calls several times faster (typically 20-100 ms). Never
    raises on a bad expression; returns ``expr`` instead.
    """
    start = time.monotonic()
    try:
        names = expr.variable_names
        sym = expr.sympy(exact_constants=False)
        raw = None
        if sys.platform.startswith("linux") and hasattr(os, "fork"):
            if not _WARMED and timeout >= 0.5:
                _warm_up()
            left = max(float(timeout) - (time.monotonic() - start), 0.0)
            try:
                raw = _candidates_in_child(sym, names, left)
            except OSError:  # cannot fork (limits): the cheap rewrites in process
                raw = None
        if raw is None:
            raw = [c for c in (_convert(s, names) for s in _sympy_candidates(sym, full=False))
                   if c is not None]
    except Exception:  # noqa: BLE001 - sympy conversion of odd expressions
        return expr
    allowed = None
    if operators is not None:
        allowed = frozenset(operators) | frozenset(t for t in expr.tokens if t in _ARITY)
    best = expr
    folded = fold_constants(expr, operators=operators)
    points = None
    candidates = [folded] if len(folded) < len(expr) else []
    for tokens, consts in raw:
        try:
            cand = Expression(tokens, consts, names)
            if allowed is not None:
                cand = rewrite_operators(cand, allowed)
                if cand is None:
                    continue
            cand = fold_constants(cand, operators=operators)
        except Exception:  # noqa: BLE001, S112
            continue
        candidates.append(cand)
    candidates.sort(key=lambda e: (len(e), e.complexity, e.n_constants))
    for cand in candidates:
        if len(cand) >= len(best):
            break
        if allowed is not None and any(t in _ARITY and t not in allowed for t in cand.tokens):
            continue
        if points is None:
            n_feat = max(expr.n_variables, len(names) if names else 0)
            points = _test_points(n_feat, X)
        if cand.n_variables > max(points.shape[1], expr.n_variables):
            continue
        if _same_function(expr, cand, points):
            best = cand
            break
    return best


# ----------------------------------------------------------------------------
# snap_constants
# ----------------------------------------------------------------------------

# plain fractions first, then fractions of the irrational factors of physics constants
_NICE_FACTORS = (1.0,) + tuple(value for value, _ in NICE_FACTORS)
# the fractions p/q each irrational factor takes: (largest |p|, largest q); see nice_values
_FACTOR_FRACTIONS = {factor: ((8, 4) if i < 3 else (2, 2))
                     for i, factor in enumerate(_NICE_FACTORS[1:])}


def nice_values(c: float, max_denominator: int = 12, max_rel_change: float = 0.05
                ) -> list[float]:
    """"Nice" values near ``c``, nicest first.

    Candidates: 0 (when |c| <= 0.01), for each q = 1..max_denominator the
    nearest fraction p/q in lowest terms, for q = 1..4 the nearest p/q with
    |p| <= 8 times π, π² and 1/π, and for q = 1, 2 the nearest p/q with
    |p| <= 2 times √π, 1/√π, √2, √(2π) and 1/√(2π). Only values within
    ``max_rel_change`` (relative) of ``c`` are kept, and ``c`` itself is never
    returned. Ordered by denominator, then by factor in that order.

    The irrational factors take only small fractions because with all of them
    the candidates are so dense that one lies within any noisy constant's
    error: 1.0004 would become 22/(7π) and 0.9974 5/(2√(2π)), which no law
    holds. The constants of physics formulas (1/(4π), 4π/3, 8π, 1/√(2π)) are
    small fractions of these factors.
    """
    c = float(c)
    if not math.isfinite(c):
        return []
    out: list[float] = []
    seen = {c}
    radius = max_rel_change * abs(c)
    if abs(c) <= 0.01 and c != 0.0:
        out.append(0.0)
        seen.add(0.0)
    for q in range(1, max_denominator + 1):
        for factor in _NICE_FACTORS:
            max_p, max_q = _FACTOR_FRACTIONS.get(factor, (None, max_denominator))
            if q > max_q:
                continue
            p = round(c * q / factor)
            if p == 0 or math.gcd(int(p), q) != 1:
                continue
            if max_p is not None and abs(p) > max_p:
                continue
            v = (p / q) * factor if factor != 1.0 else p / q
            if v in seen or abs(v - c) > radius:
                continue
            seen.add(v)
            out.append(v)
    return out


def snap_constants(expr: Expression, X, y, loss: float | None = None, rel_tol: float | None = None,
                   *, sample_weight=None, metric: str | Callable = "mse",
                   floor: float | None = None, max_denominator: int = 12,
                   device=None) -> tuple[Expression, float]:
    """Snap constants to nearby nice values when the loss holds.

    Each constant is tried at the values of :func:`nice_values` (integers,
    fractions p/q with q <= ``max_denominator``, rational multiples of π;
    within 5%). A set of k snaps is acceptable when the loss on (X, y) stays
    at most ``(1 + rel_tol)`` times the loss of ``expr`` or below ``floor``
    (default ``1e-18 * mean(y**2)`` for the MSE: a relative RMS error of
    1e-9). The default ``rel_tol=None`` is the BIC allowance for removing k
    free constants from a fit to n points, a factor ``exp(k·ln(n)/n)`` (as
    :func:`symreg.reduce.drop_terms`): on noisy data the true value of a
    constant is within it unless it is more than about √(ln n) standard errors
    from the fit, while on noiseless data a wrong snap raises the loss by
    orders of magnitude. Each
    constant takes its nicest acceptable value; then the snaps are combined
    in order of their own losses, and the largest combination that is still
    acceptable is kept.

    All variants are scored in one batched float64 call of
    :func:`symreg.evaluate.evaluate_batch` (and the combinations in a second).

    Parameters
    ----------
    loss : float, optional
        The loss of ``expr`` as the caller knows it; returned unchanged when
        nothing is snapped. Decisions use the loss evaluated here (the same
        metric, points and weights as the variants).
    metric : str or callable
        The loss function of :func:`~symreg.evaluate.evaluate_batch`.

    Returns
    -------
    (Expression, float)
        The snapped expression (``expr`` itself when nothing was snapped) and
        its loss.
    """
    import torch

    from .evaluate import evaluate_batch

    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    base = expr.constants
    variants: list[Expression] = []
    owner: list[tuple[int, float]] = []
    for i, c in enumerate(base.tolist()):
        for v in nice_values(c, max_denominator):
            new = base.copy()
            new[i] = v
            variants.append(expr.with_constants(new))
            owner.append((i, v))

    def score(exprs):
        return evaluate_batch(exprs, X, y, sample_weight=sample_weight, loss=metric,
                              dtype=torch.float64, device=device)

    if not variants:
        if loss is None:
            loss = float(score([expr])[0])
        return expr, float(loss)
    losses = score([expr] + variants)
    ref = float(losses[0])
    if floor is None:
        with np.errstate(all="ignore"):
            if metric == "mse":
                floor = 1e-18 * float(np.mean(y * y))
            else:
                floor = 1e-9 * float(np.mean(np.abs(y)))
    if not math.isfinite(ref):
        return expr, float(loss) if loss is not None else ref
    n = max(int(y.shape[0]), 1)

    def bound(k: int) -> float:
        factor = math.exp(k * math.log(n) / n) if rel_tol is None else 1.0 + rel_tol
        return max(ref * factor, floor)

    chosen: dict[int, tuple[float, float]] = {}   # constant -> (value, loss)
    for (i, v), L in zip(owner, losses[1:].tolist()):
        if i not in chosen and math.isfinite(L) and L <= bound(1):
            chosen[i] = (v, L)  # the first acceptable is the nicest
    if not chosen:
        return expr, float(loss) if loss is not None else ref
    order = sorted(chosen, key=lambda i: chosen[i][1])
    combos: list[Expression] = []
    new = base.copy()
    for i in order:
        new[i] = chosen[i][0]
        combos.append(expr.with_constants(new.copy()))
    if len(combos) == 1:
        return combos[0], chosen[order[0]][1]
    combo_losses = score(combos)
    for k in range(len(combos) - 1, -1, -1):
        L = float(combo_losses[k])
        if math.isfinite(L) and L <= bound(k + 1):
            return combos[k], L
    return combos[0], chosen[order[0]][1]
