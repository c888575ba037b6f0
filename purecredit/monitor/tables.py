"""The monitoring stage's ledger tables.

- `monitor_events`: one row per fact change that matters for a borrower, keyed by the fact
  (`event_key`), so a fact raises its event once whatever order deliveries arrive in and
  however often a day's batch is rerun. A party's fact reaches each borrower it is related to
  (`party`, `hops`): one row per borrower.
- `monitor_scores`: each monitored borrower's rescored PD and grade per batch day.
- `warnings`: an event matched by a warning rule; it opens a case or joins the open one.
- `cases`, `case_steps`: a case's workflow and every step of it, who and when.
- `inspections`: the post-loan inspection record of a confirmed case (for the reports).
- `monitor_runs`: one row per batch day: started, then filled in when done.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy import Table as SqlTable

from purecredit.decide.exposure import MONEY
from purecredit.lend.tables import create_tables as create_lend_tables

metadata = MetaData()

OPEN_STATUSES = ("open", "verifying", "confirmed", "action")

monitor_events = SqlTable(
    "monitor_events",
    metadata,
    Column("event_key", String(64), primary_key=True),  # sha256 of (kind, borrower, fact)
    Column("subject", String(100), nullable=False),  # the borrower
    Column("party", String(100), nullable=False),  # whom the fact is about
    Column("hops", Integer, nullable=False),  # 0: the borrower; 1-2: a related party
    Column("relation", String(40), nullable=False),  # first edge of the path ("self" at 0)
    Column("kind", String(30), nullable=False),
    Column("fact", String(200), nullable=False),  # what identifies the fact in its source
    Column("valid_from", Date, nullable=False),  # when it became true in the world
    Column("known_at", Date, nullable=False),  # when the bank learned it
    Column("detail", JSON, nullable=False),  # derived values only (never a raw record)
    Column("detected_on", Date, nullable=False),  # the batch day that raised it
    Index("ix_monitor_events_subject", "subject"),
    Index("ix_monitor_events_day", "detected_on"),
)

monitor_scores = SqlTable(
    "monitor_scores",
    metadata,
    Column("subject", String(100), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("profile_as_of", Date, nullable=False),
    Column("model", String(60), nullable=False),  # segment and version
    Column("pd", Float, nullable=False),
    Column("grade", String(4), nullable=False),
    Column("decision_grade", String(4)),  # the grade the line was granted at
)

cases = SqlTable(
    "cases",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("subject", String(100), nullable=False),
    Column("branch", String(40), nullable=False),
    Column("cause", String(20), nullable=False),  # the warning rule's id
    Column("severity", String(10), nullable=False),
    Column("status", String(12), nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("assignee", String(100)),
    Column("finding", String(12)),  # confirmed or false_alarm
    Column("action", String(12)),  # freeze, reduce, recall, restructure, none
    Column("protected_amount", MONEY, nullable=False),
    Column("closed_on", Date),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_cases_branch_status", "branch", "status"),
    Index("ix_cases_subject", "subject"),
)
# While a case is open, its cause is not raised again for the borrower: one open case per
# (borrower, rule), enforced by the database as well as by the batch.
Index(
    "uq_cases_open",
    cases.c.subject,
    cases.c.cause,
    unique=True,
    sqlite_where=cases.c.status.in_(OPEN_STATUSES),
    postgresql_where=cases.c.status.in_(OPEN_STATUSES),
)

warnings = SqlTable(
    "warnings",
    metadata,
    Column("warning_id", String(40), primary_key=True),
    Column("event_key", String(64), ForeignKey("monitor_events.event_key"), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("branch", String(40), nullable=False),
    Column("rule", String(20), nullable=False),
    Column("rules_version", String(20), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("suggested", String(12), nullable=False),  # the rule's suggested action
    Column("raised_on", Date, nullable=False),
    Column("case_id", String(40), ForeignKey("cases.case_id"), nullable=False),
    Column("opened_case", Integer, nullable=False),  # 1: this warning opened its case
    Index("ix_warnings_subject", "subject"),
    Index("ix_warnings_day", "raised_on"),
    Index("ix_warnings_case", "case_id"),
)

case_steps = SqlTable(
    "case_steps",
    metadata,
    Column("step_id", String(40), primary_key=True),
    Column("case_id", String(40), ForeignKey("cases.case_id"), nullable=False),
    Column("n", Integer, nullable=False),  # the step's place in its case: 1, 2, ...
    Column("at", DateTime(timezone=True), nullable=False),
    Column("on_day", Date, nullable=False),
    Column("actor", String(100), nullable=False),  # officer:<name>, system:monitor, api:<client>
    Column("step", String(20), nullable=False),
    Column("status", String(12), nullable=False),  # what the step left
    Column("amount", MONEY),
    Column("note", Text),
    Index("uq_case_steps_n", "case_id", "n", unique=True),
)

inspections = SqlTable(
    "inspections",
    metadata,
    Column("inspection_id", String(40), primary_key=True),
    Column("case_id", String(40), ForeignKey("cases.case_id"), nullable=False, unique=True),
    Column("subject", String(100), nullable=False),
    Column("branch", String(40), nullable=False),
    Column("inspected_on", Date, nullable=False),
    Column("inspector", String(100), nullable=False),
    Column("finding", Text, nullable=False),
    Column("record", JSON, nullable=False),  # the case, its warnings and events, whole
)

monitor_runs = SqlTable(
    "monitor_runs",
    metadata,
    Column("day", Date, primary_key=True),
    Column("rules_version", String(20), nullable=False),
    Column("borrowers", Integer),
    Column("events", Integer),
    Column("warnings", Integer),
    Column("cases", Integer),
    Column("frozen", MONEY),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True)),
)


def create_tables(engine: Engine) -> None:
    """Create the lines and loans the monitoring refers to, then its own tables, if missing."""
    create_lend_tables(engine)
    metadata.create_all(engine)
