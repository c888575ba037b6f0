"""Person module, business operations: the herbs the person's household grows, how exposed it
is to the herb price cycle, and the firms the person leads as legal representative.

Two sources are about someone other than the spine's person, so they are read through a
derived spine (`known(..., spine=...)` keeps the point-in-time rule): planting is about the
person's *household* (every member shares it, not only the head that resolution names), and
tax grades and licences are about the person's *firms*. Herb prices are about no one at all.
"""

from __future__ import annotations

from purecredit.profile.feature import (
    Feature,
    Module,
    arrived,
    known,
    month_index,
    ratio,
    reference_as_of,
)

WINDOWS = "s.as_of, s.cutoff, s.d30, s.d90, s.m3, s.m6, s.m12, s.m24"

# Herb prices are about a variety, reached through the household's planting, not about a
# person: read with `reference_as_of`, the point-in-time rule for a source with no subject.
PRICES = f"""SELECT variety, as_of, {month_index("month")} AS idx, price_avg
FROM {reference_as_of("herb_prices")} p"""

SQL = f"""
WITH reg AS (SELECT subject, as_of, household_no FROM {known("population_register")}),
hh AS (
  SELECT DISTINCT reg.household_no AS subject, {WINDOWS}
  FROM reg JOIN spine s ON s.subject = reg.subject AND s.as_of = reg.as_of
),
plant AS (SELECT subject, as_of, year, variety, planted_area, contracted_area
          FROM {known("land_planting", on="household", spine="hh")}),
plant_rank AS (
  SELECT plant.*, ROW_NUMBER() OVER (PARTITION BY subject, as_of ORDER BY year DESC) AS n
  FROM plant
),
kinds AS (
  SELECT subject, as_of, COUNT(DISTINCT variety) AS varieties FROM plant GROUP BY subject, as_of
),
latest AS (
  SELECT cur.subject, cur.as_of, cur.year, cur.variety, cur.planted_area, cur.contracted_area,
    kinds.varieties, cur.planted_area - prev.planted_area AS area_change
  FROM plant_rank cur
  JOIN kinds ON kinds.subject = cur.subject AND kinds.as_of = cur.as_of
  LEFT JOIN plant prev ON prev.subject = cur.subject AND prev.as_of = cur.as_of
   AND prev.year = cur.year - 1
  WHERE cur.n = 1
),
prices AS ({PRICES}),
last_month AS (SELECT variety, as_of, MAX(idx) AS idx FROM prices GROUP BY variety, as_of),
base_month AS (
  SELECT l.variety, l.as_of, l.idx, MAX(p.idx) AS base_idx
  FROM last_month l JOIN prices p ON p.variety = l.variety AND p.as_of = l.as_of
   AND p.idx BETWEEN l.idx - 14 AND l.idx - 12
  GROUP BY l.variety, l.as_of, l.idx
),
price_change AS (
  SELECT b.variety, b.as_of, {ratio("now_p.price_avg", "base_p.price_avg")} - 1 AS change
  FROM base_month b
  JOIN prices now_p ON now_p.variety = b.variety AND now_p.as_of = b.as_of AND now_p.idx = b.idx
  JOIN prices base_p ON base_p.variety = b.variety AND base_p.as_of = b.as_of
   AND base_p.idx = b.base_idx
  WHERE base_p.price_avg > 0
),
firms AS (
  SELECT subject, as_of, enterprise
  FROM {known("enterprise_registry", on="legal_rep_id")}
  WHERE CASE WHEN closed_on IS NOT NULL THEN closed_on > as_of ELSE status = '存续' END
),
firm_spine AS (
  SELECT DISTINCT firms.enterprise AS subject, {WINDOWS}
  FROM firms JOIN spine s ON s.subject = firms.subject AND s.as_of = firms.as_of
),
grades AS (
  SELECT subject, as_of, CASE grade WHEN 'A' THEN 1 WHEN 'B' THEN 2 WHEN 'M' THEN 3
    WHEN 'C' THEN 4 WHEN 'D' THEN 5 END AS rank_
  FROM (SELECT g.*, ROW_NUMBER() OVER (PARTITION BY subject, as_of ORDER BY year DESC) AS n
        FROM {known("tax_credit_grade", on="enterprise", spine="firm_spine")} g) g
  WHERE n = 1
),
licences AS (
  SELECT subject, as_of, MAX(CASE WHEN status <> '注销' AND expires_on >= as_of
                                  THEN 1 ELSE 0 END) AS live
  FROM {known("electronic_licences", on="enterprise", spine="firm_spine")}
  GROUP BY subject, as_of
),
firm_agg AS (
  SELECT f.subject, f.as_of, COUNT(DISTINCT f.enterprise) AS live_firms, MAX(g.rank_) AS worst,
    MAX(COALESCE(l.live, 0)) AS live_licence
  FROM firms f
  LEFT JOIN grades g ON g.subject = f.enterprise AND g.as_of = f.as_of
  LEFT JOIN licences l ON l.subject = f.enterprise AND l.as_of = f.as_of
  GROUP BY f.subject, f.as_of
),
registry AS {arrived("enterprise_registry")},
survey AS {arrived("land_planting")}
SELECT s.subject, s.as_of,
  CASE WHEN latest.year IS NOT NULL THEN TRUE
       WHEN reg.subject IS NOT NULL AND s.cutoff > survey.first_known THEN FALSE END
    AS household_plants_herbs,
  latest.year AS planting_latest_year,
  latest.planted_area AS planted_area_mu,
  latest.contracted_area AS contracted_area_mu,
  latest.variety AS planting_main_variety,
  latest.area_change AS planted_area_change_mu,
  CAST(latest.varieties AS BIGINT) AS planting_varieties_count,
  price_change.change AS main_variety_price_change_12m,
  CASE WHEN s.cutoff > registry.first_known THEN COALESCE(firm_agg.live_firms, 0) END
    AS legal_rep_live_firms,
  CASE firm_agg.worst WHEN 1 THEN 'A' WHEN 2 THEN 'B' WHEN 3 THEN 'M' WHEN 4 THEN 'C'
    WHEN 5 THEN 'D' END AS legal_rep_worst_tax_grade,
  firm_agg.live_licence = 1 AS legal_rep_has_live_licence
FROM spine s
CROSS JOIN registry
CROSS JOIN survey
LEFT JOIN reg ON reg.subject = s.subject AND reg.as_of = s.as_of
LEFT JOIN latest ON latest.subject = reg.household_no AND latest.as_of = s.as_of
LEFT JOIN price_change ON price_change.variety = latest.variety
 AND price_change.as_of = s.as_of
LEFT JOIN firm_agg ON firm_agg.subject = s.subject AND firm_agg.as_of = s.as_of
"""

_LP = ("population_register", "land_planting")
_NO_PLANTING = "household has no planting survey record known (or person not in the register)"
_FIRMS = ("enterprise_registry",)
MODULE = Module(
    name="business",
    kind="person",
    title="Business operations",
    features=(
        Feature("household_plants_herbs", "bool",
                "Whether the person's household appears in the herb planting survey.",
                "any land_planting record of the registered household known by the date",
                _LP, "person not in the population register, or no planting survey known yet"),
        Feature("planting_latest_year", "int", "Latest survey year of the household's planting.",
                "max year among known planting records", _LP, _NO_PLANTING, unit="year"),
        Feature("planted_area_mu", "float", "Area the household planted with herbs.",
                "planted_area of the latest survey year", _LP, _NO_PLANTING, unit="亩 (mu)"),
        Feature("contracted_area_mu", "float", "Contracted land of the household.",
                "contracted_area of the latest survey year", _LP,
                _NO_PLANTING + ", or the survey left it empty", unit="亩 (mu)"),
        Feature("planting_main_variety", "text", "Herb variety the household plants.",
                "variety of the latest survey year (one variety per household and year)",
                _LP, _NO_PLANTING),
        Feature("planted_area_change_mu", "float", "Change of planted area over one year.",
                "latest year's planted area minus the previous year's", _LP,
                _NO_PLANTING + ", or no record for the year before the latest",
                unit="亩 (mu)"),
        Feature("planting_varieties_count", "int", "Herb varieties the household has planted.",
                "distinct varieties over all known survey years", _LP, _NO_PLANTING,
                unit="count"),
        Feature("main_variety_price_change_12m", "float",
                "Twelve-month wholesale price change of the household's main variety.",
                "average price of the latest published month known by the date over that "
                "12 months earlier (the latest of 12-14 months earlier when a month is "
                "missing from the bulletin), minus 1",
                (*_LP, "herb_prices"),
                _NO_PLANTING + ", or no price 12-14 months before the latest",
                unit="ratio"),
        Feature("legal_rep_live_firms", "int",
                "Firms in business that the person leads as legal representative.",
                "registry entities with legal_rep_id = person, status 存续 and not closed "
                "by the date (an entity closed after the date still counts)",
                _FIRMS, "no enterprise registry known by the date", unit="count"),
        Feature("legal_rep_worst_tax_grade", "text",
                "Worst taxpayer credit grade among the person's live firms.",
                "each firm's grade of its latest evaluated year known; order A (best), B, "
                "M (new taxpayer), C, D (worst)", (*_FIRMS, "tax_credit_grade"),
                "leads no live firm, or none of them graded"),
        Feature("legal_rep_has_live_licence", "bool",
                "Whether any of the person's live firms holds a licence valid on the date.",
                "electronic licence not cancelled (注销) and expiring on or after the date",
                (*_FIRMS, "electronic_licences"), "leads no live firm"),
    ),
    sql=SQL,
)  # fmt: skip
