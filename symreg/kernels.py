"""Operator kernels that write into a given buffer, chosen per device and dtype.

The batch evaluator (:mod:`symreg.program`) computes every operator node of a
stage with one call that writes straight into the stage's rows. This module
says which function that call is:

* on CUDA, and for most operators on the CPU, the registry's torch form with
  ``out=`` (the same kernel as :attr:`~symreg.operators.Operator.torch_fn`);
* on the CPU, a numpy ufunc where numpy is measurably faster. torch's CPU
  ``sqrt``, ``log``, ``exp``, ``sin``... go through MKL's vector library, whose
  domain-error handling makes an element outside the domain (``log(-1)``,
  ``sqrt(-1)``, ``exp(1000)``, ``sin(inf)``) 5-25 times slower than a regular
  one, and candidates of a symbolic search are outside the domain at many
  points; numpy's SIMD loops run at full speed on any input. Timings:
  ``benchmarks/bench_evaluator.py``.

float64 stays exact: in float64 numpy is used only for the operations whose
result IEEE 754 fixes to the bit (``+ - * /``, negation, ``abs``), where both
libraries give the same values as before. (Not ``sqrt``: torch's float64
``sqrt`` through MKL is not always correctly rounded, so numpy's would change
the last bit, and so would its ``exp``, ``log``...; and masking the
out-of-domain arguments around torch's call costs more than it saves, measured.)
float32 uses numpy's faster few-ulp ``sqrt``, ``exp``, ``log`` and
trigonometric functions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from . import operators as ops

__all__ = ["NUMPY_ON_CPU", "kernel"]

# the same bits as torch in both dtypes (fixed by IEEE 754)
_EXACT = ("add", "sub", "mul", "div", "neg", "inv", "square", "cube", "abs")

#: Operators computed by numpy on the CPU, per dtype (see the module docstring).
NUMPY_ON_CPU: dict[torch.dtype, frozenset[str]] = {
    torch.float64: frozenset(_EXACT),
    torch.float32: frozenset(_EXACT + ("sqrt", "exp", "log", "sin", "cos", "tan", "tanh")),
}

_NUMPY: dict[str, Callable] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "neg": np.negative, "inv": np.reciprocal, "square": np.square, "sqrt": np.sqrt,
    "abs": np.abs, "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "tanh": np.tanh,
}


def _np_cube(a: np.ndarray, out: np.ndarray) -> None:
    np.multiply(a, a, out=out)
    np.multiply(out, a, out=out)  # (a*a)*a, as the registry's torch form computes it


def _torch_cube(a: torch.Tensor, out: torch.Tensor) -> None:
    torch.mul(a, a, out=out)
    out.mul_(a)


def _ufunc(fn: Callable) -> Callable:
    return lambda *args: fn(*args[:-1], out=args[-1])


def _torch_out(op: ops.Operator) -> Callable:
    if op.name == "cube":
        return _torch_cube
    fn = op.torch_fn
    # torch functions (torch.add, torch.sin...) take out=; the registry's lambdas
    # (harmonic) are computed and copied
    if getattr(torch, getattr(fn, "__name__", ""), None) is fn:
        return _ufunc(fn)

    def copy(*args):
        args[-1].copy_(fn(*args[:-1]))
    return copy


_CACHE: dict[tuple[str, torch.dtype, str], tuple[Callable, bool]] = {}


def kernel(op: ops.Operator, dtype: torch.dtype, device_type: str) -> tuple[Callable, bool]:
    """``(fn, on_numpy)``: ``fn(*args, out)`` writes ``op`` of the arguments into
    ``out``; with ``on_numpy`` the arguments and ``out`` are numpy views of the
    CPU tensors (``tensor.numpy()``), else torch tensors."""
    key = (op.name, dtype, device_type)
    found = _CACHE.get(key)
    if found is None:
        if device_type == "cpu" and op.name in NUMPY_ON_CPU.get(dtype, ()):
            found = (_np_cube if op.name == "cube" else _ufunc(_NUMPY[op.name]), True)
        else:
            found = (_torch_out(op), False)
        _CACHE[key] = found
    return found
