"""The relationship graph around firms and people: who represents, owns, supplies, lives with
and is married to whom.

`create_graph` builds one DuckDB table `edges (src, src_type, dst, dst_type, kind, weight,
valid_from, _known_at)` from the resolved `r_` tables. Why an edge list, stored both ways:

- one shape for every relation, so a new relation is a new UNION branch, not a new table;
- both directions stored (`legal_rep_of` / `has_legal_rep`, ...), so every walk starts with
  `WHERE src = ?` on one indexed column and a two-hop neighbourhood is two self-joins of one
  table, in any SQL engine (DuckDB, Spark, SQLite, PostgreSQL), with no recursion in Python;
- `kind` names the relation from `src`'s side, so a path reads as the kinds along it
  (`has_legal_rep/legal_rep_of`: a firm's representative represents another firm).

The graph is *current*: built from every record as loaded, the latest version of each
(the registry's latest entry per firm, the latest shareholder snapshot per firm, the latest
marriage registration per couple). `valid_from` and `_known_at` say since when an edge holds
and since when the bank could know it, but the graph is not point-in-time: features that
must be (profile modules) recompute relations from `known()` records instead.

`materialise_edges` copies it to the ledger (`profile_edges`) for the online path, and
`related_online` answers `related` from there with the very same SQL text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Index,
    MetaData,
    String,
    Table,
    text,
)

from purecredit.profile.feature import ratio
from purecredit.store.duck import arrow
from purecredit.store.ledger import replace_table
from purecredit.store.spark import BatchSql

EDGE_TABLE = "profile_edges"

# Latest version of each record key, as known() orders versions.
_LATEST = (
    "ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY _known_at DESC, _batch DESC, _record DESC)"
)

EDGES_SQL = f"""
WITH registry AS (
  SELECT * FROM (SELECT r.*, {_LATEST.format(key="enterprise")} AS n
                 FROM r_enterprise_registry r WHERE enterprise IS NOT NULL) x WHERE n = 1
),
holders AS (
  -- a shareholder list is a snapshot: the firm's latest delivery is its current list
  SELECT * FROM (
    SELECT r.*, DENSE_RANK() OVER (PARTITION BY enterprise ORDER BY _known_at DESC, _batch DESC)
      AS n FROM r_enterprise_shareholders r WHERE enterprise IS NOT NULL) x
  WHERE n = 1 AND COALESCE(holder_id, holder_uscc) IS NOT NULL
),
parties AS (
  SELECT legal_rep_id AS party, 'person' AS party_type, enterprise AS firm, 'legal_rep' AS role,
    CAST(NULL AS DOUBLE) AS share_pct, _valid_from, _known_at
  FROM registry WHERE legal_rep_id IS NOT NULL
  UNION ALL
  SELECT COALESCE(holder_id, holder_uscc),
    CASE WHEN holder_id IS NOT NULL THEN 'person' ELSE 'enterprise' END,
    enterprise, 'shareholder', share_pct, _valid_from, _known_at
  FROM holders
),
people AS (
  SELECT * FROM (SELECT r.*, {_LATEST.format(key="person")} AS n
                 FROM r_population_register r WHERE person IS NOT NULL) x WHERE n = 1
),
couples AS (
  SELECT * FROM (
    SELECT person AS man, woman_id AS woman, kind AS reg_kind, registered_on, _known_at,
      ROW_NUMBER() OVER (PARTITION BY person, woman_id
                         ORDER BY registered_on DESC, cert_no DESC, _known_at DESC) AS n
    FROM r_marriage_registry WHERE person IS NOT NULL AND woman_id IS NOT NULL) x
  WHERE n = 1 AND reg_kind = '结婚登记'
),
invoices AS (
  SELECT * FROM (SELECT r.*, {_LATEST.format(key="enterprise, buyer_uscc, period")} AS n
                 FROM r_tax_invoices r WHERE enterprise IS NOT NULL) x WHERE n = 1
),
returns AS (
  SELECT * FROM (SELECT r.*, {_LATEST.format(key="enterprise, period")} AS n
                 FROM r_tax_returns r WHERE enterprise IS NOT NULL) x WHERE n = 1
),
invoiced AS (
  SELECT enterprise AS seller, period, SUM(amount) AS amount FROM invoices
  GROUP BY enterprise, period
),
seller_sales AS (
  -- all the seller's invoiced sales: its returns, with its invoices as a floor for a month
  -- whose return is missing or lower than the invoices it issued
  SELECT COALESCE(i.seller, r.enterprise) AS seller,
    SUM(GREATEST(COALESCE(r.sales, 0), COALESCE(i.amount, 0))) AS total
  FROM invoiced i FULL OUTER JOIN returns r ON r.enterprise = i.seller AND r.period = i.period
  GROUP BY COALESCE(i.seller, r.enterprise)
),
supply AS (
  SELECT i.enterprise AS seller, i.buyer_uscc AS buyer,
    {ratio("SUM(i.amount)", "MAX(t.total)")} AS share,
    MIN(i.period) AS since, MAX(i._known_at) AS known
  FROM invoices i JOIN seller_sales t ON t.seller = i.enterprise
  GROUP BY i.enterprise, i.buyer_uscc
),
edges AS (
  SELECT party AS src, party_type AS src_type, firm AS dst, 'enterprise' AS dst_type,
    role || '_of' AS kind, COALESCE(share_pct, 1.0) AS weight, _valid_from AS valid_from,
    _known_at
  FROM parties
  UNION ALL
  SELECT firm, 'enterprise', party, party_type, 'has_' || role, COALESCE(share_pct, 1.0),
    _valid_from, _known_at
  FROM parties
  UNION ALL
  SELECT a.person, 'person', b.person, 'person', 'household_member', 1.0,
    GREATEST(a._valid_from, b._valid_from), GREATEST(a._known_at, b._known_at)
  FROM people a JOIN people b ON b.household_no = a.household_no AND b.person <> a.person
  UNION ALL
  SELECT man, 'person', woman, 'person', 'spouse', 1.0, registered_on, _known_at FROM couples
  UNION ALL
  SELECT woman, 'person', man, 'person', 'spouse', 1.0, registered_on, _known_at FROM couples
  UNION ALL
  SELECT a.firm, 'enterprise', b.firm, 'enterprise', 'related_enterprise',
    CAST(COUNT(DISTINCT a.party) AS DOUBLE),
    MIN(GREATEST(a._valid_from, b._valid_from)), MIN(GREATEST(a._known_at, b._known_at))
  FROM parties a JOIN parties b ON b.party = a.party AND b.firm <> a.firm
  GROUP BY a.firm, b.firm
  UNION ALL
  SELECT seller, 'enterprise', buyer, 'enterprise', 'supplies', share, since, known FROM supply
  UNION ALL
  SELECT buyer, 'enterprise', seller, 'enterprise', 'supplied_by', share, since, known
  FROM supply
)
SELECT src, src_type, dst, dst_type, kind, CAST(weight AS DOUBLE) AS weight,
  CAST(valid_from AS DATE) AS valid_from, CAST(_known_at AS TIMESTAMP) AS _known_at
FROM edges
"""


def create_graph(con: BatchSql) -> None:
    """Build `edges` on a prepared connection (records and resolution loaded).

    `related_enterprise` joins two firms with a common legal representative or shareholder
    (a person or a firm); its weight is the number of parties they share. `supplies` weighs
    the seller's share of all its invoiced sales (tax returns) that went to the buyer, over
    every period known.
    """
    con.execute(f"CREATE OR REPLACE TABLE edges AS {EDGES_SQL}")


def related_sql(table: str, param: str, hops: int = 2) -> str:
    """The neighbourhood query: parties `hops` (1 or 2) steps from the subject named by
    bind parameter `param`, each with its path (the kinds along it, joined by '/') and the
    party it was reached through. Plain SQL (two self-joins, UNION) so that DuckDB, SQLite
    and PostgreSQL run the same text, which is how online and batch stay equal."""
    if hops not in (1, 2):
        raise ValueError(f"hops must be 1 or 2, got {hops}")
    one = f"""SELECT e1.dst AS party, e1.dst_type AS party_type, 1 AS hops, e1.kind AS path,
  CAST(NULL AS VARCHAR(100)) AS via
FROM {table} e1 WHERE e1.src = {param} AND e1.dst <> {param}"""
    two = f"""SELECT e2.dst, e2.dst_type, 2, e1.kind || '/' || e2.kind, e1.dst
FROM {table} e1 JOIN {table} e2 ON e2.src = e1.dst
WHERE e1.src = {param} AND e2.dst <> {param}"""
    return one if hops == 1 else f"{one}\nUNION\n{two}"


Related = tuple[str, str, int, str, str | None]


def _sorted(rows: list[Any]) -> list[Related]:
    """Rows ordered in Python: database collations differ, the answer must not."""
    out = [(str(r[0]), str(r[1]), int(r[2]), str(r[3]), None if r[4] is None else str(r[4]))
           for r in rows]  # fmt: skip
    return sorted(out, key=lambda r: (r[2], r[0], r[3], r[4] or ""))


def related(con: duckdb.DuckDBPyConnection, subject: str, hops: int = 2) -> list[Related]:
    """Every party within `hops` of `subject` in the current graph: (party, party_type,
    hops, path, via), one row per distinct path, sorted by hops, party, path."""
    rows = con.execute(related_sql("edges", "$subject", hops), {"subject": subject}).fetchall()
    return _sorted(rows)


def edges_table(metadata: MetaData | None = None) -> Table:
    """The ledger copy of `edges`; indexed on `src`, where every walk starts."""
    return Table(
        EDGE_TABLE,
        metadata or MetaData(),
        Column("src", String(100), nullable=False),
        Column("src_type", String(16), nullable=False),
        Column("dst", String(100), nullable=False),
        Column("dst_type", String(16), nullable=False),
        Column("kind", String(40), nullable=False),
        Column("weight", Float),
        Column("valid_from", Date),
        Column("_known_at", DateTime),
        Index(f"ix_{EDGE_TABLE}_src", "src"),
    )


def materialise_edges(
    engine: Engine, table: pa.Table, progress: Callable[[int], None] | None = None
) -> int:
    """Replace the ledger's `profile_edges` with `table` (the `edges` table, as Arrow).

    Replaced whole in one transaction (`store.ledger.replace_table`, as the online profile
    is), so readers see the old graph or the new one, never a half-written one."""
    return replace_table(engine, edges_table(), table, progress=progress)


def edges_arrow(con: BatchSql) -> pa.Table:
    """The `edges` table as Arrow, for `materialise_edges`."""
    return arrow(con.sql("SELECT * FROM edges"))


def related_online(engine: Engine, subject: str, hops: int = 2) -> list[Related]:
    """`related` answered from the ledger's `profile_edges`: the same SQL, the same rows."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(related_sql(EDGE_TABLE, ":subject", hops)), {"subject": subject}
        ).fetchall()
    return _sorted(list(rows))
