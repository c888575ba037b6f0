"""`purecredit ...`: the command line. The CLI is the edge: it configures logging, builds
settings, shows progress, and composes the stages; no library code imports it."""

from __future__ import annotations

import logging

import typer

from purecredit.cli import (
    applications,
    audit,
    cases,
    catalog,
    clients,
    decide,
    demo,
    ingest,
    lend,
    lines,
    model,
    monitor,
    portfolio,
    profile,
    report,
    score,
    staff,
    synth,
)

app = typer.Typer(
    name="purecredit",
    help="Pure-credit inclusive lending: synthetic county, data, profiles, scores, decisions.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(synth.app, name="synth")
app.command(name="demo")(demo.demo)
app.command(name="serve")(demo.serve)
app.command(name="catalog")(catalog.catalog)
app.command(name="ingest")(ingest.ingest)
app.command(name="conflicts")(ingest.conflicts)
app.add_typer(ingest.quarantine_app, name="quarantine")
app.add_typer(profile.app, name="profile")
app.add_typer(model.app, name="model")
app.add_typer(score.app, name="score")
app.command(name="branches")(decide.branches)
app.command(name="apply")(decide.apply)
app.command(name="exposure")(decide.exposure)
app.add_typer(lines.app, name="line")
app.add_typer(decide.decision_app, name="decision")
app.add_typer(decide.review_app, name="review")
app.add_typer(applications.app, name="applications")
app.command(name="simulate")(applications.simulate)
app.add_typer(clients.app, name="clients")
app.add_typer(audit.app, name="audit")
app.command(name="eod")(lend.eod)
app.add_typer(lend.ledger_app, name="ledger")
app.add_typer(lend.loan_app, name="loan")
app.add_typer(lend.book_app, name="book")
app.add_typer(monitor.app, name="monitor")
app.add_typer(cases.app, name="case")
app.add_typer(cases.warnings_app, name="warnings")
app.add_typer(portfolio.app, name="portfolio")
app.add_typer(report.app, name="report")
app.add_typer(staff.app, name="staff")


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
