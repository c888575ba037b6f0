"""Person module, social and public relations: how the village rates the household, the
courts' record of the person, serious illness, and whether the electricity bill gets paid.

Court, dishonest-debtor and illness records come from registers that cover everyone: once the
register is known, having no record is a 0 (or false), not a NULL; before it is known, NULL.
The credit-village rating is about the household, read through a household spine like the
planting in `person_business`.
"""

from __future__ import annotations

from purecredit.profile.feature import Feature, Module, arrived, known, mean

WINDOWS = "s.as_of, s.cutoff, s.d30, s.d90, s.m3, s.m6, s.m12, s.m24"


SQL = f"""
WITH reg AS (SELECT subject, as_of, household_no FROM {known("population_register")}),
hh AS (
  SELECT DISTINCT reg.household_no AS subject, {WINDOWS}
  FROM reg JOIN spine s ON s.subject = reg.subject AND s.as_of = reg.as_of
),
village AS (
  SELECT subject, as_of, year, credit_village, grade FROM (
    SELECT v.*, ROW_NUMBER() OVER (PARTITION BY subject, as_of ORDER BY year DESC) AS n
    FROM {known("credit_village", on="household", spine="hh")} v
  ) v WHERE n = 1
),
court AS (
  SELECT subject, as_of, COUNT(*) AS cases,
    SUM(CASE WHEN open_ = 1 THEN 1 ELSE 0 END) AS open_cases,
    SUM(CASE WHEN open_ = 1 THEN amount ELSE 0 END) AS open_amount
  FROM (SELECT c.*, CASE WHEN closed_on IS NOT NULL THEN
                      CASE WHEN closed_on > as_of THEN 1 ELSE 0 END
                    WHEN status = '执行中' THEN 1 ELSE 0 END AS open_
        FROM {known("court_enforcement")} c) c
  GROUP BY subject, as_of
),
dishonest AS (
  SELECT subject, as_of, COUNT(*) AS listings,
    MAX(CASE WHEN removed_on IS NULL OR removed_on > as_of THEN 1 ELSE 0 END) AS listed
  FROM {known("dishonest_debtors")} GROUP BY subject, as_of
),
illness AS (
  SELECT subject, as_of, COUNT(*) AS claims, SUM(total_cost - reimbursed) AS own_cost
  FROM {known("medical_serious_illness")} WHERE settled_on > m24 GROUP BY subject, as_of
),
bills AS (
  SELECT subject, as_of, COUNT(*) AS bills,
    {mean("CASE WHEN days_late = 0 THEN 1 ELSE 0 END")} AS on_time,
    MAX(days_late) AS max_late,
    SUM(CASE WHEN paid_on IS NULL OR paid_on > as_of THEN 1 ELSE 0 END) AS unpaid
  FROM {known("utility_payments", since="m12")} GROUP BY subject, as_of
)
SELECT s.subject, s.as_of,
  village.credit_village = '是' AS household_in_credit_village,
  village.grade AS household_credit_grade,
  village.year AS household_credit_year,
  CASE WHEN s.cutoff > ce.first_known THEN COALESCE(court.cases, 0) END AS court_cases_count,
  CASE WHEN s.cutoff > ce.first_known THEN COALESCE(court.open_cases, 0) END AS court_open_cases,
  CASE WHEN s.cutoff > ce.first_known THEN COALESCE(court.open_amount, 0) END AS court_open_amount,
  CASE WHEN s.cutoff > dd.first_known THEN COALESCE(dishonest.listed, 0) = 1 END
    AS dishonest_listed,
  CASE WHEN s.cutoff > dd.first_known THEN COALESCE(dishonest.listings, 0) END
    AS dishonest_listings_count,
  CASE WHEN s.cutoff > mi.first_known THEN COALESCE(illness.claims, 0) END
    AS serious_illness_claims_24m,
  CASE WHEN s.cutoff > mi.first_known THEN COALESCE(illness.own_cost, 0) END
    AS serious_illness_own_cost_24m,
  bills.bills AS utility_bills_12m,
  bills.on_time AS utility_on_time_share_12m,
  bills.max_late AS utility_max_days_late_12m,
  bills.unpaid AS utility_unpaid_bills_12m
FROM spine s
CROSS JOIN {arrived("court_enforcement")} ce
CROSS JOIN {arrived("dishonest_debtors")} dd
CROSS JOIN {arrived("medical_serious_illness")} mi
LEFT JOIN reg ON reg.subject = s.subject AND reg.as_of = s.as_of
LEFT JOIN village ON village.subject = reg.household_no AND village.as_of = s.as_of
LEFT JOIN court ON court.subject = s.subject AND court.as_of = s.as_of
LEFT JOIN dishonest ON dishonest.subject = s.subject AND dishonest.as_of = s.as_of
LEFT JOIN illness ON illness.subject = s.subject AND illness.as_of = s.as_of
LEFT JOIN bills ON bills.subject = s.subject AND bills.as_of = s.as_of
"""

_CV = ("population_register", "credit_village")
_NOT_RATED = "household has no credit rating known (or person not in the register)"
_CE = ("court_enforcement",)
_CE_MISSING = "no enforcement register known by the date"
_DD = ("dishonest_debtors",)
_MI = ("medical_serious_illness",)
_MI_MISSING = "no serious-illness settlements known by the date"
_SENSITIVE = " Sensitive (PIPL art. 28): for post-loan care of existing borrowers only."
_UP = ("utility_payments",)
_NO_BILLS = "no electricity bill resolved to the person in the last 12 months"
MODULE = Module(
    name="social",
    kind="person",
    title="Social and public relations",
    features=(
        Feature("household_in_credit_village", "bool",
                "Whether the household's village was a credit village (信用村).",
                "credit_village = 是 in the latest rating year known", _CV, _NOT_RATED),
        Feature("household_credit_grade", "text",
                "Household credit grade from the credit-village rating (AAA best .. C).",
                "grade of the latest rating year known", _CV, _NOT_RATED),
        Feature("household_credit_year", "int", "Year of the household's latest rating.",
                "max rating year known", _CV, _NOT_RATED, unit="year"),
        Feature("court_cases_count", "int", "Enforcement cases ever filed against the person.",
                "cases filed by the date", _CE, _CE_MISSING, unit="count"),
        Feature("court_open_cases", "int", "Enforcement cases open on the date.",
                "closed after the date, or no closing date and status 执行中", _CE,
                _CE_MISSING, unit="count"),
        Feature("court_open_amount", "float", "Amount to enforce in the open cases.",
                "sum of amount over open cases", _CE, _CE_MISSING, unit="元"),
        Feature("dishonest_listed", "bool",
                "Whether the person is on the dishonest judgment debtors list on the date.",
                "a listing published by the date and not removed by it", _DD,
                "no dishonest-debtor list known by the date"),
        Feature("dishonest_listings_count", "int",
                "Dishonest-debtor listings of the person ever (removed or not).",
                "listings published by the date", _DD,
                "no dishonest-debtor list known by the date", unit="count"),
        Feature("serious_illness_claims_24m", "int",
                "Serious-illness insurance settlements in the last 24 months." + _SENSITIVE,
                "claims settled in the 24 months to the date", _MI, _MI_MISSING, unit="count"),
        Feature("serious_illness_own_cost_24m", "float",
                "Medical cost not paid by serious-illness insurance, last 24 months."
                + _SENSITIVE,
                "sum of total_cost - reimbursed over those claims (basic insurance's share "
                "is not in the source, so this overstates what the family paid)", _MI,
                _MI_MISSING, unit="元"),
        Feature("utility_bills_12m", "int", "Electricity bills in the last 12 months.",
                "bills of accounts resolved to the person, billing month in the last 12 "
                "months", _UP, _NO_BILLS, unit="count"),
        Feature("utility_on_time_share_12m", "float", "Share of those bills paid on time.",
                "bills with days_late = 0 over all bills (unknown lateness counts as not on "
                "time)", _UP, _NO_BILLS, unit="ratio"),
        Feature("utility_max_days_late_12m", "int", "Worst lateness of those bills.",
                "max days_late (for an unpaid bill, days outstanding when reported)", _UP,
                _NO_BILLS + ", or lateness never reported", unit="days"),
        Feature("utility_unpaid_bills_12m", "int", "Bills of those not paid by the date.",
                "no payment date, or paid after the date", _UP, _NO_BILLS, unit="count"),
    ),
    sql=SQL,
)  # fmt: skip
