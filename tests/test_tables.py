"""symreg.datasets.tables: one reader and one writer, choosing the format by the name."""

from __future__ import annotations

import pandas as pd
import pytest

from symreg.datasets.tables import DataError, read_frame, read_table, table_format, write_frame


def test_format_by_name():
    assert table_format("a.csv") == table_format("A.CSV") == table_format("-") == "CSV"
    assert table_format("a.csv.gz") == "CSV"
    assert table_format("a.parquet") == table_format("dir.csv/a.pq") == "Parquet"
    for name in ("a.txt", "data", "a.xlsx"):
        with pytest.raises(DataError, match=r"cannot tell the format of .*\.csv, \.parquet"):
            table_format(name)


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.pq", "t.csv.gz"])
def test_write_then_read(tmp_path, name):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [0.1, 1 / 3, 2.0]})
    write_frame(frame, tmp_path / name)
    back = read_frame(tmp_path / name)
    pd.testing.assert_frame_equal(back, frame)  # floats round-trip exactly
    X, y = read_table(tmp_path / name, target="y")
    assert list(X.columns) == ["a"] and y.name == "y"


def test_stdin_and_stdout(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a,b\n1,2\n3,4\n"))
    X, y = read_table("-")
    assert list(X.columns) == ["a"] and list(y) == [2, 4]
    write_frame(pd.DataFrame({"a": [1]}), "-")
    assert capsys.readouterr().out == "a\n1\n"


def test_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_table(tmp_path / "x.txt")
    with pytest.raises(DataError, match="cannot tell the format"):
        write_frame(pd.DataFrame({"a": [1]}), tmp_path / "x.txt")
    (tmp_path / "few.csv").write_text("a,y\n1,2\n3,4\n5,6\n")
    assert len(read_frame(tmp_path / "few.csv", nrows=2)) == 2
