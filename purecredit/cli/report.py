"""`purecredit report ...`: a report on demand, to a file; and catch-up of the reports the
automatic maker has not made yet."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from purecredit.cli.progress import console, fail, parse_day
from purecredit.core.errors import PurecreditError
from purecredit.core.settings import get_settings
from purecredit.report import pdf_of, pending
from purecredit.report.render import html_of
from purecredit.report.stored import put
from purecredit.store.ledger import ledger_engine

app = typer.Typer(help="Pre-loan, review and post-loan reports (HTML, PDF).", no_args_is_help=True)


class Fmt(StrEnum):
    html = "html"
    pdf = "pdf"


class Lang(StrEnum):
    zh = "zh"
    en = "en"


FormatOpt = Annotated[Fmt, typer.Option("--format", help="html or pdf.")]
LangOpt = Annotated[Lang, typer.Option("--lang", help="zh (default) or en.")]
OutOpt = Annotated[Path, typer.Option("--out", help="The file to write.")]


def _write(kind: str, ref: str, fmt: Fmt, lang: Lang, out: Path, day: str | None = None) -> None:
    try:
        settings = get_settings()
        on = parse_day(day, "as-of") if day else None
        html, _ = html_of(ledger_engine(settings), settings, kind, ref, lang.value, on)
        out.write_bytes(html.encode("utf-8") if fmt is Fmt.html else pdf_of(html))
    except PurecreditError as exc:
        fail(exc)
    console.print(f"{kind} report of {ref} written to {out}")


@app.command("pre-loan")
def pre_loan(
    decision_id: Annotated[str, typer.Argument(help="The decision's id.")],
    out: OutOpt,
    fmt: FormatOpt = Fmt.pdf,
    lang: LangOpt = Lang.zh,
) -> None:
    """The pre-loan investigation report (贷前调查报告) of a decision."""
    _write("pre-loan", decision_id, fmt, lang, out)


@app.command("review")
def review(
    decision_id: Annotated[str, typer.Argument(help="The decision's id.")],
    out: OutOpt,
    fmt: FormatOpt = Fmt.pdf,
    lang: LangOpt = Lang.zh,
) -> None:
    """The review report (贷时审查报告) of a decision."""
    _write("review", decision_id, fmt, lang, out)


@app.command("post-loan")
def post_loan(
    loan_id: Annotated[str, typer.Argument(help="The loan's id.")],
    out: OutOpt,
    fmt: FormatOpt = Fmt.pdf,
    lang: LangOpt = Lang.zh,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD; default the latest book day.")
    ] = None,
) -> None:
    """The post-loan inspection report (贷后检查报告) of a loan on a day."""
    _write("post-loan", loan_id, fmt, lang, out, as_of)


@app.command("catch-up")
def catch_up() -> None:
    """Make and store every report whose event has none yet (what the API's report maker
    does in the background)."""
    settings = get_settings()
    engine = ledger_engine(settings)
    todo = pending(engine)
    made = 0
    columns = (TextColumn("reports"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("reports", total=len(todo))
        for item in todo:
            try:
                html, event_at = html_of(engine, settings, item.kind, item.ref, item.lang, item.day)
            except PurecreditError as exc:
                console.print(f"[red]{item.kind} {item.ref}: {exc}[/red]")
            else:
                made += put(engine, item, html, event_at)
            progress.advance(task)
    console.print(f"{made} reports stored, {len(todo) - made} not")
