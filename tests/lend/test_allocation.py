from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purecredit.core.errors import Invalid
from purecredit.lend.allocation import WATERFALL, Bucket, Dues, allocate

fen = st.integers(0, 10**10).map(lambda n: Decimal(n).scaleb(-2))
dues = st.builds(Dues, fen, fen, fen, fen, fen)


@settings(max_examples=200)
@given(dues, fen)
def test_allocation_conserves_money_and_never_overpays_a_bucket(
    owed: Dues, payment: Decimal
) -> None:
    result = allocate(owed, payment)
    allocated = sum(p.amount for p in result.parts)
    assert allocated + result.unapplied == payment
    assert result.unapplied >= 0
    for part in result.parts:
        assert 0 <= part.amount <= owed.of(part.bucket)
        assert result.remaining.of(part.bucket) == owed.of(part.bucket) - part.amount >= 0
    assert result.unapplied == max(payment - owed.total, Decimal(0))


@settings(max_examples=200)
@given(dues, fen)
def test_a_bucket_is_paid_only_after_every_earlier_one_is_cleared(owed: Dues, pay: Decimal) -> None:
    result = allocate(owed, pay)
    assert [p.bucket for p in result.parts] == list(WATERFALL)
    for k, part in enumerate(result.parts):
        if part.amount > 0:
            assert all(result.remaining.of(b) == 0 for b in WATERFALL[:k])


def test_worked_waterfall() -> None:
    owed = Dues(
        Decimal("3.00"), Decimal("10.00"), Decimal("100.00"), Decimal("20.00"), Decimal(500)
    )
    result = allocate(owed, Decimal("150.00"))
    assert [p.amount for p in result.parts] == [
        Decimal("3.00"),
        Decimal("10.00"),
        Decimal("100.00"),
        Decimal("20.00"),
        Decimal("17.00"),
    ]
    assert result.of(Bucket.CURRENT_PRINCIPAL) == Decimal("17.00")
    assert result.parts[0].rule.startswith("waterfall 1/5: penalty_interest")
    over = allocate(owed, Decimal("700.00"))
    assert over.unapplied == Decimal("67.00") and over.remaining.total == 0


def test_bad_payment_and_dues_are_refused() -> None:
    with pytest.raises(Invalid) as caught:
        allocate(Dues(), Decimal("-1"))
    assert caught.value.field == "payment"
    with pytest.raises(Invalid) as caught:
        Dues(overdue_principal=Decimal("-0.01"))
    assert caught.value.field == "overdue_principal"
