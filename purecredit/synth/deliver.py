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
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

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
    apply_cell_defects,
    copies,
    damaged_lines,
    plan_defects,
)
from purecredit.synth.formats import WrittenFile, write_file
from purecredit.synth.manifest import FileEntry, SourceEntry
from purecredit.synth.sourcespec import FORMATS, SourceSpec

logger = logging.getLogger(__name__)

Ints = npt.NDArray[np.int64]
TEXT = pa.large_string()


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
    """
    table = render(frame, spec)
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
    table = apply_cell_defects(table, plan)
    extra, sources, kinds = copies(table, plan)
    file_code, key = _layout(codes, sources, plan["late_arriving"], months, rng)
    full = pa.concat_tables([table, extra]).combine_chunks()  # one chunk: cheap takes
    # One stable sort by (file, key); ties (copies after the same anchor) keep their order.
    order = np.argsort(file_code * (2 * full.num_rows + 2) + key + 1, kind="stable")
    bounds = np.searchsorted(file_code[order], np.arange(len(months) + 1))
    record = np.empty(full.num_rows, dtype=np.int64)
    record[order] = np.arange(full.num_rows) - bounds[file_code[order]] + 1

    delivered = full.rename_columns([spec.headers[c] for c in spec.columns])
    overrides = _line_overrides(delivered, spec, plan, file_code, record)
    _clear_stale(out_dir / "sources" / spec.name, spec.name)
    written: list[WrittenFile] = []
    for code, month in enumerate(months):
        rows = delivered.take(pa.array(order[bounds[code] : bounds[code + 1]]))
        rel_path = f"sources/{spec.name}/{spec.file_name(month)}"
        written.append(
            write_file(
                rows,
                out_dir,
                rel_path,
                fmt=spec.fmt,
                encoding=spec.encoding,
                line_overrides=overrides.get(code),
            )
        )
    log = _log(spec, plan, sources, kinds, [w.path for w in written], file_code, record)
    entry = _entry(spec, written, months, log.counts)
    logger.info("delivered %s: %d records in %d files", spec.name, entry.rows, len(written))
    return entry, log.to_frame()


def render(frame: pd.DataFrame, spec: SourceSpec) -> pa.Table:
    """The source's columns, in delivered order, with dates and IDs as delivered text."""
    absent = [c for c in spec.columns if c not in frame.columns]
    if absent:
        raise ValueError(f"{spec.name}: frame lacks columns {absent}")
    arrays = [_render_column(frame[c], c, spec) for c in spec.columns]
    return pa.table(arrays, names=list(spec.columns))


def _render_column(series: pd.Series, name: str, spec: SourceSpec) -> pa.Array:
    values = pa.array(series, from_pandas=True)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
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


def _months(table: pa.Table, spec: SourceSpec) -> tuple[list[str | None], Ints]:
    """File months in order and each row's index into them; one unnamed file if not monthly."""
    if spec.monthly_by is None:
        return [None], np.zeros(table.num_rows, dtype=np.int64)
    dates = table.column(spec.monthly_by)
    iso = pc.fill_null(pc.match_substring_regex(dates, r"^\d{4}-\d{2}-\d{2}$"), False)
    if table.num_rows and not pc.all(iso).as_py():
        raise ValueError(
            f"{spec.name}: monthly_by {spec.monthly_by} needs an ISO date in every row"
        )
    labels = pc.utf8_slice_codeunits(dates, 0, 7).combine_chunks().dictionary_encode()
    found = [str(m) for m in labels.dictionary.to_pylist()]
    rank = np.empty(len(found), dtype=np.int64)
    rank[np.argsort(found)] = np.arange(len(found))
    codes: Ints = rank[labels.indices.to_numpy(zero_copy_only=False)]
    ordered: list[str | None] = [*sorted(found)]
    return ordered, codes


def _layout(
    codes: Ints, sources: Ints, late: Hits, months: list[str | None], rng: np.random.Generator
) -> tuple[Ints, Ints]:
    """File index and in-file sort key for every delivered row (originals, then copies).

    Originals sort by 2 * row; a placed row (copy or late arrival) gets 2 * anchor + 1 so it
    lands just after the anchor, a native row of its file: a copy's anchor is its original or a
    later row, a late row's anchor any row of its later file.
    """
    n = codes.size
    file_code = codes.copy()
    file_code[late.rows] = [months.index(m) for m in late.values]
    native = np.ones(n, dtype=bool)
    native[late.rows] = False
    by_file = np.flatnonzero(native)
    by_file = by_file[np.argsort(codes[by_file], kind="stable")]
    composite = codes[by_file] * (n + 1) + by_file  # ascending: by file, then row

    def anchors(files: Ints, after: Ints, draws: npt.NDArray[np.float64]) -> Ints:
        first = np.searchsorted(composite, files * (n + 1) + after)
        end = np.searchsorted(composite, (files + 1) * (n + 1))
        if by_file.size == 0:  # no native row anywhere: placed rows open their file
            return np.full(files.size, -1, dtype=np.int64)
        picked = first + np.floor(draws * (end - first)).astype(np.int64)
        found = by_file[np.minimum(picked, by_file.size - 1)]
        return np.where(end > first, 2 * found + 1, -1).astype(np.int64)

    key = 2 * np.arange(n, dtype=np.int64)
    late_draws, copy_draws = rng.random(late.rows.size), rng.random(sources.size)
    key[late.rows] = anchors(file_code[late.rows], np.zeros_like(late.rows), late_draws)
    copy_key = anchors(codes[sources], sources, copy_draws)
    return np.concatenate([file_code, file_code[sources]]), np.concatenate([key, copy_key])


def _line_overrides(
    delivered: pa.Table, spec: SourceSpec, plan: dict[str, Hits], file_code: Ints, record: Ints
) -> dict[int, dict[int, bytes]]:
    """Damaged raw lines per file index, keyed by record number."""
    overrides: dict[int, dict[int, bytes]] = {}
    for defect in LINE_DEFECTS:
        hits = plan[defect]
        if hits.rows.size == 0:
            continue
        lines = damaged_lines(delivered.take(pa.array(hits.rows)), spec, hits, defect)
        for row, line in zip(hits.rows, lines, strict=True):
            overrides.setdefault(int(file_code[row]), {})[int(record[row])] = line
    return overrides


def _log(
    spec: SourceSpec,
    plan: dict[str, Hits],
    sources: Ints,
    kinds: list[str],
    paths: list[str],
    file_code: Ints,
    record: Ints,
) -> DefectLog:
    log = DefectLog(spec.name)
    first_copy = file_code.size - sources.size
    for defect in DEFECT_TYPES:
        hits = plan[defect]
        if defect in COPY_DEFECTS:  # the defective record is the copy: exact copies come first
            offset = 0 if defect == "exact_duplicate" else kinds.count("exact_duplicate")
            rows = first_copy + offset + np.arange(hits.rows.size)
        else:
            rows = hits.rows
        for row, column in zip(rows, hits.columns, strict=True):
            header = None if column is None else spec.headers[column]
            log.add(paths[file_code[row]], int(record[row]), defect, column, header)
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
