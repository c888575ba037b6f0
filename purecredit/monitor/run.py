"""One day's monitoring batch (`purecredit monitor run --date D`): the day's events for every
borrower, warnings by the rules, a case per new warning for the borrower's branch, and the
actions the rules let the system take by itself.

The batch is one ledger transaction after the reading: it lands whole or not at all, so a
crash leaves nothing half-raised and the rerun raises exactly what the first run would have.
A rerun for a day already done raises nothing new: events are keyed by their fact, and a
cause already under an open case for the borrower is not raised again (its events are still
recorded, for the case's inspection record).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from purecredit.core.settings import Settings
from purecredit.decide import lines, store
from purecredit.decide.exposure import ACTIVE, credit_lines, money_of
from purecredit.ingest.catalog import load_catalog
from purecredit.monitor import detect
from purecredit.monitor.rescore import downgrades, rescore
from purecredit.monitor.rules import Rule, Rules, load_rules
from purecredit.monitor.tables import (
    OPEN_STATUSES,
    case_steps,
    cases,
    create_tables,
    monitor_events,
    monitor_runs,
    monitor_scores,
    warnings,
)
from purecredit.monitor.watch import borrowers, watch_table
from purecredit.store.batch import EngineName, batch_sql, duck
from purecredit.store.lake import Lake
from purecredit.store.ledger import insert_ignore, run_locked

log = logging.getLogger(__name__)
SYSTEM = "system:monitor"
CHUNK = 1_000


@dataclass(frozen=True)
class RunResult:
    """What a day's batch did (`events`, `warnings`, `cases`: new ones only)."""

    day: date
    rules_version: str
    borrowers: int
    events: int
    warnings: int
    cases: int
    frozen: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "rules_version": self.rules_version,
            "borrowers": self.borrowers,
            "events": self.events,
            "warnings": self.warnings,
            "cases": self.cases,
            "frozen": f"{self.frozen:.2f}",
        }


def event_key(subject: str, kind: str, fact: str) -> str:
    """The event's identity: the fact, for this borrower (never the batch that brought it)."""
    return hashlib.sha256(f"{kind}\x1f{subject}\x1f{fact}".encode()).hexdigest()


def _kinds(subjects: Sequence[str]) -> dict[str, str]:
    """Person or enterprise: a person is an ID token (`id:...`), a firm its USCC."""
    return {s: ("person" if s.startswith("id:") else "enterprise") for s in subjects}


def find_events(
    settings: Settings,
    engine: Engine,
    day: date,
    rules: Rules,
    batch_engine: EngineName = "duckdb",
) -> tuple[list[dict[str, Any]], dict[str, tuple[str, date]]]:
    """Every event known by the end of `day` for the day's borrowers (new or not), with the
    borrowers (branch, since); reads the lake and the ledger, writes nothing but the day's
    rescores. The detectors run on `batch_engine` (`store.batch.batch_sql`): embedded DuckDB,
    or Spark (`PURECREDIT_SPARK_MASTER`) for a lake that has outgrown one machine; the watch
    table (the borrowers and the ledger's graph, not the lake) is walked in DuckDB."""
    watched = borrowers(engine, day)
    if not watched:
        return [], watched
    lake = Lake(settings.home / "lake")
    with duck(lake.root, settings.duckdb_memory) as walk:
        watch = watch_table(engine, walk, watched)
    with batch_sql(settings, batch_engine) as con:
        detect.prepare(lake, load_catalog(), memory=settings.duckdb_memory, con=con)
        found = detect.detect(
            con,
            watch,
            day,
            rules.events,
            own_institution=settings.bank_institution_code,
            illness=settings.monitor_serious_illness,
        ).to_pylist()
    if settings.monitor_serious_illness:
        ill = {e["subject"] for e in found if e["kind"] == "serious_illness"}
        cared = store.consenting(engine, ill, store.CARE_PURPOSE, day)
        found = [e for e in found if e["kind"] != "serious_illness" or e["subject"] in cared]
    scores = rescore(engine, settings.home, _kinds(list(watched)))
    _save_scores(
        engine, [{str(k): v for k, v in r.items()} for r in scores.to_dict("records")], day
    )
    since = {s: first for s, (_, first) in watched.items()}
    found += downgrades(scores, rules.events.pd_downgrade.grades, since)
    return found, watched


def _save_scores(engine: Engine, rows: list[dict[str, Any]], day: date) -> None:
    def work(connection: Connection) -> None:
        for row in rows:
            values = {
                "subject": row["subject"],
                "day": day,
                "profile_as_of": row["profile_as_of"],
                "model": row["model"],
                "pd": float(row["pd"]),
                "grade": str(row["grade"]),
                "decision_grade": None
                if row["decision_grade"] is None or row["decision_grade"] != row["decision_grade"]
                else str(row["decision_grade"]),
            }
            insert_ignore(connection, monitor_scores, values)

    run_locked(engine, work)


def run_monitor(
    settings: Settings,
    engine: Engine,
    day: date,
    *,
    rules: Rules | None = None,
    batch_engine: EngineName = "duckdb",
) -> RunResult:
    """The batch for `day`, its detectors on `batch_engine`; see the module docstring."""
    rules = rules or load_rules(settings.monitor_rules)
    create_tables(engine)
    store.create_tables(engine)
    found, watched = find_events(settings, engine, day, rules, batch_engine)
    now = datetime.now(UTC)

    def work(connection: Connection) -> RunResult:
        insert_ignore(
            connection,
            monitor_runs,
            {"day": day, "rules_version": rules.version, "started_at": now},
        )
        fresh = _new_events(connection, found, day)
        raised = _raise(connection, fresh, watched, rules, day, now)
        result = RunResult(
            day=day,
            rules_version=rules.version,
            borrowers=len(watched),
            events=len(fresh),
            warnings=raised[0],
            cases=raised[0],  # every warning raised opens its case
            frozen=raised[1],
        )
        connection.execute(
            update(monitor_runs)
            .where(monitor_runs.c.day == day)
            .values(
                rules_version=rules.version,
                borrowers=result.borrowers,
                events=result.events,
                warnings=result.warnings,
                cases=result.cases,
                frozen=result.frozen,
                done_at=datetime.now(UTC),
            )
        )
        return result

    result = run_locked(engine, work)
    log.info("monitor %s: %s", day, result.to_dict())
    return result


def _new_events(
    connection: Connection, found: list[dict[str, Any]], day: date
) -> list[dict[str, Any]]:
    """Insert the events not yet in the ledger; return them (in a stable order)."""
    keyed = {event_key(e["subject"], e["kind"], e["fact"]): e for e in found}
    keys = sorted(keyed)
    known: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        part = keys[i : i + CHUNK]
        query = select(monitor_events.c.event_key).where(monitor_events.c.event_key.in_(part))
        known.update(connection.execute(query).scalars())
    fresh = []
    for key in keys:
        if key in known:
            continue
        e = keyed[key]
        row = {
            "event_key": key,
            "subject": e["subject"],
            "party": e["party"],
            "hops": int(e["hops"]),
            "relation": e["relation"],
            "kind": e["kind"],
            "fact": str(e["fact"])[:200],
            "valid_from": e["valid_from"],
            "known_at": e["known_at"],
            "detail": {"amount": None if e["amount"] is None else round(float(e["amount"]), 2)},
            "detected_on": day,
        }
        fresh.append(row)
    for i in range(0, len(fresh), CHUNK):
        connection.execute(insert(monitor_events), fresh[i : i + CHUNK])
    return sorted(fresh, key=lambda r: (r["subject"], r["known_at"], r["kind"], r["event_key"]))


def _open_causes(connection: Connection, subjects: set[str]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    ordered = sorted(subjects)
    for i in range(0, len(ordered), CHUNK):
        query = select(cases.c.subject, cases.c.cause).where(
            cases.c.subject.in_(ordered[i : i + CHUNK]), cases.c.status.in_(OPEN_STATUSES)
        )
        out.update((str(s), str(c)) for s, c in connection.execute(query))
    return out


def _raise(
    connection: Connection,
    fresh: list[dict[str, Any]],
    watched: dict[str, tuple[str, date]],
    rules: Rules,
    day: date,
    now: datetime,
) -> tuple[int, Decimal]:
    """A warning and a case for each new event a rule matches, unless its cause is already
    open for the borrower; then the rule's own actions. Returns (warnings, undrawn frozen)."""
    open_causes = _open_causes(connection, {e["subject"] for e in fresh})
    raised, frozen = 0, Decimal(0)
    for event in fresh:
        rule = rules.first_match(event["kind"], event["hops"])
        if rule is None or (event["subject"], rule.id) in open_causes:
            continue
        open_causes.add((event["subject"], rule.id))
        warning_id = f"W{uuid.uuid4().hex[:20]}"
        case_id = f"C{uuid.uuid4().hex[:20]}"
        branch = watched[event["subject"]][0]
        connection.execute(
            insert(cases).values(
                case_id=case_id,
                subject=event["subject"],
                branch=branch,
                cause=rule.id,
                severity=rule.severity,
                status="open",
                opened_on=day,
                protected_amount=Decimal(0),
                updated_at=now,
            )
        )
        connection.execute(
            insert(warnings).values(
                warning_id=warning_id,
                event_key=event["event_key"],
                subject=event["subject"],
                branch=branch,
                rule=rule.id,
                rules_version=rules.version,
                severity=rule.severity,
                suggested=rule.suggested,
                raised_on=day,
                case_id=case_id,
                opened_case=1,
            )
        )
        step(connection, case_id, "opened", "open", SYSTEM, day, now, note=f"warning {warning_id}")
        raised += 1
        amount = _auto(connection, rule, event["subject"], warning_id)
        if amount:
            connection.execute(
                update(cases)
                .where(cases.c.case_id == case_id)
                .values(protected_amount=cases.c.protected_amount + amount)
            )
            step(connection, case_id, "frozen", "open", SYSTEM, day, now, amount=amount)
            frozen += amount
    return raised, frozen


def _auto(connection: Connection, rule: Rule, subject: str, warning_id: str) -> Decimal:
    """The rule's own actions; returns the undrawn limit they froze."""
    if "freeze" not in rule.auto:
        return Decimal(0)
    return freeze_lines(connection, subject, cause=f"warning:{warning_id}")


def freeze_lines(connection: Connection, subject: str, *, cause: str) -> Decimal:
    """Freeze every active line of `subject`; the undrawn limit frozen (what no drawdown can
    now take)."""
    query = select(credit_lines.c.line_id).where(
        credit_lines.c.subject == subject, credit_lines.c.status == ACTIVE
    )
    total = Decimal(0)
    for line_id in sorted(connection.execute(query).scalars()):
        change = lines.move_on(connection, line_id, "frozen", cause=cause)
        if change.changed:
            row = connection.execute(
                select(credit_lines.c.limit, credit_lines.c.drawn).where(
                    credit_lines.c.line_id == line_id
                )
            ).one()
            total += money_of(row.limit) - money_of(row.drawn)
    return total


def step(
    connection: Connection,
    case_id: str,
    name: str,
    status: str,
    actor: str,
    day: date,
    now: datetime,
    *,
    amount: Decimal | None = None,
    note: str | None = None,
) -> None:
    """Record one step of a case's workflow."""
    n = connection.execute(
        select(func.count()).select_from(case_steps).where(case_steps.c.case_id == case_id)
    ).scalar_one()
    connection.execute(
        insert(case_steps).values(
            step_id=f"S{uuid.uuid4().hex[:20]}",
            case_id=case_id,
            n=int(n) + 1,
            at=now,
            on_day=day,
            actor=actor,
            step=name,
            status=status,
            amount=amount,
            note=note,
        )
    )
