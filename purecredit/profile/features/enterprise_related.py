"""Related-parties module: the firms a firm hangs together with, and the buyer it lives on.

Related firms share a legal representative or a shareholder (a person or a firm) with the
subject, or hold shares in it, or it in them: one person's firms usually fail together, and a
sister firm's tax grade or court case is news about this one. Relations are recomputed here
point-in-time from `known()` records of every firm as of each row (registry entry, latest
shareholder snapshot), not read from the current graph (`profile/graph.py`), which would let
a relation formed after the date leak into a training row.

Concentration: a supplier selling most of its output to one core firm stands or falls with
it; the share is over the 12 complete months before the as-of month (see `enterprise`).
"""

from __future__ import annotations

from purecredit.profile.feature import Feature, Module, arrived, known, month_index, ratio
from purecredit.profile.features.enterprise import A

# Worst first: D, then C, then M (a new taxpayer, not yet graded), then B, then A.
GRADE_RANK = (
    "CASE grade WHEN 'D' THEN 5 WHEN 'C' THEN 4 WHEN 'M' THEN 3 WHEN 'B' THEN 2 WHEN 'A' THEN 1 END"
)

SQL = f"""
WITH dates AS (SELECT DISTINCT as_of, cutoff, d30, d90, m3, m6, m12, m24 FROM spine),
firm_spine AS (
  SELECT f.subject, d.as_of, d.cutoff, d.d30, d.d90, d.m3, d.m6, d.m12, d.m24
  FROM (SELECT DISTINCT enterprise AS subject FROM r_enterprise_registry
        WHERE enterprise IS NOT NULL) f CROSS JOIN dates d
),
reps AS (
  SELECT subject AS firm, as_of, legal_rep_id
  FROM {known("enterprise_registry", on="enterprise", spine="firm_spine")} x
),
holders AS (
  SELECT firm, as_of, party FROM (
    SELECT subject AS firm, as_of, COALESCE(holder_id, holder_uscc) AS party,
      DENSE_RANK() OVER (PARTITION BY subject, as_of ORDER BY _known_at DESC, _batch DESC)
        AS snapshot
    FROM {known("enterprise_shareholders", on="enterprise", spine="firm_spine", latest_by=())} x
  ) h WHERE snapshot = 1 AND party IS NOT NULL
),
parties AS (
  SELECT firm, as_of, legal_rep_id AS party FROM reps WHERE legal_rep_id IS NOT NULL
  UNION SELECT firm, as_of, party FROM holders
  UNION SELECT firm, as_of, firm FROM reps
),
pairs AS (
  SELECT DISTINCT a.firm AS subject, a.as_of, b.firm AS other
  FROM spine s
  JOIN parties a ON a.firm = s.subject AND a.as_of = s.as_of
  JOIN parties b ON b.party = a.party AND b.as_of = a.as_of AND b.firm <> a.firm
),
other_spine AS (
  SELECT DISTINCT p.other AS subject, d.as_of, d.cutoff, d.d30, d.d90, d.m3, d.m6, d.m12, d.m24
  FROM pairs p JOIN dates d ON d.as_of = p.as_of
),
other_grade AS (
  SELECT subject, as_of, {GRADE_RANK} AS rank FROM (
    SELECT g.subject, g.as_of, g.grade,
      ROW_NUMBER() OVER (PARTITION BY g.subject, g.as_of ORDER BY g.year DESC) AS n
    FROM {known("tax_credit_grade", on="enterprise", spine="other_spine")} g) x WHERE n = 1
),
other_cases AS (
  SELECT subject, as_of, SUM(amount) AS amount
  FROM {known("court_enforcement", on="enterprise", spine="other_spine")} x
  WHERE (closed_on IS NOT NULL AND closed_on > as_of) OR (closed_on IS NULL AND status = '执行中')
  GROUP BY subject, as_of
),
related AS (
  SELECT p.subject, p.as_of, COUNT(*) AS n, MAX(g.rank) AS worst,
    MAX(CASE WHEN c.subject IS NOT NULL THEN 1 ELSE 0 END) AS open_case,
    SUM(COALESCE(c.amount, 0)) AS open_amount
  FROM pairs p
  LEFT JOIN other_grade g ON g.subject = p.other AND g.as_of = p.as_of
  LEFT JOIN other_cases c ON c.subject = p.other AND c.as_of = p.as_of
  GROUP BY p.subject, p.as_of
),
inv AS (
  SELECT subject, as_of, buyer_uscc, period, amount
  FROM {known("tax_invoices", on="enterprise")} x
  WHERE {month_index("period")} BETWEEN {A} - 12 AND {A} - 1
),
ret AS (
  SELECT subject, as_of, period, sales FROM {known("tax_returns", on="enterprise")} x
  WHERE {month_index("period")} BETWEEN {A} - 12 AND {A} - 1
),
monthly AS (
  SELECT COALESCE(i.subject, r.subject) AS subject, COALESCE(i.as_of, r.as_of) AS as_of,
    GREATEST(COALESCE(r.sales, 0), COALESCE(i.amount, 0)) AS total
  FROM (SELECT subject, as_of, period, SUM(amount) AS amount FROM inv
        GROUP BY subject, as_of, period) i
  FULL OUTER JOIN ret r ON r.subject = i.subject AND r.as_of = i.as_of AND r.period = i.period
),
turnover AS (SELECT subject, as_of, SUM(total) AS total FROM monthly GROUP BY subject, as_of),
buyers AS (
  SELECT subject, as_of, buyer_uscc, amount FROM (
    SELECT subject, as_of, buyer_uscc, SUM(amount) AS amount,
      ROW_NUMBER() OVER (PARTITION BY subject, as_of ORDER BY SUM(amount) DESC, buyer_uscc)
        AS n
    FROM inv GROUP BY subject, as_of, buyer_uscc) b WHERE n = 1
)
SELECT s.subject, s.as_of,
  CASE WHEN reg.firm IS NOT NULL THEN COALESCE(related.n, 0) END AS related_firms,
  CASE related.worst WHEN 5 THEN 'D' WHEN 4 THEN 'C' WHEN 3 THEN 'M' WHEN 2 THEN 'B'
    WHEN 1 THEN 'A' END AS related_worst_tax_grade,
  CASE WHEN ce.first_known < s.cutoff AND related.n > 0 THEN related.open_case = 1 END
    AS related_open_enforcement,
  CASE WHEN ce.first_known < s.cutoff AND related.n > 0 THEN related.open_amount END
    AS related_open_enforcement_amount,
  {ratio("COALESCE(buyers.amount, 0)", "turnover.total")} AS top_buyer_share_12m,
  buyers.buyer_uscc AS top_buyer_uscc
FROM spine s
CROSS JOIN {arrived("court_enforcement")} ce
LEFT JOIN reps reg ON reg.firm = s.subject AND reg.as_of = s.as_of
LEFT JOIN related ON related.subject = s.subject AND related.as_of = s.as_of
LEFT JOIN turnover ON turnover.subject = s.subject AND turnover.as_of = s.as_of
LEFT JOIN buyers ON buyers.subject = s.subject AND buyers.as_of = s.as_of
"""

_REL = ("enterprise_registry", "enterprise_shareholders")
_NO_REL = "no related firm known by the date, or the court list not yet received"
_SALES = ("tax_invoices", "tax_returns")
MODULE = Module(
    name="related_parties",
    kind="enterprise",
    title="Related parties",
    features=(
        Feature("related_firms", "int", "Firms related through a legal representative or "
                "shareholder in common, or a shareholding either way.",
                "distinct other firms sharing a party with the firm as of the date", _REL,
                "firm not in the registry as of the date", unit="count"),
        Feature("related_worst_tax_grade", "text", "Worst latest tax grade among related "
                "firms (D worst, then C, M, B, A).", "each related firm's latest grade; the "
                "worst of them", (*_REL, "tax_credit_grade"),
                "no related firm, or none of them graded"),
        Feature("related_open_enforcement", "bool", "Whether any related firm has an open "
                "court enforcement case.", "a related firm's case filed by the date and not "
                "closed by it", (*_REL, "court_enforcement"), _NO_REL),
        Feature("related_open_enforcement_amount", "float", "Amount to enforce in related "
                "firms' open cases.", "sum of their open cases' amounts",
                (*_REL, "court_enforcement"), _NO_REL, unit="元"),
        Feature("top_buyer_share_12m", "float", "Share of the firm's invoiced sales that went "
                "to its largest buyer (usually a core firm), last 12 complete months.",
                "the largest buyer's invoiced amount / the firm's invoiced sales (each "
                "month's VAT-return sales, at least the month's invoices); 0 with no invoice "
                "to any buyer", _SALES, "no sales in the 12 months (no returns or invoices)",
                unit="ratio"),
        Feature("top_buyer_uscc", "text", "USCC of that largest buyer.",
                "the buyer with the largest invoiced amount in the 12 months", _SALES,
                "no invoice to any buyer in the 12 months"),
    ),
    sql=SQL,
)  # fmt: skip
