"""Defects: exact counts, disjoint rows, and each defect really is what its name says."""

from __future__ import annotations

import csv
import unicodedata
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from stdnum.cn import ric, uscc

from purecredit.synth.defects import (
    DEFECT_TYPES,
    DefectLog,
    DefectRates,
    Hits,
    apply_cell_defects,
    copies,
    damaged_lines,
    plan_defects,
)
from purecredit.synth.formats import record_texts
from purecredit.synth.sourcespec import Encoding, Format, SourceSpec

N = 10_000
HEADERS = {
    "pid": "身份证号",
    "name": "姓名",
    "firm": "统一社会信用代码",
    "paid_on": "缴费日期",
    "amount": "金额",
    "village": "村",
}
_USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _table(n: int = N, seed: int = 3) -> pa.Table:
    """A rendered source: valid IDs and USCCs (some IDs end in X), ISO dates, a few nulls."""
    rng = np.random.default_rng(seed)
    pids = []
    for _ in range(n):
        area = f"34160{rng.integers(1, 4)}"
        birth = f"{1950 + rng.integers(0, 50)}0{rng.integers(1, 10)}1{rng.integers(0, 10)}"
        body = f"{area}{birth}{rng.integers(0, 1000):03d}"
        pids.append(body + ric.calc_check_digit(body + "0"))
    firms = []
    for _ in range(n):
        body = "91341600" + "".join(rng.choice(list(_USCC), 9))
        firms.append(body + uscc.calc_check_digit(body))
    days = rng.integers(0, 365, n)
    return pa.table(
        {
            "pid": pa.array(pids, pa.large_string()),
            "name": pa.array(rng.choice(["张伟", "王芳", "李娜"], n).tolist(), pa.large_string()),
            "firm": pa.array(firms, pa.large_string()),
            "paid_on": pa.array(
                [str(date.fromordinal(738521 + int(d))) for d in days], pa.large_string()
            ),
            "amount": pa.array(np.round(rng.lognormal(6, 1, n), 2)),
            "village": pa.array(
                [None if i % 4 == 0 else "大周村" for i in range(n)], pa.large_string()
            ),
        }
    )


def _spec(fmt: Format = "csv", encoding: Encoding = "utf-8", monthly: bool = False) -> SourceSpec:
    return SourceSpec(
        name="social_security",
        owner="亳州市人力资源和社会保障局 / Bozhou HRSS Bureau",
        description="Monthly contributions",
        entity="person",
        fmt=fmt,
        encoding=encoding,
        headers=HEADERS,
        id_columns=("pid",),
        uscc_columns=("firm",),
        date_columns=("paid_on",),
        key_columns=("pid", "paid_on"),
        nullable_columns=("name", "amount", "village"),
        monthly_by="paid_on" if monthly else None,
    )


def _months(table: pa.Table) -> tuple[np.ndarray, list[str]]:
    labels = np.array([d[:7] for d in table.column("paid_on").to_pylist()])
    months, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64), [str(m) for m in months]


def _plan(table: pa.Table, spec: SourceSpec, rate: float, seed: int = 0) -> dict[str, Hits]:
    rates = DefectRates(**dict.fromkeys(DEFECT_TYPES, rate))
    codes, months = _months(table)
    monthly = spec.monthly_by is not None
    return plan_defects(
        table,
        spec,
        rates,
        np.random.default_rng(seed),
        month_codes=codes if monthly else None,
        months=months if monthly else None,
    )


def test_counts_are_exact_and_rows_disjoint() -> None:
    plan = _plan(_table(), _spec(monthly=True), 0.01)
    assert {d: plan[d].rows.size for d in DEFECT_TYPES} == dict.fromkeys(DEFECT_TYPES, 100)
    every = np.concatenate([plan[d].rows for d in DEFECT_TYPES])
    assert np.unique(every).size == every.size == 800


def test_rates_round_half_up_and_are_checked() -> None:
    assert DefectRates().count("missing", 10_000) == 50
    assert DefectRates(missing=0.0125).count("missing", 200) == 3  # 2.5 -> 3
    assert DefectRates.none().count("bad_encoding", 10**7) == 0
    with pytest.raises(ValueError, match="missing"):
        DefectRates(missing=-0.1)


@pytest.mark.parametrize(
    ("fmt", "monthly", "absent"),
    [
        ("parquet", True, {"wrong_column_count", "bad_encoding"}),
        ("xlsx", False, {"wrong_column_count", "bad_encoding", "late_arriving"}),
        ("jsonl", False, {"wrong_column_count", "late_arriving"}),
        ("csv", False, {"late_arriving"}),
    ],
)
def test_defects_that_cannot_occur_count_zero(fmt: Format, monthly: bool, absent: set[str]) -> None:
    plan = _plan(_table(2_000), _spec(fmt, monthly=monthly), 0.01)
    assert {d for d in DEFECT_TYPES if plan[d].rows.size == 0} == absent
    assert all(plan[d].rows.size == 20 for d in DEFECT_TYPES if d not in absent)


def test_few_qualifying_rows_cap_the_count() -> None:
    table = _table(1_000)
    table = table.set_column(
        5, "village", pa.array([None] * 995 + ["大周村"] * 5, pa.large_string())
    )
    spec = SourceSpec(
        name="s",
        owner="o",
        description="d",
        entity="person",
        fmt="csv",
        headers=HEADERS,
        nullable_columns=("village",),
        key_columns=("pid",),
    )
    assert _plan(table, spec, 0.5)["missing"].rows.tolist() == [995, 996, 997, 998, 999]


def test_missing_touches_only_nullable_non_null_cells() -> None:
    table = _table()
    spec = _spec()
    hits = _plan(table, spec, 0.02)["missing"]
    assert set(hits.columns) <= set(spec.nullable_columns)
    assert not set(hits.columns) & set(spec.key_columns)
    damaged = apply_cell_defects(table, _plan(table, spec, 0.02))
    for row, column in zip(hits.rows, hits.columns, strict=True):
        assert table.column(str(column))[int(row)].is_valid
        assert not damaged.column(str(column))[int(row)].is_valid
    changed = sum(
        (
            table.column(c).is_null().to_numpy(zero_copy_only=False)
            != damaged.column(c).is_null().to_numpy(zero_copy_only=False)
        ).sum()
        for c in HEADERS
    )
    assert changed == hits.rows.size


def test_bad_checksums_fail_the_check_digit() -> None:
    table = _table()
    plan = _plan(table, _spec(), 0.02)
    hits = plan["bad_checksum"]
    assert set(hits.columns) == {"pid", "firm"}
    for row, column, value in zip(hits.rows, hits.columns, hits.values, strict=True):
        old = table.column(str(column))[int(row)].as_py()
        new = str(value)
        assert new[:17] == old[:17] and new[17] != old[17]
        if column == "pid":
            assert ric.calc_check_digit(new) != new[17] and not ric.is_valid(new)
        else:
            assert uscc.calc_check_digit(new) != new[17] and not uscc.is_valid(new)


def test_impossible_dates_are_impossible() -> None:
    table = _table()
    hits = _plan(table, _spec(), 0.02)["impossible_date"]
    for row, value in zip(hits.rows, hits.values, strict=True):
        with pytest.raises(ValueError):
            date.fromisoformat(str(value))
        assert str(value)[:4] == table.column("paid_on")[int(row)].as_py()[:4]


def _normal(text: str) -> str:
    """What an ingest would do to a near duplicate: NFKC, trim, upper-case, ISO dates."""
    text = unicodedata.normalize("NFKC", text).strip().upper()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text.replace("/", "-")


def test_near_duplicates_differ_cosmetically_in_one_cell() -> None:
    table = _table()
    plan = _plan(table, _spec(), 0.02)
    extra, sources, kinds = copies(table, plan)
    assert kinds.count("exact_duplicate") == kinds.count("near_duplicate") == 200
    originals = table.take(pa.array(sources)).to_pylist()
    for original, copy, kind in zip(originals, extra.to_pylist(), kinds, strict=True):
        differing = [c for c in HEADERS if original[c] != copy[c]]
        if kind == "exact_duplicate":
            assert differing == []
            continue
        assert len(differing) == 1
        column = differing[0]
        assert _normal(copy[column]) == _normal(original[column]) == original[column].upper()
    near = plan["near_duplicate"]
    assert set(near.columns) == {"pid", "name", "firm", "village", "paid_on"}


@pytest.mark.parametrize(
    ("fmt", "encoding"), [("csv", "utf-8"), ("csv", "gbk"), ("jsonl", "utf-8")]
)
def test_bad_encoding_lines_do_not_decode(fmt: Format, encoding: Encoding) -> None:
    table = _table(2_000)
    spec = _spec(fmt, encoding)
    hits = _plan(table, spec, 0.01)["bad_encoding"]
    rows = table.take(pa.array(hits.rows))
    lines = damaged_lines(rows, spec, hits, "bad_encoding")
    assert len(lines) == 20
    for line, clean in zip(lines, record_texts(rows, fmt), strict=True):
        with pytest.raises(UnicodeDecodeError):
            line.decode(encoding)
        assert b"\n" not in line
        assert clean.encode(encoding) != line


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_bad_encoding_of_ascii_only_lines(encoding: Encoding) -> None:
    spec = SourceSpec(
        name="s",
        owner="o",
        description="d",
        entity="market",
        fmt="csv",
        encoding=encoding,
        headers={"code": "code", "price": "price"},
    )
    rows = pa.table({"code": pa.array(["A1", "B2"], pa.large_string()), "price": [1.5, 2.0]})
    hits = Hits(np.arange(2, dtype=np.int64), [None, None], [None, None])
    for line in damaged_lines(rows, spec, hits, "bad_encoding"):
        with pytest.raises(UnicodeDecodeError):
            line.decode(encoding)
        assert len(next(csv.reader([line.decode(encoding, errors="replace")]))) == 2


def test_wrong_column_count_lines_have_one_field_more_or_less() -> None:
    table = _table(2_000)
    spec = _spec("csv", "gbk")
    hits = _plan(table, spec, 0.05)["wrong_column_count"]
    lines = damaged_lines(table.take(pa.array(hits.rows)), spec, hits, "wrong_column_count")
    widths = [len(next(csv.reader([line.decode("gbk")]))) for line in lines]
    assert set(widths) == {5, 7}
    assert [w == 7 for w in widths] == [v == "extra" for v in hits.values]


def test_late_rows_go_one_to_three_months_on() -> None:
    table = _table()
    plan = _plan(table, _spec("parquet", monthly=True), 0.02)
    hits = plan["late_arriving"]
    codes, months = _months(table)
    for row, target in zip(hits.rows, hits.values, strict=True):
        own = table.column("paid_on")[int(row)].as_py()[:7]
        gap = (int(str(target)[:4]) - int(own[:4])) * 12 + int(str(target)[5:]) - int(own[5:])
        assert 1 <= gap <= 3 and target in months
    assert months[-1] not in {months[c] for c in codes[hits.rows]}  # nothing later to go to


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    table = _table(3_000)
    one, two, other = (_plan(table, _spec(monthly=True), 0.01, seed) for seed in (5, 5, 6))
    for defect in DEFECT_TYPES:
        assert one[defect].rows.tolist() == two[defect].rows.tolist()
        assert list(one[defect].values) == list(two[defect].values)
    assert one["missing"].rows.tolist() != other["missing"].rows.tolist()


def test_log_counts_and_frame() -> None:
    log = DefectLog("s")
    log.add("sources/s/s.csv", 9, "missing", "village", "村")
    log.add("sources/s/s.csv", 2, "bad_encoding", None, None)
    assert log.counts == {**dict.fromkeys(DEFECT_TYPES, 0), "missing": 1, "bad_encoding": 1}
    frame = log.to_frame()
    assert frame["record"].tolist() == [2, 9]
    assert list(frame.columns) == ["source", "file", "record", "defect", "column", "header"]
    with pytest.raises(ValueError, match="unknown"):
        log.add("f", 1, "typo", None, None)
