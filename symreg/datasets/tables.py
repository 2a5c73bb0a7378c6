"""Reading and writing a user's table (CSV or Parquet), and splitting off the target.

The format follows the file name: ``.csv`` (also compressed, ``.csv.gz`` ...) is CSV,
``.parquet`` and ``.pq`` are Parquet, ``-`` is CSV on standard input (or output).
:func:`read_table` and :func:`read_frame` read by name, :func:`write_frame` writes by name,
and :func:`table_format` tells the format of a name; every part of symreg that takes a table
from a user goes through them. :func:`load_csv` and :func:`load_parquet` read one format
whatever the name.

Every problem with the file or its columns raises :class:`DataError`, a
``ValueError`` whose message is one line naming the file and the problem, so
that the terminal app can print it as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

__all__ = ["TABLE_SUFFIXES", "DataError", "Table", "load_csv", "load_parquet", "read_frame",
           "read_table", "split_target", "table_format", "write_frame"]

#: file name endings of tables, by format (a name may end in one of these plus a compression)
TABLE_SUFFIXES = {"CSV": (".csv",), "Parquet": (".parquet", ".pq")}
_COMPRESSIONS = ("", ".gz", ".bz2", ".xz", ".zip", ".zst")


class DataError(ValueError):
    """A table that cannot be used: missing file, bad format, bad columns."""


class Table(NamedTuple):
    """Features (all columns but the target, in file order) and the target."""

    X: pd.DataFrame
    y: pd.Series


def _where(path: Any) -> str:
    return "stdin" if str(path) == "-" else str(path)


def _read(path: str | Path, reader, kind: str) -> pd.DataFrame:
    where = _where(path)
    if str(path) != "-":
        p = Path(path)
        if not p.exists():
            raise DataError(f"no such file: {where}")
        if p.is_dir():
            raise DataError(f"is a directory, not a {kind} file: {where}")
    try:
        df = reader()
    except PermissionError:
        raise DataError(f"permission denied: {where}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"no data in {where}") from None
    except ImportError as exc:  # no parquet engine
        raise DataError(f"cannot read {kind} files: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - parser errors of every engine
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"cannot read {where} as {kind}: {text}") from None
    if df.shape[0] == 0:
        raise DataError(f"no rows in {where}")
    return df.rename(columns=str)


def split_target(df: pd.DataFrame, target: str | None, where: str = "the table") -> Table:
    """Split ``df`` into features and ``target`` (default: the last column).

    Raises :class:`DataError` for an unknown target, duplicate or non-numeric
    columns, or a table with no feature column.
    """
    df = df.rename(columns=str)
    columns = list(df.columns)
    if target is None:
        target = columns[-1]
    if target not in columns:
        raise DataError(f"target column {target!r} not found in {where}; "
                        f"columns are: {', '.join(columns)}")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise DataError(f"duplicate column name(s) in {where}: {', '.join(duplicates)}")
    non_numeric = [c for c in columns
                   if not pd.api.types.is_numeric_dtype(df[c])
                   or pd.api.types.is_complex_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])]
    if non_numeric:
        raise DataError(f"non-numeric column(s) in {where}: {', '.join(non_numeric)}; "
                        "symreg needs numbers only")
    X = df.drop(columns=[target])
    if X.shape[1] == 0:
        raise DataError(f"no feature columns in {where}: only the target column {target!r}")
    return Table(X, df[target])


def load_csv(path: str | Path, target: str | None = None, **read_csv_kwargs: Any) -> Table:
    """Read a CSV file with a header row (``"-"``: stdin) and split off ``target``.

    Parameters
    ----------
    path : str or Path
        The file; ``"-"`` reads standard input.
    target : str, optional
        The column to predict; default the last one.
    **read_csv_kwargs
        Passed to ``pandas.read_csv`` (``sep``, ``comment``, ...).

    Raises
    ------
    DataError
        One-line message for a missing, empty or malformed file, an unknown
        target, non-numeric columns, or no feature column.
    """
    source: Any = sys.stdin if str(path) == "-" else path
    df = _read(path, lambda: pd.read_csv(source, **read_csv_kwargs), "CSV")
    return split_target(df, target, _where(path))


def load_parquet(path: str | Path, target: str | None = None) -> Table:
    """Read a Parquet file (needs ``pyarrow`` or ``fastparquet``) and split off ``target``.

    Raises :class:`DataError` as :func:`load_csv` does, and when no Parquet
    engine is installed.
    """
    df = _read(path, lambda: pd.read_parquet(path), "Parquet")
    return split_target(df, target, _where(path))


def table_format(path: str | Path) -> str:
    """``"CSV"`` or ``"Parquet"``, from the name of ``path`` (``"-"``: CSV on stdin/stdout).

    Raises
    ------
    DataError
        For any other name, in one line.
    """
    name = str(path)
    if name == "-":
        return "CSV"
    lower = Path(name).name.lower()
    if lower.endswith(TABLE_SUFFIXES["Parquet"]):
        return "Parquet"
    if any(lower.endswith(".csv" + z) for z in _COMPRESSIONS):
        return "CSV"
    raise DataError(f"cannot tell the format of {name}: a table's name ends in .csv, .parquet "
                    "or .pq (or is - for CSV on standard input)")


def read_frame(path: str | Path, nrows: int | None = None) -> pd.DataFrame:
    """The whole table at ``path`` (format by name, see :func:`table_format`), columns as str.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` or ``.parquet``/``.pq`` file; ``"-"`` reads CSV from standard input.
    nrows : int, optional
        Read only the first rows of a CSV file (a Parquet file is read whole).

    Raises
    ------
    DataError
        One-line message for an unknown name, a missing, empty or malformed file.
    """
    kind = table_format(path)
    if kind == "Parquet":
        return _read(path, lambda: pd.read_parquet(path), kind)
    source: Any = sys.stdin if str(path) == "-" else path
    return _read(path, lambda: pd.read_csv(source, nrows=nrows), kind)


def read_table(path: str | Path, target: str | None = None, nrows: int | None = None) -> Table:
    """Read the table at ``path`` (format by name) and split off ``target`` (default: the
    last column); raises :class:`DataError` as :func:`read_frame` and :func:`split_target`."""
    return split_target(read_frame(path, nrows=nrows), target, _where(path))


def write_frame(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` without its index to ``path``, in the format its name says (``"-"``:
    CSV on standard output); floats are written at full (round-trip) precision.

    Raises
    ------
    DataError
        For an unknown name, a missing Parquet engine, or a file that cannot be written.
    """
    kind = table_format(path)
    try:
        if kind == "Parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(sys.stdout if str(path) == "-" else path, index=False)
    except ImportError as exc:
        raise DataError(f"cannot write Parquet: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
