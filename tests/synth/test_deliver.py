"""deliver(): the files on disk hold exactly the rows and the defects the manifest and log say."""

from __future__ import annotations

import csv
import json
import unicodedata
from datetime import date
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric, uscc

from purecredit.synth.defects import DEFECT_TYPES, DefectRates
from purecredit.synth.deliver import deliver
from purecredit.synth.manifest import SourceEntry
from purecredit.synth.sourcespec import Encoding, Format, SourceSpec

HEADERS = {
    "pid": "身份证号",
    "name": "姓名",
    "firm": "单位统一社会信用代码",
    "paid_on": "缴费日期",
    "amount": "缴费金额",
    "months": "缴费月数",
    "village": "所在村",
}
RATES = DefectRates(**dict.fromkeys(DEFECT_TYPES, 0.01))
N = 4_000
_USCC = list("0123456789ABCDEFGHJKLMNPQRTUWXY")
Record = dict[str, object]


def _people(n: int = N, seed: int = 1) -> pd.DataFrame:
    """A clean social-security source as the world simulation would hand it over."""
    rng = np.random.default_rng(seed)
    births = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 18_000, n), unit="D")
    areas, seqs = rng.integers(1, 4, n), rng.integers(0, 999, n)
    bodies = [f"34160{a}{b:%Y%m%d}{s:03d}" for a, b, s in zip(areas, births, seqs, strict=True)]
    firms = ["91341600" + "".join(rng.choice(_USCC, 9)) for _ in range(n)]
    frame = pd.DataFrame(
        {
            "pid": [b + ric.calc_check_digit(b + "0") for b in bodies],
            "name": rng.choice(["张伟", "王芳", "李娜", "刘强"], n),
            "firm": [f + uscc.calc_check_digit(f) for f in firms],
            "paid_on": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
            "amount": np.round(rng.lognormal(6, 1, n), 2),
            "months": rng.integers(1, 13, n),
            "village": rng.choice(np.array(["大周村", "十河村", None], dtype=object), n),
            "internal_only": 1,
        }
    )
    return frame.sort_values("paid_on", kind="stable", ignore_index=True)


def _spec(fmt: Format, encoding: Encoding = "utf-8", monthly: bool = False) -> SourceSpec:
    return SourceSpec(
        name="social_security",
        owner="亳州市人力资源和社会保障局 / Bozhou Human Resources and Social Security Bureau",
        description="Social insurance contributions by person and month",
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


Case = tuple[Format, Encoding, bool]  # format, encoding, monthly
CASES: list[Case] = [("csv", "gbk", True), ("csv", "utf-8", False), ("jsonl", "utf-8", True)]
CASES += [("parquet", "utf-8", True), ("xlsx", "utf-8", False)]


def _run(
    out: Path, case: Case, seed: int = 7, rates: DefectRates = RATES
) -> tuple[SourceSpec, SourceEntry, pd.DataFrame]:
    fmt, encoding, monthly = case
    spec = _spec(fmt, encoding, monthly)
    entry, log = deliver(_people(), spec, out, np.random.default_rng(seed), rates)
    return spec, entry, log


def _read(out: Path, spec: SourceSpec, rel_path: str) -> list[Record | None]:
    """Each record of a delivered file (None: a line that fails to decode or parse)."""
    path = out / rel_path
    names = list(HEADERS.values())
    if spec.fmt == "parquet":
        return list(pq.read_table(path).to_pylist())
    if spec.fmt == "xlsx":
        sheets = openpyxl.load_workbook(path, read_only=True).worksheets
        rows = [r for s in sheets for r in list(s.iter_rows(values_only=True))[1:]]
        return [dict(zip(names, r, strict=True)) for r in rows]
    lines = path.read_bytes().split(b"\n")
    lines = lines[1:-1] if spec.fmt == "csv" else lines[:-1]
    records: list[Record | None] = []
    for line in lines:
        try:
            text = line.decode(spec.encoding)
        except UnicodeDecodeError:
            records.append(None)
            continue
        if spec.fmt == "jsonl":
            records.append(json.loads(text))
            continue
        fields = next(csv.reader([text]))
        parsed = [None if f == "" else f for f in fields]
        records.append(dict(zip(names, parsed, strict=True)) if len(fields) == len(names) else None)
    return records


def _logged(log: pd.DataFrame, defect: str) -> set[tuple[str, int]]:
    hits = log[log["defect"] == defect]
    return set(zip(hits["file"], hits["record"].astype(int), strict=True))


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_clean_delivery_reads_back_as_the_frame(tmp_path: Path, case: Case) -> None:
    spec, entry, log = _run(tmp_path, case, rates=DefectRates.none())
    assert log.empty and set(entry.defects.values()) == {0}
    records = [r for f in entry.files for r in _read(tmp_path, spec, f.path)]
    got = pd.DataFrame(records)
    want = _people().drop(columns="internal_only").rename(columns=HEADERS)
    want["缴费日期"] = want["缴费日期"].dt.strftime("%Y-%m-%d")
    for column in ("缴费金额", "缴费月数"):  # CSV hands numbers back as text
        got[column] = pd.to_numeric(got[column])
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_counts_are_exact_and_match_the_files(tmp_path: Path, case: Case) -> None:
    spec, entry, log = _run(tmp_path, case)
    fmt, _, monthly = case
    impossible = {"late_arriving"} if not monthly else set()
    if fmt != "csv":
        impossible.add("wrong_column_count")
    if fmt in ("parquet", "xlsx"):
        impossible.add("bad_encoding")
    expected = {d: 0 if d in impossible else 40 for d in DEFECT_TYPES}  # 1% of 4,000
    assert entry.defects == expected
    assert log["defect"].value_counts().to_dict() == {d: c for d, c in expected.items() if c}
    assert entry.rows == N + 80 == sum(f.rows for f in entry.files)
    assert not log.duplicated(["file", "record"]).any()
    for file in entry.files:
        assert len(_read(tmp_path, spec, file.path)) == file.rows
        assert log.loc[log["file"] == file.path, "record"].between(1, file.rows).all()
    assert len(entry.files) == (10 if monthly else 1)  # 300 days from January: ten months
    assert entry.id_columns == ["身份证号"] and entry.key_columns == ["身份证号", "缴费日期"]


def test_gbk_csv_lines_fail_exactly_where_logged(tmp_path: Path) -> None:
    _, entry, log = _run(tmp_path, ("csv", "gbk", True))
    bad, wrong = _logged(log, "bad_encoding"), _logged(log, "wrong_column_count")
    for file in entry.files:
        raw = (tmp_path / file.path).read_bytes().split(b"\n")
        assert raw[0].decode("gbk").split(",")[0] == '"身份证号"'
        for record, line in enumerate(raw[1:-1], start=1):
            if (file.path, record) in bad:
                with pytest.raises(UnicodeDecodeError):
                    line.decode("gbk")
                continue
            width = len(next(csv.reader([line.decode("gbk")])))
            assert (width != len(HEADERS)) == ((file.path, record) in wrong)
            assert width in (len(HEADERS) - 1, len(HEADERS), len(HEADERS) + 1)


def test_late_rows_sit_in_a_later_month(tmp_path: Path) -> None:
    spec, entry, log = _run(tmp_path, ("parquet", "utf-8", True))
    late = _logged(log, "late_arriving")
    on_date = log[log["column"] == "paid_on"]
    touched = set(zip(on_date["file"], on_date["record"], strict=True)) - late
    seen = 0
    for file in entry.files:
        assert file.path.endswith(f"social_security_{file.month}.parquet")
        for record, row in enumerate(_read(tmp_path, spec, file.path), start=1):
            assert row is not None
            if (file.path, record) in touched:  # impossible or reformatted date
                continue
            paid = date.fromisoformat(str(row["缴费日期"]))
            gap = (
                (int(str(file.month)[:4]) - paid.year) * 12 + int(str(file.month)[5:]) - paid.month
            )
            if (file.path, record) in late:
                assert 1 <= gap <= 3
                seen += 1
            else:
                assert gap == 0
    assert seen == 40


def test_cell_defects_are_in_the_delivered_cells(tmp_path: Path) -> None:
    spec, entry, log = _run(tmp_path, ("jsonl", "utf-8", False))
    path = entry.files[0].path
    records = _read(tmp_path, spec, path)
    for _, hit in log.iterrows():
        row = records[int(hit["record"]) - 1]
        if hit["defect"] == "bad_encoding":
            assert row is None
            continue
        assert row is not None
        value = row.get(str(hit["header"]))
        if hit["defect"] == "missing":
            assert value is None and hit["column"] in spec.nullable_columns
            assert hit["column"] not in spec.key_columns
        elif hit["defect"] == "bad_checksum":
            check = ric if hit["column"] == "pid" else uscc
            assert check.calc_check_digit(str(value)) != str(value)[-1]
        elif hit["defect"] == "impossible_date":
            with pytest.raises(ValueError):
                date.fromisoformat(str(value))
    keys = [spec.headers[c] for c in spec.key_columns]
    assert all(r[k] is not None for r in records if r is not None for k in keys)


def _normal(value: object) -> object:
    if not isinstance(value, str):
        return value
    text = unicodedata.normalize("NFKC", value).strip().upper().replace("/", "-")
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 and text.isdigit() else text


def test_duplicates_repeat_an_earlier_record_of_their_file(tmp_path: Path) -> None:
    spec, entry, log = _run(tmp_path, ("xlsx", "utf-8", False))
    path = entry.files[0].path
    records = _read(tmp_path, spec, path)
    for defect in ("exact_duplicate", "near_duplicate"):
        for _, record in sorted(_logged(log, defect)):
            copy = records[record - 1]
            assert copy is not None
            earlier = [r for r in records[: record - 1] if r is not None]
            if defect == "exact_duplicate":
                assert copy in earlier
            else:
                assert copy not in earlier
                assert {k: _normal(v) for k, v in copy.items()} in [
                    {k: _normal(v) for k, v in r.items()} for r in earlier
                ]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_same_seed_same_bytes(tmp_path: Path, case: Case) -> None:
    _, one, log_one = _run(tmp_path / "one", case)
    _, two, log_two = _run(tmp_path / "two", case)
    _, other, _ = _run(tmp_path / "other", case, seed=8)
    assert one == two
    pd.testing.assert_frame_equal(log_one, log_two)
    assert [f.sha256 for f in one.files] != [f.sha256 for f in other.files]


def test_redelivery_leaves_only_current_files(tmp_path: Path) -> None:
    spec = _spec("csv", monthly=True)
    folder = tmp_path / "sources" / "social_security"
    folder.mkdir(parents=True)
    (folder / "README.txt").write_text("kept")
    (folder / "social_security_2019-01.csv").write_text("stale")
    frame = _people(500)
    deliver(frame, spec, tmp_path, np.random.default_rng(1), RATES)
    entry, _ = deliver(frame.iloc[:50], spec, tmp_path, np.random.default_rng(1), RATES)
    on_disk = sorted(p.name for p in folder.iterdir())
    assert on_disk == sorted(["README.txt", *(Path(f.path).name for f in entry.files)])


def test_dates_may_arrive_as_python_dates(tmp_path: Path) -> None:
    frame = _people(10)
    frame["paid_on"] = [d.date() for d in frame["paid_on"]]
    entry, _ = deliver(frame, _spec("parquet"), tmp_path, np.random.default_rng(0), RATES)
    table = pq.read_table(tmp_path / entry.files[0].path)
    assert table.column("缴费日期").to_pylist() == [str(d) for d in frame["paid_on"]]
    assert str(table.schema.field("缴费月数").type) == "int64"


def test_deliver_refuses_a_frame_without_the_spec_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="village"):
        deliver(
            _people(5).drop(columns="village"),
            _spec("csv"),
            tmp_path,
            np.random.default_rng(0),
            RATES,
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id_columns": ("nobody",)}, "id_columns not in headers"),
        ({"monthly_by": "name"}, "must be a date column"),
        ({"fmt": "jsonl", "encoding": "gbk"}, "only CSV"),
        ({"nullable_columns": ("pid",)}, "cannot be nullable"),
        ({"name": "社保"}, "ASCII"),
        ({"uscc_columns": ("pid",)}, "at most one"),
    ],
)
def test_spec_refuses_contradictions(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "name": "social_security",
        "owner": "o",
        "description": "d",
        "entity": "person",
        "fmt": "csv",
        "headers": HEADERS,
        "id_columns": ("pid",),
        "key_columns": ("pid",),
    }
    with pytest.raises(ValueError, match=message):
        SourceSpec(**{**fields, **change})  # type: ignore[arg-type]


def test_spec_names_its_files() -> None:
    spec = _spec("xlsx", monthly=True)
    assert spec.file_name("2023-04") == "social_security_2023-04.xlsx"
    assert _spec("csv").file_name(None) == "social_security.csv"
    assert spec.columns == tuple(HEADERS)
