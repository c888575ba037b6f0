"""`purecredit catalog`: show the source catalogue, or check a delivery against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from purecredit.cli.progress import console
from purecredit.core.errors import PurecreditError
from purecredit.ingest.catalog import Catalog, load_catalog
from purecredit.ingest.catalog_check import CheckResult, match_files


def catalog(
    check: Annotated[
        Path | None,
        typer.Option(
            "--check",
            metavar="DIR",
            help="A delivery root holding sources/: list files of no source and silent sources.",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """Show every catalogued source, or check a delivery against the catalogue.

    The check is a report: it exits 0 whatever it finds (2 when DIR holds no sources/)."""
    try:
        catalogue = load_catalog()
        result = match_files(catalogue, check) if check is not None else None
    except PurecreditError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if check is None or result is None:
        if json_out:
            typer.echo(json.dumps(catalogue.model_dump(mode="json"), ensure_ascii=False))
        else:
            console.print(catalogue_table(catalogue))
    elif json_out:
        typer.echo(json.dumps(check_summary(result, root=check), ensure_ascii=False))
    else:
        show_check(result, root=check)


def catalogue_table(catalogue: Catalog) -> Table:
    """One row per source: who owns it, how it arrives, what it describes and protects."""
    table = Table(title=f"source catalogue v{catalogue.version} · {len(catalogue.sources)} sources")
    table.add_column("source", no_wrap=True)
    for column in ("owner", "mode", "format/encoding", "entity", "fields", "PII fields", "items"):
        table.add_column(column, justify="right" if column == "fields" else "left")
    for name in sorted(catalogue.sources):
        s = catalogue.sources[name]
        items = [f"{item} ({spec.role})" for item, spec in sorted(s.items.items())]
        table.add_row(
            name + (" [red](sensitive)[/red]" if s.sensitive else ""),
            s.owner,
            s.mode,
            f"{s.format} {s.encoding}",
            f"{s.entity.type}: {', '.join(s.entity.key)}",
            str(len(s.fields)),
            ", ".join(f for f, spec in s.fields.items() if spec.pii) or "-",
            "\n".join(items) or "-",
        )
    return table


def check_summary(result: CheckResult, *, root: Path) -> dict[str, object]:
    """The check as JSON-ready data; paths are relative to the delivery root, POSIX style."""
    return {
        "unmatched_files": [_relative(p, root) for p in result.unmatched],
        "silent_sources": result.silent,
        "matched": {name: len(files) for name, files in sorted(result.matched.items())},
    }


def show_check(result: CheckResult, *, root: Path) -> None:
    """The check for a reader: counts, then every unmatched file and silent source."""
    matched = sum(len(files) for files in result.matched.values())
    console.print(f"{matched} files matched {len(result.matched)} sources")
    if result.unmatched:
        console.print(f"[yellow]{len(result.unmatched)} files match no source:[/yellow]")
        for path in result.unmatched:
            console.print(f"  {_relative(path, root)}")
    if result.silent:
        console.print(f"[yellow]{len(result.silent)} sources sent nothing:[/yellow]")
        for name in result.silent:
            console.print(f"  {name}")
    if not (result.unmatched or result.silent):
        console.print("[green]every file matches a source and every source sent files[/green]")


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
