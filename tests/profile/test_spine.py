"""The spine: window starts computed once per date, month ends clipped, duplicates dropped."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from purecredit.profile.feature import known
from purecredit.profile.spine import make_spine, months_before, windows


def test_months_before_clips_to_the_month_end() -> None:
    assert months_before(date(2025, 5, 31), 3) == date(2025, 2, 28)
    assert months_before(date(2024, 5, 31), 3) == date(2024, 2, 29)
    assert months_before(date(2025, 1, 15), 24) == date(2023, 1, 15)


def test_windows_end_with_the_as_of_day() -> None:
    w = windows(date(2025, 12, 31))
    assert w["cutoff"] == datetime(2026, 1, 1)
    assert w["d30"] == date(2025, 12, 1)
    assert w["m12"] == date(2024, 12, 31)


def test_spine_drops_duplicate_pairs_and_orders_by_date() -> None:
    spine = make_spine(["b", "a", "b", "a"], [date(2025, 1, 1), date(2025, 6, 30)] * 2)
    rows = spine.select(["subject", "as_of"]).to_pylist()
    assert rows == [
        {"subject": "b", "as_of": date(2025, 1, 1)},
        {"subject": "a", "as_of": date(2025, 6, 30)},
    ]
    assert spine.column("m3").to_pylist() == [date(2024, 10, 1), date(2025, 3, 30)]


def test_known_filters_by_date_only_where_versions_share_it() -> None:
    """`since` may hide records older than a window only when valid_from is part of the record
    key (a monthly feed): elsewhere a newer version could carry an older date."""
    sql = known("bank_deposits", since="m12")
    assert "r._valid_from > s.m12" in sql
    with pytest.raises(ValueError, match="record key"):
        known("population_register", since="m12")
    with pytest.raises(ValueError, match="window column"):
        known("bank_deposits", since="as_of")
