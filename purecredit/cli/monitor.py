"""`purecredit monitor run|evaluate|play`: post-loan monitoring from the command line
(`purecredit.monitor`). Every error is one line naming what is wrong, exit status 1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from purecredit.cli.lend import run_play
from purecredit.cli.progress import console, fail, parse_day, print_json, steps
from purecredit.core.errors import Invalid, PurecreditError
from purecredit.core.settings import get_settings
from purecredit.decide.counter import Counter
from purecredit.lend.play import PlayConfig
from purecredit.monitor.evaluate import evaluate as evaluate_book
from purecredit.monitor.play import MonitoredPlay
from purecredit.monitor.rules import load_rules
from purecredit.monitor.run import run_monitor
from purecredit.monitor.tables import create_tables
from purecredit.store.batch import EngineName
from purecredit.store.ledger import ledger_engine

app = typer.Typer(help="Post-loan monitoring: daily batches, evaluation.", no_args_is_help=True)


@app.command("run")
def run(
    day: Annotated[str, typer.Option("--date", help="The batch day, YYYY-MM-DD.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    batch_engine: Annotated[
        EngineName,
        typer.Option(
            "--engine",
            help="Where the detectors' SQL runs: embedded DuckDB, or Spark "
            "(PURECREDIT_SPARK_MASTER).",
        ),
    ] = "duckdb",
) -> None:
    """The day's batch: events from what the lake learned, warnings by the rules, a case per
    new warning for the borrower's branch, the rules' own actions. A rerun raises nothing new."""
    settings = get_settings()
    try:
        on = parse_day(day)
        engine = ledger_engine(settings)
        create_tables(engine)
        with steps(f"monitoring {on} ({batch_engine})", total=None) as advance:
            advance("events, rescores and warnings")
            result = run_monitor(settings, engine, on, batch_engine=batch_engine)
    except PurecreditError as exc:
        fail(exc)
    if not print_json(result.to_dict(), as_json):
        console.print(
            f"{result.day}: {result.borrowers} borrowers watched, {result.events} new events, "
            f"{result.warnings} warnings opening {result.cases} cases, "
            f"{result.frozen:.2f} undrawn limit frozen (rules {result.rules_version})"
        )


@app.command("evaluate")
def evaluate(
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules",
            help="Measure the warnings these rules (a file or packaged version) would have "
            "raised from the recorded events instead.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How good the warnings were on this book: precision and recall at six months, lead
    time, amount protected, next to the book's base default rate; overall and by rule."""
    try:
        engine = ledger_engine(get_settings())
        create_tables(engine)
        result = evaluate_book(engine, None if rules is None else load_rules(rules))
    except PurecreditError as exc:
        fail(exc)
    if not print_json(result, as_json):
        _show(result)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _show(result: dict[str, Any]) -> None:
    console.print(
        f"book to {result['book_end']}, {result['monitoring_days']} monitoring days; "
        f"base 6-month default rate {_pct(result['base_default_rate_6m'])}"
    )
    table = Table(title="warnings: precision and recall at 6 months")
    for column in ("rule", "warnings", "scored", "precision", "lift", "recall", "lead (days)"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    rows = [("all", result), *result["by_rule"].items()]
    for name, f in rows:
        table.add_row(
            name,
            str(f["warnings"]),
            str(f["warnings_scored"]),
            _pct(f["precision_6m"]),
            "-" if f["lift"] is None else f"{f['lift']:.1f}x",
            _pct(f["recall_6m"]),
            "-" if f["median_lead_days"] is None else f"{f['median_lead_days']:.0f}",
        )
    console.print(table)
    console.print(
        f"protected before default {result['protected_amount']} "
        f"(all cases {result['protected_total']})"
    )


@app.command("play")
def play(
    months: Annotated[int, typer.Option("--months", help="Months to play, from the start.")],
    applicants: Annotated[
        int | None,
        typer.Option("--applicants-per-month", help="Walk-in applications a month."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the applications.")] = 0,
    county: Annotated[
        Path | None, typer.Option("--county", help="The synthetic county (default: the demo's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """`book play` with monitoring: each month the county's later delivery is ingested
    (`purecredit synth later` makes them), profiles rebuilt and the batch run; then the
    book and the warnings' evaluation."""
    settings = get_settings()
    try:
        where = county or settings.county_path
        if not (where / "manifest.json").is_file():
            raise Invalid(f"no synthetic county at {where}", field="county")
        game = MonitoredPlay(Counter(settings), where, PlayConfig(months, applicants, seed))
        game.deliveries()
        result = run_play(game, "monitored play", as_json)
    except PurecreditError as exc:
        fail(exc)
    if not print_json(result, as_json):
        _show(result["monitoring"]["evaluation"])
