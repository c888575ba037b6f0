"""The profile tests' one reading of the county's delivered files, with no ingest code.

`read` takes a source's files in whatever format they were delivered (CSV in UTF-8 or GBK,
JSON lines, Parquet, XLSX) and names the columns by catalogue field. Lines are decoded
leniently, so a damaged record still shows whom it is about. The county's truth
(`truth/defects.parquet`, records numbered from 1 in each file) lists its deliberately
defective records; `read` sets them apart, except the kinds a caller accepts:

- the person tests drop every defective record, and leave out of the exact comparison the
  subjects any of them names (`Raw.touched`, `Raw.damaged`): a quarantined or duplicated row
  changes what the lake holds, which is the ingest's business, tested there. The credit and
  assets tests keep the records ingest accepts (`ACCEPTED`).
- the enterprise tests drop only the lines no reader can take (`UNREADABLE`) and clean the
  rest as a careful analyst would (`clean`): canonical, valid codes and ISO dates, the last
  copy of a duplicate.

`day`, `dates` and `tokens` turn delivered dates and IDs into what the features hold.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pyarrow.parquet as pq

from purecredit.core.errors import Invalid
from purecredit.core.identifiers import parse_resident_id, parse_uscc
from purecredit.ingest.catalog import load_catalog
from tests.profile.conftest import ARRIVED, Profiled

ACCEPTED = ("missing", "late_arriving")  # defective records that ingest still accepts
UNREADABLE = ("bad_encoding", "wrong_column_count")  # lines that do not read as a record


@dataclass(frozen=True)
class Raw:
    rows: pd.DataFrame  # the records kept, columns named by catalogue field
    damaged: pd.DataFrame  # the defective records set apart, the same columns
    texts: tuple[str, ...]  # the text of each record set apart

    def touched(self, key: str) -> bool:
        """Whether any record set apart mentions `key`."""
        return any(key in text for text in self.texts)


def read(
    county: Path,
    source: str,
    *,
    accept: Collection[str] = (),
    text: bool = False,
    files: Callable[[Path], bool] | None = None,
) -> Raw:
    """A source as delivered, the defect log's records set apart unless of a kind in `accept`.

    Values are as delivered (text from CSV, JSON values, Parquet and XLSX cell values; None
    when empty), or all text with `text`. `files` picks the files to read (all by default)."""
    fields = list(load_catalog().source(source).fields)
    kept: list[dict[str, Any]] = []
    damaged: list[dict[str, Any]] = []
    texts: list[str] = []
    for record in _delivered(county, source):
        if files is not None and not files(county / record.file):
            continue
        values = record.named(text)
        if record.defect is None or record.defect in accept:
            kept.append(values)
        else:
            damaged.append(values)
            texts.append(record.text())
    return Raw(
        pd.DataFrame(kept, columns=fields), pd.DataFrame(damaged, columns=fields), tuple(texts)
    )


@dataclass(frozen=True)
class _Record:
    file: str  # relative to the county
    values: dict[str, Any]  # delivered header -> value as delivered
    line: str  # the decoded line of a text format ("" otherwise)
    names: dict[str, str]  # delivered header -> catalogue field
    defect: str | None

    def named(self, text: bool) -> dict[str, Any]:
        return {self.names.get(k, k): _text(v) if text else v for k, v in self.values.items()}

    def text(self) -> str:
        if not self.values:
            return self.line
        return json.dumps({k: _text(v) for k, v in self.values.items()}, ensure_ascii=False)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@functools.cache
def _delivered(county: Path, name: str) -> tuple[_Record, ...]:
    """Every record of every file of a source, in delivery order, with its logged defect."""
    source = load_catalog().source(name)
    names = source.header_map()
    defects = _defects(county)
    out: list[_Record] = []
    for path in sorted((county / "sources" / name).glob(source.files)):
        file = path.relative_to(county).as_posix()
        for number, (values, line) in enumerate(
            _records(path, source.format, source.encoding), start=1
        ):
            out.append(_Record(file, values, line, names, defects.get((file, number))))
    return tuple(out)


@functools.cache
def _defects(county: Path) -> dict[tuple[str, int], str]:
    log = pd.read_parquet(county / "truth" / "defects.parquet")
    return {
        (file, int(record)): defect
        for file, record, defect in zip(log.file, log.record, log.defect, strict=True)
    }


def _records(path: Path, fmt: str, encoding: str) -> Iterator[tuple[dict[str, Any], str]]:
    """A file's data records in order: (values by delivered header, the decoded line)."""
    if fmt == "parquet":
        for row in pq.read_table(path).to_pylist():
            yield row, ""
        return
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(path, read_only=True).active
        assert sheet is not None
        cells = sheet.iter_rows(values_only=True)
        head = [str(h) for h in next(cells)]
        for row in cells:
            values = {h: v.date().isoformat() if isinstance(v, datetime) else v
                      for h, v in zip(head, row, strict=False)}  # fmt: skip
            yield values, ""
        return
    lines = [line.decode(encoding, errors="replace") for line in path.read_bytes().split(b"\n")]
    lines = [line for line in lines if line]
    if fmt == "csv":
        head = next(csv.reader([lines.pop(0)]))
        for line in lines:
            row = next(csv.reader([line]))
            yield {h: c if c != "" else None for h, c in zip(head, row, strict=False)}, line
        return
    for line in lines:
        try:
            parsed: Any = json.loads(line)
        except json.JSONDecodeError:
            parsed = None
        yield (parsed if isinstance(parsed, dict) else {}), line


# Typed values.


def known_on(source: str, frame: pd.DataFrame) -> pd.Series:
    """The day the bank knew each record of a copy delivered once, on ARRIVED (the first copy):
    under the source's history rule its own date (`known_from`; a year counts from its 31
    December) plus the publication lag, never after the delivery; without a rule, or without
    that date, the delivery."""
    rule = load_catalog().source(source).history
    if rule is None:
        return pd.Series(ARRIVED, index=frame.index)

    year = load_catalog().source(source).fields[rule.known_from].type == "int"

    def since(value: Any) -> date | None:
        if year:
            return None if value in (None, "") or value != value else date(int(value), 12, 31)
        return day(value)

    return frame[rule.known_from].map(
        lambda v: (
            min(ARRIVED, own + timedelta(days=rule.lag_days))
            if (own := since(v)) is not None
            else ARRIVED
        )
    )


def day(value: Any) -> date | None:
    """A delivered date (ISO text, or a timestamp) as a date; None when empty or not a date."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return _day_of_text(value)
    stamp = pd.to_datetime(value, errors="coerce")
    return None if pd.isna(stamp) else stamp.date()


@functools.cache
def _day_of_text(text: str) -> date | None:
    # The archive repeats a few hundred distinct dates over a hundred thousand rows, and
    # pandas parses one scalar in half a millisecond: this parse took most of a test's time.
    stamp = pd.to_datetime(text, errors="coerce")
    return None if pd.isna(stamp) else stamp.date()


def dates(column: pd.Series) -> pd.Series:
    """A column of delivered dates as dates (NaT when empty)."""
    return pd.to_datetime(column).dt.date


class Keys:
    """Delivered resident IDs -> their keys in the lake (`id:…`), one tokenizer for many."""

    def __init__(self, profiled: Profiled) -> None:
        self._keys = profiled.tokenizer()

    def __call__(self, plain: str) -> str:
        """The key of an ID as written."""
        return self._keys.token(plain, "id")

    def of(self, value: object) -> str | None:
        """The key of a delivered ID normalised as ingest does (trimmed, upper case); None
        when there is none."""
        return self(value.strip().upper()) if isinstance(value, str) else None

    def all(self, values: Iterable[object]) -> set[str]:
        """The keys of the non-empty IDs among `values`."""
        return {self(v.strip().upper()) for v in values if isinstance(v, str) and v}


def tokens(profiled: Profiled) -> Keys:
    return Keys(profiled)


# The enterprise tests' reading: everything readable, then cleaned as an analyst would.

READABLE = (
    "missing",
    "late_arriving",
    "exact_duplicate",
    "near_duplicate",
    "bad_checksum",
    "impossible_date",
)  # every kind not UNREADABLE: `clean` finds those it must, as a careful analyst would


def read_text(county: Path, source: str) -> pd.DataFrame:
    """Every readable record as text ("" when empty), CSV and JSON values trimmed."""
    rows = read(county, source, accept=READABLE).rows.fillna("").astype(str)
    if load_catalog().source(source).format == "xlsx":
        return rows
    trimmed: pd.DataFrame = rows.apply(lambda column: column.str.strip())
    return trimmed


@functools.cache
def received_on(source: str, path: Path) -> date:
    """The day a monthly file reached the bank (its facts are known from that day's start):
    the source's lag after the end of the month in its name."""
    month = datetime.strptime(path.stem[-7:], "%Y-%m").date()
    first_next = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return first_next + timedelta(days=load_catalog().source(source).observed_lag_days - 1)


def read_monthly(county: Path, source: str, as_of: date) -> pd.DataFrame:
    """The monthly files the bank had received by the end of `as_of`, values as delivered."""
    return read(
        county, source, accept=READABLE, files=lambda path: received_on(source, path) <= as_of
    ).rows


# The credit-bureau report archive: a file per report month, one report per subject in each.

BUREAU = ("credit_bureau_accounts", "credit_bureau_queries", "credit_bureau_public_records")


def read_received(county: Path, source: str, *, accept: Collection[str] = ACCEPTED) -> Raw:
    """Every file of a monthly source (a feed, or a bureau extract's report archive) as
    `read`, each kept row with `received`: the day its file reached the bank."""
    assert load_catalog().source(source).monthly, source
    paths = sorted((county / "sources" / source).glob(load_catalog().source(source).files))
    assert len(paths) > 1, f"{source}: a file per month"
    parts = [(p, read(county, source, accept=accept, files=lambda f, p=p: f == p)) for p in paths]
    rows = pd.concat(
        [raw.rows.assign(received=received_on(source, path)) for path, raw in parts],
        ignore_index=True,
    )
    damaged = pd.concat([raw.damaged for _, raw in parts], ignore_index=True)
    return Raw(rows, damaged, tuple(t for _, raw in parts for t in raw.texts))


def latest_reports(extracts: Iterable[pd.DataFrame], as_of: date) -> pd.DataFrame:
    """The report the bank reads for each subject as of `as_of`: of the reports dated by then
    whose file had reached the bank by then, the latest (report date, then report number),
    whichever extract carries it. `extracts` have `subject` (None: no one), `report_no`,
    `report_date` (as delivered) and `received` (`read_received`); the result is
    `report_no` and `report_date` (a date) by subject."""
    heads = pd.concat(
        [e[["subject", "report_no", "report_date", "received"]] for e in extracts],
        ignore_index=True,
    )
    heads = heads[heads.subject.notna()].assign(report_date=heads.report_date.map(day))
    heads = heads[(heads.report_date <= as_of) & (heads.received <= as_of)]
    heads = heads.sort_values(["subject", "report_date", "report_no"])
    return heads.drop_duplicates("subject", keep="last").set_index("subject")[
        ["report_no", "report_date"]
    ]


def in_latest(frame: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """The rows of `frame` (with `subject` and `report_no`) from its subject's report in
    `latest` (`latest_reports`); none for a subject without one."""
    return frame[frame.report_no.eq(frame.subject.map(latest.report_no))]


def uscc_ok(value: object) -> bool:
    try:
        return isinstance(value, str) and parse_uscc(value).code == value
    except Invalid:
        return False


def id_ok(value: object) -> bool:
    try:
        return isinstance(value, str) and parse_resident_id(value).number == value
    except Invalid:
        return False


def iso_ok(value: object, required: bool = True) -> bool:
    if not isinstance(value, str) or value == "":
        return not required and (value is None or value == "" or value != value)
    try:
        return datetime.strptime(value, "%Y-%m-%d").strftime("%Y-%m-%d") == value
    except ValueError:
        return False


def clean(
    frame: pd.DataFrame,
    key: list[str],
    usccs: list[str],
    dates: list[str],
    ids: tuple[str, ...] = (),
    optional_dates: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Rows with canonical codes and ISO dates, one per key (the last delivered)."""
    keep = pd.Series(True, index=frame.index)
    for column in usccs:
        keep &= frame[column].map(uscc_ok)
    for column in ids:
        keep &= frame[column].map(lambda v: v in (None, "") or v != v or id_ok(v))
    for column in dates:
        keep &= frame[column].map(iso_ok)
    for column in optional_dates:
        keep &= frame[column].map(lambda v: iso_ok(v, required=False))
    return frame[keep].drop_duplicates(key, keep="last")


def registry(county: Path) -> pd.DataFrame:
    """The enterprise registry, cleaned, by USCC."""
    reg = read_text(county, "enterprise_registry")
    reg = clean(reg, ["uscc"], ["uscc"], ["registered_on"], ids=("legal_rep_id",),
                optional_dates=("closed_on",))  # fmt: skip
    return reg.set_index("uscc", drop=False)
