"""`purecredit profile ...`: build the online profiles, and show one, masked, by module."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from purecredit.cli.progress import console, steps
from purecredit.core.errors import Invalid, NotFound
from purecredit.core.masking import mask_resident_id
from purecredit.core.settings import get_settings
from purecredit.core.subjects import subject_key
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.protect import Protector
from purecredit.ingest.vault import Vault
from purecredit.profile.build import build_profiles, build_steps
from purecredit.profile.feature import Kind
from purecredit.profile.features import sections
from purecredit.profile.graph import related_online
from purecredit.profile.online import OnlineProfiles
from purecredit.store.batch import EngineName, batch_sql
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine

app = typer.Typer(
    help="Person and enterprise profiles: build them, show one.", no_args_is_help=True
)


@app.command()
def build(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Profile date (YYYY-MM-DD); default today.")
    ] = None,
    engine: Annotated[
        EngineName,
        typer.Option(
            help="Where the batch SQL runs: embedded DuckDB, or Spark (PURECREDIT_SPARK_MASTER)."
        ),
    ] = "duckdb",
) -> None:
    """Compute every profile as of a date and replace the online profile tables with it."""
    settings = get_settings()
    when = date.fromisoformat(as_of) if as_of else date.today()
    with (
        batch_sql(settings, engine) as con,
        steps(f"profiles as of {when} ({engine})", total=build_steps()) as advance,
    ):
        report = build_profiles(
            Lake(settings.home / "lake"), load_catalog(), ledger_engine(settings), when,
            advance, con=con,
        )  # fmt: skip
    table = Table(title=f"profiles as of {when}")
    table.add_column("kind")
    table.add_column("subjects", justify="right")
    for kind, n in report.subjects.items():
        table.add_row(kind, f"{n:,}")
    console.print(table)
    unresolved = Table(title="records tied to no one (see docs/profile.md for the rules)")
    unresolved.add_column("source")
    unresolved.add_column("records", justify="right")
    for source, n in sorted(report.unresolved.items()):
        unresolved.add_row(source, f"{n:,}")
    console.print(unresolved)


def _subject(identifier: str) -> tuple[Kind, str, str]:
    """(kind, lake key, what may be shown) of a resident ID number or a USCC."""
    return subject_key(identifier, get_settings())


@app.command()
def show(
    identifier: Annotated[str, typer.Argument(help="A resident ID number or a USCC.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the profile as JSON.")] = False,
) -> None:
    """The online profile of one person or enterprise, by module; IDs masked, no names."""
    try:
        kind, key, shown = _subject(identifier)
    except Invalid as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    row = OnlineProfiles(ledger_engine(get_settings()), kind).get(key)
    if row is None:
        console.print(f"[red]no {kind} profile for {shown}: run `purecredit profile build`[/red]")
        raise typer.Exit(1)
    if as_json:
        body: dict[str, Any] = {"kind": kind, "subject": shown, "as_of": str(row["as_of"])}
        for name, _, features in sections(kind):
            body[name] = {f.name: _plain(row[column]) for f, column in features}
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    console.print(f"[bold]{kind} {shown}[/bold] · profile as of {row['as_of']}")
    for _, title, features in sections(kind):
        table = Table(title=title, title_justify="left")
        for column in ("feature", "value", "unit", "meaning"):
            table.add_column(column)
        for f, column in features:
            value = row[column]
            shown_value = f"[dim]missing: {f.missing}[/dim]" if value is None else str(value)
            table.add_row(f.name, shown_value, f.unit or "", f.description)
        console.print(table)


@app.command()
def related(
    identifier: Annotated[str, typer.Argument(help="A resident ID number or a USCC.")],
    hops: Annotated[int, typer.Option(help="1 or 2 steps away.")] = 2,
) -> None:
    """Every party within two steps of a person or firm in the current graph: legal
    representatives, shareholders, household, spouse, related firms, buyers and suppliers.
    People are shown by masked ID only."""
    try:
        _, key, shown = _subject(identifier)
    except Invalid as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    settings = get_settings()
    engine = ledger_engine(settings)
    parties = related_online(engine, key, hops)
    vault = Protector.from_settings(settings, engine).vault
    table = Table(title=f"parties within {hops} steps of {shown}")
    for column in ("party", "type", "steps", "path", "via"):
        table.add_column(column)
    for party, kind, steps_away, path, via in parties:
        table.add_row(_shown(party, vault), kind, str(steps_away), path, _shown(via, vault))
    console.print(table)


def _shown(key: str | None, vault: Vault) -> str:
    """A firm by its USCC (public); a person by the masked form of their ID number."""
    if key is None:
        return ""
    if not key.startswith("id:"):
        return key
    try:
        return mask_resident_id(vault.reveal(key))
    except NotFound:
        return "(person not in the vault)"


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value
