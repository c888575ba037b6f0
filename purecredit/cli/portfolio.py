"""`purecredit portfolio report`: the portfolio drift report (`purecredit.monitor.portfolio`)
as one self-contained HTML page, or its JSON. Aggregates only, with the same minimum cell size
as the API's `/v1/portfolio`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from purecredit.cli.progress import console, fail
from purecredit.core.errors import Invalid, PurecreditError
from purecredit.core.settings import get_settings
from purecredit.monitor.portfolio import MIN_CELL, portfolio, render_html
from purecredit.store.ledger import ledger_engine

app = typer.Typer(help="The portfolio: drift, migration, NPL and vintages.", no_args_is_help=True)

DEFAULT_OUT = Path("portfolio.html")


@app.command("report")
def report(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the HTML (portfolio.html unless --json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    min_cell: Annotated[
        int, typer.Option("--min-cell", help="Hide cells of fewer borrowers or loans.")
    ] = MIN_CELL,
) -> None:
    """Score PSI on the reference deciles, characteristic stability, grade migration, NPL and
    vintage trends, from the ledger."""
    try:
        if min_cell < 1:
            raise Invalid("must be 1 or more", field="min-cell")
        engine = ledger_engine(get_settings())
        try:
            found = portfolio(engine, min_cell=min_cell)
        finally:
            engine.dispose()
    except PurecreditError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
    if out is None and as_json:
        return
    path = out or DEFAULT_OUT
    path.write_text(render_html(found), encoding="utf-8")
    psi = found["score_psi"]
    said = "too few to publish" if psi["psi"] is None else f"{psi['psi']:.4f} ({psi['band']})"
    console.print(f"wrote {path}: score PSI {said}, {found['suppressed_cells']} cells hidden")
