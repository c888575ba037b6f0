"""The decision ledger: branches, consents, and every decision with the inputs that made it.

A decision row keeps the application, the part of the profile the decision read, the
customer's standing in the unified-limit ledger, the policy's version and content hash, the
model's segment, version and content hash, and the LPR: enough to run `engine.decide` again
and compare (`replay`). Rows are written once and never updated.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import duckdb
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from purecredit.core.errors import Invalid, NotFound, PolicyViolation
from purecredit.ingest.catalog import Catalog
from purecredit.profile.records import load_records, record_table
from purecredit.store.lake import Lake
from purecredit.store.ledger import replace_table

metadata = MetaData()

BRANCHES = Table(
    "bank_branches",
    metadata,
    Column("code", String(9), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("level", String(16), nullable=False),
    Column("parent", String(9)),
)

CONSENTS = Table(
    "consents",
    metadata,
    Column("consent_id", String(40), primary_key=True),
    Column("subject", String(100), nullable=False, index=True),
    Column("purpose", String(100), nullable=False),
    Column("sources", JSON, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("valid_until", Date, nullable=False),
    # Withdrawing stops further use (PIPL art. 15); the row stays, for the decisions it bore.
    Column("withdrawn_at", DateTime(timezone=True)),
)

DECISIONS = Table(
    "decisions",
    metadata,
    Column("decision_id", String(40), primary_key=True),
    Column("application_id", String(40), nullable=False, unique=True),
    Column("subject", String(100), nullable=False, index=True),
    Column("product", String(20), nullable=False),
    Column("branch", String(9), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("grade", String(4)),
    Column("pd", Float),
    Column("unified_limit", Integer, nullable=False),
    Column("line", Integer, nullable=False),
    Column("rate", Float),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("record", JSON, nullable=False),  # the decision, whole
    Column("inputs", JSON, nullable=False),  # application, profile part, standing
)

REVIEWS = Table(
    "reviews",
    metadata,
    Column("decision_id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("needs_level", String(16), nullable=False),
    Column("status", String(10), nullable=False),  # open, approved, declined
    Column("reason", Text),  # the applicant's, for a request
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("reviewer", String(100)),
    Column("reviewer_level", String(16)),
    Column("note", Text),
    Column("closed_at", DateTime(timezone=True)),
)

PURPOSE = "credit application"
# The separate consent sensitive health data needs (PIPL art. 28-29): serious-illness claims
# are read only for the post-loan care of a borrower who gave it.
CARE_PURPOSE = "post-loan care"


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


Bind = Engine | Connection  # an engine, or a connection inside the caller's transaction


@contextmanager
def writing(bind: Bind) -> Iterator[Connection]:
    """Where to write: the caller's connection as it is (the caller's transaction commits
    the write, with its others), or a transaction of its own on an engine."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.begin() as connection:
        yield connection


@contextmanager
def reading(bind: Bind) -> Iterator[Connection]:
    """Where to read: the caller's connection (seeing its own writes), or a new one."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as connection:
        yield connection


@dataclass(frozen=True)
class Branch:
    code: str
    name: str
    level: str
    parent: str | None

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "level": self.level, "parent": self.parent}


def sync_branches(engine: Engine, lake: Lake, catalog: Catalog) -> int:
    """Copy the bank's branch table (the latest version of each branch in the lake) into the
    ledger, where every application checks its branch."""
    con = duckdb.connect()
    load_records(con, lake, catalog, ["bank_branches"])
    table = record_table(catalog.source("bank_branches"))
    rows = con.sql(
        f"""SELECT code, name, level, parent FROM (
              SELECT *, ROW_NUMBER() OVER (PARTITION BY code ORDER BY _observed_at DESC) AS n
              FROM {table}) b WHERE n = 1 ORDER BY code"""
    ).to_arrow_table()
    if rows is None or rows.num_rows == 0:
        raise NotFound("the lake holds no bank branches: ingest bank_branches first")
    return replace_table(engine, BRANCHES, rows)


def branches(engine: Engine) -> list[Branch]:
    with engine.connect() as connection:
        rows = connection.execute(select(BRANCHES).order_by(BRANCHES.c.code)).mappings().all()
    return [Branch(r["code"], r["name"], r["level"], r["parent"]) for r in rows]


def row_by_key(engine: Bind, table: Table, key: str, missing: str, field: str) -> dict[str, Any]:
    """The row of `table` whose primary key is `key`; `NotFound(missing)` naming `field` when
    there is none."""
    (column,) = table.primary_key.columns
    with reading(engine) as connection:
        row = connection.execute(select(table).where(column == key)).mappings().first()
    if row is None:
        raise NotFound(missing, field=field)
    return dict(row)


def branch(engine: Bind, code: str) -> Branch:
    missing = f"no branch {code!r} (`purecredit branches` lists them)"
    row = row_by_key(engine, BRANCHES, code, missing, "branch")
    return Branch(row["code"], row["name"], row["level"], row["parent"])


def record_consent(
    engine: Bind,
    *,
    consent_id: str,
    subject: str,
    recorded_by: str,
    sources: Iterable[str],
    granted_at: datetime,
    valid_until: date,
    purpose: str = PURPOSE,
) -> str:
    """The subject's consent to query and use their data for `purpose` (a credit application
    unless told; in the caller's transaction when given a connection)."""
    with writing(engine) as connection:
        connection.execute(
            insert(CONSENTS).values(
                consent_id=consent_id,
                subject=subject,
                purpose=purpose,
                sources=sorted(sources),
                recorded_by=recorded_by,
                granted_at=granted_at,
                valid_until=valid_until,
            )
        )
    return consent_id


def check_consent(engine: Bind, consent_id: str, subject: str, on: date) -> None:
    """A consent that exists, is the subject's, is for credit and is valid on the date."""
    row = row_by_key(engine, CONSENTS, consent_id, f"no consent {consent_id!r}", "consent")
    if row["subject"] != subject or row["purpose"] != PURPOSE:
        raise Invalid(f"consent {consent_id} is not this applicant's for credit", field="consent")
    if row["valid_until"] < on:
        raise Invalid(f"consent {consent_id} expired on {row['valid_until']}", field="consent")
    if row["withdrawn_at"] is not None:
        raise PolicyViolation(f"consent {consent_id} has been withdrawn", field="consent")


def consenting(bind: Bind, subjects: Iterable[str], purpose: str, on: date) -> set[str]:
    """Which of `subjects` hold a consent for `purpose` valid on `on` and not withdrawn."""
    wanted = set(subjects)
    query = select(CONSENTS.c.subject).where(
        CONSENTS.c.purpose == purpose,
        CONSENTS.c.valid_until >= on,
        CONSENTS.c.withdrawn_at.is_(None),
    )
    with reading(bind) as connection:
        return {str(s) for s in connection.execute(query).scalars()} & wanted


def withdraw_consent(engine: Bind, consent_id: str, *, at: datetime) -> dict[str, Any]:
    """Withdraw a consent (once: withdrawing it again keeps the first time) and return its
    row; no application may use it afterwards."""
    with writing(engine) as connection:
        connection.execute(
            update(CONSENTS)
            .where(CONSENTS.c.consent_id == consent_id, CONSENTS.c.withdrawn_at.is_(None))
            .values(withdrawn_at=at)
        )
        return row_by_key(connection, CONSENTS, consent_id, f"no consent {consent_id!r}", "consent")


def store_decision(
    engine: Bind,
    *,
    decision_id: str,
    record: dict[str, Any],
    inputs: dict[str, Any],
    subject: str,
    branch_code: str,
) -> None:
    """Write a decision once, with its inputs (in the caller's transaction when given a
    connection)."""
    with writing(engine) as connection:
        connection.execute(
            insert(DECISIONS).values(
                decision_id=decision_id,
                application_id=record["application_id"],
                subject=subject,
                product=record["product"],
                branch=branch_code,
                outcome=record["outcome"],
                grade=record["grade"],
                pd=record["pd"],
                unified_limit=record["unified_limit"],
                line=record["line"],
                rate=record["rate"],
                decided_at=datetime.now(UTC),
                record=as_stored(record),
                inputs=as_stored(inputs),
            )
        )


def as_stored(value: dict[str, Any]) -> dict[str, Any]:
    """Through JSON text and back: what the database will give back, so that a replay compares
    like with like (tuples become lists, floats stay exact)."""
    parsed: dict[str, Any] = json.loads(json.dumps(value, ensure_ascii=False, allow_nan=False))
    return parsed


def decision(engine: Bind, decision_id: str) -> dict[str, Any]:
    return row_by_key(engine, DECISIONS, decision_id, f"no decision {decision_id!r}", "decision")


def decision_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(DECISIONS.c.decision_id).order_by(DECISIONS.c.decided_at)
        ).all()
    return [str(r[0]) for r in rows]
