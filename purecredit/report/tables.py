"""The report stage's ledger table: one stored report per (kind, ref, lang).

`reports` keeps the HTML itself, its sha256, the time of the event it was made for
(`event_at`: the decision, the review's close, the inspection) and when it was made. The key
is unique, so two makers racing on one event store it once (`stored.put` ignores the loser).
A PDF is not stored: it is rendered from the stored HTML's inputs on demand.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, Text

metadata = MetaData()

reports = Table(
    "reports",
    metadata,
    Column("kind", String(10), primary_key=True),  # pre-loan, review, post-loan
    Column("ref", String(40), primary_key=True),  # decision id, or loan id
    Column("lang", String(2), primary_key=True),  # zh, en
    Column("html", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("event_at", DateTime(timezone=True), nullable=False),  # the event reported on
    Column("made_at", DateTime(timezone=True), nullable=False),
)


def create_tables(engine: Engine) -> None:
    """Create the reports table, if missing (the tables it reads belong to their stages)."""
    metadata.create_all(engine)
