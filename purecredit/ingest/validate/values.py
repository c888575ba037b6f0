"""Checks of the plain field types: text, enum, bool, phone, int, decimal and date.

Each takes the delivered column (text from CSV, native types from Parquet, JSON or XLSX) and
returns typed values with the failures in test order. Typed input already of the target type
is kept as it is. Decimals become float64: amounts and rates arrive as doubles from Parquet
and JSON anyway, and a float64 holds every delivered decimal of up to 15 digits exactly
enough to print it back the same.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from purecredit.core.masking import mask_phone
from purecredit.ingest.catalog import FieldDef
from purecredit.ingest.validate.outcome import Checked, Failure, Rows, failure, number, shown
from purecredit.ingest.validate.text import (
    Mask,
    as_text,
    byte_lengths,
    byte_matrix,
    digits_value,
    is_digit,
    normalise,
    squeeze,
    valid_mask,
)

_TRUE = ("true", "t", "yes", "y", "1", "是", "对")
_FALSE = ("false", "f", "no", "n", "0", "否", "错")
_INTEGER = r"^[+-]?\d{1,18}(\.0*)?$"  # "12.0" from a spreadsheet is still a whole number
_DECIMAL = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?$"
_ENUM_SHOWN = 12  # values listed in an enum reason before "..."
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)
_ISO_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9]  # YYYY-MM-DD without its separators
_YEAR_MONTH_DAY = (slice(0, 4), slice(4, 6), slice(6, 8))

Ints = npt.NDArray[np.int32]


def check_text(raw: pa.Array, spec: FieldDef) -> Checked:
    """NFKC-normalised, stripped text; with a `pattern`, the whole value must match it."""
    text = normalise(raw)
    if spec.pattern is None:
        return Checked(text)
    matches = pc.match_substring_regex(text, f"^(?:{spec.pattern})$")
    bad = valid_mask(text) & ~_flags(matches)
    failures = failure(
        bad,
        "type",
        lambda rows: [
            f"value {v} does not have the expected form {spec.pattern}"
            for v in shown(text, rows, spec.pii)
        ],
    )
    return Checked(_null_where(text, bad), failures)


def check_enum(raw: pa.Array, spec: FieldDef) -> Checked:
    """One of the catalogue's `values`, compared after the same normalisation."""
    allowed = [unicodedata.normalize("NFKC", v).strip() for v in spec.values or ()]
    text = normalise(raw)
    bad = valid_mask(text) & ~_flags(pc.is_in(text, value_set=pa.array(allowed, pa.string())))
    listed = ", ".join(allowed[:_ENUM_SHOWN]) + (", ..." if len(allowed) > _ENUM_SHOWN else "")
    failures = failure(
        bad,
        "enum",
        lambda rows: [f"value {v} is not one of {listed}" for v in shown(text, rows, spec.pii)],
    )
    return Checked(_null_where(text, bad), failures)


def check_bool(raw: pa.Array, spec: FieldDef) -> Checked:
    """true/false, yes/no, 1/0, 是/否 (any case), or a typed boolean."""
    if pa.types.is_boolean(raw.type):
        return Checked(raw)
    text = pc.utf8_lower(normalise(raw))
    yes = _flags(pc.is_in(text, value_set=pa.array(_TRUE)))
    no = _flags(pc.is_in(text, value_set=pa.array(_FALSE)))
    bad = valid_mask(text) & ~yes & ~no
    values = pa.array(yes, mask=~(yes | no))
    failures = failure(
        bad,
        "type",
        lambda rows: [
            f"value {v} is not yes or no (true/false, 1/0, 是/否)"
            for v in shown(text, rows, spec.pii)
        ],
    )
    return Checked(values, failures)


def check_phone(raw: pa.Array, spec: FieldDef) -> Checked:
    """A mainland mobile number: 11 digits starting with 1 (inner spaces and hyphens
    dropped)."""
    text = normalise(raw)
    text = squeeze(text, byte_lengths(text) == 11, r"[\s\-]+")
    sized = byte_lengths(text) == 11
    digits = byte_matrix(text, 11, sized)
    ok = sized & np.all(is_digit(digits), axis=1) & (digits[:, 0] == ord("1"))
    bad = valid_mask(text) & ~ok
    failures = failure(
        bad,
        "type",
        lambda rows: [
            f"phone number '{mask_phone(v)}' is not 11 digits starting with 1"
            for v in text.take(pa.array(rows)).to_pylist()
        ],
    )
    return Checked(_null_where(text, bad), failures)


def check_int(raw: pa.Array, spec: FieldDef) -> Checked:
    """A whole number (int64), within `min`/`max` when given."""
    if pa.types.is_integer(raw.type):
        return _within(raw.cast(pa.int64()), raw, spec, [])
    if pa.types.is_floating(raw.type):
        values = pc.if_else(pc.is_nan(raw), pa.scalar(None, raw.type), raw)
        whole = _flags(pc.equal(pc.floor(values), values)) & _flags(pc.is_finite(values))
        bad = valid_mask(values) & ~whole
        ints = pc.if_else(pa.array(whole), values, pa.scalar(None, raw.type)).cast(pa.int64())
        return _within(ints, raw, spec, _not_a_number(bad, raw, spec, "a whole number"))
    text = normalise(raw)
    try:
        return _within(text.cast(pa.int64()), raw, spec, [])
    except pa.ArrowInvalid:
        pass  # some value is not a plain integer: find which, keep the others
    ok = _flags(pc.match_substring_regex(text, _INTEGER))
    cleaned = pc.replace_substring_regex(pc.if_else(pa.array(ok), text, None), r"^\+|\.0*$", "")
    bad = valid_mask(text) & ~ok
    return _within(
        cleaned.cast(pa.int64()), raw, spec, _not_a_number(bad, raw, spec, "a whole number")
    )


def check_decimal(raw: pa.Array, spec: FieldDef) -> Checked:
    """A finite number (float64), within `min`/`max` when given; NaN counts as missing."""
    if pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type):
        values = raw.cast(pa.float64())
        values = pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)
        bad = valid_mask(values) & ~_flags(pc.is_finite(values))
        return _within(
            _null_where(values, bad), raw, spec, _not_a_number(bad, raw, spec, "a number")
        )
    text = normalise(raw)
    try:
        values = text.cast(pa.float64())
    except pa.ArrowInvalid:  # some value is not a number: find which, keep the others
        numbers = pa.array(_flags(pc.match_substring_regex(text, _DECIMAL)))
        values = pc.if_else(numbers, text, None).cast(pa.float64())
    # "nan", "inf" and 1e400 parse, but are no amount a steward could mean.
    bad = valid_mask(text) & ~_flags(pc.is_finite(values))
    failures = _not_a_number(bad, raw, spec, "a number")
    return _within(_null_where(values, bad), raw, spec, failures)


def check_date(raw: pa.Array, spec: FieldDef) -> Checked:
    """YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD text that names a real day, or a typed date."""
    if pa.types.is_date(raw.type) or pa.types.is_timestamp(raw.type):
        return _dates_within(raw.cast(pa.date32()), spec, [])
    text = normalise(raw)
    lengths = byte_lengths(text)
    long, short = lengths == 10, lengths == 8
    # YYYY-MM-DD or YYYY/MM/DD: the digits of the 10-byte rows, then the 8-digit rows.
    eight = byte_matrix(text, 10, long)
    separated = eight[:, 4] == eight[:, 7]
    separated &= (eight[:, 4] == ord("-")) | (eight[:, 4] == ord("/"))
    eight = eight[:, _ISO_DIGITS]
    if short.any():
        eight[short] = byte_matrix(text, 8, short)[short]
    formed = ((long & separated) | short) & np.all(is_digit(eight), axis=1)
    year, month, day = (digits_value(eight[:, part]) for part in _YEAR_MONTH_DAY)
    real = formed & calendar_date_exists(year, month, day)
    failures = [
        *failure(
            valid_mask(text) & ~formed,
            "date",
            lambda rows: [
                f"value {v} is not a date; expected YYYY-MM-DD (or YYYY/MM/DD, YYYYMMDD)"
                for v in shown(text, rows, spec.pii)
            ],
        ),
        *failure(
            formed & ~real,
            "date",
            lambda rows: [
                f"date {y:04d}-{m:02d}-{d:02d} does not exist"
                for y, m, d in zip(year[rows], month[rows], day[rows], strict=True)
            ],
        ),
    ]
    return _dates_within(_days(year, month, day, real), spec, failures)


def calendar_date_exists(year: Ints, month: Ints, day: Ints) -> Mask:
    """Proleptic Gregorian validity of (year, month, day) triples, years 1-9999."""
    month_ok = (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last = _MONTH_DAYS[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    result: Mask = month_ok & (year >= 1) & (year <= 9999) & (day >= 1) & (day <= last)
    return result


def _days(year: Ints, month: Ints, day: Ints, real: Mask) -> pa.Array:
    """date32 (days since 1970-01-01) of the real triples, null elsewhere.

    H. Hinnant's days_from_civil in integer arithmetic: the year starts in March, so the
    leap day is the last day of the year, and a 400-year era is 146,097 days.
    """
    march = month > 2
    y = year - ~march
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * np.where(march, month - 3, month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146_097 + day_of_era - 719_468
    return pa.array(days.astype(np.int32), type=pa.date32(), mask=~real)


def _within(values: pa.Array, raw: pa.Array, spec: FieldDef, failures: list[Failure]) -> Checked:
    """Add the range failures of numbers that passed the type test."""
    low = spec.min if isinstance(spec.min, int | float) else None
    high = spec.max if isinstance(spec.max, int | float) else None
    bounds = [(low, "below the minimum", pc.less), (high, "above the maximum", pc.greater)]
    out_of_range = np.zeros(len(values), dtype=bool)
    for bound, words, compare in bounds:
        if bound is not None:
            beyond = _flags(compare(values, bound)) & ~out_of_range
            out_of_range |= beyond
            limit = f"{words} {number(bound)}"
            failures = failures + failure(beyond, "range", _range_reasons(raw, spec, limit))
    return Checked(_null_where(values, out_of_range), failures)


def _dates_within(values: pa.Array, spec: FieldDef, failures: list[Failure]) -> Checked:
    """Add the range failures of dates that exist."""
    low = spec.min if isinstance(spec.min, date) else None
    high = spec.max if isinstance(spec.max, date) else None
    bounds = [
        (low, "before the earliest allowed", pc.less),
        (high, "after the latest allowed", pc.greater),
    ]
    out_of_range = np.zeros(len(values), dtype=bool)
    for bound, words, compare in bounds:
        if bound is not None:
            beyond = _flags(compare(values, pa.scalar(bound, pa.date32()))) & ~out_of_range
            out_of_range |= beyond
            limit = f"{words}, {bound.isoformat()}"
            failures = failures + failure(beyond, "range", _range_reasons(values, spec, limit))
    return Checked(_null_where(values, out_of_range), failures)


def _range_reasons(values: pa.Array, spec: FieldDef, limit: str) -> Callable[[Rows], list[str]]:
    what = "date" if spec.type == "date" else "value"

    def reasons(rows: Rows) -> list[str]:
        texts = shown(as_text(values), rows, spec.pii, quoted=False)
        return [f"{what} {v} is {limit}" for v in texts]

    return reasons


def _not_a_number(bad: Mask, raw: pa.Array, spec: FieldDef, what: str) -> list[Failure]:
    return failure(
        bad,
        "type",
        lambda rows: [f"value {v} is not {what}" for v in shown(as_text(raw), rows, spec.pii)],
    )


def _flags(values: pa.Array) -> Mask:
    """A boolean Arrow array as a numpy mask, null as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _null_where(values: pa.Array, mask: Mask) -> pa.Array:
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)
