"""`purecredit branches`, `apply`, `exposure` and `decision replay`: the counter from the
command line (`purecredit.decide.counter`). Every error is one line naming what is wrong,
exit status 1, and nothing changed."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from purecredit.cli.progress import console, fail, print_json
from purecredit.core.errors import PurecreditError
from purecredit.core.settings import get_settings
from purecredit.core.subjects import subject_key
from purecredit.decide import exposure as ledger_exposure
from purecredit.decide import review, store
from purecredit.decide.counter import Counter
from purecredit.ingest.catalog import load_catalog
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine

decision_app = typer.Typer(help="Stored decisions: replay them.", no_args_is_help=True)


def branches(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The bank's head office, sub-branches and outlets (synced from the lake)."""
    settings = get_settings()
    engine = ledger_engine(settings)
    try:
        store.create_tables(engine)
        found = store.branches(engine)
        if not found:
            store.sync_branches(engine, Lake(settings.home / "lake"), load_catalog())
            found = store.branches(engine)
    except PurecreditError as exc:
        fail(exc)
    if print_json([b.as_json() for b in found], as_json):
        return
    shown = Table(title=f"{len(found)} branches")
    for column in ("code", "name", "level", "parent"):
        shown.add_column(column)
    for b in found:
        shown.add_row(b.code, b.name, b.level, b.parent or "")
    console.print(shown)


def apply(
    identifier: Annotated[str, typer.Option("--id", help="Resident ID number or USCC.")],
    product: Annotated[str, typer.Option("--product", help="household, enterprise, ...")],
    amount: Annotated[int, typer.Option("--amount", help="Line asked for, in yuan.")],
    branch: Annotated[str, typer.Option("--branch", help="Branch code (purecredit branches).")],
    consent: Annotated[
        str | None,
        typer.Option("--consent", help="An existing consent; else one is recorded now."),
    ] = None,
    term: Annotated[int | None, typer.Option("--term", help="Term in months.")] = None,
    officer: Annotated[str, typer.Option("--officer", help="Who records it.")] = "counter",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Decide an application: approve, refer or decline, with grade, PD, limit, rate, term
    and reasons; recorded with its inputs so that it can be replayed."""
    try:
        applied = Counter(get_settings()).apply(
            identifier,
            product=product,
            amount=amount,
            branch=branch,
            consent_id=consent,
            officer=officer,
            term_months=term,
        )
    except PurecreditError as exc:
        fail(exc)
    summary = applied.summary()
    if print_json(summary, as_json):
        return
    console.print(
        f"[bold]{summary['decision']}[/bold]  grade {summary['grade']}  PD {summary['pd']:.4f}  "
        f"line {summary['limit']:,} yuan  rate {summary['rate'] or '-'}  "
        f"term {summary['term_months'] or '-'} months  ({summary['decision_id']})"
    )
    for reason in summary["reasons"]:
        console.print(f"  {reason['code']} {reason['zh']} / {reason['en']}")


def exposure(
    identifier: Annotated[str, typer.Argument(help="Resident ID number or USCC.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The customer's unified limit, what is granted against it, and every line."""
    settings = get_settings()
    try:
        _, subject, shown_as = subject_key(identifier, settings)
        engine = ledger_engine(settings)
        ledger_exposure.create_tables(engine)
        now = ledger_exposure.exposure(engine, subject)
    except PurecreditError as exc:
        fail(exc)
    if print_json(now, as_json):
        return
    console.print(
        f"{shown_as}: unified limit {now['unified_limit']}, granted {now['granted']}, "
        f"drawn {now['drawn']}, available {now['available']}"
    )
    for line in now["lines"]:
        console.print(
            f"  {line['product']} at {line['branch']}: {line['limit']} ({line['status']})"
        )


@decision_app.command()
def replay(
    decision_id: Annotated[str | None, typer.Argument(help="A decision id.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Replay every stored decision.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Decide stored decisions again from their stored inputs; report any that differ."""
    if (decision_id is None) == (not every):
        typer.echo("error: give a decision id or --all", err=True)
        raise typer.Exit(2)
    try:
        counter = Counter(get_settings())
        ids = store.decision_ids(counter.engine) if every else [str(decision_id)]
    except PurecreditError as exc:
        fail(exc)
    results = []
    for i in ids:
        try:
            results.append(counter.replay(i))
        except PurecreditError as exc:  # its policy or model is gone or changed: say so
            results.append({"decision_id": i, "same": False, "different": [], "error": str(exc)})
    different = [r for r in results if not r["same"]]
    payload = {"replayed": len(results), "different": len(different), "differences": different}
    if not print_json(payload, as_json):
        console.print(f"replayed {len(results)}, different {len(different)}")
        for r in different:
            console.print(f"  {r['decision_id']}: {', '.join(r['different'])}")
    if different:
        raise typer.Exit(1)


review_app = typer.Typer(
    help="Manual review: referred decisions and applicants' requests (PIPL art. 24).",
    no_args_is_help=True,
)

Reviewer = Annotated[str, typer.Option("--reviewer", help="Who reviews (recorded).")]
Level = Annotated[str, typer.Option("--level", help="The reviewer's level: outlet, ...")]
Note = Annotated[str, typer.Option("--note", help="Why.")]


@review_app.command("list")
def review_list(
    level: Annotated[str | None, typer.Option("--level", help="Only this level's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Open reviews, oldest first."""
    counter = Counter(get_settings())
    found = review.open_reviews(counter.engine, level)
    if print_json(found, as_json):
        return
    shown = Table(title=f"{len(found)} open review(s)")
    for column in ("decision", "kind", "needs", "product", "grade", "line", "reasons"):
        shown.add_column(column)
    for r in found:
        shown.add_row(r["decision_id"], r["kind"], r["needs_level"], r["product"],
                      str(r["grade"]), f"{r['line']:,}", " ".join(r["reasons"]))  # fmt: skip
    console.print(shown)


def _close(decision_id: str, approve: bool, reviewer: str, level: str, note: str) -> None:
    try:
        counter = Counter(get_settings())
        done = review.close(counter.engine, counter.policy, decision_id, approve=approve,
                            reviewer=reviewer, level=level, note=note)  # fmt: skip
    except PurecreditError as exc:
        fail(exc)
    typer.echo(json.dumps(done, ensure_ascii=False))


@review_app.command("approve")
def review_approve(
    decision_id: Annotated[str, typer.Argument()], reviewer: Reviewer, level: Level,
    note: Note = "",
) -> None:  # fmt: skip
    """Approve a referred decision (within the reviewer's authority): its line is granted."""
    _close(decision_id, True, reviewer, level, note)


@review_app.command("decline")
def review_decline(
    decision_id: Annotated[str, typer.Argument()], reviewer: Reviewer, level: Level,
    note: Note = "",
) -> None:  # fmt: skip
    """Decline a referred decision."""
    _close(decision_id, False, reviewer, level, note)


@review_app.command("request")
def review_request(
    decision_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option("--reason", help="The applicant's words.")],
) -> None:
    """The applicant asks a person to review an automated decision (PIPL art. 24)."""
    try:
        review.request_review(Counter(get_settings()).engine, decision_id, reason)
    except PurecreditError as exc:
        fail(exc)
    typer.echo(json.dumps({"decision_id": decision_id, "status": "open"}))
