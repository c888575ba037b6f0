"""Entity resolution: which person, household or enterprise each record is about.

Every record view `r_<source>` is its `rec_<source>` plus four columns:

- `person` (an ID token, `id:…`), `enterprise` (a USCC) and `household` (a household number):
  whichever the record is about, the others NULL;
- `_known_at`: when the bank could first have tied the record to them, the later of the
  record's own `_observed_at` and that of the record that made the link (a deposit is known to
  be a person's only once the customer master saying whose account it is has arrived), so
  point-in-time features never use a link that was not yet known;
- `_method`: how the match was made; `_reason`: why it was not, for a record left unresolved.

How a match is made, source by source (docs/profile.md):

- by resident ID token or USCC, where the record carries one (most sources);
- a bank account by its customer number through the customer master (`bank_customers`), a
  firm's account by the USCC on the account;
- a loan's instalments by loan number through the loan book (`bank_loans`);
- a seized property unit by its unit number through the property register;
- a household (planting, credit village) by its number, its person being the household head
  in the population register;
- a utility account by the holder's phone *and* name together, both as tokens, against the
  population register and the customer master; a record without a phone by earlier records
  of the same account. A phone alone never decides: a phone shared in a family, or a number
  re-issued, would pin one person's bills on another.

A link that points at several people is not guessed: the record stays unresolved with its
reason, and `unresolved_records` lists every such record. All SQL is portable (joins,
GROUP BY, CASE, GREATEST).
"""

from __future__ import annotations

from collections.abc import Sequence

from purecredit.ingest.catalog import Catalog, SourceDef
from purecredit.profile.records import META, record_table
from purecredit.store.batch import compact
from purecredit.store.spark import BatchSql

# Reference data about no one: the bank's branches, the herb market.
REFERENCE_SOURCES = frozenset({"bank_branches", "herb_prices"})


def view_name(source: str) -> str:
    return f"r_{source}"


def _columns(source: SourceDef, alias: str) -> str:
    names = [*META, *source.fields]
    return ", ".join(f"{alias}.{name}" for name in names)


def _by_token(source: SourceDef, person: str | None, enterprise: str | None) -> str:
    """Records that carry their subject's ID token or USCC: in the entity key or a field."""
    person_sql = person or "CASE WHEN r._entity_type = 'person' THEN r._entity END"
    firm_sql = enterprise or "CASE WHEN r._entity_type = 'enterprise' THEN r._entity END"
    return f"""SELECT {_columns(source, "r")},
  {person_sql} AS person, {firm_sql} AS enterprise, CAST(NULL AS VARCHAR) AS household,
  r._observed_at AS _known_at,
  CASE WHEN {person_sql} IS NOT NULL THEN 'resident ID token'
       WHEN {firm_sql} IS NOT NULL THEN 'USCC' END AS _method,
  CASE WHEN {person_sql} IS NULL AND {firm_sql} IS NULL
       THEN 'record names neither a resident ID nor a USCC' END AS _reason
FROM {record_table(source)} r"""


def _through(
    source: SourceDef, link_sql: str, on: str, method: str, missing: str, firm: str = "NULL"
) -> str:
    """Records linked to a person or firm through another source's records (`link_sql` gives
    `link_key, person, enterprise, known, n`: n > 1 is an ambiguous link)."""
    return f"""SELECT {_columns(source, "r")},
  CASE WHEN l.n = 1 THEN l.person END AS person,
  COALESCE(CASE WHEN l.n = 1 THEN l.enterprise END, {firm}) AS enterprise,
  CAST(NULL AS VARCHAR) AS household,
  GREATEST(r._observed_at, CASE WHEN l.n = 1 THEN l.known END) AS _known_at,
  CASE WHEN l.n = 1 THEN '{method}' WHEN {firm} IS NOT NULL THEN 'USCC' END AS _method,
  CASE WHEN l.n = 1 OR {firm} IS NOT NULL THEN NULL
       WHEN l.n > 1 THEN 'links to several people or firms'
       ELSE '{missing}' END AS _reason
FROM {record_table(source)} r
LEFT JOIN ({link_sql}) l ON l.link_key = {on}"""


CUSTOMERS = """SELECT customer_no AS link_key, MIN(_entity) AS person,
  CAST(NULL AS VARCHAR) AS enterprise, MIN(_observed_at) AS known,
  COUNT(DISTINCT _entity) AS n
FROM rec_bank_customers GROUP BY customer_no"""

LOANS = """SELECT loan_id AS link_key, MIN(resident_id) AS person, MIN(uscc) AS enterprise,
  MIN(_observed_at) AS known,
  COUNT(DISTINCT COALESCE(resident_id, '') || '|' || COALESCE(uscc, '')) AS n
FROM rec_bank_loans GROUP BY loan_id"""

UNITS = """SELECT unit_no AS link_key, MIN(_entity) AS person,
  CAST(NULL AS VARCHAR) AS enterprise, MIN(_observed_at) AS known,
  COUNT(DISTINCT _entity) AS n
FROM rec_property_registry GROUP BY unit_no"""


def _household(source: SourceDef) -> str:
    """A household's records: the household itself, and its head as the person."""
    return f"""SELECT {_columns(source, "r")},
  CASE WHEN h.n = 1 THEN h.person END AS person, CAST(NULL AS VARCHAR) AS enterprise,
  r.household_no AS household, r._observed_at AS _known_at,
  'household number' AS _method,
  CAST(NULL AS VARCHAR) AS _reason
FROM {record_table(source)} r
LEFT JOIN (
  SELECT household_no, MIN(_entity) AS person, COUNT(DISTINCT _entity) AS n
  FROM rec_population_register WHERE relation = '户主' GROUP BY household_no
) h ON h.household_no = r.household_no"""


def _utility(source: SourceDef) -> str:
    """Utility accounts: phone and name together, else the account's other records."""
    return f"""WITH people AS (
  SELECT phone, name, _entity AS person, _observed_at AS known
  FROM rec_population_register WHERE phone IS NOT NULL AND name IS NOT NULL
  UNION ALL
  SELECT phone, name, _entity, _observed_at
  FROM rec_bank_customers WHERE phone IS NOT NULL AND name IS NOT NULL
), by_phone_name AS (
  SELECT phone, name, MIN(person) AS person, COUNT(DISTINCT person) AS n, MIN(known) AS known
  FROM people GROUP BY phone, name
), by_phone AS (
  SELECT phone, COUNT(DISTINCT person) AS n FROM people GROUP BY phone
), matched AS (
  SELECT r.*, CASE WHEN m.n = 1 THEN m.person END AS matched_person,
    CASE WHEN m.n = 1 THEN GREATEST(r._observed_at, m.known) END AS matched_at,
    m.n AS n_match, p.n AS n_phone
  FROM {record_table(source)} r
  LEFT JOIN by_phone_name m ON m.phone = r.holder_phone AND m.name = r.holder_name
  LEFT JOIN by_phone p ON p.phone = r.holder_phone
), accounts AS (
  SELECT account_no, MIN(matched_person) AS person, COUNT(DISTINCT matched_person) AS n,
    MIN(matched_at) AS known
  FROM matched WHERE matched_person IS NOT NULL AND account_no IS NOT NULL GROUP BY account_no
)
SELECT {_columns(source, "r")},
  COALESCE(r.matched_person, CASE WHEN a.n = 1 THEN a.person END) AS person,
  CAST(NULL AS VARCHAR) AS enterprise, CAST(NULL AS VARCHAR) AS household,
  COALESCE(r.matched_at, CASE WHEN a.n = 1 THEN GREATEST(r._observed_at, a.known) END)
    AS _known_at,
  CASE WHEN r.matched_person IS NOT NULL THEN 'phone + name tokens'
       WHEN a.n = 1 THEN 'account history' END AS _method,
  CASE WHEN r.matched_person IS NOT NULL OR a.n = 1 THEN NULL
       WHEN r.n_match > 1 THEN 'phone and name match several people'
       WHEN a.n > 1 THEN 'account matched to several people'
       WHEN r.holder_phone IS NULL THEN 'no phone, and the account is not linked to a person'
       WHEN r.n_phone IS NULL THEN 'phone matches no registered person'
       ELSE 'phone known but the name differs' END AS _reason
FROM matched r LEFT JOIN accounts a ON a.account_no = r.account_no"""


def resolution_sql(source: SourceDef) -> str:
    """The SELECT of `r_<source>`."""
    name = source.name
    if name == "bank_deposits":
        firm = "CASE WHEN r.customer_no LIKE 'E%' THEN r.uscc END"
        return _through(
            source, CUSTOMERS, "r.customer_no", "customer number",
            "customer number not in the customer master", firm,
        )  # fmt: skip
    if name == "bank_repayments":
        return _through(source, LOANS, "r.loan_id", "loan number", "loan not in the loan book")
    if name == "property_seizures":
        return _through(
            source, UNITS, "r.unit_no", "property unit", "unit not in the property register"
        )
    if name in ("land_planting", "credit_village"):
        return _household(source)
    if name == "utility_payments":
        return _utility(source)
    if name == "bank_loans":
        return _by_token(source, "r.resident_id", "r.uscc")
    if name == "credit_bureau_accounts":
        return _by_token(source, "r.subject_resident_id", "r.subject_uscc")
    return _by_token(source, None, None)


def resolved_sources(catalog: Catalog) -> list[str]:
    return sorted(name for name in catalog.sources if name not in REFERENCE_SOURCES)


def create_resolution(
    con: BatchSql, catalog: Catalog, sources: Sequence[str] | None = None
) -> None:
    """`r_<source>` for every source about someone (or those of `sources`, whose records and
    those their links go through must be loaded), and `unresolved_records` over them.

    Materialised: resolution joins are the costliest step, and every module reads the result.
    """
    selects = []
    for name in resolved_sources(catalog) if sources is None else sources:
        source = catalog.source(name)
        con.execute(f"CREATE OR REPLACE TABLE {view_name(name)} AS {resolution_sql(source)}")
        compact(con)
        selects.append(
            f"SELECT '{name}' AS source, _batch AS batch_id, _record AS record, "
            f"_entity AS entity, _reason AS reason FROM {view_name(name)} "
            "WHERE person IS NULL AND enterprise IS NULL AND household IS NULL"
        )
    con.execute("CREATE OR REPLACE VIEW unresolved_records AS " + "\nUNION ALL\n".join(selects))
