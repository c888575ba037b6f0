"""Person module, credit: the credit report (征信) and the person's record with this bank.

The bureau part reads one report per person: the latest fetched by the date (a report lists
every account, query and public record as of its own date, so mixing reports would count an
account twice). A person with no bureau record at all has NULL bureau features: the extracts
list only subjects that have something, so "no report fetched" and "an empty report" look
alike, and neither is evidence of a clean record.

The 60-month repayment string (`repayment_status`, oldest first from `status_from`, the report
month last) is decoded without list functions: the last-24-months slice is one SUBSTR whose
start is a month index difference (EXTRACT(YEAR) * 12 + EXTRACT(MONTH)), and the codes in it
are counted with LENGTH - LENGTH(REPLACE(...)) and tested with LIKE, which both engines run.

Days late on this bank's instalments are a day-number difference built from EXTRACT (a civil
calendar day count, exact for Gregorian dates), since each dialect spells date subtraction
differently.
"""

from __future__ import annotations

from purecredit.profile.feature import Feature, Module, known, month_index

_BUREAU = ("credit_bureau_accounts", "credit_bureau_queries", "credit_bureau_public_records")
OVERDUE_CODES = "1234567B"  # a month overdue: 1-7 months behind, or B written off, still owed
APPLICATION_REASONS = ("02", "03", "24", "26")  # loan, card, financing and limit approval
GRADES = ("正常", "关注", "次级", "可疑", "损失")  # five categories, best to worst


def day_number(date: str) -> str:
    """Days since a fixed epoch of a date (Gregorian day count from March-based years), so
    that `day_number(a) - day_number(b)` is the days between them on any engine."""
    y = f"(EXTRACT(YEAR FROM {date}) - CASE WHEN EXTRACT(MONTH FROM {date}) <= 2 THEN 1 ELSE 0 END)"
    m = (
        f"(CASE WHEN EXTRACT(MONTH FROM {date}) > 2 THEN EXTRACT(MONTH FROM {date}) - 3"
        f" ELSE EXTRACT(MONTH FROM {date}) + 9 END)"
    )
    return (
        f"CAST(365 * {y} + FLOOR({y} / 4) - FLOOR({y} / 100) + FLOOR({y} / 400)"
        f" + FLOOR((153 * {m} + 2) / 5) + EXTRACT(DAY FROM {date}) AS BIGINT)"
    )


def latest_report(on: str = "person") -> str:
    """(subject, as_of, report_no, report_date) of each subject's latest report by the date,
    from whichever of the three extracts carries it (`on`: the resolved column naming the
    subject, `person` or `enterprise`)."""
    parts = "\n  UNION ALL\n  ".join(
        f"SELECT subject, as_of, report_no, report_date FROM {known(source, on=on)}"
        for source in _BUREAU
    )
    return f"""SELECT subject, as_of, report_no, report_date FROM (
  SELECT b.*, ROW_NUMBER() OVER (
    PARTITION BY subject, as_of ORDER BY report_date DESC, report_no DESC) AS n
  FROM (
  {parts}
  ) b WHERE report_date <= as_of
) ranked WHERE n = 1"""


def _count_codes(text: str, codes: str) -> str:
    return " + ".join(f"LENGTH({text}) - LENGTH(REPLACE({text}, '{c}', ''))" for c in codes)


def _worst_level(text: str) -> str:
    """Months behind of the worst code in a status slice; B (written off) counts as 7."""
    whens = " ".join(f"WHEN {text} LIKE '%{c}%' THEN {c}" for c in "7654321")
    return f"CASE WHEN {text} LIKE '%B%' THEN 7 {whens} ELSE 0 END"


_GRADE_RANK = " ".join(f"WHEN '{g}' THEN {i}" for i, g in enumerate(GRADES, 1))
_GRADE_NAME = " ".join(f"WHEN {i} THEN '{g}'" for i, g in enumerate(GRADES, 1))
_APPLICATION = ", ".join(f"'{r}'" for r in APPLICATION_REASONS)
_LATE_DAYS = f"""CASE
      WHEN paid_date IS NOT NULL AND paid_date <= as_of
        THEN {day_number("paid_date")} - {day_number("due_date")}
      WHEN due_date < as_of THEN {day_number("as_of")} - {day_number("due_date")}
      ELSE 0 END"""


def credit_sql(on: str) -> str:
    """The module's SELECT for subjects named by the resolved column `on` (a person, or a
    firm: its own credit report and its own loans with this bank)."""
    return f"""
WITH report AS ({latest_report(on)}),
accounts AS (
  SELECT a.*, SUBSTR(a.repayment_status, CAST(GREATEST(1,
      {month_index("a.as_of")} - {month_index("a.status_from")} - 22) AS INT)) AS recent
  FROM {known("credit_bureau_accounts", on=on)} a
  JOIN report ON report.subject = a.subject AND report.as_of = a.as_of
   AND report.report_no = a.report_no
),
acc AS (
  SELECT subject, as_of, COUNT(*) AS n_accounts,
    SUM(CASE WHEN account_state IN ('结清', '销户') THEN 0 ELSE 1 END) AS n_open,
    SUM(CASE WHEN account_state IN ('逾期', '呆账') OR overdue_periods > 0
             OR overdue_amount > 0 THEN 1 ELSE 0 END) AS n_overdue,
    SUM(COALESCE(overdue_amount, 0)) AS overdue_amount,
    SUM({_count_codes("recent", OVERDUE_CODES)}) AS overdue_months,
    SUM(CASE WHEN {_worst_level("recent")} > 0 THEN 1 ELSE 0 END) AS overdue_accounts,
    MAX({_worst_level("recent")}) * 30 AS worst_dpd,
    MAX(CASE WHEN recent LIKE '%B%' OR recent LIKE '%D%' OR recent LIKE '%Z%'
             THEN 1 ELSE 0 END) AS writeoff,
    MAX(CASE five_category {_GRADE_RANK} END) AS grade
  FROM accounts GROUP BY subject, as_of
),
queries AS (
  SELECT q.subject, q.as_of,
    COUNT(DISTINCT CASE WHEN q.query_date > q.d30 AND q.reason_code IN ({_APPLICATION})
                        THEN q.institution_code END) AS app_30,
    COUNT(DISTINCT CASE WHEN q.query_date > q.d90 AND q.reason_code IN ({_APPLICATION})
                        THEN q.institution_code END) AS app_90,
    COUNT(DISTINCT CASE WHEN q.query_date > q.d30 THEN q.institution_code END) AS all_30,
    COUNT(DISTINCT CASE WHEN q.query_date > q.d90 THEN q.institution_code END) AS all_90
  FROM {known("credit_bureau_queries", on=on)} q
  JOIN report ON report.subject = q.subject AND report.as_of = q.as_of
   AND report.report_no = q.report_no
  GROUP BY q.subject, q.as_of
),
public AS (
  SELECT p.subject, p.as_of, COUNT(*) AS n_records
  FROM {known("credit_bureau_public_records", on=on)} p
  JOIN report ON report.subject = p.subject AND report.as_of = p.as_of
   AND report.report_no = p.report_no
  GROUP BY p.subject, p.as_of
),
instalments AS (
  SELECT subject, as_of, due_date, m24,
    principal_due + interest_due - COALESCE(paid_amount, 0) AS owed,
    due_date < as_of AND (paid_date IS NULL OR paid_date > as_of) AS unpaid_overdue,
    {_LATE_DAYS} AS days_late
  FROM {known("bank_repayments", on=on)}
),
own AS (
  SELECT subject, as_of,
    SUM(CASE WHEN due_date > m24 THEN 1 ELSE 0 END) AS due_24m,
    SUM(CASE WHEN due_date > m24 AND days_late > 0 THEN 1 ELSE 0 END) AS late_24m,
    MAX(CASE WHEN due_date > m24 THEN GREATEST(days_late, 0) END) AS max_late_24m,
    SUM(CASE WHEN unpaid_overdue THEN 1 ELSE 0 END) AS unpaid_now,
    SUM(CASE WHEN unpaid_overdue THEN GREATEST(owed, 0) ELSE 0 END) AS unpaid_amount
  FROM instalments GROUP BY subject, as_of
),
bureau AS (
  SELECT report.subject, report.as_of, report.report_date,
    COALESCE(acc.n_accounts, 0) AS n_accounts, COALESCE(acc.n_open, 0) AS n_open,
    COALESCE(acc.n_overdue, 0) AS n_overdue, COALESCE(acc.overdue_amount, 0) AS overdue_amount,
    COALESCE(acc.overdue_months, 0) AS overdue_months,
    COALESCE(acc.overdue_accounts, 0) AS overdue_accounts,
    COALESCE(acc.worst_dpd, 0) AS worst_dpd, COALESCE(acc.writeoff, 0) = 1 AS writeoff,
    acc.grade,
    COALESCE(queries.app_30, 0) AS app_30, COALESCE(queries.app_90, 0) AS app_90,
    COALESCE(queries.all_30, 0) AS all_30, COALESCE(queries.all_90, 0) AS all_90,
    COALESCE(public.n_records, 0) AS n_records
  FROM report
  LEFT JOIN acc ON acc.subject = report.subject AND acc.as_of = report.as_of
  LEFT JOIN queries ON queries.subject = report.subject AND queries.as_of = report.as_of
  LEFT JOIN public ON public.subject = report.subject AND public.as_of = report.as_of
)
SELECT s.subject, s.as_of,
  bureau.report_date AS bureau_report_date,
  bureau.n_accounts AS bureau_accounts,
  bureau.n_open AS bureau_open_accounts,
  bureau.n_overdue AS bureau_overdue_accounts,
  bureau.overdue_amount AS bureau_overdue_amount,
  bureau.overdue_months AS bureau_overdue_months_24m,
  bureau.overdue_accounts AS bureau_overdue_accounts_24m,
  bureau.worst_dpd AS bureau_worst_dpd_24m,
  bureau.writeoff AS bureau_writeoff_24m,
  CASE bureau.grade {_GRADE_NAME} END AS bureau_worst_five_category,
  bureau.app_30 AS bureau_application_orgs_30d,
  bureau.app_90 AS bureau_application_orgs_90d,
  bureau.all_30 AS bureau_query_orgs_30d,
  bureau.all_90 AS bureau_query_orgs_90d,
  bureau.n_records AS bureau_public_records,
  own.due_24m AS bank_instalments_due_24m,
  own.late_24m AS bank_late_instalments_24m,
  own.max_late_24m AS bank_max_days_late_24m,
  own.unpaid_now AS bank_unpaid_overdue_instalments,
  own.unpaid_amount AS bank_unpaid_overdue_amount
FROM spine s
LEFT JOIN bureau ON bureau.subject = s.subject AND bureau.as_of = s.as_of
LEFT JOIN own ON own.subject = s.subject AND own.as_of = s.as_of
"""


_ACC = ("credit_bureau_accounts",)
_Q = ("credit_bureau_queries",)
_REP = ("bank_repayments", "bank_loans")
_NO_REPORT = (
    "no credit report of the {who} known by the date (none fetched, or one listing nothing)"
)
_NO_LOAN = "no instalment of a loan with this bank known by the date"
_WINDOW = (
    "the report's 60-month repayment string, months from 23 before the as-of month to "
    "the report month"
)


def credit_features(who: str) -> tuple[Feature, ...]:
    """The module's features, described for a `who` ("person" or "firm")."""
    no_report = _NO_REPORT.format(who=who)
    return (
        Feature("bureau_report_date", "date", "Date of the credit report the bureau features read.",
                "latest report dated on or before the as-of date", _BUREAU, no_report),
        Feature("bureau_accounts", "int", "Credit accounts in the report, at every lender.",
                "accounts of the latest report", _ACC, no_report, unit="count"),
        Feature("bureau_open_accounts", "int", "Accounts not settled or cancelled.",
                "account state other than 结清 and 销户 (呆账 is still owed)", _ACC, no_report,
                unit="count"),
        Feature("bureau_overdue_accounts", "int", "Accounts overdue on the report date.",
                "state 逾期 or 呆账, or overdue periods or amount above zero", _ACC, no_report,
                unit="count"),
        Feature("bureau_overdue_amount", "float", "Amount overdue on the report date.",
                "sum of the accounts' current overdue amounts", _ACC, no_report, unit="元"),
        Feature("bureau_overdue_months_24m", "int", "Account-months overdue in the last 24 months.",
                f"months coded 1-7 or B (written off, still owed) in {_WINDOW}, over all accounts",
                _ACC, no_report, unit="count"),
        Feature("bureau_overdue_accounts_24m", "int", "Accounts overdue in the last 24 months.",
                f"accounts with a 1-7 or B code in {_WINDOW}", _ACC, no_report, unit="count"),
        Feature("bureau_worst_dpd_24m", "int", "Worst days past due in the last 24 months.",
                f"worst code in {_WINDOW} times 30 days (code k = k periods behind, the bureau's "
                "five-category convention; 7 and B mean 180 days or more, shown as 210)",
                _ACC, no_report, unit="days"),
        Feature("bureau_writeoff_24m", "bool", "A debt written off or settled by a guarantor or "
                "collateral in the last 24 months.", f"a B, D or Z code in {_WINDOW}", _ACC,
                no_report),
        Feature("bureau_worst_five_category", "text", "Worst five-category grade of any account.",
                "worst of 正常 < 关注 < 次级 < 可疑 < 损失 over the report's graded accounts", _ACC,
                no_report + ", or no account in it carries a grade (cards, closed accounts)"),
        Feature("bureau_application_orgs_30d", "int", "Institutions that queried the report for "
                "a credit application in the last 30 days.", "distinct institutions, reasons 02 "
                "loan, 03 card, 24 financing, 26 limit approval, query date after as_of - 30 days",
                _Q, no_report, unit="count"),
        Feature("bureau_application_orgs_90d", "int", "Institutions that queried the report for "
                "a credit application in the last 90 days.", "as the 30-day count, over 90 days",
                _Q, no_report, unit="count"),
        Feature("bureau_query_orgs_30d", "int", "Institutions that queried the report for any "
                "reason in the last 30 days.", "distinct institutions, every reason (post-loan "
                "and guarantee reviews included)", _Q, no_report, unit="count"),
        Feature("bureau_query_orgs_90d", "int", "Institutions that queried the report for any "
                "reason in the last 90 days.", "as the 30-day count, over 90 days", _Q,
                no_report, unit="count"),
        Feature("bureau_public_records", "int", "Public records in the report.",
                "court enforcement, dishonest-debtor and tax-arrears records of the latest report",
                ("credit_bureau_public_records",), no_report, unit="count"),
        Feature("bank_instalments_due_24m", "int", "This bank's instalments due in the last 24 "
                "months.", "instalments with due date after as_of - 24 months", _REP, _NO_LOAN,
                unit="count"),
        Feature("bank_late_instalments_24m", "int", "Of those, instalments paid late or unpaid "
                "past due.", "paid after the due date (by the as-of date), or unpaid and due "
                "before it", _REP, _NO_LOAN, unit="count"),
        Feature("bank_max_days_late_24m", "int", "Most days late on an instalment due in the last "
                "24 months.", "paid date (or, unpaid, the as-of date) minus due date, in days",
                _REP, _NO_LOAN + ", or none due in the last 24 months", unit="days"),
        Feature("bank_unpaid_overdue_instalments", "int", "Instalments past due and unpaid on the "
                "as-of date.", "due before the as-of date, not paid by it, any due date", _REP,
                _NO_LOAN, unit="count"),
        Feature("bank_unpaid_overdue_amount", "float", "Amount past due and unpaid on the as-of "
                "date.", "principal and interest due less paid, over unpaid past-due instalments",
                _REP, _NO_LOAN, unit="元"),
    )  # fmt: skip


MODULE = Module(
    name="credit", kind="person", title="Credit", features=credit_features("person"),
    sql=credit_sql("person"),
)  # fmt: skip
