"""Person module, financial: the money the person keeps with the bank, the pension they pay
into, and how long they have banked with us.

A person may hold several deposit accounts (customer numbers): their month-end balances and
inflows are summed per month first, so every average is over the person's months, not over
accounts. A month without any record is absent, not zero: averages run over the months the
bank has (the count of such months is a feature of its own).
"""

from __future__ import annotations

from purecredit.profile.feature import Feature, Module, arrived, known, mean, month_index

EMPLOYEE = "职工基本养老保险"
RESIDENT = "城乡居民基本养老保险"

SQL = f"""
WITH monthly AS (
  SELECT subject, as_of, m3, m6, m12, month, SUM(balance) AS balance, SUM(inflow) AS inflow
  FROM {known("bank_deposits", since="m12")} GROUP BY subject, as_of, m3, m6, m12, month
),
deposits AS (
  SELECT subject, as_of,
    {mean("CASE WHEN month > m6 THEN balance END")} AS avg_balance_6m,
    {mean("CASE WHEN month > m12 THEN balance END")} AS avg_balance_12m,
    {mean("CASE WHEN month > m12 THEN inflow END")} AS avg_inflow_12m,
    CAST(SUM(CASE WHEN month > m12 THEN inflow END) AS DOUBLE) AS sum_inflow_12m,
    CAST(SUM(CASE WHEN month > m12 THEN inflow * inflow END) AS DOUBLE) AS sum_sq_inflow_12m,
    COUNT(CASE WHEN month > m12 THEN inflow END) AS inflow_months_12m,
    COUNT(CASE WHEN month > m12 THEN month END) AS months_12m
  FROM monthly GROUP BY subject, as_of
),
latest AS (
  SELECT subject, as_of, balance FROM (
    SELECT monthly.*, ROW_NUMBER() OVER (PARTITION BY subject, as_of ORDER BY month DESC) AS n
    FROM monthly WHERE month > m3
  ) m WHERE n = 1
),
pension AS (
  SELECT subject, as_of, COUNT(DISTINCT month) AS months_24m,
    MAX(CASE WHEN insurance = '{EMPLOYEE}' THEN 1 ELSE 0 END) AS employee,
    MAX(CASE WHEN insurance = '{RESIDENT}' THEN 1 ELSE 0 END) AS resident
  FROM {known("social_security", since="m24")} GROUP BY subject, as_of
),
pension_base AS (
  SELECT subject, as_of, base FROM (
    SELECT p.subject, p.as_of, p.base, ROW_NUMBER() OVER (
      PARTITION BY p.subject, p.as_of ORDER BY p.month DESC, p.base DESC) AS n
    FROM {known("social_security")} p WHERE p.base IS NOT NULL
  ) b WHERE n = 1
),
customer AS (
  SELECT subject, as_of, MIN(opened) AS opened
  FROM {known("bank_customers")} GROUP BY subject, as_of
),
customers_since AS {arrived("bank_customers")},
pensions_since AS {arrived("social_security")}
SELECT s.subject, s.as_of,
  latest.balance AS deposit_balance_latest,
  deposits.avg_balance_6m AS deposit_avg_balance_6m,
  deposits.avg_balance_12m AS deposit_avg_balance_12m,
  deposits.avg_inflow_12m AS deposit_avg_inflow_12m,
  CASE WHEN deposits.inflow_months_12m >= 3 AND deposits.avg_inflow_12m > 0
       THEN SQRT(
         (deposits.inflow_months_12m * deposits.sum_sq_inflow_12m
          - deposits.sum_inflow_12m * deposits.sum_inflow_12m)
         / (deposits.inflow_months_12m * (deposits.inflow_months_12m - 1)))
         / deposits.avg_inflow_12m END AS deposit_inflow_cv_12m,
  CASE WHEN deposits.subject IS NOT NULL OR customer.subject IS NOT NULL
       THEN COALESCE(deposits.months_12m, 0) END AS deposit_months_12m,
  CASE WHEN s.cutoff > pensions_since.first_known THEN COALESCE(pension.months_24m, 0) END
    AS pension_months_24m,
  pension_base.base AS pension_latest_base,
  CASE WHEN pension.employee = 1 AND pension.resident = 1 THEN '{EMPLOYEE}+{RESIDENT}'
       WHEN pension.employee = 1 THEN '{EMPLOYEE}'
       WHEN pension.resident = 1 THEN '{RESIDENT}' END AS pension_schemes_24m,
  CASE WHEN customer.subject IS NOT NULL THEN TRUE
       WHEN s.cutoff > customers_since.first_known THEN FALSE END AS is_bank_customer,
  {month_index("s.as_of")} - {month_index("customer.opened")} AS bank_customer_months
FROM spine s
CROSS JOIN customers_since
CROSS JOIN pensions_since
LEFT JOIN latest ON latest.subject = s.subject AND latest.as_of = s.as_of
LEFT JOIN deposits ON deposits.subject = s.subject AND deposits.as_of = s.as_of
LEFT JOIN pension ON pension.subject = s.subject AND pension.as_of = s.as_of
LEFT JOIN pension_base ON pension_base.subject = s.subject AND pension_base.as_of = s.as_of
LEFT JOIN customer ON customer.subject = s.subject AND customer.as_of = s.as_of
"""

_BD = ("bank_customers", "bank_deposits")
_NO_DEP = "no deposit month resolved to the person in the window"
_SS = ("social_security",)
_BC = ("bank_customers",)
MODULE = Module(
    name="financial",
    kind="person",
    title="Financial",
    features=(
        Feature("deposit_balance_latest", "float",
                "Month-end deposit balance of the latest month known.",
                "sum over the person's accounts of the latest month-end in the last 3 months",
                _BD, "no deposit month in the last 3 months (none, or a closed relationship)",
                unit="元"),
        Feature("deposit_avg_balance_6m", "float", "Average month-end balance, last 6 months.",
                "mean over the months with a record of the month's summed balance", _BD,
                _NO_DEP, unit="元"),
        Feature("deposit_avg_balance_12m", "float", "Average month-end balance, last 12 months.",
                "mean over the months with a record of the month's summed balance", _BD,
                _NO_DEP, unit="元"),
        Feature("deposit_avg_inflow_12m", "float", "Average monthly inflow, last 12 months.",
                "mean over the months with a record of the month's summed inflow", _BD,
                _NO_DEP, unit="元"),
        Feature("deposit_inflow_cv_12m", "float",
                "Instability of monthly inflow: coefficient of variation over 12 months.",
                "sample standard deviation / mean of the monthly summed inflow (exact sums)", _BD,
                "fewer than 3 months with an inflow, or no inflow at all", unit="ratio"),
        Feature("deposit_months_12m", "int", "Months with any deposit record, last 12.",
                "distinct months with a record of any of the person's accounts", _BD,
                "neither a bank customer nor any deposit record", unit="months"),
        Feature("pension_months_24m", "int", "Months with a pension contribution, last 24.",
                "distinct contribution months (the residents' scheme pays once a year)", _SS,
                "no pension contributions known by the date", unit="months"),
        Feature("pension_latest_base", "float", "Latest employee contribution base.",
                "base of the latest month that has one", _SS,
                "never contributed as an employee", unit="元"),
        Feature("pension_schemes_24m", "text", "Pension schemes paid into in the last 24 months.",
                f"{EMPLOYEE}, {RESIDENT}, or both joined by +", _SS,
                "no contribution in the last 24 months"),
        Feature("is_bank_customer", "bool", "Whether the person is a customer of the bank.",
                "a customer master record known by the date", _BC,
                "customer master not known by the date"),
        Feature("bank_customer_months", "int", "Months since the relationship began.",
                "calendar months from the earliest opening date to the as-of date", _BC,
                "not a customer (or no opening date)", unit="months"),
    ),
    sql=SQL,
)  # fmt: skip
