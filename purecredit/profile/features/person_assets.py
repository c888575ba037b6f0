"""Person module, assets and liabilities: what the person owns, what is seized, what they owe.

Registers that cover the whole county (the property register and its seizures, this bank's
loan book) answer "none" for a person they do not list: a count is 0 once the bank knows the
register by the date (`arrived`: its first record known, under the history rule dated back to
that record's own date), and NULL only before (nothing known either way). The credit
report is per person, so debt at other lenders is NULL for a person with no report.

Total debt adds this bank's loans from its own books (fresher than the bureau's month-end
figure) to the report's balances at other lenders; the bank's own accounts in the report carry
its loan numbers and are left out so that nothing counts twice. Income for the debt ratio is
12 times the average monthly inflow to the person's deposit accounts over the last 12 months:
money that passes through this bank, a floor on income rather than a measure of it.
"""

from __future__ import annotations

from purecredit.profile.feature import Feature, Module, arrived, known, mean, ratio
from purecredit.profile.features.person_credit import latest_report

_OPEN = 1.0  # 元: principal left below this is rounding in the schedule, not an open loan


def delivered(source: str) -> str:
    """The spine dates by which `source` had reached the bank at all. Reads `r_<source>` only
    for its first arrival time, which is known by every later cutoff: no leakage."""
    return f"""SELECT d.as_of FROM (SELECT DISTINCT as_of, cutoff FROM spine) d
  JOIN {arrived(source)} r ON r.first_known < d.cutoff"""


_PRINCIPAL_PAID = (
    "CASE WHEN paid_date IS NOT NULL AND paid_date <= as_of "
    "THEN LEAST(principal_due, GREATEST(COALESCE(paid_amount, 0) - interest_due, 0)) ELSE 0 END"
)

SQL = f"""
WITH property AS (
  SELECT subject, as_of, COUNT(*) AS n, SUM(area) AS area, COALESCE(SUM(price), 0) AS value,
    SUM(CASE WHEN price IS NULL THEN 1 ELSE 0 END) AS unpriced
  FROM {known("property_registry")} GROUP BY subject, as_of
),
seizures AS (
  SELECT subject, as_of, COUNT(*) AS n,
    SUM(CASE WHEN released_on IS NULL OR released_on > as_of THEN 1 ELSE 0 END) AS active
  FROM {known("property_seizures")} GROUP BY subject, as_of
),
paid AS (
  SELECT subject, as_of, loan_id, SUM({_PRINCIPAL_PAID}) AS principal
  FROM {known("bank_repayments")} GROUP BY subject, as_of, loan_id
),
loans AS (
  SELECT l.subject, l.as_of, l.loan_id,
    GREATEST(l.amount - COALESCE(paid.principal, 0), 0) AS outstanding
  FROM {known("bank_loans")} l
  LEFT JOIN paid ON paid.subject = l.subject AND paid.as_of = l.as_of
   AND paid.loan_id = l.loan_id
),
bank AS (
  SELECT subject, as_of,
    SUM(CASE WHEN outstanding >= {_OPEN} THEN 1 ELSE 0 END) AS n_open,
    SUM(CASE WHEN outstanding >= {_OPEN} THEN outstanding ELSE 0 END) AS outstanding
  FROM loans GROUP BY subject, as_of
),
report AS ({latest_report()}),
accounts AS (
  SELECT a.subject, a.as_of, a.balance, a.account_state,
    CASE WHEN own.loan_id IS NULL THEN 0 ELSE 1 END AS at_this_bank
  FROM {known("credit_bureau_accounts")} a
  JOIN report ON report.subject = a.subject AND report.as_of = a.as_of
   AND report.report_no = a.report_no
  LEFT JOIN loans own ON own.subject = a.subject AND own.as_of = a.as_of
   AND own.loan_id = a.account_no
),
bureau AS (
  SELECT report.subject, report.as_of,
    COALESCE(SUM(accounts.balance), 0) AS balance,
    COALESCE(SUM(CASE WHEN accounts.at_this_bank = 0 THEN accounts.balance END), 0) AS other,
    COALESCE(SUM(CASE WHEN accounts.at_this_bank = 0 AND accounts.account_state
                      NOT IN ('结清', '销户') THEN 1 ELSE 0 END), 0) AS other_open
  FROM report
  LEFT JOIN accounts ON accounts.subject = report.subject AND accounts.as_of = report.as_of
  GROUP BY report.subject, report.as_of
),
monthly AS (
  SELECT subject, as_of, month, SUM(inflow) AS inflow
  FROM {known("bank_deposits", since="m12")}
  WHERE inflow IS NOT NULL
  GROUP BY subject, as_of, month
),
income AS (
  SELECT subject, as_of, 12 * {mean("inflow")} AS annual FROM monthly GROUP BY subject, as_of
),
registered AS ({delivered("property_registry")}),
seizure_register AS ({delivered("property_seizures")}),
loan_book AS ({delivered("bank_loans")}),
assets AS (
  SELECT s.subject, s.as_of,
    CASE WHEN registered.as_of IS NOT NULL THEN COALESCE(property.n, 0) END AS n_property,
    CASE WHEN registered.as_of IS NOT NULL THEN COALESCE(property.area, 0) END AS area,
    CASE WHEN registered.as_of IS NOT NULL THEN COALESCE(property.value, 0) END AS value,
    CASE WHEN registered.as_of IS NOT NULL THEN COALESCE(property.unpriced, 0) END AS unpriced,
    CASE WHEN seizure_register.as_of IS NOT NULL THEN COALESCE(seizures.active, 0) END AS seized,
    CASE WHEN seizure_register.as_of IS NOT NULL THEN COALESCE(seizures.n, 0) END AS n_seizures,
    CASE WHEN loan_book.as_of IS NOT NULL THEN COALESCE(bank.n_open, 0) END AS bank_open,
    CASE WHEN loan_book.as_of IS NOT NULL THEN COALESCE(bank.outstanding, 0) END AS bank_owed,
    bureau.balance, bureau.other, bureau.other_open, income.annual
  FROM spine s
  LEFT JOIN property ON property.subject = s.subject AND property.as_of = s.as_of
  LEFT JOIN seizures ON seizures.subject = s.subject AND seizures.as_of = s.as_of
  LEFT JOIN bank ON bank.subject = s.subject AND bank.as_of = s.as_of
  LEFT JOIN bureau ON bureau.subject = s.subject AND bureau.as_of = s.as_of
  LEFT JOIN income ON income.subject = s.subject AND income.as_of = s.as_of
  LEFT JOIN registered ON registered.as_of = s.as_of
  LEFT JOIN seizure_register ON seizure_register.as_of = s.as_of
  LEFT JOIN loan_book ON loan_book.as_of = s.as_of
)
SELECT subject, as_of,
  n_property AS property_count,
  area AS property_area_sqm,
  value AS property_value,
  unpriced AS property_unpriced_count,
  seized > 0 AS property_seized_now,
  seized AS property_seizures_active,
  n_seizures AS property_seizures_total,
  bank_open AS bank_loans_open,
  bank_owed AS bank_loan_outstanding,
  balance AS bureau_balance,
  other AS bureau_other_lender_balance,
  other_open AS bureau_other_lender_open_accounts,
  COALESCE(bank_owed, 0) + other AS total_debt,
  annual AS dti_annual_income,
  CASE WHEN annual > 0 THEN {ratio("COALESCE(bank_owed, 0) + other", "annual")} END
    AS debt_to_income
FROM assets
"""

_PROP = ("property_registry",)
_SEIZ = ("property_seizures", "property_registry")
_LOANS = ("bank_loans", "bank_repayments")
_ACC = ("credit_bureau_accounts",)
_DEBT = ("bank_loans", "bank_repayments", "credit_bureau_accounts")
_NO_REGISTER = "the property register had not reached the bank by the date"
_NO_SEIZURES = "the seizure register had not reached the bank by the date"
_NO_BOOK = "the loan book had not reached the bank by the date"
_NO_REPORT = (
    "no credit report of the person known by the date (none fetched, or one listing nothing)"
)
_NO_INCOME = (
    "no deposit inflow of the person in the last 12 months (no account here, or no money in)"
)
MODULE = Module(
    name="assets_liabilities",
    kind="person",
    title="Assets and liabilities",
    features=(
        Feature("property_count", "int", "Registered real estate units the person owns.",
                "units in the property register naming the person, registered by the date",
                _PROP, _NO_REGISTER, unit="count"),
        Feature("property_area_sqm", "float", "Floor area of the person's registered units.",
                "sum of the units' floor areas", _PROP, _NO_REGISTER, unit="平方米"),
        Feature("property_value", "float", "Registered prices of the person's units.",
                "sum of registered prices; a self-built village house has none and adds 0 "
                "(see property_unpriced_count)", _PROP, _NO_REGISTER, unit="元"),
        Feature("property_unpriced_count", "int", "Units without a registered price.",
                "units whose price is empty (self-built houses)", _PROP, _NO_REGISTER,
                unit="count"),
        Feature("property_seized_now", "bool", "Whether any of the person's units is seized.",
                "a seizure dated by the as-of date and not released by it", _SEIZ, _NO_SEIZURES),
        Feature("property_seizures_active", "int", "Seizures of the person's units in force.",
                "seizure rulings dated by the as-of date and not released by it", _SEIZ,
                _NO_SEIZURES, unit="count"),
        Feature("property_seizures_total", "int", "Seizures of the person's units ever.",
                "seizure rulings dated by the as-of date, released or not", _SEIZ, _NO_SEIZURES,
                unit="count"),
        Feature("bank_loans_open", "int", "This bank's loans to the person still owed.",
                f"loans paid out by the date with principal outstanding of {_OPEN:.0f} 元 or more",
                _LOANS, _NO_BOOK, unit="count"),
        Feature("bank_loan_outstanding", "float", "Principal the person owes this bank.",
                "amount lent less principal repaid by the date (a payment covers interest "
                "first), over the loans paid out by the date", _LOANS, _NO_BOOK, unit="元"),
        Feature("bureau_balance", "float", "Outstanding balance at every lender, per the report.",
                "sum of the balances of the latest credit report's accounts (this bank's too)",
                _ACC, _NO_REPORT, unit="元"),
        Feature("bureau_other_lender_balance", "float", "Outstanding balance at other lenders.",
                "report balances of accounts that are not this bank's loans (account number "
                "not a loan number of the person's in the loan book)", _ACC, _NO_REPORT,
                unit="元"),
        Feature("bureau_other_lender_open_accounts", "int", "Open accounts at other lenders.",
                "report accounts not this bank's and not settled or cancelled", _ACC,
                _NO_REPORT, unit="count"),
        Feature("total_debt", "float", "Everything the person owes, to this bank and others.",
                "bank_loan_outstanding (0 when unknown) plus bureau_other_lender_balance",
                _DEBT, _NO_REPORT + ": debt at other lenders is unknown", unit="元"),
        Feature("dti_annual_income", "float", "Yearly income the debt ratio is measured against.",
                "12 x the average monthly inflow to the person's deposit accounts, over the "
                "months of the last 12 with an inflow figure", ("bank_deposits",), _NO_INCOME,
                unit="元"),
        Feature("debt_to_income", "float", "Total debt over yearly income.",
                "total_debt / dti_annual_income", (*_DEBT, "bank_deposits"),
                "total debt unknown (no credit report), or no income basis (no inflow, or 0)",
                unit="ratio"),
    ),
    sql=SQL,
)  # fmt: skip
