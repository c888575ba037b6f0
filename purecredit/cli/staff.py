"""`purecredit staff add|list`: the console's staff accounts (`purecredit.ui.accounts`).

The password is read from stdin when it is piped, else prompted for twice (hidden), and never
taken as an argument: arguments end up in shell histories and process lists.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from purecredit.cli.progress import console, fail
from purecredit.core.errors import PurecreditError
from purecredit.core.settings import get_settings
from purecredit.store.ledger import ledger_engine
from purecredit.ui import accounts

app = typer.Typer(help="Console staff accounts: add, list.", no_args_is_help=True)


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    entered: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return entered


@app.command()
def add(
    username: Annotated[str, typer.Argument(help="The login name (a-z 0-9 . _ -).")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(accounts.ROLES)}.")],
    branch: Annotated[
        list[str] | None,
        typer.Option(
            "--branch",
            help="A branch code it sees, with those under it (repeat); "
            "none: every branch (risk_manager and admin only).",
        ),
    ] = None,
    level: Annotated[
        str | None,
        typer.Option("--level", help="Approval authority: outlet, sub_branch or head."),
    ] = None,
) -> None:
    """Add a staff account; the password comes from stdin or a hidden prompt."""
    engine = ledger_engine(get_settings())
    try:
        accounts.add_staff(
            engine, username, _password(), role=role, branches=branch or (), level=level
        )
    except PurecreditError as exc:
        fail(exc)
    finally:
        engine.dispose()
    typer.echo(f"added {username} ({role})")


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every staff account (never a password or its hash)."""
    engine = ledger_engine(get_settings())
    try:
        found = accounts.list_staff(engine)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    shown = Table(title=f"{len(found)} staff account(s)")
    for column in ("username", "role", "branches", "level", "enabled"):
        shown.add_column(column)
    for s in found:
        branches = s["branches"]
        assert isinstance(branches, list)
        shown.add_row(
            str(s["username"]),
            str(s["role"]),
            ", ".join(branches) or "all",
            str(s["level"] or ""),
            "yes" if s["enabled"] else "no",
        )
    console.print(shown)
