"""What every command shares: rich progress for long work, and one way to fail."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from purecredit.core.errors import Invalid, PurecreditError

console = Console(stderr=True)


@contextmanager
def steps(title: str, total: int | None = None) -> Iterator[Callable[[str], None]]:
    """Yield a callback that advances one step and names what is being done now."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}" if total else "{task.completed} steps"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(title, total=total)

        def advance(what: str) -> None:
            progress.update(task, advance=1, description=f"{title}: {what}")

        yield advance
        progress.update(task, description=f"{title}: done")


def fail(exc: PurecreditError) -> NoReturn:
    """A purecredit error as one line on stderr (it names the record and field) and exit
    status 1: what an operator reads, not a traceback; nothing was changed."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


def print_json(payload: Any, as_json: bool) -> bool:
    """Print `payload` as JSON when asked (Chinese kept readable); whether it did."""
    if as_json:
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    return as_json


def parse_day(value: str, field: str = "date") -> date:
    """A YYYY-MM-DD option, or `Invalid` naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Invalid("must be a date YYYY-MM-DD", field=field) from exc
