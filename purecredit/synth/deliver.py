"""Deliver one clean source table the way its owner would: rendered, damaged, split, written.

`deliver` is the single entry point the world simulation calls, once per source. What it does,
in order, and the choices it makes:

1. Render. Date columns become ISO `YYYY-MM-DD` text in every format, Parquet included, so an
   impossible date can exist anywhere; ID and USCC columns are text; categorical and other
   non-numeric columns become text (undeclared datetimes as `YYYY-MM-DD HH:MM:SS`). Integers,
   floats and booleans keep their type in every format: CSV writes them as pyarrow prints them
   (`1.5`, `100`), JSON lines as JSON numbers, XLSX as number cells, Parquet as int64/double/
   bool. No defect puts text into a numeric column, so no column has to change type.
2. Damage (see `defects`): exact counts per defect type, disjoint rows, all from `rng`.
3. Lay out. A monthly source is one file per calendar month of its `monthly_by` date (the
   months present in the data); rows keep the frame's order within a file. Duplicate copies go
   to a random place after their original in the same file; late rows to a random place in
   their later file.
4. Write under `out_dir/sources/NAME/` (stale `NAME*.ext` files of an earlier run are removed
   first, so the directory always matches the manifest) and log every defective record by
   file and 1-based record number.

Memory (a source runs to tens of millions of rows): text that repeats (dates, categorical
columns) stays dictionary-encoded until a file's rows are taken and decoded, which gives the
same values and so the same bytes; the table is held about once (no whole-source copy for
the damage, the layout or the files; text files are taken and written a block at a time); and
freed memory is handed back to the system between steps (`release_memory`).
"""

from __future__ import annotations

import ctypes
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from purecredit.synth.defects import (
    COPY_DEFECTS,
    DEFECT_TYPES,
    LINE_DEFECTS,
    DefectLog,
    DefectRates,
    Hits,
    by_value,
    copies,
    damaged_lines,
    decoded,
    patch_cells,
    plan_defects,
)
from purecredit.synth.formats import WrittenFile, rows_per_chunk, write_file, write_text
from purecredit.synth.manifest import FileEntry, SourceEntry
from purecredit.synth.sourcespec import FORMATS, SourceSpec

logger = logging.getLogger(__name__)

Ints = npt.NDArray[np.int64]
Codes = npt.NDArray[np.signedinteger[Any]]  # file index of each row
TEXT = pa.large_string()
_MONTH_SLICE = 1 << 22  # rows whose month labels are cut at a time
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"


def deliver(
    frame: pd.DataFrame,
    spec: SourceSpec,
    out_dir: Path,
    rng: np.random.Generator,
    rates: DefectRates,
) -> tuple[SourceEntry, pd.DataFrame]:
    """Write `frame` as `spec` says; return its manifest entry and its defect log.

    `frame` holds the clean source with internal column names (extra columns are ignored).
    The log has one row per defective record: source, file, record, defect, column, header.

    Memory: a caller that hands `frame` over (keeps no reference to it) lets it go as soon as it
    is rendered, and no step copies the whole delivery again: files take their rows from the
    damaged originals and the copies directly, so a source of tens of millions of rows is held
    about once.
    """
    table = render(frame, spec)
    del frame  # the last reference when the caller handed the frame over
    release_memory()
    months, codes = _months(table, spec)
    monthly = spec.monthly_by is not None
    plan = plan_defects(
        table,
        spec,
        rates,
        rng,
        month_codes=codes if monthly else None,
        months=[str(m) for m in months] if monthly else None,
    )
    release_memory()  # the row masks the plan was drawn from
    schema, columns = table.schema, table.columns
    del table  # each damaged column replaces its clean one as soon as it is built
    patch_cells(columns, schema.names, plan)
    table = pa.Table.from_arrays(columns, schema=schema)
    del columns
    release_memory()
    extra, sources, kinds = copies(table, plan)
    layout = _layout(codes, sources, plan["late_arriving"], months, rng)
    del codes
    # Originals then copies as two chunks: each file takes its rows from both, never from one
    # combined copy of the whole delivery.
    delivered = (
        pa.concat_tables([table, extra])
        .unify_dictionaries()  # the copies' values join the originals' dictionaries
        .rename_columns([spec.headers[c] for c in spec.columns])
    )
    del table, extra
    release_memory()
    overrides = _line_overrides(delivered, spec, plan, layout)
    _clear_stale(out_dir / "sources" / spec.name, spec.name)
    written: list[WrittenFile] = []
    for code, month in enumerate(months):
        rel_path = f"sources/{spec.name}/{spec.file_name(month)}"
        written.append(
            _write(delivered, layout.file_rows(code), spec, out_dir, rel_path, overrides.get(code))
        )
    del delivered
    release_memory()
    log = _log(spec, plan, kinds, [w.path for w in written], layout)
    entry = _entry(spec, written, months, log.counts)
    logger.info("delivered %s: %d records in %d files", spec.name, entry.rows, len(written))
    return entry, log.to_frame()


def _write(
    delivered: pa.Table,
    rows: Ints,
    spec: SourceSpec,
    out_dir: Path,
    rel_path: str,
    overrides: dict[int, bytes] | None,
) -> WrittenFile:
    """One file of `rows` (in record order) of the delivered table, decoded to plain values.

    Text formats take and write the rows a block at a time; Parquet and XLSX take them at once,
    one chunk per column, as a take from a single-chunk table gives.
    """
    if spec.fmt in ("csv", "jsonl"):
        step = rows_per_chunk(delivered)
        parts = (
            decoded(delivered.take(pa.array(rows[at : at + step])).combine_chunks())
            for at in range(0, rows.size, step)
        )
        return write_text(
            parts,
            out_dir,
            rel_path,
            fmt=spec.fmt,
            schema=decoded(delivered.slice(0, 0)).schema,
            rows=rows.size,
            encoding=spec.encoding,
            line_overrides=overrides,
        )
    table = decoded(delivered.take(pa.array(rows)).combine_chunks())
    return write_file(
        table, out_dir, rel_path, fmt=spec.fmt, encoding=spec.encoding, line_overrides=overrides
    )


def release_memory() -> None:
    """Hand memory freed by now back to the system.

    Arrow's allocator (mimalloc) and glibc's malloc both keep freed pages for reuse, but one
    cannot reuse the other's, so after a source's frame or a damaged column goes, hundreds of
    megabytes would stay resident while the next step allocates afresh: the peak would be the
    live data plus what each allocator kept. Both calls take milliseconds.
    """
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, where there is one (not on macOS, Windows or musl)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


def render(frame: pd.DataFrame, spec: SourceSpec) -> pa.Table:
    """The source's columns, in delivered order, with dates and IDs as delivered text.

    Text that repeats stays dictionary-encoded: date columns always (a few thousand distinct
    days at most), and any column the frame holds as categorical. `decoded` gives the plain
    text each file is written from.
    """
    absent = [c for c in spec.columns if c not in frame.columns]
    if absent:
        raise ValueError(f"{spec.name}: frame lacks columns {absent}")
    arrays = [_render_column(frame[c], c, spec) for c in spec.columns]
    return pa.table(arrays, names=list(spec.columns))


def _render_column(series: pd.Series, name: str, spec: SourceSpec) -> pa.Array:
    values = pa.array(series, from_pandas=True)
    if pa.types.is_dictionary(values.type):
        text = _render_values(values.dictionary, name, spec)
        if _is_text(text.type):  # rendered value by value: the same text, still encoded
            return pa.DictionaryArray.from_arrays(values.indices.cast(pa.int32()), text)
        values = values.dictionary_decode()
    elif name in spec.date_columns and (
        pa.types.is_timestamp(values.type) or pa.types.is_date(values.type)
    ):
        days = values.cast(pa.date32()).dictionary_encode()
        return pa.DictionaryArray.from_arrays(
            days.indices, _render_values(days.dictionary, name, spec)
        )
    return _render_values(values, name, spec)


def _render_values(values: pa.Array, name: str, spec: SourceSpec) -> pa.Array:
    kind = values.type
    if name in spec.date_columns:
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return values.cast(pa.date32()).cast(TEXT)  # Arrow prints date32 as ISO 8601
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
            return values.cast(TEXT)
        raise TypeError(f"{spec.name}.{name}: a date column cannot be {kind}")
    if name in spec.id_columns or name in spec.uscc_columns:
        return values.cast(TEXT)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return values
    if pa.types.is_timestamp(kind):
        return pc.strftime(values, format="%Y-%m-%d %H:%M:%S").cast(TEXT)
    return values.cast(TEXT)


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _months(table: pa.Table, spec: SourceSpec) -> tuple[list[str | None], Codes]:
    """File months in order and each row's index into them; one unnamed file if not monthly.

    The codes are the narrowest integers that hold them (a source spans a few dozen months).
    Month labels are cut per dictionary value of an encoded column, slice by slice otherwise,
    so no row-sized text is built for them.
    """
    if spec.monthly_by is None:
        return [None], np.zeros(table.num_rows, dtype=np.int16)
    dates = table.column(spec.monthly_by)
    iso = pc.fill_null(by_value(dates, lambda c: pc.match_substring_regex(c, _ISO_DATE)), False)
    if table.num_rows and not pc.all(iso).as_py():
        raise ValueError(
            f"{spec.name}: monthly_by {spec.monthly_by} needs an ISO date in every row"
        )
    del iso
    parts: list[tuple[list[str], npt.NDArray[np.int32]]] = []
    for chunk in dates.chunks:
        if isinstance(chunk, pa.DictionaryArray):
            found, of_value = _month_labels(chunk.dictionary)
            parts.append((found, of_value[chunk.indices.to_numpy(zero_copy_only=False)]))
            continue
        for start in range(0, len(chunk), _MONTH_SLICE):
            parts.append(_month_labels(chunk.slice(start, _MONTH_SLICE)))
    ordered: list[str | None] = [*sorted({m for found, _ in parts for m in found})]
    code_of = {m: i for i, m in enumerate(ordered)}
    dtype = np.int16 if len(ordered) <= np.iinfo(np.int16).max else np.int64
    codes: Codes = np.empty(table.num_rows, dtype=dtype)
    start = 0
    for found, indices in parts:
        rank = np.array([code_of[m] for m in found], dtype=dtype)
        codes[start : start + indices.size] = rank[indices]
        start += indices.size
    return ordered, codes


def _month_labels(dates: pa.Array) -> tuple[list[str], npt.NDArray[np.int32]]:
    """The distinct YYYY-MM of ISO dates and each date's index into them."""
    labels = pc.utf8_slice_codeunits(dates, 0, 7).dictionary_encode()
    found = [str(m) for m in labels.dictionary.to_pylist()]
    indices: npt.NDArray[np.int32] = labels.indices.to_numpy(zero_copy_only=False)
    return found, indices


@dataclass(frozen=True)
class _Layout:
    """Where each delivered row (originals, then copies) goes: its file and record number.

    Native rows stay in their own month's file, in the frame's order; placed rows (copies and
    late arrivals) go just after their anchor, a native row of their file (or open the file).
    A file's rows are its natives with its placed rows inserted among them, so no permutation
    of the whole delivery is ever built. Row indices are int64; file codes are narrow.
    """

    file_code: Codes  # file of every delivered row
    natives: Ints  # native rows by file, then row
    native_start: Ints  # natives[native_start[f]:native_start[f + 1]] are file f's
    placed: Ints  # placed rows by file, then anchor, then row
    placed_start: Ints  # placed[placed_start[f]:placed_start[f + 1]] are file f's
    placed_after: Ints  # natives (over all files) delivered before each placed row

    def file_rows(self, code: int) -> Ints:
        """The delivered rows of one file, in record order."""
        first = int(self.native_start[code])
        natives = self.natives[first : self.native_start[code + 1]]
        at = slice(self.placed_start[code], self.placed_start[code + 1])
        rows: Ints = np.insert(natives, self.placed_after[at] - first, self.placed[at])
        return rows

    @cached_property
    def _placed_by_row(self) -> Ints:
        by_row: Ints = np.argsort(self.placed, kind="stable")
        return by_row

    def records(self, rows: Ints) -> Ints:
        """1-based record number of each of `rows` within its file."""
        rows = np.asarray(rows, dtype=np.int64)
        files = self.file_code[rows].astype(np.int64)
        by_row = self._placed_by_row
        hit = np.searchsorted(self.placed[by_row], rows)
        is_placed = hit < self.placed.size
        is_placed[is_placed] = self.placed[by_row[hit[is_placed]]] == rows[is_placed]
        position = np.empty(rows.size, dtype=np.int64)
        k = by_row[hit[is_placed]]
        position[is_placed] = self.placed_after[k] + k
        native = ~is_placed
        rank = _native_rank(self.natives, self.native_start, files[native], rows[native])
        position[native] = rank + np.searchsorted(self.placed_after, rank, side="right")
        first = self.native_start[files] + self.placed_start[files]
        record: Ints = position - first + 1
        return record


def _layout(
    codes: Codes, sources: Ints, late: Hits, months: list[str | None], rng: np.random.Generator
) -> _Layout:
    """File and place of every delivered row (originals, then copies).

    Natives keep the frame's order within their file. A placed row (copy or late arrival) goes
    right after its anchor, a native row of its file: a copy's anchor is its original or a
    later row, a late row's anchor any row of its later file; with no such row it opens its
    file. Placed rows with the same anchor keep their order (late rows, then copies). This is
    the stable sort of all rows by (file, 2 * row for natives, 2 * anchor + 1 for placed rows).
    """
    n = codes.size
    file_code = codes.copy()
    file_code[late.rows] = [months.index(m) for m in late.values]
    sort_key = codes.copy()  # natives by file, then row; late rows last (sentinel file)
    sort_key[late.rows] = len(months)
    natives: Ints = np.argsort(sort_key, kind="stable")[: n - late.rows.size]
    counts = np.bincount(sort_key, minlength=len(months) + 1)[: len(months)]
    del sort_key
    native_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def anchors(files: Codes, after: Ints, draws: npt.NDArray[np.float64]) -> Ints:
        first = _native_rank(natives, native_start, files, after)
        end = native_start[files.astype(np.int64) + 1]
        if natives.size == 0:  # no native row anywhere: placed rows open their file
            return np.full(files.size, -1, dtype=np.int64)
        picked = first + np.floor(draws * (end - first)).astype(np.int64)
        found = natives[np.minimum(picked, natives.size - 1)]
        return np.where(end > first, 2 * found + 1, -1).astype(np.int64)

    late_draws, copy_draws = rng.random(late.rows.size), rng.random(sources.size)
    late_key = anchors(file_code[late.rows], np.zeros_like(late.rows), late_draws)
    copy_key = anchors(codes[sources], sources, copy_draws)
    placed = np.concatenate([late.rows, n + np.arange(sources.size)]).astype(np.int64)
    placed_file = np.concatenate([file_code[late.rows], codes[sources]]).astype(np.int64)
    key = np.concatenate([late_key, copy_key])
    by = np.lexsort((placed, key, placed_file))
    placed, placed_file, key = placed[by], placed_file[by], key[by]
    # A placed row follows every native of its file up to its anchor ((key + 1) / 2 natives'
    # rows are below it), and every native of earlier files.
    placed_after = _native_rank(natives, native_start, placed_file, (key + 1) // 2)
    placed_counts = np.bincount(placed_file, minlength=len(months))[: len(months)]
    placed_start = np.concatenate([[0], np.cumsum(placed_counts)]).astype(np.int64)
    return _Layout(
        np.concatenate([file_code, file_code[sources]]),
        natives,
        native_start,
        placed,
        placed_start,
        placed_after,
    )


def _native_rank(natives: Ints, native_start: Ints, files: Codes, rows: Ints) -> Ints:
    """How many natives come before (file, row), natives ordered by file, then row."""
    files = np.asarray(files, dtype=np.int64)
    rank: Ints = native_start[files].copy()
    for f in np.unique(files):
        at = files == f
        rank[at] += np.searchsorted(natives[native_start[f] : native_start[f + 1]], rows[at])
    return rank


def _line_overrides(
    delivered: pa.Table, spec: SourceSpec, plan: dict[str, Hits], layout: _Layout
) -> dict[int, dict[int, bytes]]:
    """Damaged raw lines per file index, keyed by record number."""
    overrides: dict[int, dict[int, bytes]] = {}
    for defect in LINE_DEFECTS:
        hits = plan[defect]
        if hits.rows.size == 0:
            continue
        records = decoded(delivered.take(pa.array(hits.rows)))
        lines = damaged_lines(records, spec, hits, defect)
        files, numbers = layout.file_code[hits.rows], layout.records(hits.rows)
        for file, record, line in zip(files, numbers, lines, strict=True):
            overrides.setdefault(int(file), {})[int(record)] = line
    return overrides


def _log(
    spec: SourceSpec, plan: dict[str, Hits], kinds: list[str], paths: list[str], layout: _Layout
) -> DefectLog:
    log = DefectLog(spec.name)
    first_copy = layout.file_code.size - len(kinds)
    for defect in DEFECT_TYPES:
        hits = plan[defect]
        if defect in COPY_DEFECTS:  # the defective record is the copy: exact copies come first
            offset = 0 if defect == "exact_duplicate" else kinds.count("exact_duplicate")
            rows = first_copy + offset + np.arange(hits.rows.size)
        else:
            rows = hits.rows
        files, records = layout.file_code[rows], layout.records(rows)
        for file, record, column in zip(files, records, hits.columns, strict=True):
            header = None if column is None else spec.headers[column]
            log.add(paths[file], int(record), defect, column, header)
    return log


def _entry(
    spec: SourceSpec, written: list[WrittenFile], months: list[str | None], counts: dict[str, int]
) -> SourceEntry:
    def delivered(columns: tuple[str, ...]) -> list[str]:
        return [spec.headers[c] for c in columns]

    return SourceEntry(
        owner=spec.owner,
        description=spec.description,
        entity=spec.entity,
        format=spec.fmt,
        encoding=spec.encoding,
        files=[
            FileEntry(path=w.path, rows=w.rows, sha256=w.sha256, month=m)
            for w, m in zip(written, months, strict=True)
        ],
        rows=sum(w.rows for w in written),
        columns=dict(spec.headers),
        id_columns=delivered(spec.id_columns),
        uscc_columns=delivered(spec.uscc_columns),
        key_columns=delivered(spec.key_columns),
        date_columns=delivered(spec.date_columns),
        monthly_by=None if spec.monthly_by is None else spec.headers[spec.monthly_by],
        defects=counts,
    )


def _clear_stale(directory: Path, name: str) -> None:
    """Remove this source's files from an earlier run; nothing else in the directory."""
    if not directory.is_dir():
        return
    pattern = re.compile(rf"^{re.escape(name)}(_\d{{4}}-\d{{2}})?\.({'|'.join(FORMATS)})$")
    for path in sorted(directory.iterdir()):
        if path.is_file() and pattern.match(path.name):
            path.unlink()
