"""How a feature is defined: once, as portable SQL over point-in-time records.

A `Module` is one block of the profile (identity, credit, ...) with its named `Feature`s and
one SELECT computing all of them for every row of the `spine` table: `(subject, as_of,
cutoff, d30, d90, m3, m6, m12, m24)` (spine.py). The SELECT returns `subject, as_of` and one
column per feature, exactly one row per spine row. It reads records only through `known()`,
which keeps what the bank knew by each row's cutoff: that is the whole leakage guarantee, so a
module never reads `r_*` tables directly.

Portable means the SQL text runs on DuckDB now and on Spark SQL later: joins, GROUP BY,
CASE, window functions, COALESCE, GREATEST, CAST, date comparison against the spine's
precomputed window starts (no dialect date arithmetic). `tests/profile` parses every module
with sqlglot as Spark SQL. A DuckDB-only shortcut may sit beside a definition
(`Module.duckdb_sql`), never instead of it, and is tested equal to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from purecredit.ingest.catalog import Catalog, load_catalog

Kind = Literal["person", "enterprise"]
DType = Literal["int", "float", "text", "bool", "date"]
SPINE_COLUMNS = ("subject", "as_of", "cutoff", "d30", "d90", "m3", "m6", "m12", "m24")


@dataclass(frozen=True)
class Feature:
    """One named feature. `missing` says what NULL means for it: missing is a value with its
    own meaning (no deposit account is not a zero balance), so every feature says which."""

    name: str
    dtype: DType
    description: str
    rule: str
    sources: tuple[str, ...]
    missing: str
    unit: str | None = None


@dataclass(frozen=True)
class Module:
    name: str
    kind: Kind
    title: str
    features: tuple[Feature, ...]
    sql: str
    duckdb_sql: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)


@cache
def _catalog() -> Catalog:
    """The packaged catalogue, parsed once: every module calls `known()` several times at
    import, and parsing and validating the YAML each time cost seconds of start-up."""
    return load_catalog()


def known(
    source: str,
    on: str = "person",
    *,
    latest_by: tuple[str, ...] | None = None,
    spine: str = "spine",
    since: str | None = None,
) -> str:
    """Records of `source` about each spine subject (matched on the resolved column `on`) that
    the bank knew by the row's cutoff and that had become true by its date, one version per
    record key (the catalogue's, unless `latest_by` names one; `()` keeps every version).

    `since` (a spine window column, e.g. `m12`) keeps only records that became true after
    it, inside the join: a monthly feed joined to twelve dates otherwise carries all its
    months into every row before the module filters them. It is allowed only where the
    source's valid_from field is part of its record key, so every version of a record shares
    its date and the filter can never hide a newer version behind an older one.

    Columns: the spine's, then the record's (`r_<source>`). Portable SQL: a join and a
    ROW_NUMBER window, as DESIGN.md asks for "latest value as of".
    """
    spec = _catalog().source(source)
    keys = spec.record_key if latest_by is None else latest_by
    join = (
        f"FROM {spine} s JOIN r_{source} r ON r.{on} = s.subject "
        "AND r._known_at < s.cutoff AND r._valid_from <= s.as_of"
    )
    if since is not None:
        if since not in SPINE_COLUMNS[3:] or spec.valid_from not in spec.record_key:
            raise ValueError(
                f"known({source!r}, since={since!r}): needs a window column and "
                "a source whose valid_from is part of its record key"
            )
        join += f" AND r._valid_from > s.{since}"
    columns = "s.subject, s.as_of, s.cutoff, s.d30, s.d90, s.m3, s.m6, s.m12, s.m24, r.*"
    if not keys:
        return f"(SELECT {columns} {join})"
    partition = ", ".join(f"r.{key}" for key in keys)
    return (
        f"(SELECT * FROM (SELECT {columns}, ROW_NUMBER() OVER ("
        f"PARTITION BY s.subject, s.as_of, {partition} "
        f"ORDER BY r._known_at DESC, r._batch DESC, r._record DESC) AS _version {join}) v "
        "WHERE _version = 1)"
    )


def arrived(source: str) -> str:
    """`(first_known)`: when the bank first knew any record of `source`, as a one-row
    subquery to CROSS JOIN. A register that covers everyone (courts, property, the loan book)
    says "nothing on this person" by not listing them, but only from then: a count is 0 when
    `first_known < s.cutoff`, and NULL (unknown) before. For a register under the catalogue's
    history rule that is its oldest record's own date plus the publication lag, not the
    delivery (docs/ingest.md). Reading the whole table's first time cannot leak: any later
    cutoff sees the same or an earlier time.
    """
    return f"(SELECT MIN(_known_at) AS first_known FROM r_{source})"


def reference_as_of(source: str) -> str:
    """Records of a reference source (about no one: herb prices) as the bank knew them on
    each spine date: `known()`'s rule (known by the cutoff, true by the date, the latest
    version per record key) for a source with no subject to join on. Columns: `as_of`, then
    the record's (`rec_<source>`); one row set per distinct spine date (few dates, small)."""
    keys = ", ".join(f"r.{key}" for key in _catalog().source(source).record_key)
    return (
        "(SELECT * FROM (SELECT d.as_of, r.*, ROW_NUMBER() OVER ("
        f"PARTITION BY d.as_of, {keys} "
        "ORDER BY r._observed_at DESC, r._batch DESC, r._record DESC) AS _version "
        "FROM (SELECT DISTINCT as_of, cutoff FROM spine) d "
        f"JOIN rec_{source} r ON r._observed_at < d.cutoff AND r._valid_from <= d.as_of) v "
        "WHERE _version = 1)"
    )


def mean(value: str) -> str:
    """The mean of `value` as a double both engines compute alike: the exact (decimal) sum,
    cast to double once, over the count. `AVG` itself is not portable: of a DECIMAL, DuckDB
    returns a double and Spark a DECIMAL with four more places, and the two differ in the
    last digits."""
    return f"(CAST(SUM({value}) AS DOUBLE) / COUNT({value}))"


def ratio(numerator: str, denominator: str) -> str:
    """`numerator / denominator` as a double, NULL where the denominator is 0 or NULL. Both
    sides are cast first: DuckDB divides DECIMALs in doubles, Spark in DECIMALs rounded to
    six places, so an uncast division differs between the engines."""
    return f"(CAST({numerator} AS DOUBLE) / NULLIF(CAST({denominator} AS DOUBLE), 0))"


def month_index(date: str) -> str:
    """A date's month as one integer, so that a difference counts calendar months (portable
    month arithmetic: DuckDB and Spark spell date functions differently)."""
    return (
        f"(CAST(EXTRACT(YEAR FROM {date}) AS BIGINT) * 12"
        f" + CAST(EXTRACT(MONTH FROM {date}) AS BIGINT))"
    )


def completed_years(later: str, earlier: str) -> str:
    """Whole years from `earlier` to `later` (an age: not yet a year older before the
    birthday), in portable SQL."""
    return (
        f"CAST(EXTRACT(YEAR FROM {later}) - EXTRACT(YEAR FROM {earlier})"
        f" - CASE WHEN EXTRACT(MONTH FROM {later}) * 100 + EXTRACT(DAY FROM {later})"
        f" < EXTRACT(MONTH FROM {earlier}) * 100 + EXTRACT(DAY FROM {earlier})"
        " THEN 1 ELSE 0 END AS BIGINT)"
    )
