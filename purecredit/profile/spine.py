"""The spine: which subjects, as of which dates. Every module computes one row per spine row.

Window starts are computed here, once, in Python, so module SQL only compares dates and needs
no dialect's date arithmetic (DuckDB and Spark spell "minus 3 months" differently). A record
is in "the last 12 months" when `valid_from > m12`; it is known when `_known_at < cutoff`, the
end of the as-of day.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from purecredit.profile.feature import SPINE_COLUMNS


def months_before(day: date, months: int) -> date:
    """The same day `months` earlier, clipped to the month's end (31 May - 3 months = 28 Feb)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def windows(as_of: date) -> dict[str, object]:
    return {
        "as_of": as_of,
        "cutoff": datetime.combine(as_of + timedelta(days=1), time()),
        "d30": as_of - timedelta(days=30),
        "d90": as_of - timedelta(days=90),
        "m3": months_before(as_of, 3),
        "m6": months_before(as_of, 6),
        "m12": months_before(as_of, 12),
        "m24": months_before(as_of, 24),
    }


SPINE_SCHEMA = pa.schema(
    [
        ("subject", pa.string()),
        ("as_of", pa.date32()),
        ("cutoff", pa.timestamp("us")),
        *[(name, pa.date32()) for name in SPINE_COLUMNS[3:]],
    ]
)
_WINDOWS = pa.schema([SPINE_SCHEMA.field(name) for name in SPINE_COLUMNS[1:]])


def make_spine(subjects: Sequence[str] | pa.Array, as_ofs: Sequence[date] | pa.Array) -> pa.Table:
    """The spine of (subject, as_of) pairs, duplicates dropped, ordered by date then subject."""
    pairs = pa.table(
        {"subject": pa.array(subjects, pa.string()), "as_of": pa.array(as_ofs, pa.date32())}
    )
    pairs = pairs.group_by(["subject", "as_of"], use_threads=False).aggregate([])
    dates = pc.unique(pairs.column("as_of")).to_pylist()
    starts = pa.Table.from_pylist([windows(d) for d in dates], schema=_WINDOWS)
    spine = pairs.join(starts, "as_of").select(list(SPINE_COLUMNS))
    return spine.sort_by([("as_of", "ascending"), ("subject", "ascending")]).cast(SPINE_SCHEMA)
