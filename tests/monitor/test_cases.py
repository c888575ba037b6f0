"""The warning-case workflow (`monitor.cases`) on a small ledger of its own, without the lake:
a credit line granted and drawn on, then a warning raised and its case opened exactly as the
daily batch does (`run._new_events`, `run._raise`), then each step an officer takes. Runs on
SQLite and PostgreSQL (`fresh_ledger_url`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine, func, select

from purecredit.core.errors import Conflict, Invalid, NotFound
from purecredit.decide import exposure, lines
from purecredit.monitor import run
from purecredit.monitor.cases import Update, list_cases, list_warnings, open_count, show_case
from purecredit.monitor.cases import update_case as step
from purecredit.monitor.rules import load_rules
from purecredit.monitor.tables import case_steps, cases, create_tables, inspections
from purecredit.store.ledger import make_engine, run_locked

DAY = date(2026, 3, 2)
BRANCH, OTHER = "B01", "B02"
LIMIT, DRAWN = Decimal("100000"), Decimal("30000")
OFFICER = "officer:wang"


@pytest.fixture
def engine(fresh_ledger_url: str) -> Iterator[Engine]:
    engine = make_engine(fresh_ledger_url)
    create_tables(engine)
    exposure.create_tables(engine)
    yield engine
    engine.dispose()


def borrower(engine: Engine, *, branch: str = BRANCH) -> tuple[str, str]:
    """A fresh borrower token with a line of LIMIT, DRAWN of it drawn: (subject, line_id)."""
    subject = f"id:{uuid.uuid4().hex}"
    granted = exposure.grant(
        engine, subject=subject, legal_rep=None, product="household", branch=branch,
        amount=LIMIT, unified_limit=LIMIT, decision_id="dec",
    )  # fmt: skip
    assert granted.line_id is not None
    assert exposure.draw(engine, line_id=granted.line_id, amount=DRAWN, branch=branch).drawn
    return subject, granted.line_id


def open_case(
    engine: Engine, subject: str, kind: str, *, branch: str = BRANCH, day: date = DAY
) -> str:
    """Raise one event for `subject` as the day's batch would, and return the case it opened
    (the rules decide the case's cause, severity and whether its lines freeze)."""
    found = [{"subject": subject, "party": subject, "hops": 0, "relation": "self",
              "kind": kind, "fact": f"test:{uuid.uuid4().hex}", "valid_from": day,
              "known_at": day, "amount": None}]  # fmt: skip
    rules = load_rules()

    def work(connection: Connection) -> None:
        fresh = run._new_events(connection, found, day)
        raised = run._raise(
            connection, fresh, {subject: (branch, day)}, rules, day, datetime.now(UTC)
        )
        assert raised[0] == 1

    run_locked(engine, work)
    with engine.connect() as connection:
        query = select(cases.c.case_id).where(cases.c.subject == subject)
        return str(connection.execute(query.order_by(cases.c.updated_at.desc())).scalars().first())


def line_status(engine: Engine, line_id: str) -> str:
    table = exposure.credit_lines
    with engine.connect() as connection:
        query = select(table.c.status).where(table.c.line_id == line_id)
        return str(connection.execute(query).scalar_one())


def ask(name: str, **extra: object) -> Update:
    return Update(step=name, actor=OFFICER, day=DAY, **extra)  # type: ignore[arg-type]


def test_a_confirmed_case_freezes_the_line_and_closes(engine: Engine) -> None:
    subject, line_id = borrower(engine)
    case_id = open_case(engine, subject, "pd_downgrade")  # W04: orange, nothing automatic
    opened = show_case(engine, case_id)
    assert (opened["status"], opened["cause"], opened["severity"]) == ("open", "W04", "orange")
    assert opened["protected_amount"] == "0.00" and line_status(engine, line_id) == "active"
    assert [w["kind"] for w in opened["warnings"]] == ["pd_downgrade"]
    assert open_count(engine) == 1

    assert step(engine, case_id, ask("assign", assignee="wang"))["assignee"] == "wang"
    assert step(engine, case_id, ask("verify"))["status"] == "verifying"
    confirmed = step(engine, case_id, ask("confirm", note="business closed on the visit"))
    assert (confirmed["status"], confirmed["finding"]) == ("confirmed", "confirmed")
    assert confirmed["inspection"]["inspector"] == OFFICER
    assert confirmed["inspection"]["finding"] == "business closed on the visit"
    with engine.connect() as connection:
        record = connection.execute(
            select(inspections.c.record).where(inspections.c.case_id == case_id)
        ).scalar_one()
    assert record["case"]["case_id"] == case_id and record["warnings"][0]["rule"] == "W04"
    assert [e["kind"] for e in record["events"]] == ["pd_downgrade"]

    acted = step(engine, case_id, ask("act", action="freeze"))
    assert (acted["status"], acted["action"]) == ("action", "freeze")
    assert acted["protected_amount"] == f"{LIMIT - DRAWN:.2f}"  # the undrawn limit
    assert line_status(engine, line_id) == "frozen"
    closed = step(engine, case_id, ask("close", note="frozen pending recovery"))
    assert (closed["status"], closed["closed_on"]) == ("closed", DAY.isoformat())
    assert [s["step"] for s in closed["steps"]] == [
        "opened", "assign", "verify", "confirm", "freeze", "close",
    ]  # fmt: skip
    assert closed["steps"][4]["amount"] == f"{LIMIT - DRAWN:.2f}"
    assert open_count(engine) == 0
    assert [c["case_id"] for c in list_cases(engine, status="closed")] == [case_id]
    assert list_cases(engine, status="open") == []


def test_a_false_alarm_unfreezes_what_its_warning_froze(engine: Engine) -> None:
    subject, line_id = borrower(engine)
    case_id = open_case(engine, subject, "court_enforcement")  # W02: red, freezes the line
    opened = show_case(engine, case_id)
    assert opened["severity"] == "red" and line_status(engine, line_id) == "frozen"
    assert opened["protected_amount"] == f"{LIMIT - DRAWN:.2f}"
    step(engine, case_id, ask("verify"))
    dismissed = step(engine, case_id, ask("dismiss", note="another person's case"))
    assert (dismissed["status"], dismissed["finding"]) == ("false_alarm", "false_alarm")
    assert line_status(engine, line_id) == "active"
    assert dismissed["inspection"] is None  # only a confirmed case is inspected
    assert step(engine, case_id, ask("close"))["status"] == "closed"
    causes = [e["cause"] for e in lines.history(engine, line_id)]
    assert causes[-1] == OFFICER and causes[-2].startswith("warning:W")


def test_a_false_alarm_leaves_a_freeze_of_another_cause(engine: Engine) -> None:
    subject, line_id = borrower(engine)
    lines.move(engine, line_id, "frozen", cause="officer:li")
    case_id = open_case(engine, subject, "court_enforcement")
    assert show_case(engine, case_id)["protected_amount"] == "0.00"  # nothing left to freeze
    step(engine, case_id, ask("dismiss"))
    assert line_status(engine, line_id) == "frozen"


def test_reduce_and_recall_count_what_they_protect(engine: Engine) -> None:
    subject, _ = borrower(engine)
    case_id = open_case(engine, subject, "query_burst")  # W05
    for name in ("verify", "confirm"):
        step(engine, case_id, ask(name))
    reduced = step(engine, case_id, ask("act", action="reduce", to=Decimal("50000")))
    assert reduced["protected_amount"] == "50000.00"
    assert exposure.exposure(engine, subject)["lines"][0]["limit"] == "50000.00"

    other, _ = borrower(engine)
    recalled_id = open_case(engine, other, "query_burst")
    for name in ("verify", "confirm"):
        step(engine, recalled_id, ask(name))
    recalled = step(engine, recalled_id, ask("act", action="recall", amount=Decimal("12000.5")))
    assert recalled["protected_amount"] == "12000.50"
    with pytest.raises(Invalid) as caught:
        step(engine, recalled_id, ask("act", action="reduce"))
    assert caught.value.field == "to"


def _state(engine: Engine, case_id: str, line_id: str) -> tuple[object, ...]:
    with engine.connect() as connection:
        steps = connection.execute(
            select(func.count()).select_from(case_steps).where(case_steps.c.case_id == case_id)
        ).scalar_one()
        found = connection.execute(
            select(func.count()).select_from(inspections).where(inspections.c.case_id == case_id)
        ).scalar_one()
    shown = show_case(engine, case_id)
    return steps, found, shown["status"], shown["protected_amount"], line_status(engine, line_id)


@pytest.mark.parametrize(
    ("done", "wrong"),
    [
        ((), Update(step="act", actor=OFFICER, day=DAY, action="freeze")),
        ((), Update(step="confirm", actor=OFFICER, day=DAY)),
        ((), Update(step="close", actor=OFFICER, day=DAY)),
        (("verify", "confirm"), Update(step="dismiss", actor=OFFICER, day=DAY)),
        (("dismiss", "close"), Update(step="assign", actor=OFFICER, day=DAY, assignee="x")),
    ],
)
def test_a_step_from_the_wrong_status_is_a_conflict_and_changes_nothing(
    engine: Engine, done: tuple[str, ...], wrong: Update
) -> None:
    subject, line_id = borrower(engine)
    case_id = open_case(engine, subject, "pd_downgrade")
    for name in done:
        step(engine, case_id, ask(name))
    before = _state(engine, case_id, line_id)
    with pytest.raises(Conflict) as caught:
        step(engine, case_id, wrong)
    assert caught.value.field == "status" and wrong.step in caught.value.detail
    assert _state(engine, case_id, line_id) == before


def test_another_branch_cannot_see_or_work_the_case(engine: Engine) -> None:
    subject, line_id = borrower(engine)
    case_id = open_case(engine, subject, "court_enforcement")
    with pytest.raises(NotFound):
        show_case(engine, case_id, branches=[OTHER])
    with pytest.raises(NotFound):
        step(engine, case_id, ask("dismiss"), branches=[OTHER])
    assert line_status(engine, line_id) == "frozen"  # untouched
    assert list_cases(engine, branches=[OTHER]) == []
    assert list_warnings(engine, branches=[OTHER]) == []
    assert open_count(engine, branches=[OTHER]) == 0
    assert [c["case_id"] for c in list_cases(engine, branches=[BRANCH, OTHER])] == [case_id]
    shown = step(engine, case_id, ask("verify"), branches=[BRANCH])
    assert shown["status"] == "verifying"
    with pytest.raises(NotFound):
        show_case(engine, "C-none")


def test_lists_filter_and_page(engine: Engine) -> None:
    made = []
    for kind in ("court_enforcement", "pd_downgrade", "divorce"):
        subject, _ = borrower(engine)
        made.append(open_case(engine, subject, kind, day=DAY))
    found = list_warnings(engine, severity="red")
    assert [w["kind"] for w in found] == ["court_enforcement"]
    assert found[0]["case_id"] == made[0] and found[0]["kind_en"]
    assert len(list_warnings(engine, since=DAY)) == 3
    assert list_warnings(engine, since=date(2026, 3, 3)) == []
    everything = list_cases(engine)
    assert len(everything) == 3
    assert list_cases(engine, limit=2) + list_cases(engine, limit=2, offset=2) == everything
