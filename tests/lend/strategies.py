"""Hypothesis strategies for drawdowns across the ranges the products allow."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import strategies as st

from purecredit.lend.drawdown import Drawdown, RepaymentMethod

amounts = st.integers(1, 10_000_000_00).map(lambda fen: Decimal(fen).scaleb(-2))
rates = st.integers(0, 2400).map(lambda bp: Decimal(bp).scaleb(-4))
starts = st.dates(date(2000, 1, 1), date(2040, 12, 31))
terms = st.integers(1, 60)
harvests = st.sets(st.integers(1, 12), min_size=1, max_size=12).map(lambda s: tuple(sorted(s)))


@st.composite
def drawdowns(draw: st.DrawFn, method: RepaymentMethod | None = None) -> Drawdown:
    chosen = draw(st.sampled_from(RepaymentMethod)) if method is None else method
    months = draw(harvests) if chosen is RepaymentMethod.SEASONAL else ()
    return Drawdown(draw(amounts), draw(starts), draw(terms), draw(rates), chosen, months)
