"""Opening loans on credit lines, repayments by the waterfall, write-offs: each posts one
balanced entry, keeps the sub-ledger tied and frees the line; refusals write nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select

from purecredit.core.errors import Conflict, Invalid
from purecredit.lend import book, journal
from purecredit.lend.allocation import Bucket
from purecredit.lend.drawdown import Drawdown, RepaymentMethod
from purecredit.lend.eod import run_eod
from purecredit.lend.state import advance, open_loan, pay
from purecredit.lend.tables import journal_lines
from purecredit.store.ledger import run_locked
from tests.lend.conftest import D, draw, dump, grant_line, line_drawn, repay

START = date(2025, 1, 10)
SUBJECT = "id:" + "a1" * 16


def run_days(engine: Engine, first: date, last: date) -> None:
    day = first
    while day <= last:
        run_eod(engine, day)
        day += timedelta(days=1)


def test_draw_opens_a_loan_with_its_schedule_and_posts_a_balanced_entry(engine: Engine) -> None:
    line = grant_line(engine, SUBJECT)
    opened = draw(engine, line, D("12000.00"), START)
    assert opened.draw.drawn and opened.loan_id is not None
    shown = book.loan(engine, opened.loan_id)
    expected = open_loan(
        Drawdown(D("12000.00"), START, 12, D("0.0435"), RepaymentMethod.EQUAL_PRINCIPAL)
    )
    assert [(r.due_date, r.principal, r.interest) for r in shown.state.schedule] == [
        (r.due_date, r.principal, r.interest) for r in expected.schedule
    ]
    assert shown.fields["subject"] == SUBJECT and shown.fields["status"] == "active"
    assert line_drawn(engine, line) == D("12000.00")
    with engine.connect() as c:
        lines = c.execute(
            select(journal_lines.c.account, journal_lines.c.debit, journal_lines.c.credit)
        ).all()
    assert sorted((a, D(d), D(c_)) for a, d, c_ in lines) == [
        ("cash_settlement", D("0.00"), D("12000.00")),
        ("loans_receivable", D("12000.00"), D("0.00")),
    ]
    assert journal.check(engine).balanced


def test_a_refused_drawdown_writes_nothing(engine: Engine) -> None:
    line = grant_line(engine, SUBJECT, D("10000"))
    before = dump(engine, full=True)
    refused = draw(engine, line, D("10000.01"), START)
    assert not refused.draw.drawn and refused.draw.reason == "exceeds_line_limit"
    assert refused.loan_id is None
    with pytest.raises(Invalid) as bad:
        draw(engine, line, D("100.00"), START, term=0)
    assert bad.value.field == "term_months"
    assert dump(engine, full=True) == before


def test_repayments_follow_the_waterfall_and_free_the_line(engine: Engine) -> None:
    line = grant_line(engine, SUBJECT)
    loan_id = draw(engine, line, D("12000.00"), START).loan_id
    assert loan_id is not None
    paid_on = date(2025, 3, 15)  # instalments of Feb 10 and Mar 10 overdue, penalty running
    run_days(engine, START, paid_on - timedelta(days=1))
    pure, _ = advance(
        open_loan(Drawdown(D("12000.00"), START, 12, D("0.0435"), RepaymentMethod.EQUAL_PRINCIPAL)),
        paid_on - timedelta(days=1),
    )
    amount = D("1500.00")
    _, expected = pay(pure, paid_on, amount)
    repaid = repay(engine, loan_id, amount, paid_on)
    assert repaid.allocation == expected
    parts = [repaid.allocation.of(b) for b in Bucket]
    assert parts[0] > 0 and parts[1] > 0 and parts[2] > 0  # penalty, then arrears first
    assert parts[3] == parts[4] == 0  # nothing current on Mar 15
    principal = parts[2]
    assert line_drawn(engine, line) == D("12000.00") - principal
    shown = book.loan(engine, loan_id)
    assert shown.state.principal_paid[0] == D("1000.00")  # oldest instalment first
    assert shown.state.principal_paid[1] == principal - D("1000.00")
    assert journal.check(engine).balanced


def test_paying_everything_settles_the_loan_and_holds_the_overpayment(engine: Engine) -> None:
    line = grant_line(engine, SUBJECT)
    loan_id = draw(engine, line, D("3000.00"), START, term=1).loan_id
    assert loan_id is not None
    due = date(2025, 2, 10)
    run_days(engine, START, due - timedelta(days=1))
    owed = book.loan(engine, loan_id).state.schedule[0].payment
    repaid = repay(engine, loan_id, owed + D("5.00"), due)
    assert repaid.status == "settled" and repaid.allocation.unapplied == D("5.00")
    assert line_drawn(engine, line) == D("0.00")
    checked = journal.check(engine)
    assert checked.balanced, checked.first_break
    assert checked.balances["unapplied_payments"] == D("-5.00")  # credit-normal
    assert checked.balances["loans_receivable"] == checked.balances["interest_receivable"] == 0
    with pytest.raises(Conflict):
        repay(engine, loan_id, D("1.00"), due + timedelta(days=1))


def test_a_write_off_takes_the_loan_off_the_book_and_frees_the_line(engine: Engine) -> None:
    line = grant_line(engine, SUBJECT)
    loan_id = draw(engine, line, D("2000.00"), START, term=1).loan_id
    assert loan_id is not None
    on = date(2025, 2, 20)  # ten days past due, penalty accrued
    run_days(engine, START, on - timedelta(days=1))
    gone = run_locked(engine, lambda c: book.write_off(c, loan_id=loan_id, on=on))
    assert gone.write_off.principal == D("2000.00") and gone.write_off.penalty_interest > 0
    assert line_drawn(engine, line) == D("0.00")
    checked = journal.check(engine)
    assert checked.balanced, checked.first_break
    total = gone.write_off.principal + gone.write_off.interest + gone.write_off.penalty_interest
    assert checked.balances["write_off"] == total
    assert book.loan(engine, loan_id).fields["status"] == "written_off"


def test_events_cannot_go_back_into_a_day_already_closed(engine: Engine) -> None:
    line = grant_line(engine, SUBJECT)
    draw(engine, line, D("1000.00"), START)
    run_eod(engine, START)
    with pytest.raises(Conflict) as late:
        draw(engine, line, D("1000.00"), START)
    assert late.value.field == "on"
    assert draw(engine, line, D("1000.00"), START + timedelta(days=1)).loan_id is not None
