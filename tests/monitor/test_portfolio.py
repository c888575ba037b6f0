"""The portfolio report over a small book made through the real functions: applications
decided and drawn through the gateway, ends of day run over five months with some payments,
and a monitoring batch that rescores the borrowers. Nothing has changed in the profiles since
the decisions, so the score and characteristics must read as stable and the grades as not
moved; the loans nobody pays must show in the vintages and the NPL trend; the HTML carries
its charts inline and no identifier; the API answers only a client with `metrics:read`, with
small cells hidden."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from purecredit.api import routes_loans
from purecredit.api.app import create_app
from purecredit.api.clients import SCOPES, Credentials
from purecredit.core.settings import Settings
from purecredit.decide import exposure, store
from purecredit.decide.counter import CONSENT_SOURCES
from purecredit.lend import eod, tables
from purecredit.monitor import tables as monitor_tables
from purecredit.monitor.portfolio import book_history, portfolio, render_html
from purecredit.monitor.run import run_monitor
from purecredit.score.stability import PSI_AMBER
from purecredit.store.ledger import make_engine, snapshot
from tests.api.conftest import OUTLET, Gate
from tests.county import CountyHome, Desk
from tests.lend.conftest import draw

# The book's tests build a county, five months of ends of day and a monitoring run.
SLOW = pytest.mark.slow

FIRST, SECOND, LAST = date(2026, 1, 20), date(2026, 2, 16), date(2026, 5, 31)
BORROWERS = 12


@dataclass
class Book:
    gate: Gate
    creds: Credentials
    ids: set[str]  # every identifier the book made, subject tokens too: none may leave


def _approved(gate: Gate, creds: Credentials) -> list[dict[str, Any]]:
    out = []
    for person in gate.people[:60]:
        asked = {"subject_id": person, "purposes": list(CONSENT_SOURCES), "valid_days": 90}
        consent = gate.send("POST", "/v1/consents", creds, asked)
        assert consent.status_code == 201, consent.text
        body = {"subject_id": person, "consent_id": consent.json()["consent_id"],
                "product": "household", "amount": 30_000, "branch": OUTLET}  # fmt: skip
        applied = gate.send("POST", "/v1/applications", creds, body).json()
        if applied["decision"] == "approve" and applied["credit_line_id"]:
            out.append(applied | {"person": person})
        if len(out) == BORROWERS:
            return out
    pytest.fail(f"fewer than {BORROWERS} of the best 60 applicants were approved")


def _dated(day: date) -> Any:
    return lambda: day


@pytest.fixture(scope="module")
def book(
    county_home: CountyHome, desk: Desk, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Book]:
    ledger = tmp_path_factory.mktemp("portfolio") / "ledger.sqlite"
    shutil.copy(county_home.pristine, ledger)
    settings = Settings(home=county_home.home, database_url=f"sqlite:///{ledger}")
    app = create_app(settings)
    with TestClient(app) as http:
        people = [str(x) for x in desk.people["resident_id"]]
        gate = Gate(http, settings, app.state.gateway, people, county_home.county)
        creds = gate.client(*SCOPES)
        lines = _approved(gate, creds)
        keys = ("person", "application_id", "decision_id", "credit_line_id", "customer_ref")
        ids = {str(line[k]) for line in lines for k in keys}
        drawn_on = {FIRST: lines[: BORROWERS // 2], SECOND: lines[BORROWERS // 2 :]}
        payers: list[str] = []
        day = FIRST
        while day <= LAST:
            app.dependency_overrides[routes_loans.business_day] = _dated(day)
            for line in drawn_on.get(day, []):
                path = f"/v1/credit-lines/{line['credit_line_id']}/drawdowns"
                ask = {"amount": "6000.00", "branch": OUTLET, "term_months": 6}
                drawn = gate.send("POST", path, creds, ask)
                assert drawn.status_code == 201, drawn.text
                ids.add(drawn.json()["loan_id"])
                if len(payers) < 4:
                    payers.append(drawn.json()["loan_id"])
            if day.day == FIRST.day and day > FIRST:  # two payers pay each instalment on time
                for loan_id in payers[:2]:
                    due = gate.send("GET", f"/v1/loans/{loan_id}", creds).json()
                    if due["status"] == "active":
                        amount = {"amount": "1100.00"}
                        paid = gate.send("POST", f"/v1/loans/{loan_id}/repayments", creds, amount)
                        assert paid.status_code == 201, paid.text
            eod.run_eod(gate.engine, day)
            day += timedelta(days=1)
        app.dependency_overrides.pop(routes_loans.business_day, None)
        run_monitor(settings, gate.engine, date.today())
        with gate.engine.connect() as connection:
            ids |= set(connection.execute(select(tables.loans.c.subject)).scalars())
        yield Book(gate, creds, ids)


@SLOW
def test_the_rebuilt_month_end_dpd_matches_the_end_of_day(book: Book) -> None:
    with snapshot(book.gate.engine) as connection:
        trend, snapshots = book_history(connection)
    assert list(trend["month"]) == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    month, last = snapshots.frames[-1]
    assert month == "2026-05"
    with book.gate.engine.connect() as connection:
        rows = connection.execute(select(tables.loans.c.loan_id, tables.loans.c.dpd)).all()
    assert {r.loan_id: int(r.dpd) for r in rows} == last["dpd"].to_dict()
    assert (last["dpd"] > 60).sum() == BORROWERS - 2  # only the two payers kept up
    assert (last["dpd"] == 0).sum() == 2


@SLOW
def test_an_unchanged_book_reads_stable_and_unmoved(book: Book) -> None:
    report = portfolio(book.gate.engine, min_cell=1)
    score = report["score_psi"]
    assert score["reference"] == "decision_pd"
    assert score["reference_n"] == score["current_n"] == BORROWERS
    assert score["psi"] < PSI_AMBER and score["band"] == "green"
    person = report["characteristics"]["person"]
    assert len(person) > 10
    assert all(row["psi"] < PSI_AMBER for row in person), person[:3]
    moved = kept = 0
    for row in report["migration"]["rows"]:
        for cell in row["cells"]:
            kept += cell["count"] if cell["grade"] == row["decision_grade"] else 0
            moved += cell["count"] if cell["grade"] != row["decision_grade"] else 0
        if row["borrowers"]:
            assert sum(c["share"] for c in row["cells"]) == pytest.approx(1.0)
    assert kept == BORROWERS and moved == 0
    npl = report["npl"]
    assert [r["month"] for r in npl] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    assert npl[0]["npl_ratio"] == 0 and npl[-1]["npl_ratio"] > 0.25
    vintages = {v["vintage"]: v for v in report["vintages"]}
    assert set(vintages) == {"2026-01", "2026-02"}
    assert vintages["2026-01"]["loans"] == BORROWERS // 2
    assert vintages["2026-01"]["dpd90"][-1]["share"] > 0.5
    assert report["suppressed_cells"] == 0


@SLOW
def test_the_html_carries_its_charts_inline_and_no_identifier(book: Book) -> None:
    html = render_html(portfolio(book.gate.engine, min_cell=1))
    assert html.count('<img src="data:image/png;base64,') == 5
    for caption in ("Score PSI by decile", "Grade migration", "NPL ratio trend",
                    "Vintage curves, ever 30+", "Vintage curves, ever 90+"):  # fmt: skip
        assert caption in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert not [i for i in book.ids if i in html]


@SLOW
def test_the_api_answers_with_metrics_read_only_and_hides_small_cells(book: Book) -> None:
    gate = book.gate
    answer = gate.send("GET", "/v1/portfolio", gate.client("metrics:read"))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["min_cell"] == 10
    assert report["suppressed_cells"] > 0
    # every cell shown counts nobody or at least ten; every hidden one is null
    bins = report["score_psi"]["bins"]
    assert all((b["current"] is None) == b["suppressed"] for b in bins)
    assert all(b["current"] is None or b["current"] == 0 or b["current"] >= 10 for b in bins)
    cells = [c for r in report["migration"]["rows"] for c in r["cells"]]
    assert all(c["count"] is None or c["count"] == 0 or c["count"] >= 10 for c in cells)
    assert all((c["count"] is None) == c["suppressed"] for c in cells)
    assert all(v["loans"] is None and v["dpd30"] is None for v in report["vintages"])
    assert not [i for i in book.ids if i in answer.text]
    others = [s for s in SCOPES if s != "metrics:read"]
    refused = gate.send("GET", "/v1/portfolio", gate.client(*others))
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_the_report_reads_a_ledger_on_either_backend(fresh_ledger_url: str) -> None:
    """Decisions (JSON inputs), lines, a loan run through its ends of day and a day of
    rescores, on SQLite and PostgreSQL alike."""
    engine = make_engine(fresh_ledger_url)
    try:
        monitor_tables.create_tables(engine)
        store.create_tables(engine)
        grades = {"id:a": ("3", "5"), "id:b": ("3", "3"), "id:c": ("4", "4")}
        for n, (subject, (decided, now)) in enumerate(grades.items()):
            record = {"application_id": f"app{n}", "product": "household", "outcome": "approve",
                      "grade": decided, "pd": 0.01 * (n + 1), "unified_limit": 50_000,
                      "line": 50_000, "rate": 0.05}  # fmt: skip
            inputs = {"profile": {"age": 30 + n}, "application": {}, "standing": {}}
            store.store_decision(engine, decision_id=f"dec{n}", record=record, inputs=inputs,
                                 subject=subject, branch_code=OUTLET)  # fmt: skip
            exposure.grant(engine, subject=subject, legal_rep=None, product="household",
                           branch=OUTLET, amount=Decimal(50_000), unified_limit=Decimal(50_000),
                           decision_id=f"dec{n}")  # fmt: skip
            with engine.begin() as connection:
                connection.execute(
                    insert(monitor_tables.monitor_scores).values(
                        subject=subject,
                        day=date(2026, 3, 1),
                        profile_as_of=date(2026, 3, 1),
                        model="pooled@v1",
                        pd=0.02,
                        grade=now,
                        decision_grade=decided,
                    )
                )
        with engine.connect() as connection:
            line = connection.execute(select(exposure.credit_lines.c.line_id)).scalars().first()
        assert line is not None
        draw(engine, line, Decimal(1200), date(2026, 1, 10), term=3)
        day = date(2026, 1, 10)
        while day <= date(2026, 2, 15):
            eod.run_eod(engine, day)
            day += timedelta(days=1)
        report = portfolio(engine, min_cell=1)
    finally:
        engine.dispose()
    assert report["score_psi"]["reference_n"] == report["score_psi"]["current_n"] == 3
    assert report["monitoring_day"] == "2026-03-01" and report["book_day"] == "2026-02-15"
    rows = {r["decision_grade"]: r for r in report["migration"]["rows"]}
    assert rows["3"]["borrowers"] == 2
    assert {c["grade"]: c["share"] for c in rows["3"]["cells"]}["5"] == 0.5
    assert [r["month"] for r in report["npl"]] == ["2026-01", "2026-02"]
    assert report["vintages"][0]["dpd30"][-1] == {"months_on_book": 1, "share": 0.0}
