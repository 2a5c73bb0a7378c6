"""Weights and checkpoints as data: tensors and plain values in, never code.

``torch.load`` unpickles; with ``weights_only=False`` a file can name any
importable callable and have it run while loading (a pickle's ``__reduce__``).
Weights and checkpoints come from elsewhere (a GPU job, a download, a colleague),
so every file :mod:`symreg.neural` reads goes through :func:`load_weights`, which
accepts tensors, dicts, lists, tuples, strings, numbers, booleans and None only.
:func:`plain` turns what the writers hold (dataclasses as dicts, paths, version
strings) into those types before saving.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torch.torch_version import TorchVersion

__all__ = ["UnsafeWeightsError", "load_weights", "plain"]


class UnsafeWeightsError(ValueError):
    """A weights or checkpoint file holds something other than tensors and plain data."""


def load_weights(path: str | os.PathLike) -> dict:
    """The contents of a weights or checkpoint file, loaded as data only.

    Parameters
    ----------
    path : str or path-like
        A file written by ``torch.save`` from tensors and plain values.

    Returns
    -------
    dict
        The saved dict, on the CPU.

    Raises
    ------
    UnsafeWeightsError
        When the file holds any other object (a class instance, a function, a
        ``__reduce__`` payload): it is refused before anything in it runs.
    """
    try:
        # checkpoints written before the metadata was made plain hold torch.__version__,
        # a str subclass whose unpickling runs no code: it stays readable
        with torch.serialization.safe_globals([TorchVersion]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message is long; the line naming the offending global is the useful one
        lines = [ln.strip() for ln in str(exc).splitlines() if "WeightsUnpickler" in ln]
        why = f" ({lines[0]})" if lines else ""
        raise UnsafeWeightsError(
            f"refusing to load {Path(path)}: it holds objects other than tensors and plain "
            f"data, and unpickling them could run code{why}") from None


def plain(value):
    """``value`` with paths and ``str`` subclasses (such as ``torch.__version__``)
    turned into ``str``, recursively through dicts, lists and tuples, so that
    :func:`load_weights` can read it back."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, (str, os.PathLike)) and type(value) is not str:
        return os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    return value
