"""Defects real deliveries carry, injected at exact counts and logged record by record.

Each defect type has its own rate; a source gets exactly `round(rate * rows)` defective records
of that type (half rounds up), where `rows` is the clean row count, unless fewer rows qualify
(then every qualifying row). A type that cannot occur in a source (no ID column, not monthly,
not a text format) counts 0. Samples are disjoint, so every defective record carries exactly one
defect and a quarantine count can be checked against the log:

- missing: one non-null cell of a `nullable_columns` column becomes null (never a key column).
- exact_duplicate / near_duplicate: the row is delivered a second time, later in the same file;
  the second copy is the defective record. A near copy differs cosmetically in one cell: spaces
  around a text value, full-width digits in an ID or USCC, a date as 2023/01/05 or 20230105, or
  the case of an ID's trailing X.
- bad_checksum: the check character of an ID (GB 11643) or USCC (GB 32100) is swapped for a
  wrong one.
- impossible_date: a date becomes a day past its month's end, month 13, or 30 February.
- wrong_column_count (CSV): the line has one field too many or one too few.
- bad_encoding (CSV, JSON lines): the line's bytes do not decode in the declared encoding.
- late_arriving (monthly sources): the row sits in a file 1-3 months after its own month,
  its dates unchanged.

All choices are drawn from the `numpy.random.Generator` passed in, in a fixed order, so the same
seed gives the same defects.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.cn import ric, uscc

from purecredit.synth.formats import record_texts
from purecredit.synth.sourcespec import SourceSpec

Rows = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
Option = tuple[str | None, Mask]  # a column a defect may touch (None: the whole row) and where

DEFECT_TYPES = (
    "missing",
    "exact_duplicate",
    "near_duplicate",
    "bad_checksum",
    "impossible_date",
    "wrong_column_count",
    "bad_encoding",
    "late_arriving",
)
# Sampling order: the types with the fewest qualifying rows choose first, so disjointness
# rarely leaves a type short of rows.
_SAMPLING_ORDER = (
    "late_arriving",
    "bad_checksum",
    "impossible_date",
    "missing",
    "near_duplicate",
    "exact_duplicate",
    "wrong_column_count",
    "bad_encoding",
)
LINE_DEFECTS = ("wrong_column_count", "bad_encoding")
COPY_DEFECTS = ("exact_duplicate", "near_duplicate")
CELL_DEFECTS = ("missing", "bad_checksum", "impossible_date")

_RIC = r"^\d{17}[\dXx]$"  # GB 11643-1999 citizen identity number, 18 characters
_USCC = r"^[0-9A-HJ-NPQRTUWXY]{18}$"  # GB 32100-2015 unified social credit code
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_RIC_ALPHABET = "0123456789X"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass(frozen=True)
class DefectRates:
    """Share of a source's clean rows that receive each defect (0.5% each by default)."""

    missing: float = 0.005
    exact_duplicate: float = 0.005
    near_duplicate: float = 0.005
    bad_checksum: float = 0.005
    impossible_date: float = 0.005
    wrong_column_count: float = 0.005
    bad_encoding: float = 0.005
    late_arriving: float = 0.005

    def __post_init__(self) -> None:
        for name, rate in self.as_dict().items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"defect rate {name}={rate} is outside [0, 1]")

    @classmethod
    def none(cls) -> DefectRates:
        """No defects at all: a clean delivery, for tests and reference outputs."""
        return cls(**dict.fromkeys(DEFECT_TYPES, 0.0))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def count(self, defect: str, rows: int) -> int:
        """Exact number of defective records wanted, so the manifest is precise."""
        return int(np.floor(getattr(self, defect) * rows + 0.5))


@dataclass(frozen=True)
class Hits:
    """The rows one defect type hit, the column each touches and what it puts there.

    `values` is the replacement cell text (None: null) for cell and near-duplicate defects,
    the target month for late arrivals, and "extra" or "short" for wrong column counts.
    """

    rows: Rows
    columns: Sequence[str | None]
    values: Sequence[str | None]

    @classmethod
    def empty(cls) -> Hits:
        return cls(np.empty(0, dtype=np.int64), [], [])


@dataclass
class DefectLog:
    """Every defective record of one source: where it is and what is wrong with it."""

    source: str
    files: list[str] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    columns: list[str | None] = field(default_factory=list)
    headers: list[str | None] = field(default_factory=list)

    def add(
        self, file: str, record: int, defect: str, column: str | None, header: str | None
    ) -> None:
        if defect not in DEFECT_TYPES:
            raise ValueError(f"unknown defect type {defect!r}")
        self.files.append(file)
        self.records.append(record)
        self.defects.append(defect)
        self.columns.append(column)
        self.headers.append(header)

    @property
    def counts(self) -> dict[str, int]:
        """Records per defect type, every type present."""
        found = Counter(self.defects)
        return {defect: found[defect] for defect in DEFECT_TYPES}

    def to_frame(self) -> pd.DataFrame:
        """One row per defective record (record: 1-based data line in the file), sorted."""
        frame = pd.DataFrame(
            {
                "source": pd.Series([self.source] * len(self.files), dtype=object),
                "file": pd.Series(self.files, dtype=object),
                "record": pd.Series(self.records, dtype="int64"),
                "defect": pd.Series(self.defects, dtype=object),
                "column": pd.Series(self.columns, dtype=object),
                "header": pd.Series(self.headers, dtype=object),
            }
        )
        return frame.sort_values(["file", "record"], kind="stable", ignore_index=True)


def plan_defects(
    table: pa.Table,
    spec: SourceSpec,
    rates: DefectRates,
    rng: np.random.Generator,
    *,
    month_codes: npt.NDArray[np.int64] | None = None,
    months: list[str] | None = None,
) -> dict[str, Hits]:
    """Choose disjoint rows for every defect type and what each defect does to its row.

    `table` is the rendered source (internal names, dates and IDs as text). For a monthly
    source, `months` lists the file months in order and `month_codes` gives each row's index
    into it.
    """
    n = table.num_rows
    taken = np.zeros(n, dtype=bool)
    plan = dict.fromkeys(DEFECT_TYPES, Hits.empty())
    masks = _Eligible(table)
    for defect in _SAMPLING_ORDER:
        options = _options(defect, masks, spec, month_codes, months)
        if not options:
            continue
        eligible = np.logical_or.reduce([mask for _, mask in options])
        rows = _sample(eligible & ~taken, rates.count(defect, n), rng)
        taken[rows] = True
        picked = _pick([mask[rows] for _, mask in options], rng)
        columns = [options[i][0] for i in picked]
        plan[defect] = _fill(defect, table, spec, rows, columns, rng, month_codes, months)
    return plan


def apply_cell_defects(table: pa.Table, plan: dict[str, Hits]) -> pa.Table:
    """The table with its missing cells, bad check characters and impossible dates in place."""
    columns = table.columns
    patch_cells(columns, table.column_names, plan)
    return pa.Table.from_arrays(columns, schema=table.schema)


def patch_cells(columns: list[pa.ChunkedArray], names: list[str], plan: dict[str, Hits]) -> None:
    """`apply_cell_defects` on a table's columns, replacing each damaged one in the list.

    A caller that keeps no other reference to the table lets each clean column go as soon as
    its damaged copy is built, so only one extra column is held at a time.
    """
    parts = [plan[defect] for defect in CELL_DEFECTS]
    rows = np.concatenate([hits.rows for hits in parts])
    hit_columns = [c for hits in parts for c in hits.columns]
    values = [v for hits in parts for v in hits.values]
    order = np.argsort(rows, kind="stable")  # one rewrite per column, rows ascending
    hits = Hits(rows[order], [hit_columns[i] for i in order], [values[i] for i in order])
    _set_cells_of(columns, names, hits)


def copies(table: pa.Table, plan: dict[str, Hits]) -> tuple[pa.Table, Rows, list[str]]:
    """Second copies of the duplicated rows: the copies, their source rows and defect types."""
    exact, near = plan["exact_duplicate"], plan["near_duplicate"]
    sources = np.concatenate([exact.rows, near.rows]).astype(np.int64)
    kinds = ["exact_duplicate"] * exact.rows.size + ["near_duplicate"] * near.rows.size
    changes = Hits(np.arange(exact.rows.size, sources.size), near.columns, near.values)
    return _set_cells(table.take(pa.array(sources)), changes), sources, kinds


def damaged_lines(records: pa.Table, spec: SourceSpec, hits: Hits, defect: str) -> list[bytes]:
    """Replacement bytes for the lines of `records` (delivered shape, one per hit)."""
    if defect == "bad_encoding":
        return [_undecodable(t, spec) for t in record_texts(records, spec.fmt)]
    # An extra field repeats the last value; a short line drops the last field, unless that
    # would leave a blank line, which readers skip rather than flag.
    extra = record_texts(records.append_column("_extra", records.column(-1)), "csv")
    short = extra
    if records.num_columns > 1:
        short = record_texts(records.select(records.column_names[:-1]), "csv")
    lines = [
        s if v == "short" and s else e for s, e, v in zip(short, extra, hits.values, strict=True)
    ]
    return [line.encode(spec.encoding) for line in lines]


def _set_cells(table: pa.Table, hits: Hits) -> pa.Table:
    """Put `hits.values` into (row, column) cells; rows ascend within each column."""
    columns = table.columns
    _set_cells_of(columns, table.column_names, hits)
    return pa.Table.from_arrays(columns, schema=table.schema)


def _set_cells_of(columns: list[pa.ChunkedArray], names: list[str], hits: Hits) -> None:
    """`_set_cells` on a list of columns, each damaged column replacing its clean one."""
    for name in sorted({c for c in hits.columns if c is not None}):
        picked = [i for i, c in enumerate(hits.columns) if c == name]
        at = names.index(name)
        column = columns[at]
        mask = np.zeros(len(column), dtype=bool)
        mask[hits.rows[picked]] = True
        values = [hits.values[i] for i in picked]
        if pa.types.is_dictionary(column.type):
            patched = _replace_encoded(column.combine_chunks(), mask, values)
        else:
            new = pa.array(values, type=column.type)
            patched = pc.replace_with_mask(column.combine_chunks(), pa.array(mask), new)
        del column
        columns[at] = pa.chunked_array([patched])


def _replace_encoded(
    column: pa.DictionaryArray, mask: Mask, values: list[str | None]
) -> pa.DictionaryArray:
    """`replace_with_mask` for a dictionary-encoded column: the new values join the
    dictionary and the masked rows point at them (or are null)."""
    dictionary = column.dictionary
    added = [v for v in values if v is not None]
    codes: list[int | None] = []
    code = len(dictionary)
    for value in values:
        codes.append(None if value is None else code)
        code += value is not None
    indices = pc.replace_with_mask(
        column.indices, pa.array(mask), pa.array(codes, type=column.indices.type)
    )
    grown = pa.concat_arrays([dictionary, pa.array(added, type=dictionary.type)])
    return pa.DictionaryArray.from_arrays(indices, grown)


def _sample(pool: Mask, count: int, rng: np.random.Generator) -> Rows:
    candidates = np.flatnonzero(pool)
    size = min(count, candidates.size)
    if size == 0:
        return np.empty(0, dtype=np.int64)
    return np.sort(rng.choice(candidates, size=size, replace=False)).astype(np.int64)


def _pick(masks: list[Mask], rng: np.random.Generator) -> list[int]:
    """For each row, one of its eligible options, uniformly."""
    if not masks or masks[0].size == 0:
        return []
    draws = rng.random((masks[0].size, len(masks)))
    draws[~np.column_stack(masks)] = -1.0
    return [int(i) for i in draws.argmax(axis=1)]


def _options(
    defect: str,
    eligible: _Eligible,
    spec: SourceSpec,
    month_codes: npt.NDArray[np.int64] | None,
    months: list[str] | None,
) -> list[Option]:
    """(column, rows it can hit) pairs for a defect in this source; empty when it cannot occur."""
    if defect == "missing":
        return [(c, eligible.valid(c)) for c in spec.nullable_columns]
    if defect == "exact_duplicate":
        return [(None, eligible.everyone)]
    if defect == "near_duplicate":
        return [(c, eligible.cosmetic(c, kind)) for c, kind in _cosmetic_kinds(spec).items()]
    if defect == "bad_checksum":
        return [(c, eligible.well_formed(c, spec)) for c in (*spec.id_columns, *spec.uscc_columns)]
    if defect == "impossible_date":
        return [(c, eligible.matches(c, _ISO_DATE)) for c in spec.date_columns]
    if defect in LINE_DEFECTS:
        formats = ("csv",) if defect == "wrong_column_count" else ("csv", "jsonl")
        return [(None, eligible.one_line)] if spec.fmt in formats else []
    if spec.monthly_by is None or month_codes is None or months is None:
        return []
    has_later: Mask = np.any(_month_steps(months), axis=1)
    return [(spec.monthly_by, has_later[month_codes])]


def _fill(
    defect: str,
    table: pa.Table,
    spec: SourceSpec,
    rows: Rows,
    columns: Sequence[str | None],
    rng: np.random.Generator,
    month_codes: npt.NDArray[np.int64] | None,
    months: list[str] | None,
) -> Hits:
    """What each chosen defect puts in its cell (or which variant of the line it is)."""
    draws = rng.random(rows.size)
    if defect in ("missing", "exact_duplicate", "bad_encoding"):
        return Hits(rows, columns, [None] * rows.size)
    if defect == "wrong_column_count":
        short_ok = table.num_columns > 1
        return Hits(rows, columns, ["short" if short_ok and u < 0.5 else "extra" for u in draws])
    if defect == "late_arriving":
        assert month_codes is not None and months is not None
        steps = _month_steps(months)
        targets = []
        for code, u in zip(month_codes[rows], draws, strict=True):
            later = np.flatnonzero(steps[code])
            targets.append(months[int(later[int(u * later.size)])])
        return Hits(rows, columns, targets)
    old = _cells(table, rows, columns)
    triples = zip(old, columns, draws, strict=True)
    if defect == "bad_checksum":
        values = [_wrong_check(o, c in spec.uscc_columns, u) for o, c, u in triples]
    elif defect == "impossible_date":
        values = [_impossible(o, u) for o, _, u in triples]
    else:
        kinds = _cosmetic_kinds(spec)
        values = [_cosmetic(o, kinds[str(c)], u) for o, c, u in triples]
    return Hits(rows, columns, values)


def _cosmetic_kinds(spec: SourceSpec) -> dict[str, str]:
    """The kind of cosmetic change each column can take (numbers take none)."""
    kinds: dict[str, str] = {}
    for column in spec.columns:
        if column in spec.date_columns:
            kinds[column] = "date"
        elif column in spec.id_columns or column in spec.uscc_columns:
            kinds[column] = "id"
        else:
            kinds[column] = "text"
    return kinds


def _cosmetic(value: str | None, kind: str, u: float) -> str:
    text = str(value)
    if kind == "date":  # ISO 2023-01-05 written the other common ways
        return text.replace("-", "/") if u < 0.5 else text.replace("-", "")
    if kind == "id" and text[-1:] in ("X", "x") and u < 0.5:
        return text[:-1] + text[-1].swapcase()
    if kind == "id":
        return text.translate(_FULL_WIDTH)
    pads = (" ", "  ")  # surrounding whitespace left by a hand-edited spreadsheet
    return [pads[0] + text, text + pads[0], pads[1] + text + pads[0]][int(u * 3) % 3]


def _wrong_check(value: str | None, is_uscc: bool, u: float) -> str:
    text = str(value).upper()
    alphabet = _USCC_ALPHABET if is_uscc else _RIC_ALPHABET
    right = uscc.calc_check_digit(text) if is_uscc else ric.calc_check_digit(text)
    wrong = [c for c in alphabet if c != right]
    return text[:17] + wrong[int(u * len(wrong))]


def _impossible(value: str | None, u: float) -> str:
    year, month, day = (int(part) for part in str(value).split("-"))
    variant = int(u * 3)
    if variant == 0:  # one day past the month's end
        return f"{year:04d}-{month:02d}-{calendar.monthrange(year, month)[1] + 1:02d}"
    if variant == 1:
        return f"{year:04d}-13-{day:02d}"
    return f"{year:04d}-02-30"


def _undecodable(text: str, spec: SourceSpec) -> bytes:
    """The line as a system in the other encoding wrote it, or with a stray 0xFF byte."""
    declared = spec.encoding
    other = "gbk" if declared == "utf-8" else "utf-8"
    raw = text.encode(other, errors="replace")
    if raw.decode(other, errors="replace") == text and not _decodes(raw, declared):
        return raw
    # ASCII-only lines read the same in both encodings: 0xFF starts no character in either.
    clean = text.encode(declared)
    at = clean.find(b'"') + 1
    return clean[:at] + b"\xff" + clean[at:]


def _decodes(raw: bytes, encoding: str) -> bool:
    # GB 18030 is what a lenient GBK reader falls back to; the line must fail there too.
    for codec in (encoding, "gb18030") if encoding == "gbk" else (encoding,):
        try:
            raw.decode(codec)
        except UnicodeDecodeError:
            continue
        return True
    return False


def _month_steps(months: list[str]) -> Mask:
    """months x months: True where the second file month is 1-3 months after the first."""
    ordinal = np.array([int(m[:4]) * 12 + int(m[5:7]) for m in months], dtype=np.int64)
    gap = ordinal[None, :] - ordinal[:, None]
    result: Mask = (gap >= 1) & (gap <= 3)
    return result


class _Eligible:
    """Row masks of one rendered source, each computed once: sources run to millions of rows."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._cache: dict[tuple[str, str], Mask] = {}

    @property
    def everyone(self) -> Mask:
        return np.ones(self._table.num_rows, dtype=bool)

    @cached_property
    def one_line(self) -> Mask:
        """Rows whose record is one line, so a line defect replaces exactly one record."""
        ok = self.everyone
        for name in self._table.column_names:
            column = self._table.column(name)
            if _is_text(column.type) and any(_holds_newline(chunk) for chunk in column.chunks):
                ok &= ~_numpy(by_value(column, lambda c: pc.match_substring(c, "\n")))
        return ok

    def valid(self, column: str) -> Mask:
        return self._memo(column, "valid", lambda c: pc.is_valid(c))

    def matches(self, column: str, pattern: str) -> Mask:
        return self._memo(column, pattern, lambda c: pc.match_substring_regex(c, pattern))

    def well_formed(self, column: str, spec: SourceSpec) -> Mask:
        """An ID or USCC with the right shape, so its check character means something."""
        return self.matches(column, _USCC if column in spec.uscc_columns else _RIC)

    def cosmetic(self, column: str, kind: str) -> Mask:
        if kind == "date":
            return self.matches(column, _ISO_DATE)
        if kind == "id":
            return self._memo(column, "digits", lambda c: pc.match_substring_regex(c, r"\d"))
        return self._memo(column, "text", lambda c: pc.greater(pc.binary_length(c), 0))

    def _memo(
        self, column: str, test: str, compute: Callable[[pa.ChunkedArray], pa.ChunkedArray]
    ) -> Mask:
        values = self._table.column(column)
        if test != "valid" and not _is_text(values.type):
            return np.zeros(self._table.num_rows, dtype=bool)
        if (column, test) not in self._cache:
            self._cache[column, test] = _numpy(by_value(values, compute))
        return self._cache[column, test]


def _is_text(kind: pa.DataType) -> bool:
    """Text, or text kept dictionary-encoded."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _holds_newline(chunk: pa.Array) -> bool:
    """A quick look at the raw string bytes; only a column that has a newline is scanned."""
    if isinstance(chunk, pa.DictionaryArray):
        chunk = chunk.dictionary
    data = chunk.buffers()[2]
    return data is not None and bool((np.frombuffer(data, dtype=np.uint8) == 0x0A).any())


def by_value(column: pa.ChunkedArray, test: Callable[[Any], Any]) -> pa.ChunkedArray:
    """`test`, an elementwise predicate, over a column's values: on a dictionary-encoded
    column once per dictionary value, then spread over the rows (null where the row is)."""
    if not pa.types.is_dictionary(column.type):
        return test(column)
    return pa.chunked_array(
        [test(chunk.dictionary).take(chunk.indices) for chunk in column.chunks],
        type=pa.bool_(),
    )


def decoded(table: pa.Table) -> pa.Table:
    """The table with its dictionary-encoded columns decoded: the values it stands for."""
    if not any(pa.types.is_dictionary(kind) for kind in table.schema.types):
        return table
    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _numpy(flags: pa.ChunkedArray) -> Mask:
    result: Mask = np.asarray(pc.fill_null(flags, False).to_numpy(), dtype=bool)
    return result


def _cells(table: pa.Table, rows: Rows, columns: Sequence[str | None]) -> list[str | None]:
    """The current text of (row, column) cells, read one column at a time."""
    found: list[str | None] = [None] * rows.size
    for name in sorted({c for c in columns if c is not None}):
        picked = [i for i, c in enumerate(columns) if c == name]
        values = table.column(name).take(pa.array(rows[picked])).to_pylist()
        for i, value in zip(picked, values, strict=True):
            found[i] = None if value is None else str(value)
    return found
