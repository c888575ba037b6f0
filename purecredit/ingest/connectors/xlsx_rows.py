"""XLSX rows as openpyxl's read-only ``iter_rows(values_only=True)`` gives them, faster.

openpyxl builds a rich-text object for every inline-string cell only to flatten it back to
text; for a delivery written with inline strings (as most exports are) that was half of the
parse, and the parse is the largest part of ingesting an XLSX source. `sheet_rows` runs
openpyxl's own sheet parser with that one step done directly on the XML: the text of the
cell's ``<t>`` and of each run's ``<t>`` (phonetic runs left out), exactly what
``Text.content`` returns. Everything else (shared strings, numbers, dates, booleans,
formulas, missing rows and cells) is openpyxl's code. It leans on openpyxl internals, so any
sheet it cannot handle that way is read through the public ``iter_rows`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from openpyxl.utils import coordinate_to_tuple
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import INLINE_STRING, WorkSheetParser
from openpyxl.xml.constants import SHEET_MAIN_NS

_TEXT = f"{{{SHEET_MAIN_NS}}}t"
_RUN = f"{{{SHEET_MAIN_NS}}}r"


class _PlainTextParser(WorkSheetParser):  # type: ignore[misc]
    """openpyxl's parser, inline strings read as plain text (values only, no rich text)."""

    def parse_cell(self, element: Any) -> dict[str, Any]:
        if element.get("t") != "inlineStr" or self.rich_text or not self.data_only:
            return dict(super().parse_cell(element))
        coordinate = element.get("r")
        style = element.get("s", 0)
        style_id = int(style) if style else 0
        if coordinate:
            row, column = coordinate_to_tuple(coordinate)
            self.col_counter = column
        else:
            self.col_counter += 1
            row, column = self.row_counter, self.col_counter
        value: str | None = None
        data_type = "inlineStr"
        child = element.find(INLINE_STRING)
        if child is not None:
            data_type = "s"
            texts = [child.find(_TEXT), *(run.find(_TEXT) for run in child.findall(_RUN))]
            value = "".join(t.text for t in texts if t is not None and t.text is not None)
        return {
            "row": row,
            "column": column,
            "value": value,
            "data_type": data_type,
            "style_id": style_id,
        }


def sheet_rows(sheet: Any) -> Iterator[tuple[Any, ...]]:
    """The sheet's rows of values; a missing row is an empty tuple (openpyxl gives one of
    Nones: either is a row with no value)."""
    if not isinstance(sheet, ReadOnlyWorksheet) or not _has_internals(sheet):
        yield from sheet.iter_rows(values_only=True)
        return
    book = sheet.parent
    width = sheet.max_column
    with sheet._get_source() as source:
        parser = _PlainTextParser(
            source,
            sheet._shared_strings,
            data_only=book.data_only,
            epoch=book.epoch,
            date_formats=book._date_formats,
            timedelta_formats=book._timedelta_formats,
        )
        last = sheet.max_row  # from the sheet's dimension, as openpyxl stops there too
        expected = 1
        for number, cells in parser.parse():
            if last is not None and number > last:
                while expected <= last:  # openpyxl fills up to the dimension only then
                    expected += 1
                    yield ()
                return
            while expected < number:
                expected += 1
                yield ()
            if expected == number:
                expected += 1
                yield tuple(sheet._get_row(cells, 1, width, values_only=True))


def _has_internals(sheet: Any) -> bool:
    book = sheet.parent
    return all(
        hasattr(sheet, name) for name in ("_get_source", "_shared_strings", "_get_row")
    ) and all(
        hasattr(book, name)
        for name in ("data_only", "epoch", "_date_formats", "_timedelta_formats")
    )
