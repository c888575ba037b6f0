"""Writers: every format reads back to the rows written, bytes are reproducible, and line
overrides land exactly on the records they name."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

from purecredit.synth.formats import (
    record_texts,
    write_csv,
    write_file,
    write_jsonl,
    write_parquet,
    write_xlsx,
)
from purecredit.synth.sourcespec import Encoding, Format


def _frame(rows: int = 50) -> pd.DataFrame:
    """Delivered-shape rows with the awkward cases: quotes, commas, Chinese, nulls."""
    names = ["张三", '李"四', "王,五", "赵六 ", "钱七"]
    return pd.DataFrame(
        {
            "身份证号": [f"34160219{i:08d}1X"[:18] for i in range(rows)],
            "姓名": [names[i % 5] if i % 7 else None for i in range(rows)],
            "缴费日期": [f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(rows)],
            "金额": [round(i * 10.25, 2) if i % 9 else None for i in range(rows)],
            "月数": pd.array([i % 12 if i % 11 else None for i in range(rows)], dtype="Int64"),
        }
    )


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
    )


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_csv_reads_back_in_its_encoding(tmp_path: Path, encoding: Encoding) -> None:
    frame = _frame()
    written = write_csv(frame, tmp_path, "s/a.csv", encoding=encoding, chunk_rows=7)
    got = pd.read_csv(tmp_path / "s/a.csv", encoding=encoding, dtype={"身份证号": str})
    _same(got, frame)
    assert written.rows == len(frame)
    assert written.path == "s/a.csv"
    raw = (tmp_path / "s/a.csv").read_bytes()
    assert written.sha256 == hashlib.sha256(raw).hexdigest()
    if encoding == "gbk":
        assert "张三".encode("gbk") in raw and "张三".encode() not in raw


def test_jsonl_reads_back_with_keys_in_order(tmp_path: Path) -> None:
    frame = _frame()
    write_jsonl(frame, tmp_path, "a.jsonl", chunk_rows=7)
    raw = (tmp_path / "a.jsonl").read_bytes()
    assert "张三".encode() in raw  # not \\u-escaped
    records = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert all(list(r) == list(frame.columns) for r in records)
    _same(pd.DataFrame(records), frame)
    assert records[1]["金额"] == 10.25 and records[0]["姓名"] is None


def test_parquet_reads_back_with_types(tmp_path: Path) -> None:
    frame = _frame()
    write_parquet(frame, tmp_path, "a.parquet")
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.schema.metadata is None or b"pandas" not in table.schema.metadata
    assert str(table.schema.field("月数").type) == "int64"
    _same(table.to_pandas(), frame)


def test_xlsx_reads_back_across_sheets(tmp_path: Path) -> None:
    frame = _frame(23)
    write_xlsx(frame, tmp_path, "a.xlsx", max_sheet_rows=10)
    book = openpyxl.load_workbook(tmp_path / "a.xlsx", read_only=True)
    assert book.sheetnames == ["Sheet1", "Sheet2", "Sheet3"]
    rows: list[tuple[object, ...]] = []
    for sheet in book.worksheets:
        header, *data = list(sheet.iter_rows(values_only=True))
        assert list(header) == list(frame.columns)
        rows += data
    assert [len(s) for s in (rows[:10], rows[10:20], rows[20:])] == [10, 10, 3]
    _same(pd.DataFrame(rows, columns=frame.columns), frame)
    assert isinstance(rows[1][0], str) and isinstance(rows[1][3], float)


@pytest.mark.parametrize(
    ("fmt", "encoding"),
    [("csv", "utf-8"), ("csv", "gbk"), ("jsonl", "utf-8"), ("parquet", "utf-8"), ("xlsx", "utf-8")],
)
def test_same_table_same_bytes(tmp_path: Path, fmt: Format, encoding: Encoding) -> None:
    first = write_file(_frame(), tmp_path / "one", f"a.{fmt}", fmt=fmt, encoding=encoding)
    second = write_file(_frame(), tmp_path / "two", f"a.{fmt}", fmt=fmt, encoding=encoding)
    assert first == second
    assert (tmp_path / "one" / first.path).read_bytes() == (
        tmp_path / "two" / first.path
    ).read_bytes()


def test_xlsx_carries_no_clock(tmp_path: Path) -> None:
    """Writing twice within a second would hide a `now()`; look at the stamp itself."""
    write_xlsx(_frame(3), tmp_path, "a.xlsx")
    with zipfile.ZipFile(tmp_path / "a.xlsx") as archive:
        core = archive.read("docProps/core.xml").decode("utf-8")
        stamps = {info.date_time for info in archive.infolist()}
    assert '<dcterms:created xsi:type="dcterms:W3CDTF">2024-01-01T00:00:00Z' in core
    assert len(stamps) == 1


@pytest.mark.parametrize("chunk_rows", [1, 4, 1000])
def test_csv_overrides_replace_exactly_their_lines(tmp_path: Path, chunk_rows: int) -> None:
    frame = _frame(20)
    overrides = {1: b"FIRST", 8: b"\xff\xfe broken", 20: b"LAST,,,,,,"}
    write_csv(
        frame, tmp_path, "a.csv", encoding="gbk", line_overrides=overrides, chunk_rows=chunk_rows
    )
    write_csv(frame, tmp_path, "clean.csv", encoding="gbk")
    lines = (tmp_path / "a.csv").read_bytes().split(b"\n")
    clean = (tmp_path / "clean.csv").read_bytes().split(b"\n")
    assert len(lines) == len(clean) == 20 + 2  # header, 20 records, empty after the last eol
    for record in range(1, 21):
        assert lines[record] == overrides.get(record, clean[record])


def test_csv_overrides_survive_values_with_line_breaks(tmp_path: Path) -> None:
    frame = pd.DataFrame({"地址": ["一\n二", "三", "四", "五\n六"], "n": [1, 2, 3, 4]})
    write_csv(frame, tmp_path, "a.csv", line_overrides={3: b"BROKEN"})
    records = list(csv.reader(io.StringIO((tmp_path / "a.csv").read_text("utf-8"))))
    assert records == [["地址", "n"], ["一\n二", "1"], ["三", "2"], ["BROKEN"], ["五\n六", "4"]]


def test_jsonl_overrides_replace_lines(tmp_path: Path) -> None:
    write_jsonl(_frame(5), tmp_path, "a.jsonl", line_overrides={2: b"\xd5\xc5"})
    lines = (tmp_path / "a.jsonl").read_bytes().split(b"\n")
    assert lines[1] == b"\xd5\xc5"
    assert [json.loads(lines[i])["身份证号"] for i in (0, 2, 3, 4)] == list(
        _frame(5)["身份证号"].iloc[[0, 2, 3, 4]]
    )


def test_overrides_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="record 6"):
        write_csv(_frame(5), tmp_path, "a.csv", line_overrides={6: b"x"})
    with pytest.raises(ValueError, match="line break"):
        write_csv(_frame(5), tmp_path, "a.csv", line_overrides={2: b"x\ny"})
    with pytest.raises(ValueError, match="no lines"):
        write_file(_frame(5), tmp_path, "a.xlsx", fmt="xlsx", line_overrides={1: b"x"})


def test_gbk_refuses_what_gbk_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="gbk"):
        write_csv(pd.DataFrame({"名": ["😀"]}), tmp_path, "a.csv", encoding="gbk")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_record_texts_are_the_written_lines(tmp_path: Path, fmt: Format) -> None:
    frame = _frame(12)
    write_file(frame, tmp_path, f"a.{fmt}", fmt=fmt)
    lines = (tmp_path / f"a.{fmt}").read_text("utf-8").split("\n")
    data = lines[1:-1] if fmt == "csv" else lines[:-1]
    assert record_texts(frame, fmt) == data


def test_empty_table_still_has_a_header(tmp_path: Path) -> None:
    written = write_csv(_frame(0), tmp_path, "a.csv")
    assert written.rows == 0
    assert (tmp_path / "a.csv").read_text("utf-8") == '"身份证号","姓名","缴费日期","金额","月数"\n'


def test_paths_stay_inside_the_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="relative"):
        write_csv(_frame(1), tmp_path, "../escape.csv")
