"""`purecredit clients create|list|disable|enable`: the API's client registry
(`purecredit.api.clients`). A secret is printed once, by `create`, and never again."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from purecredit.api import clients
from purecredit.cli.progress import console, fail
from purecredit.core.errors import PurecreditError
from purecredit.core.settings import get_settings
from purecredit.store.ledger import ledger_engine

app = typer.Typer(help="API clients: register, list, disable.", no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ClientId = Annotated[str, typer.Argument(help="The client's id.")]


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="Who the client is (a channel).")],
    scopes: Annotated[
        list[str],
        typer.Option("--scopes", help=f"A scope it may use (repeat): {', '.join(clients.SCOPES)}."),
    ],
    branch: Annotated[
        list[str] | None,
        typer.Option("--branch", help="A branch it may act for (repeat); none means all."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Register a client and print its id and secret; the secret is shown only this once."""
    settings = get_settings()
    engine = ledger_engine(settings)
    try:
        clients.create_tables(engine)
        made = clients.create_client(engine, settings, name, scopes, branch or ())
    except PurecreditError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps({"client_id": made.client_id, "client_secret": made.client_secret}))
        return
    typer.echo(f"client_id: {made.client_id}\nclient_secret: {made.client_secret}")
    console.print("[yellow]the secret is shown only now: store it safely[/yellow]")


@app.command(name="list")
def list_(as_json: AsJson = False) -> None:
    """Every registered client, with its scopes and branches (never its secret)."""
    engine = ledger_engine(get_settings())
    clients.create_tables(engine)
    found = clients.list_clients(engine)
    if as_json:
        typer.echo(json.dumps([c.as_json() for c in found], ensure_ascii=False, indent=2))
        return
    shown = Table(title=f"{len(found)} clients")
    for column in ("client_id", "name", "scopes", "branches", "enabled", "created"):
        shown.add_column(column)
    for c in found:
        shown.add_row(
            c.client_id,
            c.name,
            " ".join(c.scopes),
            " ".join(c.branches) or "all",
            "yes" if c.enabled else "no",
            c.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(shown)


@app.command()
def disable(client_id: ClientId) -> None:
    """Stop a client getting tokens (those it holds expire within minutes)."""
    _set(client_id, enabled=False)


@app.command()
def enable(client_id: ClientId) -> None:
    """Let a disabled client get tokens again."""
    _set(client_id, enabled=True)


def _set(client_id: str, *, enabled: bool) -> None:
    engine = ledger_engine(get_settings())
    try:
        clients.create_tables(engine)
        clients.set_enabled(engine, client_id, enabled)
    except PurecreditError as exc:
        fail(exc)
    typer.echo(f"{client_id} {'enabled' if enabled else 'disabled'}")
