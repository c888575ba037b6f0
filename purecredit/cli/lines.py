"""`purecredit line ...`: an officer's changes to a credit line, each recorded with its cause."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from sqlalchemy import Engine

from purecredit.cli.progress import console, fail
from purecredit.core.errors import Invalid, PurecreditError
from purecredit.core.settings import get_settings
from purecredit.decide import exposure, lines
from purecredit.store.ledger import ledger_engine

app = typer.Typer(help="Credit lines: freeze, unfreeze, reduce, expire, close; their history.")

LineId = Annotated[str, typer.Argument(help="The line's id (L...).")]
Cause = Annotated[
    str,
    typer.Option(
        "--cause", help="Who or what: officer:<name>, warning:<id>, decision:<id>, system:<job>."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _ledger() -> Engine:
    """The ledger, with the credit-line tables made if missing."""
    engine = ledger_engine(get_settings())
    exposure.create_tables(engine)
    return engine


def _change(line_id: str, event: str, cause: str, as_json: bool) -> None:
    try:
        engine = _ledger()
        done = lines.move(engine, line_id, event, cause=cause)
    except PurecreditError as exc:
        fail(exc)
    _show(done, as_json)


def _show(done: lines.LineChange, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(done.to_dict()))
        return
    if not done.changed:
        console.print(f"{done.line_id} is already {done.status}: nothing changed")
        return
    console.print(
        f"{done.line_id}: {done.status_before} -> {done.status}, "
        f"limit {done.limit_before:.2f} -> {done.limit:.2f}"
    )


@app.command()
def freeze(line_id: LineId, cause: Cause, as_json: Json = False) -> None:
    """No drawdown and no increase; the limit still counts against the unified limit."""
    _change(line_id, "frozen", cause, as_json)


@app.command()
def unfreeze(line_id: LineId, cause: Cause, as_json: Json = False) -> None:
    """A frozen line takes drawdowns again."""
    _change(line_id, "unfrozen", cause, as_json)


@app.command()
def expire(line_id: LineId, cause: Cause, as_json: Json = False) -> None:
    """The line ends: no drawdown, its limit freed; what is drawn is repaid as scheduled."""
    _change(line_id, "expired", cause, as_json)


@app.command()
def close(line_id: LineId, cause: Cause, as_json: Json = False) -> None:
    """Close the line: its limit no longer counts (a new line may follow)."""
    _change(line_id, "closed", cause, as_json)


@app.command()
def reduce(
    line_id: LineId,
    to: Annotated[str, typer.Option("--to", help="The new limit in yuan, e.g. 30000.00.")],
    cause: Cause,
    as_json: Json = False,
) -> None:
    """Lower the limit (never below what is drawn; a raise needs a decision)."""
    try:
        try:
            limit = Decimal(to)
        except InvalidOperation:
            raise Invalid(f"not an amount: {to!r}", field="to") from None
        engine = _ledger()
        done = lines.reduce(engine, line_id, limit, cause=cause)
    except PurecreditError as exc:
        fail(exc)
    _show(done, as_json)


@app.command()
def history(line_id: LineId, as_json: Json = False) -> None:
    """Every change of the line, oldest first, with its cause."""
    try:
        engine = _ledger()
        events = lines.history(engine, line_id)
    except PurecreditError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(events))
        return
    for event in events:
        console.print(
            f"{event['at']}  {event['event']:<9} {event['status']:<8} "
            f"{event['limit']:>14}  {event['cause']}"
        )
