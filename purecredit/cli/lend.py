"""`purecredit eod`, `ledger check`, `loan show` and `book play`: the loan book from the
command line (`purecredit.lend`). Every error is one line naming what is wrong, exit status
1."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from purecredit.cli.progress import console, fail, parse_day, print_json
from purecredit.core.errors import Invalid, PurecreditError
from purecredit.core.settings import get_settings
from purecredit.decide.counter import Counter
from purecredit.lend import book, journal
from purecredit.lend import eod as end_of_day
from purecredit.lend.play import Day, Play, PlayConfig
from purecredit.lend.tables import create_tables
from purecredit.store.ledger import ledger_engine

app = typer.Typer(help="The loan book: end of day, the journal, loans.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry journal of the loan book.", no_args_is_help=True)
loan_app = typer.Typer(help="Loans in the book.", no_args_is_help=True)
book_app = typer.Typer(help="The book as a whole: played forward.", no_args_is_help=True)


def _ledger() -> Engine:
    """The ledger, with the loan book's tables made if missing."""
    engine = ledger_engine(get_settings())
    create_tables(engine)
    return engine


def eod(
    day: Annotated[str, typer.Option("--date", help="The day to close, YYYY-MM-DD.")],
    chunk: Annotated[
        int, typer.Option("--chunk", help="Debtors per transaction.")
    ] = end_of_day.CHUNK,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run the end of day: accrue every active loan, classify by debtor, post the day's
    accrual entry. Running a date already done changes nothing; an interrupted run resumes."""
    try:
        on = parse_day(day)
        engine = _ledger()
        total = end_of_day.pending(engine, on)
        with Progress(
            TextColumn("[bold]end of day " + on.isoformat()),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=as_json,
        ) as progress:
            task = progress.add_task("loans", total=total)
            result = end_of_day.run_eod(
                engine, on, chunk=chunk, on_chunk=lambda n: progress.advance(task, n)
            )
    except PurecreditError as exc:
        fail(exc)
    if print_json(result.to_dict(), as_json):
        return
    said = " (already done: nothing changed)" if result.already_done else ""
    console.print(
        f"{result.day}: {result.loans} loans, outstanding {result.outstanding}, "
        f"NPL ratio {result.npl_ratio:.4%}{said}"
    )
    for name, amount in result.by_category.items():
        console.print(f"  {name}: {amount}")


@ledger_app.command("check")
def check(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Prove the journal balances and ties to the loans; exit 1 naming the first break."""
    try:
        engine = _ledger()
        result = journal.check(engine)
    except PurecreditError as exc:
        fail(exc)
    if not print_json(result.to_dict(), as_json):
        for tie in result.ties:
            console.print(f"{tie.account.value}: journal {tie.journal}, loans {tie.loans}")
        verdict = "balanced and tied" if result.balanced else f"BROKEN: {result.first_break}"
        console.print(f"{result.entries} entries, debits {result.debits}: {verdict}")
    if not result.balanced:
        raise typer.Exit(1)


@loan_app.command("show")
def show(
    loan_id: Annotated[str, typer.Argument(help="The loan's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A loan: its terms, status, DPD, category and schedule with what has been paid."""
    try:
        engine = _ledger()
        found = book.loan(engine, loan_id).to_dict()
    except PurecreditError as exc:
        fail(exc)
    if print_json(found, as_json):
        return
    console.print(
        f"{found['loan_id']}: {found['amount']} at {found['annual_rate']} from {found['start']}, "
        f"{found['term_months']} months, {found['method']}; {found['status']}, "
        f"DPD {found['dpd']}, {found['category']}, through {found['as_of']}"
    )
    shown = Table(title="schedule")
    for column in ("#", "due", "principal", "interest", "principal paid", "interest paid"):
        shown.add_column(column)
    for row in found["schedule"]:
        shown.add_row(
            str(row["number"]),
            row["due_date"],
            row["principal"],
            row["interest"],
            row["principal_paid"],
            row["interest_paid"],
        )
    console.print(shown)


@book_app.command("play")
def play(
    months: Annotated[int, typer.Option("--months", help="Months to play, from the start.")],
    applicants: Annotated[
        int | None,
        typer.Option(
            "--applicants-per-month",
            help="Walk-in applications a month (default: 4% of the county's residents).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the applications.")] = 0,
    county: Annotated[
        Path | None, typer.Option("--county", help="The synthetic county (default: the demo's).")
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Refuse unless the book is empty (no loan, no day).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Let the synthetic county live: applications through the counter, drawdowns,
    repayments as the county's hidden truth has them, and the end of day every day, into
    this home's ledger; then the book (categories, NPL, DPD, vintages, roll rates)."""
    settings = get_settings()
    try:
        where = county or settings.county_path
        if not (where / "manifest.json").is_file():
            raise Invalid(f"no synthetic county at {where}", field="county")
        game = Play(Counter(settings), where, PlayConfig(months, applicants, seed, fresh))
        result = run_play(game, "book play", as_json)
    except PurecreditError as exc:
        fail(exc)
    if not print_json(result, as_json):
        _show_book(result)


class Playable(Protocol):
    def span(self) -> tuple[date, date]: ...

    def run(self, on_day: Callable[[Day], None] | None = None) -> dict[str, Any]: ...


def run_play(game: Playable, title: str, quiet: bool) -> dict[str, Any]:
    """Run a play with a progress bar over its days (none when `quiet`, e.g. for JSON)."""
    with Progress(
        TextColumn(f"[bold]{title} {{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    ) as progress:
        start, end = game.span()
        task = progress.add_task(f"from {start}", total=(end - start).days + 1)

        def step(done: Day) -> None:
            progress.update(
                task,
                advance=1,
                description=f"{done.day}: {done.eod.loans} loans, NPL {done.eod.npl_ratio:.2%}",
            )

        return game.run(step)


def _show_book(result: dict[str, Any]) -> None:
    reference = result["reference_npl_ratio"]
    console.print(
        f"{result['start']} to {result['end']}: {result['loans']} loans outstanding "
        f"{result['outstanding']} on {result['lines']['active']} lines; "
        f"{result['drawdowns']['count']} drawdowns ({result['drawdowns']['amount']}), "
        f"{result['repayments']['count']} repayments"
    )
    console.print(
        f"NPL ratio {float(result['npl_ratio']):.2%} (the pilot {reference['pilot']:.2%}, "
        f"national rural banks {reference['national_rural_banks']:.2%})"
    )
    table = Table(title="the book")
    for column in ("category", "outstanding", "DPD", "loans", "outstanding "):
        table.add_column(column, justify="left" if column in ("category", "DPD") else "right")
    categories = list(result["by_category"].items())
    buckets = list(result["dpd_buckets"].items())
    for (name, amount), (bucket, held) in zip(categories, buckets, strict=True):
        table.add_row(name, amount, bucket, str(held["loans"]), held["outstanding"])
    console.print(table)
    vintages = Table(title="vintages: share of amount drawn ever 30+ / 90+ DPD, by months on book")
    vintages.add_column("drawn")
    vintages.add_column("loans", justify="right")
    on_book = [p["months_on_book"] for v in result["vintages"].values() for p in v["dpd30"]]
    for k in range(max(on_book, default=-1) + 1):
        vintages.add_column(f"M{k}", justify="right")
    for month, v in result["vintages"].items():
        cells = {
            a["months_on_book"]: f"{a['share']:.1%}/{b['share']:.1%}"
            for a, b in zip(v["dpd30"], v["dpd90"], strict=True)
        }
        row = [cells.get(k, "") for k in range(max(on_book, default=-1) + 1)]
        vintages.add_row(month, str(v["loans"]), *row)
    console.print(vintages)
    rolls = Table(title="roll rates: month-end DPD bucket to the next month's")
    rolls.add_column("from")
    names = list(next(iter(result["roll_rates"]["share"].values())))
    for name in names:
        rolls.add_column(name, justify="right")
    for bucket, row in result["roll_rates"]["share"].items():
        rolls.add_row(bucket, *("-" if row[n] is None else f"{row[n]:.1%}" for n in names))
    console.print(rolls)


app.command(name="eod")(eod)
app.add_typer(ledger_app, name="ledger")
app.add_typer(loan_app, name="loan")
app.add_typer(book_app, name="book")

if __name__ == "__main__":  # `python -m purecredit.cli.lend`, before it is registered in main
    app()
