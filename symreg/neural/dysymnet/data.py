"""The data of one DySymNet run: rows subsampled, inputs scaled, target standardised,
the unit types and the exactness levels, as :func:`prepare` hands them to the proposer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ...operators import resolve_operators
from ...pareto import EXACT_NMSE, exact_floor
from .config import DySymNetConfig
from .model import DEFAULT_UNITS, UNITS

__all__ = ["prepare"]


def _units_for(operators: Sequence[str] | None, configured: Sequence[str] | None
               ) -> tuple[str, ...]:
    """Unit types from the allowed operators (registry names) or the configuration."""
    if configured is not None:
        units = tuple(u for u in configured if u in UNITS)
    elif operators is None:
        units = DEFAULT_UNITS
    else:
        units = tuple(u for u in UNITS if u in set(operators))
    if operators is not None:
        units = tuple(u for u in units if u in set(operators))
    return units


def prepare(config: DySymNetConfig, device: torch.device, X, y, seed: int, operators,
            variable_names) -> dict | None:
    """Data as tensors (subsampled, x scaled, y standardised) and the settings."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.shape[0] != y.shape[0] or X.shape[0] == 0 or X.shape[1] == 0:
        return None
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
    X, y = X[ok], y[ok]
    if X.shape[0] < 2:
        return None
    allowed = None if operators is None else frozenset(resolve_operators(operators))
    units = _units_for(allowed, config.units)
    if allowed is not None and not {"add", "mul"} <= allowed:
        # every read-off formula is a weighted sum: nothing could be returned
        return None
    rng = np.random.default_rng(seed)
    if X.shape[0] > config.max_points:
        idx = np.sort(rng.choice(X.shape[0], config.max_points, replace=False))
    else:
        idx = np.arange(X.shape[0])
    # inputs far from unit scale are divided by their RMS (no shift: a shift
    # would turn every zero inner offset into a non-zero one)
    rms = np.sqrt(np.mean(X * X, axis=0))
    x_scale = np.where((rms > 10.0) | ((rms < 0.1) & (rms > 0)), rms, 1.0)
    y_mean = float(np.mean(y))
    y_std = float(np.std(y))
    if not np.isfinite(y_std) or not np.isfinite(y_mean):
        return None
    if y_std == 0.0:
        y_std = 1.0
    dev = device
    dt = config.dtype
    return {
        "X": X, "y": y, "d": X.shape[1], "units": units, "allowed": allowed,
        "fold_ops": None if allowed is None else tuple(allowed),
        "names": None if variable_names is None else tuple(variable_names),
        "x_scale": x_scale.tolist(), "y_mean": y_mean, "y_std": y_std,
        "Xt": torch.as_tensor(X[idx] / x_scale, dtype=dt, device=dev),
        "yt": torch.as_tensor((y[idx] - y_mean) / y_std, dtype=dt, device=dev),
        # an MSE this small is a fit to round-off (as the search's exactness test)
        # (a constant target: 1e-16 × 1e-300, only a zero loss counts)
        "exact": exact_floor(y) if np.var(y) > 0 else EXACT_NMSE * 1e-300,
        "y_var": float(np.var(y)),
        # the search stops only at a fit to round-off proper (relative RMS error
        # 1e-12): on a few points, a formula of many constants can reach the
        # looser test above without being the law (-0.12x² - 0.37x
        # - 3.5cos³(0.34x + 0.53) + 2.3 is sin x on 20 points of [-1, 1])
        "stop": 1e-24 * max(float(np.var(y)), 1e-300),
        "max_constants": max(2, X.shape[0] // 2),
    }
