"""The end of day: one date after another, idempotent, resumable after a crash with exactly
the result of an uninterrupted run, and classification by debtor (the 10% rule)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update

from purecredit.core.errors import Conflict, Invalid
from purecredit.lend import eod, journal
from purecredit.lend.bulk import NewLoan, import_book
from purecredit.lend.drawdown import Drawdown, RepaymentMethod
from purecredit.lend.tables import book_days, journal_lines, loans
from tests.lend.conftest import D, draw, dump, grant_line, restore

FIRST = date(2025, 3, 1)


def small_book(n: int, seed: int = 3) -> list[NewLoan]:
    """`n` loans over about n/2 debtors, started up to 120 days before FIRST."""
    rng = random.Random(seed)
    out: list[NewLoan] = []
    for k in range(n):
        method = rng.choice(list(RepaymentMethod))
        drawdown = Drawdown(
            Decimal(rng.randrange(1_000_00, 50_000_00)).scaleb(-2),
            FIRST - timedelta(days=rng.randrange(0, 120)),
            rng.choice((1, 3, 12)),
            Decimal(rng.randrange(300, 1500)).scaleb(-4),
            method,
            (9, 10) if method is RepaymentMethod.SEASONAL else (),
        )
        out.append(NewLoan(f"id:{k // 2:04d}", drawdown))
    return out


def test_running_a_date_twice_changes_nothing_and_says_so(engine: Engine) -> None:
    import_book(engine, small_book(12), reference="t")
    first = eod.run_eod(engine, FIRST)
    assert not first.already_done and first.loans == 12
    before = dump(engine, full=True)
    again = eod.run_eod(engine, FIRST)
    assert again.already_done
    assert again.to_dict() | {"already_done": False} == first.to_dict()
    assert dump(engine, full=True) == before


def test_dates_cannot_be_skipped_nor_start_before_the_book(engine: Engine) -> None:
    book = small_book(6)
    import_book(engine, book, reference="t")
    earliest = min(n.drawdown.start for n in book)
    with pytest.raises(Invalid):
        eod.run_eod(engine, earliest - timedelta(days=1))
    eod.run_eod(engine, FIRST)
    before = dump(engine, full=True)
    with pytest.raises(Conflict) as skipped:
        eod.run_eod(engine, FIRST + timedelta(days=2))
    assert "2025-03-02" in str(skipped.value)
    assert dump(engine, full=True) == before
    with pytest.raises(Invalid):
        eod.run_eod(engine, FIRST - timedelta(days=1))


class Crash(Exception):
    pass


def _crash_after_first_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    real = eod._chunk
    calls = {"n": 0}

    def chunk(connection: Any, day: date, after: str, size: int) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash
        return real(connection, day, after, size)

    monkeypatch.setattr(eod, "_chunk", chunk)


def test_a_crash_mid_run_then_a_rerun_equals_an_uninterrupted_run(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_book(engine, small_book(30), reference="t")
    eod.run_eod(engine, FIRST, chunk=4)
    saved = dump(engine, full=True)
    day = FIRST + timedelta(days=1)
    with monkeypatch.context() as patch:
        _crash_after_first_chunk(patch)
        with pytest.raises(Crash):
            eod.run_eod(engine, day, chunk=4)
    with engine.connect() as c:
        done = c.execute(select(book_days.c.done_at).where(book_days.c.day == day)).scalar_one()
        stepped = c.execute(select(loans.c.loan_id).where(loans.c.as_of == day)).all()
    assert done is None and 0 < len(stepped) < 30
    line = grant_line(engine, "id:new")
    with pytest.raises(Conflict):  # nothing else happens while the day is unfinished
        draw(engine, line, D("100.00"), day + timedelta(days=1))
    with pytest.raises(Conflict):
        eod.run_eod(engine, day + timedelta(days=1))
    resumed = eod.run_eod(engine, day, chunk=4)
    interrupted = dump(engine)
    restore(engine, saved)
    straight = eod.run_eod(engine, day, chunk=4)
    assert straight.to_dict() == resumed.to_dict()
    # the line granted while the day was unfinished is not in the restored ledger
    for table in ("loans", "loan_instalments", "journal_entries", "journal_lines", "book_days"):
        assert dump(engine)[table] == interrupted[table], table
    assert journal.check(engine).balanced


def _subject_book(
    start_bad: date, start_good: date, bad: str, good: str, who: str
) -> list[NewLoan]:
    return [
        NewLoan(who, Drawdown(D(bad), start_bad, 1, D("0.05"), RepaymentMethod.INTEREST_ONLY)),
        NewLoan(who, Drawdown(D(good), start_good, 12, D("0.05"), RepaymentMethod.INTEREST_ONLY)),
    ]


def test_classification_is_by_debtor_over_all_its_loans(engine: Engine) -> None:
    old, recent, day = date(2024, 1, 1), date(2024, 5, 25), date(2024, 6, 1)
    # "id:a": 1,000 of 6,000 (16.7%) non-performing -> all substandard; "id:b": 500 of
    # 10,500 (4.8%) -> the performing loan stays normal.
    book = _subject_book(old, recent, "1000.00", "5000.00", "id:a")
    book += _subject_book(old, recent, "500.00", "10000.00", "id:b")
    ids = import_book(engine, book, reference="t")
    result = eod.run_eod(engine, day)  # the first run catches every loan up from its start
    with engine.connect() as c:
        found = dict(c.execute(select(loans.c.loan_id, loans.c.category)).all())
        dpd = dict(c.execute(select(loans.c.loan_id, loans.c.dpd)).all())
    assert dpd[ids[0]] > 90 and dpd[ids[1]] == 0
    assert [found[i] for i in ids] == ["substandard", "substandard", "substandard", "normal"]
    assert result.by_category["substandard"] == D("6500.00")
    assert result.by_category["normal"] == D("10000.00")
    assert result.npl_ratio == (D("6500") / D("16500")).quantize(eod.RATIO)


def test_check_names_the_break_introduced_by_hand(engine: Engine) -> None:
    import_book(engine, small_book(6), reference="t")
    eod.run_eod(engine, FIRST)
    assert journal.check(engine).balanced
    with engine.begin() as c:
        c.execute(
            update(loans)
            .where(loans.c.loan_id == select(loans.c.loan_id).limit(1).scalar_subquery())
            .values(interest_accrued=loans.c.interest_accrued + 1)
        )
    broken = journal.check(engine)
    assert not broken.balanced
    assert broken.first_break is not None and broken.first_break.startswith("interest_receivable")
    with engine.begin() as c:
        c.execute(
            update(journal_lines)
            .where(journal_lines.c.entry_id == f"eod:{FIRST}", journal_lines.c.line_no == 1)
            .values(debit=journal_lines.c.debit + D("0.01"))
        )
    broken = journal.check(engine)
    assert broken.first_break is not None and broken.first_break.startswith(f"entry eod:{FIRST}")
    assert broken.to_dict()["balanced"] is False


def test_an_unbalanced_entry_is_refused_and_writes_nothing(engine: Engine) -> None:
    bad = journal.Entry(
        "x:1",
        FIRST,
        journal.Kind.ACCRUAL,
        "x",
        (
            journal.Line(journal.Account.INTEREST_RECEIVABLE, debit=D("1.00")),
            journal.Line(journal.Account.INTEREST_INCOME, credit=D("0.99")),
        ),
    )
    with engine.begin() as c, pytest.raises(Invalid) as refused:
        journal.post(c, bad)
    assert refused.value.record == "x:1" and "1.00" in str(refused.value)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM journal_entries")).scalar_one() == 0
