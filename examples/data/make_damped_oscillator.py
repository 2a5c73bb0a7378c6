"""Write damped_oscillator.csv: y = exp(-0.3 t) * cos(2.0 t) on t in [0, 10], 200 rows.

Run from anywhere: ``python examples/data/make_damped_oscillator.py``.
The data are noise-free and evenly spaced; the seed is fixed anyway so that any later
change (noise, random sampling) stays reproducible.
"""

from pathlib import Path

import numpy as np

N_ROWS = 200
OUT = Path(__file__).with_name("damped_oscillator.csv")


def make(n_rows: int = N_ROWS) -> np.ndarray:
    np.random.default_rng(0)  # fixed seed; no randomness is used at present (no noise)
    t = np.linspace(0.0, 10.0, n_rows)
    y = np.exp(-0.3 * t) * np.cos(2.0 * t)
    return np.column_stack([t, y])


def main() -> None:
    data = make()
    np.savetxt(OUT, data, delimiter=",", header="t,y", comments="", fmt="%.17g")
    print(f"wrote {len(data)} rows to {OUT}")


if __name__ == "__main__":
    main()
