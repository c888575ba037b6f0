"""Loans through the gateway (issue 8): a drawdown opens a loan with its schedule and journal
entry at the line's rate; the loan reads back (only by a client that knows the borrower);
a repayment on a due date is allocated by the waterfall, lowers the outstanding principal and
frees the line; retries with an `Idempotency-Key` draw and pay once; bad terms are a 422
naming the field, and an unfinished end of day a 409."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select

from purecredit.api import routes_loans
from purecredit.api.clients import SCOPES, Credentials
from purecredit.api.idempotency import REPLAYED
from purecredit.core.subjects import subject_key
from purecredit.decide import exposure, store
from purecredit.decide.counter import CONSENT_SOURCES
from purecredit.lend import eod, journal, tables
from purecredit.lend.dates import add_months
from purecredit.lend.drawdown import RepaymentMethod
from tests.api.conftest import OTHER_BRANCH, OUTLET, Gate

PROBLEM = "application/problem+json"
SEASONAL = RepaymentMethod.SEASONAL.value
EQUAL_PRINCIPAL = RepaymentMethod.EQUAL_PRINCIPAL.value


@pytest.fixture(scope="module")
def channel(gate: Gate) -> Credentials:
    return gate.client(*(s for s in SCOPES if s != "metrics:read"))


@pytest.fixture(scope="module")
def line(gate: Gate, channel: Credentials) -> dict[str, Any]:
    """An approved application with a credit line, among the best applicants."""
    for person in gate.people[:20]:
        asked = {"subject_id": person, "purposes": list(CONSENT_SOURCES), "valid_days": 90}
        consent = gate.send("POST", "/v1/consents", channel, asked)
        assert consent.status_code == 201, consent.text
        body = {"subject_id": person, "consent_id": consent.json()["consent_id"],
                "product": "household", "amount": 30_000, "branch": OUTLET}  # fmt: skip
        applied = gate.send("POST", "/v1/applications", channel, body)
        assert applied.status_code == 201, applied.text
        if applied.json()["decision"] == "approve" and applied.json()["credit_line_id"]:
            return dict(applied.json())
    pytest.fail("none of the best 20 applicants was approved")


@pytest.fixture
def on_day(gate: Gate) -> Iterator[Any]:
    """Set the gateway's business day: `on_day(d)` dates the next events `d`."""
    app: Any = gate.http.app
    overrides = app.dependency_overrides

    def set_day(day: date) -> None:
        overrides[routes_loans.business_day] = lambda: day

    yield set_day
    overrides.pop(routes_loans.business_day, None)


def _draw(gate: Gate, creds: Credentials, line: dict[str, Any], **ask: Any) -> Any:
    body = {"amount": "1200.00", "branch": OUTLET} | ask
    return gate.send("POST", f"/v1/credit-lines/{line['credit_line_id']}/drawdowns", creds, body)


def _available(gate: Gate, creds: Credentials, line: dict[str, Any]) -> Decimal:
    read = gate.send("GET", f"/v1/credit-lines/{line['credit_line_id']}", creds)
    assert read.status_code == 200, read.text
    return Decimal(read.json()["available"])


def _count(gate: Gate, table: Any, *where: Any) -> int:
    with gate.engine.connect() as connection:
        query = select(func.count()).select_from(table).where(*where)
        return int(connection.execute(query).scalar_one())


def test_a_drawdown_opens_a_loan_at_the_lines_rate(
    gate: Gate, channel: Credentials, line: dict[str, Any]
) -> None:
    drawn = _draw(gate, channel, line, amount="1234.56", term_months=6, method=EQUAL_PRINCIPAL)
    assert drawn.status_code == 201, drawn.text
    loan_id = drawn.json()["loan_id"]
    assert drawn.json()["drawn"] and drawn.json()["amount"] == "1234.56"
    loan = gate.send("GET", f"/v1/loans/{loan_id}", channel)
    assert loan.status_code == 200, loan.text
    shown = loan.json()
    assert shown["line_id"] == line["credit_line_id"]
    assert shown["customer_ref"] == line["customer_ref"] and "subject" not in shown
    assert shown["status"] == "active" and shown["dpd"] == 0 and shown["category"] == "normal"
    assert shown["amount"] == shown["principal_outstanding"] == "1234.56"
    assert shown["method"] == EQUAL_PRINCIPAL and shown["term_months"] == 6
    # The rate is the decision's (the client named none).
    decision = store.decision(gate.engine, line["decision_id"])["record"]
    assert Decimal(shown["annual_rate"]) == Decimal(repr(decision["rate"])) > 0
    schedule = shown["schedule"]
    assert len(schedule) == 6
    assert sum(Decimal(row["principal"]) for row in schedule) == Decimal("1234.56")
    assert all(Decimal(row["interest"]) > 0 and row["principal_paid"] == "0.00" for row in schedule)
    assert [row["due_date"] for row in schedule] == sorted(row["due_date"] for row in schedule)
    result = journal.check(gate.engine)
    assert result.balanced, result.first_break
    # Defaults: the decision's term and equal instalments.
    default = _draw(gate, channel, line, amount=100)
    assert default.status_code == 201, default.text
    opened = gate.send("GET", f"/v1/loans/{default.json()['loan_id']}", channel).json()
    assert opened["method"] == RepaymentMethod.EQUAL_INSTALMENTS.value
    assert opened["term_months"] == (decision["term_months"] or 12)


def test_seasonal_terms_need_harvest_months(
    gate: Gate, channel: Credentials, line: dict[str, Any]
) -> None:
    cases = [
        ({"method": SEASONAL}, "harvest_months"),
        ({"method": SEASONAL, "harvest_months": []}, "harvest_months"),
        ({"method": SEASONAL, "harvest_months": [9, 13]}, "harvest_months.1"),
        ({"method": SEASONAL, "harvest_months": [9, 9]}, "harvest_months"),
        ({"harvest_months": [9, 10]}, "harvest_months"),
        ({"method": "monthly"}, "method"),
        ({"term_months": 0}, "term_months"),
        ({"amount": "12.345"}, "amount"),
    ]
    lines_before = _count(gate, tables.loans)
    for ask, field in cases:
        refused = _draw(gate, channel, line, **ask)
        assert refused.status_code == 422, (ask, refused.text)
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["field"].startswith(field), (ask, refused.json())
    assert _count(gate, tables.loans) == lines_before
    seasonal = _draw(gate, channel, line, method=SEASONAL, harvest_months=[9, 10], term_months=12)
    assert seasonal.status_code == 201, seasonal.text
    loan = gate.send("GET", f"/v1/loans/{seasonal.json()['loan_id']}", channel).json()
    assert loan["harvest_months"] == [9, 10] and loan["method"] == SEASONAL


def test_a_retried_drawdown_opens_one_loan(
    gate: Gate, channel: Credentials, line: dict[str, Any]
) -> None:
    path = f"/v1/credit-lines/{line['credit_line_id']}/drawdowns"
    key, ask = f"loan-{uuid.uuid4().hex}", {"amount": "300.00", "branch": OUTLET}
    before = _count(gate, tables.loans)
    first = gate.send("POST", path, channel, ask, idempotency_key=key)
    assert first.status_code == 201, first.text
    again = gate.send("POST", path, channel, ask, idempotency_key=key)
    assert again.content == first.content and again.headers[REPLAYED] == "true"
    assert _count(gate, tables.loans) == before + 1
    assert journal.check(gate.engine).balanced


def test_another_client_sees_no_loan_and_scopes_and_branches_hold(
    gate: Gate, channel: Credentials, line: dict[str, Any]
) -> None:
    loan_id = _draw(gate, channel, line, amount=50).json()["loan_id"]
    path = f"/v1/loans/{loan_id}"
    stranger = gate.client("credit-lines:read", "credit-lines:write")
    for response in (
        gate.send("GET", path, stranger),
        gate.send("POST", f"{path}/repayments", stranger, {"amount": "1.00"}),
        gate.send("GET", "/v1/loans/Nnothing", channel),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["field"] == "loan_id"
    reader = gate.client("applications:read")
    assert gate.send("GET", path, reader).status_code == 403
    assert gate.send("POST", f"{path}/repayments", gate.client("credit-lines:read"),
                     {"amount": "1.00"}).status_code == 403  # fmt: skip
    # A branch client: the loan is booked at OUTLET, not at its branch.
    elsewhere = gate.client("consents:write", "credit-lines:read", branches=(OTHER_BRANCH,))
    asked = {"subject_id": _person(gate, line), "purposes": ["credit_bureau"], "valid_days": 30}
    assert gate.send("POST", "/v1/consents", elsewhere, asked).status_code == 201
    forbidden = gate.send("GET", path, elsewhere)
    assert forbidden.status_code == 403 and forbidden.json()["field"] == "branch"
    # Money must be money.
    for amount, field in (("1.001", "amount"), (1.5, "amount"), ("0", "amount")):
        bad = gate.send("POST", f"{path}/repayments", channel, {"amount": amount})
        assert bad.status_code == 422 and bad.json()["field"].startswith(field), bad.text


def _person(gate: Gate, line: dict[str, Any]) -> str:
    """The resident ID whose application granted the line."""
    subject = store.decision(gate.engine, line["decision_id"])["subject"]
    return next(p for p in gate.people if subject_key(p, gate.settings)[1] == subject)


def test_a_repayment_on_the_due_date_is_allocated_and_frees_the_line(
    gate: Gate, channel: Credentials, line: dict[str, Any], on_day: Any
) -> None:
    # Drawn 40 days ago, closed day by day, repaid on its first due date: the book's rules.
    start = routes_loans.business_day() - timedelta(days=40)
    due = add_months(start, 1)
    on_day(start)
    drawn = _draw(gate, channel, line, amount="1200.00", term_months=12, method=EQUAL_PRINCIPAL)
    assert drawn.status_code == 201, drawn.text
    loan_id = drawn.json()["loan_id"]
    path = f"/v1/loans/{loan_id}"
    day = start
    while day < due:
        eod.run_eod(gate.engine, day)
        day += timedelta(days=1)
    on_day(due)
    first = gate.send("GET", path, channel).json()["schedule"][0]
    assert first["due_date"] == due.isoformat() and first["principal"] == "100.00"
    owed = Decimal(first["principal"]) + Decimal(first["interest"])
    # An end of day left unfinished: the book takes no payment until it is done.
    with gate.engine.begin() as connection:
        started = {"day": due, "started_at": datetime.now(UTC)}
        connection.execute(insert(tables.book_days).values(started))
    blocked = gate.send("POST", f"{path}/repayments", channel, {"amount": str(owed)})
    assert blocked.status_code == 409 and blocked.headers["content-type"] == PROBLEM
    with gate.engine.begin() as connection:
        connection.execute(delete(tables.book_days).where(tables.book_days.c.day == due))

    available = _available(gate, channel, line)
    key = f"repay-{uuid.uuid4().hex}"
    paid = gate.send("POST", f"{path}/repayments", channel, {"amount": str(owed)},
                     idempotency_key=key)  # fmt: skip
    assert paid.status_code == 201, paid.text
    answer = paid.json()
    assert answer["allocation"] == {
        "penalty_interest": "0.00",
        "overdue_interest": "0.00",
        "overdue_principal": "0.00",
        "current_interest": first["interest"],
        "current_principal": "100.00",
        "prepaid_interest": "0.00",
        "prepaid_principal": "0.00",
    }
    assert answer["unapplied"] == "0.00" and answer["paid_on"] == due.isoformat()
    assert answer["principal_outstanding"] == "1100.00" and answer["status"] == "active"
    assert _available(gate, channel, line) == available + Decimal("100.00")
    # The retry pays nothing more.
    again = gate.send("POST", f"{path}/repayments", channel, {"amount": str(owed)},
                      idempotency_key=key)  # fmt: skip
    assert again.content == paid.content and again.headers[REPLAYED] == "true"
    assert _count(gate, tables.repayments, tables.repayments.c.loan_id == loan_id) == 1
    assert _available(gate, channel, line) == available + Decimal("100.00")
    loan = gate.send("GET", path, channel).json()
    assert loan["principal_outstanding"] == "1100.00"
    assert loan["schedule"][0]["principal_paid"] == "100.00"
    assert loan["schedule"][0]["interest_paid"] == first["interest"]
    # More than is due is an early repayment: on the due day no interest has accrued yet
    # for the new period, so all of it lowers the principal, and the rest of the schedule.
    extra = gate.send("POST", f"{path}/repayments", channel, {"amount": 5})
    assert extra.status_code == 201, extra.text
    early = extra.json()
    assert early["allocation"]["prepaid_principal"] == "5.00" and early["unapplied"] == "0.00"
    assert early["principal_outstanding"] == "1095.00"
    after = gate.send("GET", path, channel).json()
    assert sum(Decimal(d["principal"]) - Decimal(d["principal_paid"])
               for d in after["schedule"]) == Decimal("1095.00")  # fmt: skip
    # The payoff quote closes the loan; only what exceeds it would be held as unapplied.
    quote = after["payoff"]
    assert quote is not None and Decimal(quote["total"]) >= Decimal("1095.00")
    closing = gate.send("POST", f"{path}/repayments", channel,
                        {"amount": str(Decimal(quote["total"]) + Decimal("2.50"))})  # fmt: skip
    assert closing.status_code == 201, closing.text
    closed = closing.json()
    assert closed["status"] == "settled" and closed["principal_outstanding"] == "0.00"
    assert closed["unapplied"] == "2.50"
    assert gate.send("GET", path, channel).json()["payoff"] is None
    result = journal.check(gate.engine)
    assert result.balanced, result.first_break
    lines = exposure.credit_lines
    with gate.engine.connect() as connection:
        drawn_now = connection.execute(
            select(lines.c.drawn).where(lines.c.line_id == line["credit_line_id"])
        ).scalar_one()
    assert Decimal(drawn_now) == Decimal(_outstanding(gate, line["credit_line_id"]))


def _outstanding(gate: Gate, line_id: str) -> str:
    """The principal outstanding over the line's active loans, in whole fen."""
    loans = tables.loans
    with gate.engine.connect() as connection:
        fen = connection.execute(
            select(tables.fen_sum(loans.c.principal_outstanding)).where(
                loans.c.line_id == line_id, loans.c.status == "active"
            )
        ).scalar_one()
    return str(tables.yuan(fen))
