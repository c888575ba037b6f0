"""A register's first copy stands in for its history (the catalogue's `history` rule): each
record is known from its own date plus the owner's publication lag, never after delivery; a
record that first appears in a later copy is known only from that delivery."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from stdnum.cn import uscc

from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.pipeline import IngestReport, ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine

FIRST = datetime(2026, 1, 5)
SECOND = datetime(2026, 2, 5)


def _uscc(serial: int) -> str:
    body = f"91341600MA2N{serial:05d}"
    return body + uscc.calc_check_digit(body)


def _case(no: int, filed: str, uscc: str) -> dict[str, object]:
    return {
        "案号": f"(2023)皖1623执{no}号",
        "被执行人姓名/名称": "亳州某药业有限公司",
        "被执行人身份证号码": None,
        "被执行人统一社会信用代码": uscc,
        "立案日期": filed,
        "执行标的(元)": "12000.00",
        "执行法院": "亳州市谯城区人民法院",
        "案件状态": "执行中",
        "结案日期": None,
    }


def _deliver(root: Path, cases: list[dict[str, object]], grades: list[tuple[str, int]]) -> None:
    court = root / "sources" / "court_enforcement"
    court.mkdir(parents=True, exist_ok=True)
    text = "\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n"
    (court / "court_enforcement.jsonl").write_text(text, encoding="utf-8")
    tax = root / "sources" / "tax_credit_grade"
    tax.mkdir(parents=True, exist_ok=True)
    lines = ["纳税人识别号,纳税人名称,评价年度,纳税信用级别"]
    lines += [f"{u},亳州某药业有限公司,{year},B" for u, year in grades]
    (tax / "tax_credit_grade.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _ingest(root: Path, home: Path, when: datetime) -> IngestReport:
    settings = Settings(home=home)
    protector = Protector.from_settings(settings, ledger_engine(settings))
    return ingest_directory(
        root,
        catalog=load_catalog(),
        lake=Lake(home / "lake"),
        protector=protector,
        observed_at=when,
    )


def _known(home: Path, source: str, field: str) -> dict[str, tuple[date, date]]:
    """value of `field` -> (valid_from, day observed) of each record of `source`."""
    con = duckdb.connect()
    lake = Lake(home / "lake")
    rows = con.sql(
        f"""SELECT f.value, f.valid_from, CAST(f.observed_at AS DATE)
            FROM read_parquet({[str(p) for p in lake.files("facts", source)]}) f
            WHERE f.field = '{field}'"""
    ).fetchall()
    return {str(v): (vf, seen) for v, vf, seen in rows}


@pytest.fixture
def delivered(tmp_path: Path) -> tuple[Path, Path, IngestReport]:
    first = tmp_path / "first"
    _deliver(
        first,
        [_case(1, "2023-03-01", _uscc(1)), _case(2, "2025-12-20", _uscc(2))],
        [(_uscc(1), 2023), (_uscc(2), 2025)],
    )
    home = tmp_path / "home"
    return first, home, _ingest(first, home, FIRST)


def test_a_first_copy_is_known_from_each_records_own_date_plus_the_lag(
    delivered: tuple[Path, Path, IngestReport],
) -> None:
    _, home, report = delivered
    assert report.sources["court_enforcement"].backfilled == 2
    cases = _known(home, "court_enforcement", "case_no")
    # Filed 2023-03-01, published 30 days later; filed 2025-12-20: +30 days is after the
    # delivery, so the delivery date holds.
    assert cases["(2023)皖1623执1号"] == (date(2023, 3, 1), date(2023, 3, 31))
    assert cases["(2023)皖1623执2号"] == (
        date(2025, 12, 20),
        FIRST.date(),
    )


def test_a_year_field_counts_from_the_years_end_and_dates_undated_facts_too(
    delivered: tuple[Path, Path, IngestReport],
) -> None:
    _, home, _ = delivered
    grades = _known(home, "tax_credit_grade", "year")
    # The 2023 grade is published about April 2024 (year end + 120 days); its facts hold from
    # then, since the source has no date of its own. 2025's would be after delivery.
    assert grades["2023"] == (date(2024, 4, 29), date(2024, 4, 29))
    assert grades["2025"] == (FIRST.date(), FIRST.date())


def test_a_record_first_seen_in_a_later_copy_is_known_only_from_that_delivery(
    delivered: tuple[Path, Path, IngestReport], tmp_path: Path
) -> None:
    _, home, _ = delivered
    second = tmp_path / "second"
    _deliver(
        second,
        [
            _case(1, "2023-03-01", _uscc(1)),
            _case(2, "2025-12-20", _uscc(2)),
            _case(3, "2023-06-01", _uscc(3)),  # an old case the court only now shares
        ],
        [(_uscc(1), 2023), (_uscc(2), 2025)],
    )
    report = _ingest(second, home, SECOND)
    assert report.sources["court_enforcement"].backfilled == 0
    cases = _known(home, "court_enforcement", "case_no")
    assert cases["(2023)皖1623执3号"] == (date(2023, 6, 1), SECOND.date())
    assert cases["(2023)皖1623执1号"] == (date(2023, 3, 1), date(2023, 3, 31))  # unchanged


def test_feeds_and_rule_free_sources_are_known_when_delivered() -> None:
    catalog = load_catalog()
    for name, source in catalog.sources.items():
        if source.mode == "feed":
            assert source.history is None, name
