"""The file connector: record numbers equal the synthetic county's defect log, every line is a
row or a reject, and no bytes make a reader raise."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from purecredit.ingest.catalog import EntityDef, FieldDef, SourceDef, load_catalog
from purecredit.ingest.connectors import REJECT_SCHEMA, RawBatch, decoding, delimited, read_file
from purecredit.synth.formats import write_xlsx
from purecredit.synth.manifest import Manifest

LINE_DEFECTS = ("bad_encoding", "wrong_column_count")


def _source(fmt: str, headers: dict[str, str], encoding: str = "utf-8") -> SourceDef:
    """A hand-made catalogue entry: field name -> delivered header, all text."""
    fields = {name: FieldDef(header=header, type="text") for name, header in headers.items()}
    first = next(iter(headers))
    return SourceDef(
        name="demo",
        owner="test",
        description="test source",
        mode="copy",
        format=fmt,
        encoding=encoding,
        files="*",
        entity=EntityDef(type="person", key=(first,)),
        record_key=(first,),
        fields=fields,
    )


DEMO = {"code": "编号", "name": "名称", "amount": "金额"}


def _read(tmp_path: Path, name: str, data: bytes, source: SourceDef) -> RawBatch:
    path = tmp_path / name
    path.write_bytes(data)
    return read_file(path, tmp_path, source)


def _accounted(batch: RawBatch) -> list[int]:
    """Record numbers of rows and rejects together, checked to be disjoint."""
    rows = batch.table.column("_record").to_pylist()
    rejected = [r for r in batch.rejects.column("record").to_pylist() if r is not None]
    assert not set(rows) & set(rejected)
    return sorted(rows + rejected)


# --- against a built county ------------------------------------------------------------------


CountyBatches = tuple[Path, Manifest, pd.DataFrame, dict[str, list[RawBatch]]]


@pytest.fixture(scope="module")
def county_batches(small_county: tuple[Path, Manifest]) -> CountyBatches:
    root, manifest = small_county
    catalog = load_catalog()
    batches = {
        name: [read_file(root / f.path, root, catalog.source(name)) for f in entry.files]
        for name, entry in manifest.sources.items()
    }
    return root, manifest, pd.read_parquet(root / "truth" / "defects.parquet"), batches


def test_line_defects_are_the_only_rejects_at_their_record_numbers(
    county_batches: CountyBatches,
) -> None:
    _, manifest, truth, batches = county_batches
    line_defects = truth[truth.defect.isin(LINE_DEFECTS)]
    assert set(line_defects.defect) == set(LINE_DEFECTS)  # the county exercises both
    for name, source_batches in batches.items():
        entry = manifest.sources[name]
        expected = line_defects[line_defects.source == name]
        rejects = pa.concat_tables([b.rejects for b in source_batches]).to_pandas()
        found = dict(
            zip(zip(rejects.file, rejects.record, strict=True), rejects.reason, strict=True)
        )
        wanted = dict(
            zip(zip(expected.file, expected.record, strict=True), expected.defect, strict=True)
        )
        assert found.keys() == wanted.keys(), name
        width = len(entry.columns)
        encoding = {"utf-8": "UTF-8", "gbk": "GBK"}[entry.encoding]
        for key, defect in wanted.items():
            if defect == "bad_encoding":
                assert found[key].startswith(
                    f"line {key[1] + (entry.format == 'csv')} is not valid {encoding}"
                ), found[key]
            else:
                assert found[key] in (
                    f"expected {width} fields, found {width + 1}",
                    f"expected {width} fields, found {width - 1}",
                )


def test_every_delivered_record_is_read_once(county_batches: CountyBatches) -> None:
    _, manifest, _, batches = county_batches
    for name, source_batches in batches.items():
        for batch, entry in zip(source_batches, manifest.sources[name].files, strict=True):
            assert batch.file == entry.path
            assert _accounted(batch) == list(range(1, entry.rows + 1)), entry.path
            assert batch.content_hash == entry.sha256
            assert batch.unknown_headers == ()
            assert batch.rejects.schema == REJECT_SCHEMA


def test_missing_cells_are_null_at_the_logged_record(county_batches: CountyBatches) -> None:
    """A cell defect names (file, record, header): the read row with that number must be the
    damaged one, in every format, so good rows carry the synth's numbering too."""
    _, _, truth, batches = county_batches
    catalog = load_catalog()
    missing = truth[truth.defect == "missing"]
    formats = set()
    for (name, file), group in missing.groupby(["source", "file"]):
        source = catalog.source(str(name))
        batch = next(b for b in batches[str(name)] if b.file == file)
        formats.add(source.format)
        mapping = source.header_map()
        for record, header in zip(group.record, group.header, strict=True):
            row = batch.table.filter(pc.equal(batch.table.column("_record"), record))
            assert row.num_rows == 1
            assert row.column(mapping[header])[0].as_py() is None, (file, record, header)
    assert formats == {"csv", "jsonl", "parquet", "xlsx"}


def test_near_duplicates_are_read_not_rejected(county_batches: CountyBatches) -> None:
    _, _, truth, batches = county_batches
    catalog = load_catalog()
    near = truth[(truth.defect == "near_duplicate") & truth.header.notna()]
    full_width = 0
    for source_name, file, record, header in zip(
        near.source, near.file, near.record, near.header, strict=True
    ):
        batch = next(b for b in batches[source_name] if b.file == file)
        row = batch.table.filter(pc.equal(batch.table.column("_record"), record))
        assert row.num_rows == 1
        value = str(row.column(catalog.source(source_name).header_map()[header])[0].as_py())
        full_width += any("０" <= c <= "９" for c in value)
    assert full_width > 0  # full-width digits survived decoding and parsing


# --- small files, one behaviour each ---------------------------------------------------------


def test_gbk_round_trip_with_quotes_and_empties(tmp_path: Path) -> None:
    text = '编号,名称,金额\n"A1","亳州市谯城区,药材",12.5\n"A2","两行,""名称""",\n"A3","",7\n'
    batch = _read(tmp_path, "g.csv", text.encode("gbk"), _source("csv", DEMO, "gbk"))
    assert batch.table.select(["code", "name", "amount", "_record", "_file"]).to_pylist() == [
        {
            "code": "A1",
            "name": "亳州市谯城区,药材",
            "amount": "12.5",
            "_record": 1,
            "_file": "g.csv",
        },
        {"code": "A2", "name": '两行,"名称"', "amount": None, "_record": 2, "_file": "g.csv"},
        {"code": "A3", "name": None, "amount": "7", "_record": 3, "_file": "g.csv"},
    ]
    assert batch.rejects.num_rows == 0
    assert batch.content_hash == hashlib.sha256(text.encode("gbk")).hexdigest()


def test_gbk_file_with_a_utf8_line_and_a_long_line(tmp_path: Path) -> None:
    lines = ["编号,名称,金额", "A1,甲,1", "A2,乙,2", "A3,丙,3,4", "A4,丁,4"]
    data = (
        b"\n".join(line.encode("utf-8" if i == 2 else "gbk") for i, line in enumerate(lines))
        + b"\n"
    )
    batch = _read(tmp_path, "g.csv", data, _source("csv", DEMO, "gbk"))
    assert batch.table.column("code").to_pylist() == ["A1", "A4"]
    assert batch.table.column("_record").to_pylist() == [1, 4]
    assert batch.rejects.select(["record", "raw", "reason"]).to_pylist() == [
        {"record": 2, "raw": "A2,乙,2", "reason": "line 3 is not valid GBK (it reads as UTF-8)"},
        {"record": 3, "raw": "A3,丙,3,4", "reason": "expected 3 fields, found 4"},
    ]


def test_an_open_quote_never_carries_the_next_lines_into_its_record(tmp_path: Path) -> None:
    """Every physical line is one record: a quote left open (or a quoted line break) rejects
    its own line only, an undecodable line after it is rejected as such, and the next record
    keeps its number."""
    data = (
        '编号,名称,金额\n"A1,甲\n'.encode("gbk")
        + "乙".encode()
        + b"\n"
        + '丙",1,2\nA2,丁,3\n'.encode("gbk")
    )
    batch = _read(tmp_path, "q.csv", data, _source("csv", DEMO, "gbk"))
    assert batch.table.select(["code", "_record"]).to_pylist() == [{"code": "A2", "_record": 4}]
    assert batch.rejects.select(["record", "raw", "reason"]).to_pylist() == [
        {"record": 1, "raw": '"A1,甲', "reason": "line 2 has a stray or unclosed quote"},
        {"record": 2, "raw": "乙", "reason": "line 3 is not valid GBK (it reads as UTF-8)"},
        {"record": 3, "raw": '丙",1,2', "reason": "line 4 has a stray or unclosed quote"},
    ]


BRANCH = {"code": "编号", "name": "名称", "kind": "类型", "area": "区划"}


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_stray_and_unclosed_quotes_reject_only_their_own_line(
    tmp_path: Path, encoding: str
) -> None:
    lines = [
        "编号,名称,类型,区划",
        '"1","甲","branch","341602000"',
        '"2","x"y"z","y","z"',  # a stray quote inside a quoted field
        '"3","药都"农商行","outlet","341602000"',  # odd quotes: one never closes
        '"4","乙","branch","341602000"',
        "",
        '5,"a ""quoted"" word",outlet,341602000',
    ]
    data = "\n".join(lines).encode(encoding) + b"\n"
    batch = _read(tmp_path, "s.csv", data, _source("csv", BRANCH, encoding))
    assert batch.table.select(["code", "name", "_record"]).to_pylist() == [
        {"code": "1", "name": "甲", "_record": 1},
        {"code": "4", "name": "乙", "_record": 4},
        {"code": "5", "name": 'a "quoted" word', "_record": 5},
    ]
    assert batch.rejects.select(["record", "raw", "reason"]).to_pylist() == [
        {"record": 2, "raw": lines[2], "reason": "line 3 has a stray or unclosed quote"},
        {"record": 3, "raw": lines[3], "reason": "line 4 has a stray or unclosed quote"},
    ]


def test_a_doubled_quote_inside_a_quoted_field_is_valid(tmp_path: Path) -> None:
    text = '编号,名称,金额\n"A1","a ""quoted"" word",""\r\n"A2",""""," "\r\n'
    batch = _read(tmp_path, "d.csv", text.encode(), _source("csv", DEMO))
    assert batch.table.select(["code", "name", "amount", "_record"]).to_pylist() == [
        {"code": "A1", "name": 'a "quoted" word', "amount": None, "_record": 1},
        {"code": "A2", "name": '"', "amount": " ", "_record": 2},
    ]
    assert batch.rejects.num_rows == 0


def test_full_width_and_padded_values_are_kept_as_delivered(tmp_path: Path) -> None:
    text = "编号,名称,金额\n３４１６０２,  李四 ,1\n"
    batch = _read(tmp_path, "u.csv", text.encode(), _source("csv", DEMO))
    assert batch.table.select(["code", "name"]).to_pylist() == [
        {"code": "３４１６０２", "name": "  李四 "}
    ]


def test_json_lines_keep_types_and_reject_what_is_not_an_object(tmp_path: Path) -> None:
    source = _source("jsonl", {"code": "编号", "amount": "金额", "flag": "标志", "note": "备注"})
    lines = [
        json.dumps({"编号": "A1", "金额": 3, "标志": True, "备注": 'say "hi"\n', "多余": 1}),
        '{"编号": "A2", "金额": 4.5',
        "[1, 2]",
        "",
        json.dumps({"编号": "A3", "金额": -2, "标志": False, "备注": 5}),
        json.dumps({"编号": "A4", "金额": None}, ensure_ascii=False),
    ]
    batch = _read(tmp_path, "j.jsonl", "\n".join(lines).encode() + b"\n", source)
    table = batch.table
    assert table.column("amount").type == pa.int64()  # 3, -2 and null (4.5 is on a bad line)
    assert table.column("flag").type == pa.bool_()
    assert table.select(["code", "amount", "flag", "note", "_record"]).to_pylist() == [
        {"code": "A1", "amount": 3, "flag": True, "note": 'say "hi"\n', "_record": 1},
        {"code": "A3", "amount": -2, "flag": False, "note": "5", "_record": 4},
        {"code": "A4", "amount": None, "flag": None, "note": None, "_record": 5},
    ]
    assert batch.rejects.select(["record", "reason"]).to_pylist() == [
        {"record": 2, "reason": "line 2 is not valid JSON"},
        {"record": 3, "reason": "line 3 is an array, not a JSON object"},
    ]
    assert batch.unknown_headers == ("多余",)


def test_json_integers_stay_integers(tmp_path: Path) -> None:
    source = _source("jsonl", {"code": "编号", "amount": "金额"})
    data = b'{"\xe7\xbc\x96\xe5\x8f\xb7":"A","\xe9\x87\x91\xe9\xa2\x9d":12}\n'
    batch = _read(tmp_path, "j.jsonl", data, source)
    assert batch.table.column("amount").type == pa.int64()
    assert batch.table.column("amount").to_pylist() == [12]


def test_xlsx_numbers_run_on_across_sheets(tmp_path: Path) -> None:
    frame = pa.table(
        {"编号": [f"A{i}" for i in range(1, 8)], "名称": ["甲"] * 7, "金额": list(range(1, 8))}
    )
    write_xlsx(frame, tmp_path, "x.xlsx", max_sheet_rows=3)
    batch = read_file(tmp_path / "x.xlsx", tmp_path, _source("xlsx", DEMO))
    assert batch.table.column("_record").to_pylist() == list(range(1, 8))
    assert batch.table.column("code").to_pylist() == [f"A{i}" for i in range(1, 8)]
    assert batch.table.column("amount").to_pylist() == list(range(1, 8))
    assert batch.table.column("amount").type == pa.int64()


def test_unknown_header_is_reported_and_missing_field_is_null(tmp_path: Path) -> None:
    text = "编号,备注,金额\nA1,x,1\n"
    batch = _read(tmp_path, "u.csv", text.encode(), _source("csv", DEMO))
    assert batch.unknown_headers == ("备注",)
    assert batch.table.column_names == ["code", "name", "amount", "_record", "_file"]
    assert batch.table.column("name").to_pylist() == [None]
    assert batch.table.column("amount").to_pylist() == ["1"]


def test_parquet_keeps_types_and_a_broken_file_is_one_reject(tmp_path: Path) -> None:
    pq.write_table(pa.table({"编号": ["A1", "A2"], "金额": [1.5, None]}), tmp_path / "p.parquet")
    batch = read_file(tmp_path / "p.parquet", tmp_path, _source("parquet", DEMO))
    assert batch.table.column("amount").to_pylist() == [1.5, None]
    assert batch.table.column("_record").to_pylist() == [1, 2]
    broken = (tmp_path / "p.parquet").read_bytes()[:-20]
    bad = _read(tmp_path, "b.parquet", broken, _source("parquet", DEMO))
    assert bad.table.num_rows == 0
    assert bad.rejects.column("record").to_pylist() == [None]
    assert "not a readable Parquet file" in bad.rejects.column("reason")[0].as_py()


def test_parsing_in_small_chunks_and_blocks_changes_nothing(
    small_county: tuple[Path, Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks cut at line breaks and decoded block by block read exactly as one pass, with
    quoted commas and quotes, stray and unclosed quotes, bad lines and wrong field counts spread
    over many chunks."""
    root, manifest = small_county
    catalog = load_catalog()
    quoted = "编号,名称,金额\n" + "".join(
        f'"A{i}","第{i}行, ""引号""",{i}\n'
        + ('"B{i}","药都"农商行,1\n' if i % 5 == 0 else "")
        + ('"C{i}","x"y"z",2\n' if i % 11 == 3 else "")
        + ("坏,行\n" if i % 7 == 0 else "")
        for i in range(60)
    )
    data = quoted.encode("gbk").replace("坏".encode("gbk"), "坏".encode())
    cases = [
        (tmp_path / "m.csv", tmp_path, _source("csv", DEMO, "gbk")),
        *[
            (root / e.files[0].path, root, catalog.source(n))
            for n, e in manifest.sources.items()
            if e.format == "csv" and e.defects["bad_encoding"]
        ],
    ]
    (tmp_path / "m.csv").write_bytes(data)
    whole = [read_file(*case) for case in cases]
    monkeypatch.setattr(delimited, "_CHUNK", 97)
    monkeypatch.setattr(decoding, "_VALIDATE_BLOCK", 61)
    monkeypatch.setattr(decoding, "_TRANSCODE_BLOCK", 53)
    for case, expected in zip(cases, whole, strict=True):
        chunked = read_file(*case)
        assert chunked.table.equals(expected.table)
        assert chunked.rejects.equals(expected.rejects)
    assert whole[0].table.column("name")[1].as_py() == '第1行, "引号"'
    reasons = whole[0].rejects.column("reason").to_pylist()
    assert reasons[0] == "line 3 has a stray or unclosed quote"
    assert reasons[1].startswith("line 4 is not valid GBK")
    assert sum("stray or unclosed quote" in r for r in reasons) == 12 + 6


# --- garbage never raises ---------------------------------------------------------------------

_QUOTELESS = st.lists(
    st.binary(max_size=40).map(lambda b: b.translate(None, b'"\r\n')), max_size=30
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_QUOTELESS, encoding=st.sampled_from(["utf-8", "gbk"]))
def test_csv_accounts_for_every_line_of_garbage(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], encoding: str
) -> None:
    """Without quotes every non-blank body line is one record: a row or a reject, and every
    line that does not decode is rejected as such."""
    tmp_path = tmp_path_factory.mktemp("csv")
    data = "编号,名称,金额\n".encode(encoding) + b"\n".join(lines)
    batch = _read(tmp_path, "g.csv", data, _source("csv", DEMO, encoding))
    records = [line for line in lines if line]
    assert _accounted(batch) == list(range(1, len(records) + 1))
    undecodable = []
    for number, line in enumerate(records, start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            undecodable.append(number)
    reasons = dict(
        zip(
            batch.rejects.column("record").to_pylist(),
            batch.rejects.column("reason").to_pylist(),
            strict=True,
        )
    )
    for number in undecodable:
        assert "is not valid" in reasons[number]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), fmt=st.sampled_from(["csv", "jsonl", "parquet", "xlsx"]))
def test_no_bytes_make_a_reader_raise(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, fmt: str
) -> None:
    tmp_path = tmp_path_factory.mktemp("raw")
    batch = _read(tmp_path, f"g.{fmt}", data, _source(fmt, DEMO))
    records = _accounted(batch)
    if fmt in ("csv", "jsonl"):
        assert records == list(range(1, len(records) + 1))
    if fmt == "jsonl":  # no header, and a JSON record is exactly one non-blank line
        lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
        assert len(records) == sum(1 for line in lines if line.removesuffix(b"\r"))


def test_truncated_real_files_never_raise(
    small_county: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = small_county
    catalog = load_catalog()
    rng = random.Random(7)
    for name, entry in manifest.sources.items():
        data = (root / entry.files[0].path).read_bytes()
        for cut in sorted(rng.sample(range(len(data)), min(4, len(data)))):
            batch = _read(
                tmp_path, Path(entry.files[0].path).name, data[:cut], catalog.source(name)
            )
            _accounted(batch)
