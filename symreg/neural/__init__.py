"""Neural proposers of candidate formulas (see :class:`~symreg.neural.proposer.Proposer`).

The proposers are imported on first use, so ``import symreg.neural`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["PROPOSERS", "DySymNetProposer", "LIESProposer", "Proposer", "TransformerProposer",
           "get_proposer"]

if TYPE_CHECKING:  # pragma: no cover
    from .proposer import Proposer

# name used in SymbolicRegressor(proposers=[...]) -> (module, class)
PROPOSERS: dict[str, tuple[str, str]] = {
    "transformer": ("transformer_proposer", "TransformerProposer"),
    "lies": ("lies", "LIESProposer"),
    "dysymnet": ("dysymnet", "DySymNetProposer"),
}


def get_proposer(name: str, **kwargs) -> Proposer:
    """A proposer by its short name, e.g. ``get_proposer("lies")``."""
    import importlib

    key = name.strip().lower()
    if key not in PROPOSERS:
        known = ", ".join(sorted(PROPOSERS)) or "none yet"
        raise ValueError(f"unknown proposer {name!r}; known proposers: {known}")
    module, cls = PROPOSERS[key]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(**kwargs)


def __getattr__(name: str):
    if name == "Proposer":
        from .proposer import Proposer

        return Proposer
    for module, cls in PROPOSERS.values():
        if cls == name:
            import importlib

            return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    raise AttributeError(f"module 'symreg.neural' has no attribute {name!r}")
