"""Training labels as a bank observes them: 90 days past due within 12 months of a date.

A label is never read from the synthetic county's `truth/`: it comes from the records the bank
holds, the same way for a synthetic county and a real one.

- **Who is observed at a date T**: a person or firm with credit running at T, so that a
  default could show: an account whose repayment-string code for T's month is live (N, or
  1-7 months behind) in the subject's latest credit report, or a loan of this bank paid out
  by T and maturing after it.
- **Who is left out**: anyone already bad in the 12 months up to T (a code of 3 or more
  months behind or written off, or an instalment of this bank 90+ days late); their next
  year says nothing about a new applicant.
- **Bad** (1): within (T, T + 12 months], a bureau code of 3 or more months behind or written
  off (B) on any account of the latest report, or an instalment of this bank whose 90th day
  unpaid falls in the window. Three missed monthly periods is the report's own reading of
  90 days past due, the Basel default definition.

The latest report must reach the window's last month, or its codes say nothing of the window
(a subject with no such report is labelled by this bank's instalments alone). The dates the
SQL compares against are computed in Python (`outcome_dates`), so the SQL does no dialect
date arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pyarrow as pa

from purecredit.profile.feature import Kind, month_index
from purecredit.profile.features.person_credit import day_number
from purecredit.profile.spine import months_before
from purecredit.store.duck import arrow
from purecredit.store.spark import BatchSql

BAD_CODES = "34567B"  # three or more months behind, or written off
LIVE_CODES = "N1234567"  # an account running that month (not closed, not written off)
HORIZON_MONTHS = 12
DAYS_PAST_DUE = 90


def outcome_dates(dates: Sequence[date]) -> pa.Table:
    """Each observation date with the window bounds the label SQL compares against."""
    rows = []
    for t in dates:
        horizon = months_before(t, -HORIZON_MONTHS)
        back = months_before(t, HORIZON_MONTHS)
        late = timedelta(days=DAYS_PAST_DUE)
        rows.append(
            {
                "as_of": t,
                "horizon": horizon,
                "due_after": t - late,  # instalments whose 90th day falls after T
                "due_by": horizon - late,  # ... and by the horizon
                "due_before_after": back - late,  # the 12 months up to T
            }
        )
    return pa.Table.from_pylist(rows)


def _any_code(text: str, codes: str) -> str:
    return "(" + " OR ".join(f"{text} LIKE '%{c}%'" for c in codes) + ")"


def outcomes_sql(kind: Kind) -> str:
    """(subject, as_of, bad, evidence) for every observed subject and date in
    `outcome_dates`."""
    late = f"({day_number('p.paid_date')} - {day_number('p.due_date')} >= {DAYS_PAST_DUE})"
    unpaid_late = f"(p.paid_date IS NULL OR {late})"
    offset = f"({month_index('d.as_of')} - {month_index('a.status_from')})"
    after = f"SUBSTR(a.repayment_status, CAST({offset} + 2 AS INT), {HORIZON_MONTHS})"
    before_start = f"GREATEST(1, {offset} - {HORIZON_MONTHS - 2})"
    before = (
        f"SUBSTR(a.repayment_status, CAST({before_start} AS INT), "
        f"CAST({offset} + 2 - {before_start} AS INT))"
    )
    now = f"SUBSTR(a.repayment_status, CAST({offset} + 1 AS INT), 1)"
    return f"""
WITH latest AS (
  SELECT subject, report_no, report_date FROM (
    SELECT a.{kind} AS subject, a.report_no, a.report_date, ROW_NUMBER() OVER (
      PARTITION BY a.{kind} ORDER BY a.report_date DESC, a.report_no DESC) AS n
    FROM r_credit_bureau_accounts a WHERE a.{kind} IS NOT NULL) r
  WHERE n = 1
),
bureau AS (
  SELECT l.subject, d.as_of,
    MAX(CASE WHEN {offset} >= 0 AND POSITION({now} IN '{LIVE_CODES}') > 0
             THEN 1 ELSE 0 END) AS live,
    MAX(CASE WHEN {offset} + 1 >= 1 AND {_any_code(before, BAD_CODES)} THEN 1 ELSE 0 END)
      AS bad_before,
    MAX(CASE WHEN {_any_code(after, BAD_CODES)} THEN 1 ELSE 0 END) AS bad_after
  FROM latest l
  JOIN r_credit_bureau_accounts a ON a.{kind} = l.subject AND a.report_no = l.report_no
  CROSS JOIN outcome_dates d
  WHERE {month_index("l.report_date")} >= {month_index("d.horizon")}
  GROUP BY l.subject, d.as_of
),
loans AS (
  SELECT DISTINCT b.{kind} AS subject, d.as_of
  FROM r_bank_loans b CROSS JOIN outcome_dates d
  WHERE b.{kind} IS NOT NULL AND b.start_date <= d.as_of AND b.maturity_date > d.as_of
),
bank AS (
  SELECT p.{kind} AS subject, d.as_of,
    MAX(CASE WHEN p.due_date > d.due_before_after AND p.due_date <= d.due_after
             AND {unpaid_late} THEN 1 ELSE 0 END) AS bad_before,
    MAX(CASE WHEN p.due_date > d.due_after AND p.due_date <= d.due_by
             AND {unpaid_late} THEN 1 ELSE 0 END) AS bad_after
  FROM r_bank_repayments p CROSS JOIN outcome_dates d
  WHERE p.{kind} IS NOT NULL AND p.due_date > d.due_before_after AND p.due_date <= d.due_by
  GROUP BY p.{kind}, d.as_of
),
observed AS (
  SELECT subject, as_of FROM bureau WHERE live = 1
  UNION
  SELECT subject, as_of FROM loans
)
SELECT o.subject, o.as_of,
  CASE WHEN COALESCE(b.bad_after, 0) + COALESCE(k.bad_after, 0) > 0 THEN 1 ELSE 0 END AS bad,
  CASE WHEN b.bad_after = 1 AND k.bad_after = 1 THEN 'both'
       WHEN b.bad_after = 1 THEN 'bureau'
       WHEN k.bad_after = 1 THEN 'bank' END AS evidence
FROM observed o
LEFT JOIN bureau b ON b.subject = o.subject AND b.as_of = o.as_of
LEFT JOIN bank k ON k.subject = o.subject AND k.as_of = o.as_of
WHERE COALESCE(b.bad_before, 0) = 0 AND COALESCE(k.bad_before, 0) = 0
ORDER BY o.as_of, o.subject"""


def outcomes(con: BatchSql, kind: Kind, dates: Sequence[date]) -> pa.Table:
    """Labels of every subject of `kind` observed at each date (a connection from
    `profile.compute.prepare`, holding the resolved records)."""
    con.register("outcome_dates", outcome_dates(dates))
    try:
        return arrow(con.sql(outcomes_sql(kind)))
    finally:
        con.unregister("outcome_dates")
