"""Payments beyond the dues: an early repayment prepays interest to date then principal and
rebuilds the later instalments; a payment covering the payoff quote settles the loan. The
journal balances and ties throughout, and the end of day runs on afterwards. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from purecredit.core.errors import Conflict
from purecredit.lend import book, journal
from purecredit.lend.accrual import interest
from purecredit.lend.allocation import Bucket, Prepaid
from purecredit.lend.drawdown import RepaymentMethod
from purecredit.lend.eod import run_eod
from purecredit.lend.prepay import reschedule
from purecredit.lend.tables import book_days, fen_sum, repayments, yuan
from tests.lend.conftest import RATE, D, clear, draw, grant_line, line_drawn, repay

START = date(2025, 1, 10)
SUBJECT = "id:" + "e1" * 16
DAY = timedelta(days=1)


def run_days(engine: Engine, first: date, last: date) -> None:
    day = first
    while day <= last:
        run_eod(engine, day)
        day += DAY


def assert_ties(engine: Engine) -> journal.CheckResult:
    checked = journal.check(engine)
    assert checked.balanced, checked.first_break
    assert all(t.ties for t in checked.ties)
    return checked


def recorded(engine: Engine, repayment_id: str) -> tuple[Decimal, Decimal, Decimal]:
    with engine.connect() as c:
        row = c.execute(
            select(repayments.c.prepaid_interest, repayments.c.prepaid_principal,
                   repayments.c.unapplied)
            .where(repayments.c.repayment_id == repayment_id)
        ).one()  # fmt: skip
    return D(row[0]), D(row[1]), D(row[2])


def open_and_pay_first(engine: Engine, method: RepaymentMethod) -> tuple[str, str]:
    """A 12,000 loan of 12 months; its first instalment paid on its due date, Feb 10."""
    line = grant_line(engine, SUBJECT)
    loan_id = draw(engine, line, D("12000.00"), START, method=method).loan_id
    assert loan_id is not None
    run_days(engine, START, date(2025, 2, 9))
    first = book.loan(engine, loan_id).state.schedule[0]
    assert repay(engine, loan_id, first.payment, date(2025, 2, 10)).allocation.unapplied == 0
    return line, loan_id


@pytest.mark.parametrize(
    "method", [RepaymentMethod.EQUAL_INSTALMENTS, RepaymentMethod.EQUAL_PRINCIPAL]
)
def test_an_early_repayment_prepays_principal_and_rebuilds_the_later_instalments(
    engine: Engine, method: RepaymentMethod
) -> None:
    line, loan_id = open_and_pay_first(engine, method)
    on = date(2025, 2, 25)  # 15 days into the second period (Feb 10 - Mar 10)
    run_days(engine, date(2025, 2, 10), on - DAY)
    before = book.loan(engine, loan_id).state
    balance = before.schedule[1].opening_principal
    to_date = interest(balance, RATE, 15)
    repaid = repay(engine, loan_id, D("5000.00"), on)
    prepaid = D("5000.00") - to_date

    parts = repaid.allocation
    assert all(parts.of(b) == 0 for b in Bucket) and parts.unapplied == 0
    assert (parts.of(Prepaid.INTEREST), parts.of(Prepaid.PRINCIPAL)) == (to_date, prepaid)
    assert [p.rule.split(":")[0] for p in parts.parts[-2:]] == [
        "prepayment 1/2",
        "prepayment 2/2",
    ]
    assert recorded(engine, repaid.repayment_id) == (to_date, prepaid, D(0))
    assert repaid.status == "active" and repaid.principal_outstanding == balance - prepaid

    view = book.loan(engine, loan_id)
    after = view.state
    assert view.fields["principal_outstanding"] == balance - prepaid
    assert after.schedule[0] == before.schedule[0]  # settled: untouched
    assert [r.due_date for r in after.schedule] == [r.due_date for r in before.schedule]
    unpaid = [after.unpaid_principal(k) for k in range(1, 12)]
    assert sum(unpaid) == balance - prepaid
    owed = [after.unpaid_principal(k) + after.unpaid_interest(k) for k in range(1, 12)]
    assert all(new < old.payment for new, old in zip(owed, before.schedule[1:], strict=True))
    pure = reschedule(before.drawdown, before.schedule, on=on, prepayment=prepaid).schedule
    assert [(r.due_date, r.principal, r.interest) for r in pure[2:]] == [
        (r.due_date, r.principal, r.interest) for r in after.schedule[2:]
    ]
    assert (after.unpaid_principal(1), after.unpaid_interest(1)) == (
        pure[1].principal,
        pure[1].interest,
    )
    assert after.schedule[1].period_start == on
    assert after.schedule[1].rule.startswith(f"prepaid on {on}")
    assert sum(r.principal for r in after.schedule) == D("12000.00")
    assert line_drawn(engine, line) == balance - prepaid
    assert_ties(engine)

    # The end of day accrues exactly the rebuilt interest by the next due date, and ties.
    due = date(2025, 3, 10)
    for day in range((due - on).days):
        run_eod(engine, on + day * DAY)
        assert_ties(engine)
    with engine.connect() as c:
        accrued = c.execute(
            select(fen_sum(book_days.c.interest_accrued)).where(book_days.c.day >= on)
        ).scalar_one()
    assert yuan(accrued) == pure[1].interest
    paid = repay(engine, loan_id, pure[1].payment, due)
    assert paid.allocation.of(Bucket.CURRENT_INTEREST) == pure[1].interest
    assert paid.allocation.of(Bucket.CURRENT_PRINCIPAL) == pure[1].principal
    assert paid.allocation.unapplied == 0
    run_eod(engine, due)
    checked = assert_ties(engine)
    assert checked.balances["interest_receivable"] == interest(pure[2].opening_principal, RATE, 1)


def test_a_payment_short_of_the_interest_to_date_rebuilds_nothing(engine: Engine) -> None:
    _, loan_id = open_and_pay_first(engine, RepaymentMethod.EQUAL_PRINCIPAL)
    on = date(2025, 2, 25)
    run_days(engine, date(2025, 2, 10), on - DAY)
    before = book.loan(engine, loan_id).state
    repaid = repay(engine, loan_id, D("1.00"), on)
    assert repaid.allocation.of(Prepaid.INTEREST) == D("1.00")
    assert repaid.allocation.of(Prepaid.PRINCIPAL) == 0
    after = book.loan(engine, loan_id).state
    assert after.schedule == before.schedule
    assert after.interest_paid[1] == D("1.00")
    assert_ties(engine)
    run_days(engine, on, date(2025, 3, 9))
    paid = repay(engine, loan_id, after.schedule[1].payment - D("1.00"), date(2025, 3, 10))
    assert paid.allocation.unapplied == 0
    assert_ties(engine)


def test_paying_the_payoff_quote_settles_the_loan(engine: Engine) -> None:
    line, loan_id = open_and_pay_first(engine, RepaymentMethod.EQUAL_INSTALMENTS)
    on = date(2025, 3, 20)  # the March instalment 10 days overdue: penalty too
    run_days(engine, date(2025, 2, 10), on - DAY)
    quote = book.payoff_quote(engine, loan_id, on)
    shown = json.loads(json.dumps(quote.to_dict()))
    assert D(shown["total"]) == quote.total
    assert quote.dues.penalty_interest > 0 and quote.dues.overdue_principal > 0
    state = book.loan(engine, loan_id).state
    assert quote.principal_not_due == sum(state.unpaid_principal(k) for k in range(2, 12))
    assert quote.interest_accrued == interest(state.schedule[2].opening_principal, RATE, 10)
    later = book.payoff_quote(engine, loan_id, on + 5 * DAY)  # no payment in between
    assert later.total > quote.total

    repaid = repay(engine, loan_id, quote.total, on)
    assert repaid.status == "settled" and repaid.allocation.unapplied == 0
    assert repaid.allocation.of(Prepaid.PRINCIPAL) == quote.principal_not_due
    assert repaid.allocation.of(Prepaid.INTEREST) == quote.interest_accrued
    assert repaid.principal_outstanding == 0
    view = book.loan(engine, loan_id)
    assert view.fields["status"] == "settled" and view.fields["closed_on"] == on
    assert view.fields["principal_outstanding"] == 0 and view.state.outstanding_principal == 0
    assert line_drawn(engine, line) == 0
    checked = assert_ties(engine)
    assert checked.balances["loans_receivable"] == 0
    assert checked.balances["interest_receivable"] == checked.balances["penalty_receivable"] == 0
    assert checked.balances["unapplied_payments"] == 0
    with pytest.raises(Conflict):
        book.payoff_quote(engine, loan_id, on + DAY)
    run_days(engine, on, on + 3 * DAY)  # the loan has left the end of day
    assert_ties(engine)


def test_paying_more_than_the_quote_settles_and_holds_only_the_excess(engine: Engine) -> None:
    line, loan_id = open_and_pay_first(engine, RepaymentMethod.EQUAL_PRINCIPAL)
    on = date(2025, 2, 25)
    run_days(engine, date(2025, 2, 10), on - DAY)
    quote = book.payoff_quote(engine, loan_id, on)
    assert quote.dues.total == 0
    repaid = repay(engine, loan_id, quote.total + D("7.50"), on)
    assert repaid.status == "settled" and repaid.allocation.unapplied == D("7.50")
    assert recorded(engine, repaid.repayment_id) == (
        quote.interest_accrued,
        quote.principal_not_due,
        D("7.50"),
    )
    assert line_drawn(engine, line) == 0
    checked = assert_ties(engine)
    assert checked.balances["unapplied_payments"] == D("-7.50")  # credit-normal


# ----------------------------------------------------------------------------- properties

PROPERTY_START = date(2025, 1, 28)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("eod"), st.integers(1, 35), st.just(0)),
        # a share (in thousandths) of the payoff quote: below, at or above it
        st.tuples(st.just("share"), st.integers(0, 1), st.integers(1, 1200)),
        st.tuples(st.just("amount"), st.integers(0, 1), st.integers(1, 3_000_00)),
    ),
    min_size=1,
    max_size=7,
)


def _assert_sound(engine: Engine, ids: list[str]) -> None:
    checked = assert_ties(engine)
    for account in ("loans_receivable", "interest_receivable", "penalty_receivable"):
        assert checked.balances[account] >= 0
    assert checked.balances["unapplied_payments"] <= 0
    for loan_id in ids:
        view = book.loan(engine, loan_id)
        state = view.state
        assert view.fields["principal_outstanding"] == state.outstanding_principal >= 0
        assert sum(r.principal for r in state.schedule) == state.drawdown.amount
        for k in range(len(state.schedule)):
            assert state.unpaid_principal(k) >= 0 and state.unpaid_interest(k) >= 0
        assert state.penalty_paid <= state.penalty_accrued
        if view.fields["status"] == "settled":
            assert state.outstanding_principal == 0


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps)
def test_eod_and_payments_of_any_size_keep_the_journal_tied(
    engine: Engine, plan: list[tuple[str, int, int]]
) -> None:
    clear(engine)
    line = grant_line(engine, "id:q", D("1000000"))
    ids = []
    for amount, method in (
        (D("9000.00"), RepaymentMethod.EQUAL_INSTALMENTS),
        (D("6000.00"), RepaymentMethod.INTEREST_ONLY),
    ):
        opened = draw(engine, line, amount, PROPERTY_START, term=3, method=method)
        assert opened.loan_id is not None
        ids.append(opened.loan_id)
    today = PROPERTY_START
    for kind, a, b in plan:
        if kind == "eod":
            run_days(engine, today, today + (a - 1) * DAY)
            today += a * DAY
        else:
            loan_id = ids[a]
            if book.loan(engine, loan_id).fields["status"] != "active":
                continue
            if kind == "share":
                total = book.payoff_quote(engine, loan_id, today).total
                pay = (total * b / 1000).quantize(D("0.01"))
            else:
                pay = D(b).scaleb(-2)
            if pay > 0:
                repaid = repay(engine, loan_id, pay, today)
                parts = repaid.allocation
                assert sum(p.amount for p in parts.parts) + parts.unapplied == pay
        _assert_sound(engine, ids)
    run_days(engine, today, today + 40 * DAY)  # through maturity: the book runs on
    _assert_sound(engine, ids)
