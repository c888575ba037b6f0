"""Batches of applications: a month of a county's walk-ins, drawn from its registers, written
and read back; a file that does not read names its line and field."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from purecredit.core.errors import Invalid
from purecredit.core.identifiers import parse_uscc
from purecredit.decide.applications import (
    Ask,
    asks_for,
    month_of_walk_ins,
    read_asks,
    write_asks,
)
from purecredit.synth.manifest import Manifest

OUTLETS = ["341602001", "341602002", "341602003"]


def test_a_month_of_walk_ins_is_drawn_from_the_registers(
    small_county: tuple[Path, Manifest],
) -> None:
    county, _ = small_county
    asks = month_of_walk_ins(county, OUTLETS, "2026-01", from_day=date(2026, 1, 5))
    assert len(asks) > 20
    assert {a.product for a in asks} == {"household", "enterprise"}
    assert all(a.branch in OUTLETS for a in asks)
    # Every one arrives on a day of the month from the profiles' date on, in arrival order.
    days = [a.received_at.date() for a in asks]
    assert min(days) >= date(2026, 1, 5) and max(days) <= date(2026, 1, 31)
    assert days == sorted(days)
    for a in asks:
        if a.product == "enterprise":
            parse_uscc(a.identifier)  # firms apply with their USCC
            assert a.amount in (100_000, 200_000, 500_000, 1_000_000)
    # The same seed draws the same month.
    assert asks == month_of_walk_ins(county, OUTLETS, "2026-01", from_day=date(2026, 1, 5))


def test_asked_for_more_than_the_county_has_some_come_back(
    small_county: tuple[Path, Manifest],
) -> None:
    county, _ = small_county
    asks = month_of_walk_ins(county, OUTLETS, "2026-02", count=5000)
    assert len(asks) == 5000
    identifiers = [a.identifier for a in asks]
    assert len(set(identifiers)) < len(identifiers)
    share = sum(a.product == "enterprise" for a in asks) / len(asks)
    assert 0 < share < 0.5


def test_written_applications_read_back_the_same(
    small_county: tuple[Path, Manifest], tmp_path: Path
) -> None:
    county, _ = small_county
    asks = month_of_walk_ins(county, OUTLETS, "2026-01", count=50)
    path = tmp_path / "month.jsonl"
    assert write_asks(path, asks) == 50
    assert read_asks(path) == asks
    assert asks_for(str(path), county, OUTLETS) == asks  # a file is read, not drawn


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("not json", None),
        ('{"identifier": "x", "product": "household", "amount": "5", "branch": "1", '
         '"received_at": "2026-01-06T09:00:00"}', "amount"),
        ('{"identifier": "x", "product": "household", "amount": 5, "branch": "1", '
         '"received_at": "yesterday"}', "received_at"),
        ('{"product": "household", "amount": 5, "branch": "1", '
         '"received_at": "2026-01-06T09:00:00"}', "identifier"),
    ],
)  # fmt: skip
def test_a_line_that_does_not_read_names_itself(tmp_path: Path, line: str, field: str) -> None:
    good = Ask("x", "household", 5, "1", datetime(2026, 1, 6, 9, tzinfo=UTC))
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good.to_json()) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(Invalid, match=r"bad\.jsonl line 3") as raised:
        read_asks(path)
    assert raised.value.field == field


@pytest.mark.parametrize("month", ["2026-13", "January", "2026-1"])
def test_a_month_must_be_one(small_county: tuple[Path, Manifest], month: str) -> None:
    county, _ = small_county
    with pytest.raises(Invalid) as raised:
        asks_for(month, county, OUTLETS)
    assert raised.value.field == "applications"


def test_a_month_wholly_before_the_profiles_is_refused(
    small_county: tuple[Path, Manifest],
) -> None:
    county, _ = small_county
    with pytest.raises(Invalid, match="profiles are from then"):
        month_of_walk_ins(county, OUTLETS, "2025-12", from_day=date(2026, 1, 5))
