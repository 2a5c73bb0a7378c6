"""``symreg predict``: a saved run's predictions on new data."""

from __future__ import annotations

import typer

from .errors import fail


def predict(
    run: str = typer.Argument(..., help="A run folder saved by 'symreg fit' (or its model.json)."),
    data: str = typer.Argument(
        ..., help="CSV file ('-' for stdin) or .parquet file with the model's input columns."),
    out: str | None = typer.Option(
        None, "--out", "-o", help="Write to this .csv or .parquet file instead of stdout."),
    index: int | None = typer.Option(
        None, "--index", help="Row of the Pareto front to use (default: the chosen model)."),
) -> None:
    """Predict with a saved run: DATA's columns plus a predicted_<target> column, as CSV."""
    import pandas as pd

    from symreg import load
    from symreg.datasets.tables import DataError, read_frame, table_format, write_frame
    from symreg.io import read_run

    try:
        if out is not None:
            table_format(out)  # an unknown --out suffix fails before any work
    except DataError as exc:
        fail(f"--out: {exc}")
    try:
        model = load(run)
        target = str(read_run(run).get("metadata", {}).get("target") or "y")
    except (OSError, ValueError) as exc:
        fail(exc)
    try:
        table = read_frame(data)
    except DataError as exc:
        fail(exc)
    names = list(model.variable_names_)
    missing = [n for n in names if n not in table.columns]
    if missing:
        fail(f"{data} lacks column(s) {', '.join(missing)}; the model needs: {', '.join(names)}")
    features = table[names]
    bad = [c for c in names if not pd.api.types.is_numeric_dtype(features[c])
           or pd.api.types.is_bool_dtype(features[c])]
    if bad:
        fail(f"non-numeric column(s) in {data}: {', '.join(bad)}")
    # a model fitted on a bare array checks that it gets a bare array
    X = features if hasattr(model, "feature_names_in_") else features.to_numpy(dtype=float)
    try:
        pred = model.predict(X, index=index)
    except (ValueError, IndexError) as exc:
        fail(exc)
    column = f"predicted_{target}"
    result = table.assign(**{column: pred})
    try:
        # stdout without --out; pandas writes floats at full (round-trip) precision
        write_frame(result, "-" if out is None else out)
    except DataError as exc:
        fail(exc)
