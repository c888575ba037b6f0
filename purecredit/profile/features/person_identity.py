"""Person module 1, identity: who the person is, as the registers say (never who by name)."""

from __future__ import annotations

from purecredit.profile.feature import Feature, Module, completed_years, known

REGISTER = known("population_register")
MARRIAGES = f"""SELECT subject, as_of, kind, registered_on, cert_no
FROM {known("marriage_registry")}
UNION ALL
SELECT subject, as_of, kind, registered_on, cert_no
FROM {known("marriage_registry", on="woman_id")}"""

SQL = f"""
WITH reg AS (SELECT * FROM {REGISTER}),
members AS (
  SELECT reg.subject, reg.as_of, COUNT(DISTINCT other._entity) AS household_size
  FROM reg
  JOIN r_population_register other
    ON other.household_no = reg.household_no
   AND other._known_at < reg.cutoff
  GROUP BY reg.subject, reg.as_of
),
marriage AS (
  SELECT subject, as_of, kind FROM (
    SELECT m.*, ROW_NUMBER() OVER (
      PARTITION BY subject, as_of ORDER BY registered_on DESC, cert_no DESC) AS n
    FROM ({MARRIAGES}) m
  ) latest WHERE n = 1
),
declared AS (SELECT subject, as_of, marital_status FROM {known("bank_customers")})
SELECT s.subject, s.as_of,
  reg.sex,
  {completed_years("s.as_of", "reg.birth_date")} AS age_years,
  SUBSTR(reg.household_no, 1, 6) AS district_code,
  reg.relation = '户主' AS is_household_head,
  members.household_size,
  COALESCE(CASE marriage.kind WHEN '结婚登记' THEN '已婚' WHEN '离婚登记' THEN '离婚' END,
           declared.marital_status) AS marital_status,
  CASE WHEN marriage.kind IS NOT NULL THEN 'marriage_registry'
       WHEN declared.marital_status IS NOT NULL THEN 'bank_customers' END AS marital_status_source
FROM spine s
LEFT JOIN reg ON reg.subject = s.subject AND reg.as_of = s.as_of
LEFT JOIN members ON members.subject = s.subject AND members.as_of = s.as_of
LEFT JOIN marriage ON marriage.subject = s.subject AND marriage.as_of = s.as_of
LEFT JOIN (
  SELECT subject, as_of, MAX(marital_status) AS marital_status FROM declared
  GROUP BY subject, as_of
) declared ON declared.subject = s.subject AND declared.as_of = s.as_of
"""

_REG = ("population_register",)
MODULE = Module(
    name="identity",
    kind="person",
    title="Identity",
    features=(
        Feature("sex", "text", "Sex as registered (男/女).", "population register, latest record",
                _REG, "not in the population register"),
        Feature("age_years", "int", "Age in whole years on the as-of date.",
                "completed years from the registered birth date", _REG,
                "not in the population register", unit="years"),
        Feature("district_code", "text", "District (county) of the registered household.",
                "first six digits of the household number", _REG,
                "not in the population register"),
        Feature("is_household_head", "bool", "Whether the person heads their household.",
                "relation to head = 户主", _REG, "not in the population register"),
        Feature("household_size", "int", "Registered members of the person's household.",
                "distinct people with the same household number known by the date", _REG,
                "not in the population register", unit="people"),
        Feature("marital_status", "text", "Marital status: 已婚, 离婚, or as declared.",
                "kind of the latest marriage registration naming the person; else what the "
                "person declared to the bank", ("marriage_registry", "bank_customers"),
                "no registration since 2008 and nothing declared"),
        Feature("marital_status_source", "text", "Where marital_status came from.",
                "marriage_registry when a registration exists, else bank_customers",
                ("marriage_registry", "bank_customers"), "marital status unknown"),
    ),
    sql=SQL,
)  # fmt: skip
