"""`purecredit case ...` and `purecredit warnings list`: the credit officer's side of post-loan
monitoring (`purecredit.monitor.cases`). The daily batch raises warnings and opens cases; an
officer lists them, is assigned one, visits the borrower and records each step here.

Inside the data zone a borrower is shown by their token (`id:...` or a USCC), never the ID
number. Every error is one line naming what is wrong, exit status 1, nothing changed.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Engine

from purecredit.cli.progress import console, fail
from purecredit.core.errors import Invalid, PurecreditError
from purecredit.core.settings import get_settings
from purecredit.monitor import cases
from purecredit.monitor.tables import create_tables
from purecredit.store.ledger import ledger_engine

app = typer.Typer(help="Warning cases: list, show, assign, verify and close.", no_args_is_help=True)
warnings_app = typer.Typer(help="Early warnings the daily batch raised.", no_args_is_help=True)
ID_WIDTH = 21  # a case id: "C" and 20 hex digits (`monitor.run`)


class Status(StrEnum):
    """`open` is any status before closing; the others are one status each."""

    open = "open"
    verifying = "verifying"
    confirmed = "confirmed"
    false_alarm = "false_alarm"
    action = "action"
    closed = "closed"


class Severity(StrEnum):
    red = "red"
    orange = "orange"
    yellow = "yellow"


# The steps an officer records (`assign` has its own command, for its --to).
StepName = StrEnum("StepName", {s: s for s in cases.STEPS if s != "assign"})  # type: ignore[misc]
ActionName = StrEnum("ActionName", {a: a for a in cases.ACTIONS})  # type: ignore[misc]

CaseId = Annotated[str, typer.Argument(help="The case's id (C...).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
By = Annotated[str, typer.Option("--by", help="The officer taking the step (recorded).")]
OnDay = Annotated[
    str | None, typer.Option("--date", help="The day of the step, YYYY-MM-DD (default: today).")
]
Branches = Annotated[
    list[str] | None, typer.Option("--branch", help="Only this branch's (repeat); default: all.")
]


def _ledger() -> Engine:
    """The ledger, with the monitoring tables made if missing (an empty list, not an error,
    before the first batch)."""
    engine = ledger_engine(get_settings())
    create_tables(engine)
    return engine


def _day(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"not a date YYYY-MM-DD: {value!r}", field="date") from None


def _amount(value: str | None, field: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise Invalid(f"not an amount: {value!r}", field=field) from None


def _officer(name: str) -> str:
    """The actor a step records: an officer, by the name given (`officer:<name>`)."""
    name = name.strip()
    if not name:
        raise Invalid("--by needs the officer's name", field="by")
    return name if name.startswith("officer:") else f"officer:{name}"


def _echo(payload: Any) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))


def _show(found: dict[str, Any]) -> None:
    console.print(
        f"{found['case_id']} {found['status']}: {found['cause']} ({found['severity']}) "
        f"{found['subject']} at {found['branch']}, opened {found['opened_on']}, "
        f"assignee {found['assignee'] or '-'}, protected {found['protected_amount']}"
    )
    for w in found["warnings"]:
        console.print(f"  warning {w['raised_on']} {w['rule']} {w['kind_en']} ({w['kind_zh']})")
    steps = Table(title="steps")
    for column in ("on", "step", "status", "actor", "amount", "note"):
        steps.add_column(column)
    for s in found["steps"]:
        steps.add_row(s["on_day"], s["step"], s["status"], s["actor"], s["amount"] or "",
                      s["note"] or "")  # fmt: skip
    console.print(steps)
    if found["inspection"]:
        i = found["inspection"]
        console.print(f"inspection {i['inspected_on']} by {i['inspector']}: {i['finding']}")


@app.command(name="list")
def list_(
    branch: Branches = None,
    status: Annotated[Status | None, typer.Option("--status", help="Only this status.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most.")] = 100,
    as_json: AsJson = False,
) -> None:
    """Cases newest first; `--status open` is every case not yet closed."""
    try:
        found = cases.list_cases(
            _ledger(), branches=branch or None, status=status and status.value, limit=limit
        )
    except PurecreditError as exc:
        fail(exc)
    if as_json:
        _echo(found)
        return
    shown = Table(title=f"{len(found)} cases")
    shown.add_column("case", no_wrap=True, min_width=ID_WIDTH)  # an officer types it next
    for column in ("opened", "branch", "cause", "severity", "status", "assignee", "protected"):
        shown.add_column(column)
    shown.add_column("borrower", overflow="fold")
    for c in found:
        shown.add_row(
            c["case_id"],
            c["opened_on"],
            c["branch"],
            c["cause"],
            c["severity"],
            c["status"],
            c["assignee"] or "",
            c["protected_amount"],
            c["subject"],
        )
    console.print(shown)


@app.command()
def show(case_id: CaseId, as_json: AsJson = False) -> None:
    """A case with its warnings, events, every step and its inspection record."""
    try:
        found = cases.show_case(_ledger(), case_id)
    except PurecreditError as exc:
        fail(exc)
    if as_json:
        _echo(found)
        return
    _show(found)


def _step(case_id: str, change: cases.Update, as_json: bool) -> None:
    try:
        found = cases.update_case(_ledger(), case_id, change)
    except PurecreditError as exc:
        fail(exc)
    if as_json:
        _echo(found)
        return
    console.print(f"{case_id}: {change.step} done, now {found['status']}")


@app.command()
def assign(
    case_id: CaseId,
    to: Annotated[str, typer.Option("--to", help="The officer who will visit.")],
    by: By,
    on: OnDay = None,
    as_json: AsJson = False,
) -> None:
    """Give an open case to an officer (again, to hand it over)."""
    try:
        change = cases.Update(step="assign", actor=_officer(by), day=_day(on), assignee=to)
    except PurecreditError as exc:
        fail(exc)
    _step(case_id, change, as_json)


@app.command()
def update(
    case_id: CaseId,
    step: Annotated[StepName, typer.Option("--step", help="What was done.")],
    by: By,
    action: Annotated[
        ActionName | None, typer.Option("--action", help="With --step act: what was done.")
    ] = None,
    amount: Annotated[
        str | None, typer.Option("--amount", help="recall: yuan recalled or recovered.")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="reduce: the lines' new limit.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="What the officer found.")] = None,
    on: OnDay = None,
    as_json: AsJson = False,
) -> None:
    """Record a step: verify (the visit begins), confirm or dismiss (what it found), act
    (freeze, reduce, recall, restructure or none) and close. A step that does not fit the
    case's status is refused and changes nothing."""
    try:
        change = cases.Update(
            step=step.value,
            actor=_officer(by),
            day=_day(on),
            action=None if action is None else action.value,
            amount=_amount(amount, "amount"),
            to=_amount(to, "to"),
            note=note,
        )
    except PurecreditError as exc:
        fail(exc)
    _step(case_id, change, as_json)


@warnings_app.command(name="list")
def warnings_list(
    branch: Branches = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Raised on or after, YYYY-MM-DD.")
    ] = None,
    severity: Annotated[Severity | None, typer.Option("--severity", help="Only this.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most.")] = 100,
    as_json: AsJson = False,
) -> None:
    """Warnings newest first, each with its event in plain words and its case."""
    try:
        found = cases.list_warnings(
            _ledger(),
            branches=branch or None,
            since=None if since is None else _day(since),
            severity=severity and severity.value,
            limit=limit,
        )
    except PurecreditError as exc:
        fail(exc)
    if as_json:
        _echo(found)
        return
    shown = Table(title=f"{len(found)} warnings")
    for column in ("raised", "branch", "rule", "severity", "event"):
        shown.add_column(column)
    shown.add_column("case", no_wrap=True, min_width=ID_WIDTH)
    shown.add_column("borrower", overflow="fold")
    for w in found:
        shown.add_row(w["raised_on"], w["branch"], w["rule"], w["severity"],
                      f"{w['kind_en']} ({w['kind_zh']})", w["case_id"], w["subject"])  # fmt: skip
    console.print(shown)
