"""Enterprise module: the firm as the registers, the tax office, the licence library and the
courts see it.

Monthly feeds (tax returns, social security) are windowed by calendar month, not by day:
month index = year * 12 + month, and "the last 12 months" are the 12 complete months before
the as-of month (a return for month M reaches the bank by the 15th of M+1, so the as-of
month itself is never complete). A day window (`period > m12`) would hold 11 monthly periods
at a month-end date and 12 mid-month, making sales jump with the day of the month.

Copies (licences, courts) say nothing before the bank knows them: a count is 0 when the
source is known by the cutoff (`arrived`: its first record, dated back under the history
rule) and holds nothing about the firm, NULL before.

Herb price exposure: firms carry no herb variety in any source, so the basket is the
varieties the legal representative's household plants (land survey, latest year), else the
county's planted area by variety (latest survey year): a herb trader deals in what the county
grows, and a representative's household crop is their family's own price exposure.
"""

from __future__ import annotations

from purecredit.profile.feature import (
    Feature,
    Module,
    arrived,
    completed_years,
    known,
    month_index,
    ratio,
    reference_as_of,
)

A = month_index("as_of")


def six_means(value: str) -> str:
    """Six times the mean of `value` over one to three rows, as an exact DECIMAL(18,4): the sum
    times 6, 3 or 2. Exact, so products and sums of it are the same in any order and on
    either engine; a mean itself (a division) would not be."""
    return (
        f"CAST(SUM({value}) * CASE COUNT({value}) WHEN 1 THEN 6 WHEN 2 THEN 3 WHEN 3 THEN 2 END"
        " AS DECIMAL(18,4))"
    )


HERB_LICENCES = "('中药材经营备案凭证', '药品经营许可证', '药品经营质量管理规范认证证书')"
# GB/T 4754 names in the registry -> the herb chain's stages; every other industry is 'other'.
INDUSTRY = """CASE WHEN reg.industry IS NULL THEN NULL
  WHEN reg.industry = '中草药种植' THEN 'planting'
  WHEN reg.industry = '中药饮片加工' THEN 'processing'
  WHEN reg.industry = '中药批发' THEN 'trading'
  ELSE 'other' END"""

# The firm's legal representative as of each spine row: compute.py profiles these people.
LEGAL_REP_SQL = f"""SELECT subject, as_of, legal_rep_id AS person
FROM {known("enterprise_registry", on="enterprise")} reg WHERE legal_rep_id IS NOT NULL"""


SQL = f"""
WITH reg AS (SELECT * FROM {known("enterprise_registry", on="enterprise")}),
ret AS (
  SELECT subject, as_of, sales, {month_index("period")} AS m, {A} AS a
  FROM {known("tax_returns", on="enterprise")} x
),
sales AS (
  SELECT subject, as_of,
    SUM(CASE WHEN m BETWEEN a - 12 AND a - 1 THEN sales ELSE 0 END) AS s12,
    SUM(CASE WHEN m BETWEEN a - 24 AND a - 13 THEN sales ELSE 0 END) AS p12,
    SUM(CASE WHEN m BETWEEN a - 3 AND a - 1 THEN sales ELSE 0 END) AS s3,
    SUM(CASE WHEN m BETWEEN a - 15 AND a - 13 THEN sales ELSE 0 END) AS p3
  FROM ret GROUP BY subject, as_of
),
staff AS (
  SELECT subject, as_of, resident_id, {month_index("month")} AS m, {A} AS a
  FROM {known("social_security", on="employer_uscc")} x WHERE insurance = '职工基本养老保险'
),
staff_month AS (
  SELECT subject, as_of, MAX(m) AS m FROM staff WHERE m BETWEEN a - 3 AND a - 1
  GROUP BY subject, as_of
),
employees AS (
  SELECT st.subject, st.as_of, COUNT(DISTINCT st.resident_id) AS n
  FROM staff st JOIN staff_month sm ON sm.subject = st.subject AND sm.as_of = st.as_of
    AND sm.m = st.m
  GROUP BY st.subject, st.as_of
),
lic AS (
  SELECT subject, as_of,
    SUM(CASE WHEN status <> '注销' AND expires_on >= as_of THEN 1 ELSE 0 END) AS live,
    MAX(CASE WHEN status <> '注销' AND expires_on >= as_of AND licence_type IN {HERB_LICENCES}
        THEN 1 ELSE 0 END) AS herb
  FROM {known("electronic_licences", on="enterprise")} x GROUP BY subject, as_of
),
grade AS (
  SELECT subject, as_of, grade, year FROM (
    SELECT g.subject, g.as_of, g.grade, g.year,
      ROW_NUMBER() OVER (PARTITION BY g.subject, g.as_of ORDER BY g.year DESC) AS n
    FROM {known("tax_credit_grade", on="enterprise")} g) x WHERE n = 1
),
cases AS (
  SELECT subject, as_of, SUM(open) AS n, SUM(open * amount) AS amount FROM (
    SELECT subject, as_of, amount,
      CASE WHEN (closed_on IS NOT NULL AND closed_on > as_of)
             OR (closed_on IS NULL AND status = '执行中') THEN 1 ELSE 0 END AS open
    FROM {known("court_enforcement", on="enterprise")} x) c
  GROUP BY subject, as_of
),
listed AS (
  SELECT subject, as_of,
    MAX(CASE WHEN removed_on IS NULL OR removed_on > as_of THEN 1 ELSE 0 END) AS listed
  FROM {known("dishonest_debtors", on="enterprise")} x GROUP BY subject, as_of
),
rep_spine AS (
  SELECT DISTINCT legal_rep_id AS subject, as_of, cutoff, d30, d90, m3, m6, m12, m24
  FROM reg WHERE legal_rep_id IS NOT NULL
),
rep_home AS (SELECT subject, as_of, household_no FROM {
    known("population_register", spine="rep_spine")
} x),
hh_spine AS (
  SELECT DISTINCT h.household_no AS subject, s.as_of, s.cutoff, s.d30, s.d90, s.m3, s.m6,
    s.m12, s.m24
  FROM rep_home h JOIN rep_spine s ON s.subject = h.subject AND s.as_of = h.as_of
),
hh_plant AS (
  SELECT subject, as_of, year, variety, planted_area,
    MAX(year) OVER (PARTITION BY subject, as_of) AS last_year
  FROM {known("land_planting", on="household", spine="hh_spine")} x
),
dates AS (SELECT DISTINCT as_of, cutoff FROM spine),
county_plant AS (
  SELECT as_of, year, variety, planted_area, MAX(year) OVER (PARTITION BY as_of) AS last_year
  FROM (SELECT d.as_of, l.year, l.variety, l.planted_area, ROW_NUMBER() OVER (
          PARTITION BY d.as_of, l.household_no, l.year ORDER BY l._known_at DESC, l._batch DESC
        ) AS n
        FROM dates d JOIN r_land_planting l ON l._known_at < d.cutoff
          AND l._valid_from <= d.as_of) v WHERE n = 1
),
basket AS (
  SELECT reg.subject, reg.as_of, 'legal_rep_household' AS source, p.variety,
    SUM(p.planted_area) AS w
  FROM reg JOIN rep_home h ON h.subject = reg.legal_rep_id AND h.as_of = reg.as_of
  JOIN hh_plant p ON p.subject = h.household_no AND p.as_of = reg.as_of
    AND p.year = p.last_year AND p.planted_area > 0
  GROUP BY reg.subject, reg.as_of, p.variety
  UNION ALL
  SELECT NULL, as_of, 'county', variety, SUM(planted_area) FROM county_plant
  WHERE year = last_year AND planted_area > 0 GROUP BY as_of, variety
),
prices AS (
  SELECT as_of, variety,
    -- Six times the mean price of the three months (one price a variety a month, so 1-3
    -- prices): exact decimals, so the weighted sums below add in any order alike, on
    -- either engine; the six cancels in the ratio.
    {six_means("CASE WHEN m BETWEEN a - 3 AND a - 1 THEN price_avg END")} AS now_p,
    {six_means("CASE WHEN m BETWEEN a - 15 AND a - 13 THEN price_avg END")} AS before_p
  FROM (SELECT as_of, variety, price_avg, {month_index("month")} AS m, {A} AS a
        FROM {reference_as_of("herb_prices")} p) v
  GROUP BY as_of, variety
),
basket_change AS (
  SELECT b.subject, b.as_of, b.source,
    {ratio("SUM(b.w * pr.now_p)", "SUM(b.w * pr.before_p)")} - 1 AS change
  FROM basket b JOIN prices pr ON pr.as_of = b.as_of AND pr.variety = b.variety
  WHERE pr.now_p IS NOT NULL AND pr.before_p IS NOT NULL
  GROUP BY b.subject, b.as_of, b.source
)
SELECT s.subject, s.as_of,
  reg.entity_type,
  CASE WHEN reg.subject IS NULL THEN NULL
       WHEN reg.closed_on IS NOT NULL AND reg.closed_on <= s.as_of THEN FALSE
       WHEN reg.status = '存续' OR reg.closed_on IS NOT NULL THEN TRUE ELSE FALSE END
    AS firm_is_live,
  {completed_years("s.as_of", "reg.registered_on")} AS firm_age_years,
  reg.registered_capital * 10000 AS registered_capital_yuan,
  {INDUSTRY} AS industry_category,
  CASE WHEN ss.first_known < s.cutoff THEN COALESCE(employees.n, 0) END AS insured_employees,
  CASE WHEN el.first_known < s.cutoff THEN COALESCE(lic.live, 0) END AS live_licences,
  CASE WHEN el.first_known < s.cutoff THEN COALESCE(lic.herb, 0) = 1 END
    AS has_herb_trade_licence,
  grade.grade AS tax_grade,
  grade.year AS tax_grade_year,
  sales.s12 AS sales_12m,
  sales.p12 AS sales_prev_12m,
  {ratio("sales.s12", "sales.p12")} AS sales_trend_12m,
  {ratio("sales.s3", "sales.p3")} AS sales_3m_yoy,
  COALESCE(own.source, county.source) AS herb_basket_source,
  COALESCE(own.change, county.change) AS herb_price_change_12m,
  CASE WHEN ce.first_known < s.cutoff THEN COALESCE(cases.n, 0) END AS open_enforcement_cases,
  CASE WHEN ce.first_known < s.cutoff THEN COALESCE(cases.amount, 0) END
    AS open_enforcement_amount,
  CASE WHEN dd.first_known < s.cutoff THEN COALESCE(listed.listed, 0) = 1 END
    AS on_dishonest_list
FROM spine s
CROSS JOIN {arrived("social_security")} ss
CROSS JOIN {arrived("electronic_licences")} el
CROSS JOIN {arrived("court_enforcement")} ce
CROSS JOIN {arrived("dishonest_debtors")} dd
LEFT JOIN reg ON reg.subject = s.subject AND reg.as_of = s.as_of
LEFT JOIN sales ON sales.subject = s.subject AND sales.as_of = s.as_of
LEFT JOIN employees ON employees.subject = s.subject AND employees.as_of = s.as_of
LEFT JOIN lic ON lic.subject = s.subject AND lic.as_of = s.as_of
LEFT JOIN grade ON grade.subject = s.subject AND grade.as_of = s.as_of
LEFT JOIN cases ON cases.subject = s.subject AND cases.as_of = s.as_of
LEFT JOIN listed ON listed.subject = s.subject AND listed.as_of = s.as_of
LEFT JOIN basket_change own ON own.subject = s.subject AND own.as_of = s.as_of
LEFT JOIN basket_change county ON county.subject IS NULL AND county.as_of = s.as_of
"""

_REG = ("enterprise_registry",)
_TAX = ("tax_returns",)
_LIC = ("electronic_licences",)
_COURT = ("court_enforcement",)
_HERB = ("herb_prices", "land_planting", "population_register", "enterprise_registry")
_NO_REG = "not in the enterprise registry as of the date"
_NO_RET = "no VAT return of the firm known (not a VAT filer on record)"
_NO_LIC = "the licence library had not reached the bank by the date"
MODULE = Module(
    name="enterprise",
    kind="enterprise",
    title="Enterprise",
    features=(
        Feature("entity_type", "text", "Kind of market entity (个体工商户, 有限责任公司, ...).",
                "registry, latest entry", _REG, _NO_REG),
        Feature("firm_is_live", "bool", "Whether the firm was in business on the date.",
                "not closed by the date: status 存续, or deregistered/revoked after the date",
                _REG, _NO_REG),
        Feature("firm_age_years", "int", "Completed years since establishment.",
                "whole years from registered_on to the date", _REG, _NO_REG, unit="years"),
        Feature("registered_capital_yuan", "float", "Registered capital.",
                "registry registered_capital (万元) x 10,000", _REG,
                "not in the registry, or capital not registered", unit="元"),
        Feature("industry_category", "text", "Stage of the herb chain: planting, processing, "
                "trading, or other.", "registry industry: 中草药种植 planting, 中药饮片加工 "
                "processing, 中药批发 trading, anything else other", _REG,
                "not in the registry, or industry not registered"),
        Feature("insured_employees", "int", "Employees on the firm's pension payroll.",
                "distinct contributors to the employees' pension with this employer USCC in "
                "the latest of the last 3 complete months with any; 0 if none",
                ("social_security",), "social security feed not yet received", unit="people"),
        Feature("live_licences", "int", "Electronic licences valid on the date.",
                "licences issued by the date, not cancelled (注销), expiring on or after it",
                _LIC, _NO_LIC, unit="count"),
        Feature("has_herb_trade_licence", "bool", "Holds a live herb-trading, drug-trading "
                "or GSP licence.", "a live 中药材经营备案凭证, 药品经营许可证 or GSP certificate",
                _LIC, _NO_LIC),
        Feature("tax_grade", "text", "Latest taxpayer credit grade (A best ... D, M new).",
                "grade of the latest evaluated year known", ("tax_credit_grade",),
                "no grade published for the firm"),
        Feature("tax_grade_year", "int", "Year the latest tax grade evaluates.",
                "the latest evaluated year known", ("tax_credit_grade",),
                "no grade published for the firm", unit="year"),
        Feature("sales_12m", "float", "Invoiced sales, last 12 complete months.",
                "sum of VAT-return sales for the 12 calendar months before the as-of month",
                _TAX, _NO_RET, unit="元"),
        Feature("sales_prev_12m", "float", "Invoiced sales, the 12 months before those.",
                "sum of VAT-return sales for calendar months 13-24 before the as-of month",
                _TAX, _NO_RET, unit="元"),
        Feature("sales_trend_12m", "float", "Growth of sales: last 12 vs previous 12 months.",
                "sales_12m / sales_prev_12m", _TAX,
                "no returns, or no sales in the previous 12 months", unit="ratio"),
        Feature("sales_3m_yoy", "float", "Season-adjusted turnover: last 3 complete months "
                "against the same 3 months a year before.",
                "sales of months 1-3 before the as-of month / sales of months 13-15", _TAX,
                "no returns, or no sales in the same months a year before", unit="ratio"),
        Feature("herb_basket_source", "text", "Whose herb varieties weigh the price "
                "exposure: legal_rep_household or county.",
                "legal_rep_household when the representative's household planted in the "
                "latest survey year, else county", _HERB, "no herb prices known"),
        Feature("herb_price_change_12m", "float", "Herb price change the firm is exposed to.",
                "area-weighted average price of the basket's varieties over the last 3 "
                "complete months / over the same months a year before, minus 1", _HERB,
                "no herb prices for both periods", unit="ratio"),
        Feature("open_enforcement_cases", "int", "Court enforcement cases open on the date.",
                "cases against the firm filed by the date and not closed by it", _COURT,
                "court enforcement list not yet received", unit="count"),
        Feature("open_enforcement_amount", "float", "Amount to enforce in open cases.",
                "sum of amounts of open_enforcement_cases", _COURT,
                "court enforcement list not yet received", unit="元"),
        Feature("on_dishonest_list", "bool", "On the dishonest judgment debtors list.",
                "a listing published by the date and not removed by it",
                ("dishonest_debtors",), "list not yet received"),
    ),
    sql=SQL,
)  # fmt: skip
