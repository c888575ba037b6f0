"""`purecredit score batch`: every subject's (or a list's) PD, grade and reason codes as of a
date, from the lake, into Parquet, on DuckDB or on Spark (`purecredit.score.batch`)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from purecredit.cli.progress import console, fail, steps
from purecredit.core.errors import Invalid, PurecreditError
from purecredit.core.settings import get_settings
from purecredit.core.subjects import subject_key
from purecredit.ingest.catalog import load_catalog
from purecredit.profile.feature import Kind
from purecredit.score.batch import score_subjects
from purecredit.store.batch import EngineName, batch_sql
from purecredit.store.lake import Lake

app = typer.Typer(help="Score subjects in batch.", no_args_is_help=True)


def _listed(path: Path) -> tuple[list[Kind], list[str]]:
    """The lake keys and kinds of a file of resident ID numbers and USCCs, one a line (blank
    lines and `#` comments skipped); a bad line is an error naming its line number."""
    settings = get_settings()
    kinds: set[Kind] = set()
    keys = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            kind, key, _ = subject_key(text, settings)
        except Invalid as error:
            raise Invalid(f"{path}:{number}: {error}", record=f"line {number}") from None
        kinds.add(kind)
        keys.append(key)
    if not keys:
        raise Invalid(f"{path} lists no subject", record=str(path))
    return [k for k in ("person", "enterprise") if k in kinds], keys


@app.command()
def batch(
    out: Annotated[
        str, typer.Option(help="Output folder (or any URI Spark writes): <out>/<kind>/.")
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Profile date (YYYY-MM-DD); default today.")
    ] = None,
    subjects: Annotated[
        Path | None,
        typer.Option(help="File of resident ID numbers and USCCs to score; default everyone."),
    ] = None,
    kind: Annotated[
        Literal["all", "person", "enterprise"], typer.Option(help="Which subjects.")
    ] = "all",
    engine: Annotated[
        EngineName,
        typer.Option(
            help="Where profiles and scores are computed: embedded DuckDB, or Spark "
            "(PURECREDIT_SPARK_MASTER)."
        ),
    ] = "duckdb",
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Profile and score subjects as of a date with the champion models, into Parquet:
    subject (lake key), as_of, kind, segment, model, pd, grade, reason_codes."""
    settings = get_settings()
    when = date.fromisoformat(as_of) if as_of else date.today()
    try:
        kinds: list[Kind] = ["person", "enterprise"] if kind == "all" else [kind]
        only = None
        if subjects is not None:
            listed, only = _listed(subjects)
            kinds = [k for k in kinds if k in listed]
        with (
            batch_sql(settings, engine) as con,
            steps(f"scores as of {when} ({engine})") as advance,
        ):
            counts = score_subjects(
                con, Lake(settings.home / "lake"), load_catalog(), settings.home, when, out,
                kinds=kinds, only=only, progress=advance,
            )  # fmt: skip
    except PurecreditError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps({"as_of": when.isoformat(), "engine": engine, "rows": counts}))
        return
    table = Table(title=f"scores as of {when} → {out}")
    table.add_column("kind")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
