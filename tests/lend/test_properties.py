"""Any sequence of drawdowns, repayments and ends of day keeps the journal balanced and the
loan sub-ledger tied to it (few examples: each one runs against a real ledger)."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from purecredit.core.errors import Conflict
from purecredit.lend import eod, journal
from purecredit.lend.drawdown import RepaymentMethod
from tests.lend.conftest import clear, draw, grant_line, repay

START = date(2025, 1, 28)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("eod"), st.integers(1, 40)),
        st.tuples(
            st.just("draw"),
            st.integers(100_00, 30_000_00),
            st.sampled_from([m for m in RepaymentMethod if m is not RepaymentMethod.SEASONAL]),
            st.integers(1, 3),
        ),
        st.tuples(st.just("repay"), st.integers(0, 5), st.integers(1, 5_000_00)),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=ops)
def test_the_journal_stays_balanced_and_tied(engine: Engine, steps: list[tuple]) -> None:
    clear(engine)
    line = grant_line(engine, "id:p", Decimal("1000000"))
    today, loans = START, []  # today: the day events happen (its end of day not yet run)
    for step in steps:
        if step[0] == "eod":
            for _ in range(step[1]):
                eod.run_eod(engine, today)
                today += timedelta(days=1)
        elif step[0] == "draw":
            opened = draw(
                engine, line, Decimal(step[1]).scaleb(-2), today, method=step[2], term=step[3]
            )
            loans.append(opened.loan_id)
        elif loans:
            loan_id = loans[step[1] % len(loans)]
            # refused when settled already, or drawn today (not yet through yesterday)
            with contextlib.suppress(Conflict):
                repay(engine, loan_id, Decimal(step[2]).scaleb(-2), today)
        checked = journal.check(engine)
        assert checked.balanced, checked.first_break
