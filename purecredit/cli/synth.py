"""`purecredit synth`: build a synthetic county."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from purecredit.cli import synth_serve
from purecredit.cli.progress import console, fail, steps
from purecredit.core.errors import PurecreditError
from purecredit.core.settings import get_settings
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import build_county
from purecredit.synth.later import build_later
from purecredit.synth.manifest import Manifest

app = typer.Typer(help="Build a synthetic Bozhou-like county, or serve its sources over HTTP.")
app.command("serve")(synth_serve.serve)

_D = SynthConfig()


def _date(value: str) -> date:
    return datetime.strptime(value, "%Y-%m-%d").date()


@app.callback(invoke_without_command=True)
def synth(
    ctx: typer.Context,
    people: Annotated[int, typer.Option(help="People living in the county.")] = _D.people,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same bytes.")] = _D.seed,
    months: Annotated[int, typer.Option(help="Months of history (36 or more).")] = _D.months,
    out: Annotated[
        Path | None, typer.Option(help="Output directory [default: $PURECREDIT_HOME/county].")
    ] = None,
    study_date: Annotated[
        str, typer.Option(help="Last day of history (YYYY-MM-DD).")
    ] = _D.study_date.isoformat(),
    horizon_months: Annotated[
        int, typer.Option(help="Months simulated after the study date.")
    ] = _D.horizon_months,
    default_rate: Annotated[
        float, typer.Option(help="Base 12-month default rate.")
    ] = _D.default_rate,
    defect_rate: Annotated[
        float, typer.Option(help="Rate of each kind of defect.")
    ] = _D.defect_rate,
    conflict_rate: Annotated[
        float, typer.Option(help="Rate of cross-source conflicts.")
    ] = _D.conflict_rate,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Write every source of a synthetic county, its manifest and its truth under OUT."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        config = SynthConfig(
            people=people,
            seed=seed,
            months=months,
            study_date=_date(study_date),
            horizon_months=horizon_months,
            default_rate=default_rate,
            defect_rate=defect_rate,
            conflict_rate=conflict_rate,
        )
    except (ValidationError, ValueError) as exc:
        console.print(f"[red]invalid county settings:[/red] {exc}")
        raise typer.Exit(2) from exc
    target = out or get_settings().county_path
    manifest = build(config, target)
    if json_out:
        summary = manifest.extra | {"out": str(target), "sources": len(manifest.sources)}
        typer.echo(json.dumps(summary))
    else:
        show(manifest, target)


def build(config: SynthConfig, target: Path) -> Manifest:
    with steps(f"county of {config.people:,} people") as advance:
        return build_county(config, target, progress=advance)


def show(manifest: Manifest, target: Path) -> None:
    table = Table(title=f"{target} · study date {manifest.study_date}")
    for column in ("source", "format", "files", "rows", "defects"):
        numeric = column in ("files", "rows", "defects")
        table.add_column(column, justify="right" if numeric else "left")
    for name, entry in sorted(manifest.sources.items()):
        table.add_row(
            name,
            f"{entry.format} {entry.encoding}",
            str(len(entry.files)),
            f"{entry.rows:,}",
            str(sum(entry.defects.values())),
        )
    console.print(table)
    extra = manifest.extra
    console.print(
        f"oracle AUC {extra['oracle_auc']:.3f} · realised 12-month default rate "
        f"{extra['realised_default_rate_12m']:.2%} (flag {manifest.default_rate:.2%})"
    )


@app.command("later")
def later(
    county: Annotated[Path, typer.Argument(help="A county built by `purecredit synth`.")],
    months: Annotated[int, typer.Option(help="Months after the study date to deliver.")] = 1,
) -> None:
    """Write what each owner delivers at the end of each of the MONTHS months after the
    county's study date, under COUNTY/later/YYYY-MM/; prints each delivery's directory."""
    try:
        with steps(f"later deliveries of {county}") as advance:
            written = build_later(county, months, progress=advance)
    except PurecreditError as exc:
        fail(exc)
    for path in written:
        typer.echo(str(path))
