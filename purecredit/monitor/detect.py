"""Events from the lake: what the latest deliveries changed for the parties monitoring
watches, one portable SELECT per kind over the resolved records (`profile.resolve`).

Every detector returns the same columns: `party` (an ID token or a USCC), `kind`, `fact`
(what identifies the change in its source: a case number, an account and the report that
first showed it overdue, a person and the month contributions stopped), `valid_from` (when it
became true), `known_at` (when the bank could first have known it: the latest `_known_at` of
the records the comparison needs) and `amount` (a derived figure worth showing, or NULL).

Why a fact is raised once, whatever order deliveries arrive in: an event is keyed by its fact,
never by the batch that brought it, and a comparison is between fixed calendar periods (this
month and the one before, this tax year and the last), not between "the previous delivery"
and "this one". A comparison is raised on the day both sides are known, by whichever delivery
completes the pair; a rerun finds the same facts and adds nothing.

Sources a detector needs that the lake does not hold yet give no events (empty tables).

One definition, two engines: the same text runs on DuckDB and on Spark (`store.spark`,
`monitor run --engine spark`), so it spells out what the two would otherwise do differently:
means are exact sums over counts in doubles (`profile.feature.ratio`), every amount has one
DECIMAL type, NULL order is written in each ORDER BY, a "latest version" has a unique order
(batch and record break ties), GROUP BY names its expressions, and CTE names are unique
across detectors. `tests/scale/test_detect_parity.py` requires identical events from both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar, overload

import duckdb
import pyarrow as pa

from purecredit.ingest.catalog import Catalog
from purecredit.monitor.rules import Detectors
from purecredit.profile.feature import mean, ratio
from purecredit.profile.records import load_records
from purecredit.profile.resolve import create_resolution
from purecredit.store.batch import duck
from purecredit.store.duck import arrow
from purecredit.store.lake import Lake
from purecredit.store.spark import BatchSql, SparkSql

Con = TypeVar("Con", duckdb.DuckDBPyConnection, SparkSql)

# Sources the detectors read, and the ones their resolution joins through.
SOURCES = (
    "bank_customers",
    "bank_deposits",
    "court_enforcement",
    "credit_bureau_accounts",
    "credit_bureau_queries",
    "dishonest_debtors",
    "enterprise_registry",
    "herb_prices",
    "land_planting",
    "marriage_registry",
    "medical_serious_illness",
    "population_register",
    "property_registry",
    "property_seizures",
    "social_security",
    "tax_credit_grade",
)
GRADE_ORDER = "CASE {g} WHEN 'A' THEN 1 WHEN 'B' THEN 2 WHEN 'M' THEN 3 WHEN 'C' THEN 4 ELSE 5 END"
PERIODS_BACK = timedelta(days=400)  # a year of months, and the bureau report before
# Hard queries: a lender deciding whether to lend (PBOC reason codes: 02 loan approval,
# 24 financing approval, 26 limit approval); post-loan checks (01) are not applications.
HARD_QUERIES = "('02', '24', '26')"
# Every detector's `amount` has this type, so that their UNION has one type in both engines.
AMOUNT = "DECIMAL(18, 4)"
NO_AMOUNT = f"CAST(NULL AS {AMOUNT})"


@dataclass(frozen=True)
class Window:
    """The batch day: only records known by the end of `day` count. `since` is the earliest
    day any watched borrower's facts are news from: a periodic feed (deposits, contributions,
    bureau reports) is read only from `PERIODS_BACK` before it, enough for every comparison
    with an earlier period, so a day's batch does not grow with years of history. (A row
    delivered years late about a long-past period is then not news; the registers, where
    a first version may be old and a later one new, are always read whole.)"""

    day: date
    since: date | None = None

    @property
    def cutoff(self) -> str:
        return f"TIMESTAMP '{self.day + timedelta(days=1)} 00:00:00'"

    def periods_from(self, column: str) -> str:
        if self.since is None:
            return "TRUE"
        return f"{column} >= DATE '{self.since - PERIODS_BACK}'"


def _records(name: str) -> str:
    return f"r_{name}"


def _record_rows(w: Window, source: str, where: str = "TRUE") -> str:
    return f"(SELECT * FROM {_records(source)} WHERE _known_at < {w.cutoff} AND {where})"


def listing(
    w: Window, source: str, kind: str, key: str, valid: str, amount: str | None = None
) -> str:
    """A register entry that appears: a court case, a dishonest-debtor listing, a seizure,
    a serious-illness claim. Its first known version dates the event."""
    figure = NO_AMOUNT if amount is None else f"CAST(MAX({amount}) AS {AMOUNT})"
    return f"""SELECT COALESCE(person, enterprise) AS party, '{kind}' AS kind, {key} AS fact,
  MIN({valid}) AS valid_from, MIN(_known_at) AS known_at, {figure} AS amount
FROM {_record_rows(w, source)} r
WHERE COALESCE(person, enterprise) IS NOT NULL AND {key} IS NOT NULL AND {valid} IS NOT NULL
GROUP BY COALESCE(person, enterprise), {key}"""


def divorce(w: Window) -> str:
    """Both partners of a divorce registration."""
    rows = _record_rows(w, "marriage_registry", "kind = '离婚登记'")
    return f"""SELECT party, 'divorce' AS kind, fact, MIN(registered_on) AS valid_from,
  MIN(_known_at) AS known_at, {NO_AMOUNT} AS amount
FROM (SELECT person AS party, cert_no AS fact, registered_on, _known_at FROM {rows} r
      UNION ALL
      SELECT woman_id, cert_no, registered_on, _known_at FROM {rows} r) d
WHERE party IS NOT NULL AND fact IS NOT NULL AND registered_on IS NOT NULL
GROUP BY party, fact"""


def deregistration(w: Window) -> str:
    rows = _record_rows(w, "enterprise_registry", "status IN ('注销', '吊销')")
    return f"""SELECT enterprise AS party, 'deregistration' AS kind, uscc || '|' || status AS fact,
  MIN(COALESCE(closed_on, _valid_from)) AS valid_from, MIN(_known_at) AS known_at,
  {NO_AMOUNT} AS amount
FROM {rows} r WHERE enterprise IS NOT NULL GROUP BY enterprise, uscc || '|' || status"""


def _latest(rows: str, key: str) -> str:
    """The latest known version of each `key` among `rows` (ties broken by batch and record,
    so both engines pick the same row)."""
    return f"""(SELECT * FROM (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY {key}
      ORDER BY _known_at DESC NULLS LAST, _batch DESC NULLS LAST, _record DESC NULLS LAST) AS n
      FROM {rows} r) latest WHERE n = 1)"""


def tax_grade_drop(w: Window) -> str:
    """This year's taxpayer grade worse than last year's (latest known version of each)."""
    latest = f"""(SELECT * FROM {_latest(_record_rows(w, "tax_credit_grade"), "uscc, year")} v
      WHERE enterprise IS NOT NULL)"""
    return f"""SELECT cur.enterprise AS party, 'tax_grade_drop' AS kind,
  cur.uscc || '|' || CAST(cur.year AS VARCHAR) AS fact, cur._valid_from AS valid_from,
  GREATEST(cur._known_at, prev._known_at) AS known_at, {NO_AMOUNT} AS amount
FROM {latest} cur JOIN {latest} prev ON prev.uscc = cur.uscc AND prev.year = cur.year - 1
WHERE {GRADE_ORDER.format(g="cur.grade")} > {GRADE_ORDER.format(g="prev.grade")}"""


def contributions_stopped(w: Window) -> str:
    """An employee paid into the pension last month and not this month, once this month's
    file has arrived (the month's first record known dates the absence)."""
    rows = _record_rows(
        w, "social_security", f"insurance = '职工基本养老保险' AND {w.periods_from('month')}"
    )
    return f"""WITH paid AS (SELECT person, month, MIN(_known_at) AS known_at FROM {rows} r
  WHERE person IS NOT NULL GROUP BY person, month),
arrived AS (SELECT month, MIN(_known_at) AS known_at FROM {rows} r GROUP BY month)
SELECT prev.person AS party, 'contributions_stopped' AS kind,
  prev.person || '|' || CAST(a.month AS VARCHAR) AS fact, a.month AS valid_from,
  GREATEST(prev.known_at, a.known_at) AS known_at, {NO_AMOUNT} AS amount
FROM paid prev
JOIN arrived a ON a.month = prev.month + INTERVAL 1 MONTH
LEFT JOIN paid cur ON cur.person = prev.person AND cur.month = a.month
WHERE cur.person IS NULL"""


def overdue_elsewhere(w: Window, own_institution: str) -> str:
    """Another lender's account that a bureau report shows overdue when the report before it
    (for the same account) did not, or that first appears overdue."""
    rows = _record_rows(
        w,
        "credit_bureau_accounts",
        f"institution_code <> '{own_institution}' AND {w.periods_from('report_date')}",
    )
    return f"""SELECT party, 'overdue_elsewhere' AS kind, account_no || '|' ||
  CAST(report_date AS VARCHAR) AS fact, report_date AS valid_from, known_at,
  CAST(overdue_amount AS {AMOUNT}) AS amount
FROM (SELECT COALESCE(person, enterprise) AS party, account_no, report_date,
        overdue_amount, _known_at AS known_at,
        LAG(overdue_amount) OVER (PARTITION BY account_no
          ORDER BY report_date ASC NULLS LAST) AS before
      FROM {_latest(rows, "account_no, report_date")} r) a
WHERE party IS NOT NULL AND overdue_amount > 0 AND COALESCE(before, 0) = 0"""


def query_burst(w: Window, rule_window: int, institutions: int, own_institution: str) -> str:
    """A report on which at least `institutions` distinct lenders made hard queries in the
    `rule_window` days before it, when the subject's previous report showed fewer."""
    rows = _record_rows(
        w,
        "credit_bureau_queries",
        f"reason_code IN {HARD_QUERIES} AND institution_code <> '{own_institution}' "
        f"AND {w.periods_from('report_date')}",
    )
    return f"""WITH per_report AS (
  SELECT COALESCE(person, enterprise) AS party, report_date, MAX(_known_at) AS known_at,
    COUNT(DISTINCT CASE WHEN query_date > report_date - INTERVAL {rule_window} DAY
                        THEN institution_code END) AS lenders
  FROM {rows} r WHERE COALESCE(person, enterprise) IS NOT NULL
  GROUP BY COALESCE(person, enterprise), report_date),
ordered AS (SELECT *, LAG(lenders) OVER (PARTITION BY party
    ORDER BY report_date ASC NULLS LAST) AS before
  FROM per_report)
SELECT party, 'query_burst' AS kind, party || '|' || CAST(report_date AS VARCHAR) AS fact,
  report_date AS valid_from, known_at, CAST(lenders AS {AMOUNT}) AS amount
FROM ordered WHERE lenders >= {institutions} AND COALESCE(before, 0) < {institutions}"""


def deposit_outflow(w: Window, months: int, fall: float, min_balance: float) -> str:
    """A month-end balance below (1 - fall) of the mean of the `months` month-ends before it.

    The mean is the exact sum over the count, in doubles (`profile.feature.ratio`): `AVG` of
    a DECIMAL is a double in DuckDB and a DECIMAL in Spark, which differ in the last digits."""
    rows = _record_rows(w, "bank_deposits", w.periods_from("month"))
    frame = f"""OVER (PARTITION BY customer_no ORDER BY month ASC NULLS LAST, party ASC NULLS LAST
    ROWS BETWEEN {months} PRECEDING AND 1 PRECEDING)"""
    return f"""WITH month_balances AS (
  SELECT COALESCE(person, enterprise) AS party, customer_no, month, MAX(balance) AS balance,
    MIN(_known_at) AS known_at
  FROM {rows} r WHERE COALESCE(person, enterprise) IS NOT NULL
  GROUP BY COALESCE(person, enterprise), customer_no, month),
windowed AS (SELECT *,
  {ratio(f"SUM(balance) {frame}", f"COUNT(balance) {frame}")} AS before,
  COUNT(*) {frame} AS n,
  MIN(month) {frame} AS first_month,
  MAX(known_at) OVER (PARTITION BY customer_no ORDER BY month ASC NULLS LAST,
    party ASC NULLS LAST ROWS BETWEEN {months} PRECEDING AND CURRENT ROW) AS pair_known
  FROM month_balances)
SELECT party, 'deposit_outflow' AS kind, customer_no || '|' || CAST(month AS VARCHAR) AS fact,
  month AS valid_from, pair_known AS known_at,
  CAST(before - CAST(balance AS DOUBLE) AS {AMOUNT}) AS amount
FROM windowed
WHERE n = {months} AND first_month = month - INTERVAL {months} MONTH
  AND before >= {min_balance} AND CAST(balance AS DOUBLE) < (1 - {fall}) * before"""


def herb_price_fall(w: Window, months: int, fall: float) -> str:
    """A month's average price of a variety below (1 - fall) of the price `months` before, for
    the people of every household that planted it in its latest survey year known (the
    average as `deposit_outflow`'s mean: exact sum over count, in doubles)."""
    prices = f"(SELECT * FROM rec_herb_prices WHERE _observed_at < {w.cutoff})"
    return f"""WITH month_prices AS (SELECT variety, month, {mean("price_avg")} AS price,
    MIN(_observed_at) AS known_at FROM {prices} p GROUP BY variety, month),
falls AS (SELECT cur.variety, cur.month, GREATEST(cur.known_at, prev.known_at) AS known_at,
    prev.price - cur.price AS drop_
  FROM month_prices cur JOIN month_prices prev ON prev.variety = cur.variety
    AND prev.month = cur.month - INTERVAL {months} MONTH
  WHERE cur.price < (1 - {fall}) * prev.price),
planted AS (SELECT household_no, variety FROM (SELECT household_no, variety,
    ROW_NUMBER() OVER (PARTITION BY household_no ORDER BY year DESC NULLS LAST,
      _known_at DESC NULLS LAST, _batch DESC NULLS LAST, _record DESC NULLS LAST) AS n
    FROM {_record_rows(w, "land_planting")} r WHERE variety IS NOT NULL) latest WHERE n = 1),
members AS (SELECT DISTINCT person, household_no
  FROM {_record_rows(w, "population_register")} r WHERE person IS NOT NULL)
SELECT m.person AS party, 'herb_price_fall' AS kind,
  f.variety || '|' || CAST(f.month AS VARCHAR) AS fact, f.month AS valid_from,
  f.known_at, CAST(f.drop_ AS {AMOUNT}) AS amount
FROM falls f JOIN planted p ON p.variety = f.variety
JOIN members m ON m.household_no = p.household_no"""


def detector_sql(w: Window, params: Detectors, own_institution: str, illness: bool) -> list[str]:
    """Every detector's SELECT for the batch day. Their CTEs have names unique across them:
    Spark's text (`store.spark.spark_text`) lifts every CTE to the top of the one query."""
    out = [
        listing(w, "court_enforcement", "court_enforcement", "case_no", "filed_on", "amount"),
        listing(w, "dishonest_debtors", "dishonest_listing", "case_no", "published_on"),
        listing(w, "property_seizures", "property_seizure", "ruling_no", "seized_on"),
        divorce(w),
        deregistration(w),
        tax_grade_drop(w),
        contributions_stopped(w),
        overdue_elsewhere(w, own_institution),
        query_burst(
            w,
            params.query_burst.window_days,
            params.query_burst.institutions,
            own_institution,
        ),
        deposit_outflow(
            w,
            params.deposit_outflow.months,
            params.deposit_outflow.fall,
            params.deposit_outflow.min_balance,
        ),
        herb_price_fall(w, params.herb_price_fall.months, params.herb_price_fall.fall),
    ]
    if illness:
        out.append(
            listing(w, "medical_serious_illness", "serious_illness", "claim_no", "settled_on")
        )
    return out


@overload
def prepare(
    lake: Lake, catalog: Catalog, *, memory: str = ..., con: None = None
) -> duckdb.DuckDBPyConnection: ...


@overload
def prepare(lake: Lake, catalog: Catalog, *, memory: str = ..., con: Con) -> Con: ...


def prepare(
    lake: Lake, catalog: Catalog, *, memory: str = "4GB", con: BatchSql | None = None
) -> BatchSql:
    """`con` (Spark's, say), else a new DuckDB bounded by `memory`, with the records and the
    resolution the detectors read."""
    if con is None:
        con = duck(lake.root, memory)
    load_records(con, lake, catalog, SOURCES)
    create_resolution(con, catalog, [s for s in SOURCES if s != "herb_prices"])
    return con


def detect(
    con: BatchSql,
    watch: pa.Table,
    day: date,
    params: Detectors,
    *,
    own_institution: str,
    illness: bool,
) -> pa.Table:
    """The events of the watched parties known by the end of `day` and after each borrower's
    `since` (facts the bank held when it granted the line were part of that decision).

    `watch`: subject (the borrower), party, hops, relation, since (a date). Columns out:
    subject, party, hops, relation, kind, fact, valid_from, known_at (dates), amount."""
    con.register("watch_in", watch)
    floor = min(watch.column("since").to_pylist(), default=None)
    w = Window(day, floor)
    union = "\nUNION ALL\n".join(
        f"SELECT * FROM ({sql}) d{i}"
        for i, sql in enumerate(detector_sql(w, params, own_institution, illness))
    )
    try:
        return arrow(
            con.sql(f"""WITH found AS ({union})
SELECT wt.subject, wt.party, wt.hops, wt.relation, f.kind, f.fact,
  CAST(f.valid_from AS DATE) AS valid_from, CAST(f.known_at AS DATE) AS known_at,
  CAST(f.amount AS DOUBLE) AS amount
FROM found f JOIN watch_in wt ON wt.party = f.party
WHERE CAST(f.known_at AS DATE) > wt.since
QUALIFY ROW_NUMBER() OVER (PARTITION BY wt.subject, f.kind, f.fact
  ORDER BY wt.hops ASC NULLS LAST, wt.party ASC NULLS LAST, wt.relation ASC NULLS LAST) = 1
ORDER BY wt.subject ASC NULLS LAST, f.kind ASC NULLS LAST, f.fact ASC NULLS LAST""")
        )
    finally:
        con.unregister("watch_in")
