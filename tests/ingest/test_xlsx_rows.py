"""The fast XLSX row reader gives exactly openpyxl's rows: inline strings with rich-text runs
and phonetic hints, shared strings, numbers, dates, booleans, gaps in rows and cells."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook

from purecredit.ingest.connectors.xlsx_rows import sheet_rows


def _workbook_bytes() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["户号", "金额", "日期", "是否"])
    sheet.append(["A1", 12, datetime(2023, 1, 5), True])
    sheet.append(["B2", 1.5, None, False])
    sheet["B6"] = "gap above, none before"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _with_inline_strings(data: bytes) -> bytes:
    """The same book with a rich-text and a phonetic inline-string cell added to the sheet."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    rich = (
        '<row r="8"><c r="A8" t="inlineStr"><is><t>plain </t><r><t>bold</t></r>'
        '<rPh sb="0" eb="1"><t>hint</t></rPh></is></c><c r="C8" t="inlineStr"><is><t/></is></c>'
        '<c r="D8" t="inlineStr"><is><r><t xml:space="preserve"> a </t></r></is></c></row>'
    )
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b"</sheetData>", rich.encode() + b"</sheetData>")
                content = content.replace(
                    b'<dimension ref="A1:D6" />', b'<dimension ref="A1:D9" />'
                )
            target.writestr(item, content)
    return out.getvalue()


def test_rows_equal_openpyxl_iter_rows(tmp_path: Path) -> None:
    data = _with_inline_strings(_workbook_bytes())
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    expected = list(book.worksheets[0].iter_rows(values_only=True))
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    got = list(sheet_rows(book.worksheets[0]))
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        if not any(v is not None for v in theirs):
            assert not any(v is not None for v in mine)  # a missing row: no values either way
        else:
            assert mine == theirs
    assert got[7] == ("plain bold", None, "", " a ")
