"""`purecredit ingest`, `purecredit quarantine`, `purecredit conflicts`: taking data in and
looking at what could not land or does not agree."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from purecredit.cli.progress import console, steps
from purecredit.core.settings import get_settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.crosscheck import conflict_summary, crosscheck
from purecredit.ingest.pipeline import IngestReport, ingest_api, ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.ingest.quarantine import quarantine_record, quarantine_records, quarantine_summary
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine

quarantine_app = typer.Typer(help="Records that could not land, with their reasons.")


def _lake() -> Lake:
    return Lake(get_settings().home / "lake")


def _protector() -> Protector:
    settings = get_settings()
    return Protector.from_settings(settings, ledger_engine(settings))


def ingest(
    directory: Annotated[
        Path | None, typer.Argument(help="Delivery root holding sources/<source>/...")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only this source (repeatable).")
    ] = None,
    from_api: Annotated[
        str | None, typer.Option("--from-api", help="Base URL of a data-exchange API.")
    ] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token for --from-api.")] = None,
    observed_at: Annotated[
        str | None,
        typer.Option(help="When this delivery reached the bank (YYYY-MM-DD); default today."),
    ] = None,
    report_json: Annotated[
        Path | None, typer.Option("--report-json", help="Write the reconciliation as JSON.")
    ] = None,
) -> None:
    """Validate, protect and land a delivery in the lake; bad rows are quarantined, not fatal."""
    if (directory is None) == (from_api is None):
        console.print("[red]give a delivery DIRECTORY or --from-api URL (one of them)[/red]")
        raise typer.Exit(2)
    when = (
        datetime.fromisoformat(observed_at)
        if observed_at
        else datetime.now().replace(microsecond=0)
    )
    catalog, lake, protector = load_catalog(), _lake(), _protector()
    with steps("ingest") as advance:
        if directory is not None:
            report = ingest_directory(
                directory,
                catalog=catalog,
                lake=lake,
                protector=protector,
                observed_at=when,
                only=source,
                progress=advance,
            )
        else:
            report = ingest_api(
                str(from_api),
                catalog=catalog,
                lake=lake,
                protector=protector,
                observed_at=when,
                token=token or "",
                only=source,
                progress=advance,
            )
        advance("cross-source checks")
        report.conflicts = crosscheck(lake, catalog, when)
    _show(report)
    if report_json is not None:
        report_json.write_text(json.dumps(report.as_json(), ensure_ascii=False, indent=2))


def _show(report: IngestReport) -> None:
    table = Table(title="reconciliation: read = landed + quarantined + duplicates")
    for column in ("source", "files", "read", "landed", "quarantined", "duplicates", "late", "ok"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, r in sorted(report.sources.items()):
        table.add_row(
            name,
            f"{r.files}" + (f" (+{r.skipped_files} done)" if r.skipped_files else ""),
            f"{r.read:,}",
            f"{r.landed:,}",
            f"{r.quarantined:,}",
            f"{r.duplicates:,}",
            f"{r.late:,}",
            "✓" if r.reconciled else "✗",
        )
    console.print(table)
    if report.unmatched_files:
        console.print(f"[yellow]{len(report.unmatched_files)} file(s) match no source[/yellow]")
    console.print(f"new cross-source conflicts: {report.conflicts:,}")


@quarantine_app.command("list")
def quarantine_list(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    defect: Annotated[str | None, typer.Option(help="Only this defect class.")] = None,
    limit: Annotated[int, typer.Option(help="Records to list; 0 lists a summary.")] = 0,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Quarantined records by source and defect class, or (with --limit) one per line."""
    lake = _lake()
    rows = (
        quarantine_records(lake, source=source, defect=defect, limit=limit)
        if limit
        else quarantine_summary(lake, source)
    )
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    table = Table()
    for column in rows[0] if rows else ("source", "defect", "records"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@quarantine_app.command("show")
def quarantine_show(
    record_id: Annotated[str, typer.Argument(help="An id from `quarantine list --limit N`.")],
    reveal: Annotated[
        bool, typer.Option(help="Decrypt the raw value (data zone only; may hold PII).")
    ] = False,
) -> None:
    """One quarantined record: where it came from, why, and (with --reveal) its raw text."""
    row = quarantine_record(_lake(), record_id, _protector() if reveal else None)
    for key, value in row.items():
        console.print(f"[bold]{key}[/bold]: {value}")


def conflicts(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Cross-source disagreements by item and source pair."""
    rows = conflict_summary(_lake())
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title="conflicts with the authoritative source")
    for column in ("item", "authoritative", "other", "entities"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("item", "authoritative", "other", "entities")))
    console.print(table)
