"""Validation at entry: every field type's good and bad values and the reasons given, the
vectorised GB 11643 / GB 32100 check characters against python-stdnum on every row, and a
synthetic county whose logged defects must be exactly what validation rejects."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from purecredit.core.errors import Invalid
from purecredit.core.identifiers import USCC_ALPHABET, make_uscc, parse_resident_id
from purecredit.ingest.catalog import EntityDef, FieldDef, SourceDef, load_catalog
from purecredit.ingest.validate import (
    REJECT_SCHEMA,
    ric_check_digits,
    uscc_check_characters,
    valid_schema,
    validate,
)
from purecredit.ingest.validate import table as validate_table
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import build_county

CATALOG = load_catalog()
ID = "11010519491231002X"  # GB 11643 standard's own example
ID_15 = "110105491231002"  # the same person in the pre-1999 form
USCC = "91350100M000100Y43"  # GB 32100 example
COLLECTIVE = make_uscc("N", "2", "341602", "MA2N0001")  # starts with two letters' worth
CELL_DEFECTS = {"bad_checksum": "checksum", "impossible_date": "date"}


# --- helpers -------------------------------------------------------------------------------------


def source_of(**fields: FieldDef) -> SourceDef:
    first = next(iter(fields))
    return SourceDef(
        name="test_source",
        owner="test",
        description="a source made up for a test",
        mode="copy",
        format="csv",
        files="*.csv",
        entity=EntityDef(type="person", key=(first,)),
        record_key=(first,),
        fields=fields,
    )


def raw_table(columns: dict[str, pa.Array | list[Any]]) -> pa.Table:
    n = len(next(iter(columns.values())))
    data = {name: (v if isinstance(v, pa.Array) else pa.array(v)) for name, v in columns.items()}
    data["_record"] = pa.array(range(1, n + 1), pa.int64())
    data["_file"] = pa.array(["sources/test/test.csv"] * n, pa.string())
    return pa.table(data)


def check(
    spec: FieldDef, values: pa.Array | list[Any]
) -> tuple[list[Any], dict[int, tuple[str, str]]]:
    """Validate one column: (value per record, None if rejected) and {record: (reason, defect)}."""
    result = validate(raw_table({"f": values}), source_of(f=spec))
    kept = dict(
        zip(result.table["_record"].to_pylist(), result.table["f"].to_pylist(), strict=True)
    )
    rejects = result.rejects.to_pylist()
    n = len(values)
    assert len(kept) + len(rejects) == n
    return [kept.get(i) for i in range(1, n + 1)], {
        r["record"]: (r["reason"], r["defect"]) for r in rejects
    }


def one(spec: FieldDef, value: Any) -> Any:
    values, rejects = check(spec, [value])
    assert not rejects, rejects
    return values[0]


def reason(spec: FieldDef, value: Any) -> tuple[str, str]:
    _, rejects = check(spec, [value])
    assert list(rejects) == [1], f"{value!r} was accepted"
    return rejects[1]


RID = FieldDef(header="身份证", type="resident_id", pii="id")
CODE = FieldDef(header="代码", type="uscc")


# --- resident IDs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "delivered",
    [
        ID,
        ID.lower(),
        f"  {ID} ",
        "１１０１０５１９４９１２３１００２Ｘ",
        "110105 19491231 002x",
        ID_15,
    ],
)
def test_resident_id_forms_normalise_to_the_18_digit_number(delivered: str) -> None:
    assert one(RID, delivered) == ID


@pytest.mark.parametrize(
    ("delivered", "expected"),
    [
        ("110105194912310021", "resident ID 110105********0021: check digit is 1, expected X"),
        ("11010519491331002X", "resident ID 110105********002X: birth date is not a real date"),
        ("11010519490229002X", "resident ID 110105********002X: birth date is not a real date"),
        ("11010518991231002X", "resident ID 110105********002X: birth year before 1900"),
        ("11010529991231002X", "resident ID 110105********002X: birth date is in the future"),
        ("1101051949123100", "resident ID 110105********3100: must have 18 characters (or 15"),
        ("11010519491231A02X", "resident ID 110105********A02X: must be 17 digits followed by"),
        ("11010549123100A", "resident ID 110105********100A: the 15-digit form must be all"),
        ("abc", "resident ID ***: must have 18 characters (or 15 in the old form), not 3"),
    ],
)
def test_resident_id_rejections_say_what_is_wrong_without_the_number(
    delivered: str, expected: str
) -> None:
    text, defect = reason(RID, delivered)
    assert text.startswith(expected)
    assert delivered not in text and delivered.upper() not in text
    assert defect == (
        "checksum" if "check digit" in text else "date" if "birth" in text else "type"
    )


def test_a_wrong_check_digit_names_the_digit_found_and_expected() -> None:
    text, defect = reason(RID, "110105194912310023")
    assert text == "resident ID 110105********0023: check digit is 3, expected X (GB 11643)"
    assert defect == "checksum"


# --- USCCs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered", "expected"),
    [
        (USCC, USCC),
        (USCC.lower(), USCC),
        ("91-350100-M000100Y43", USCC),
        ("９１３５０１００Ｍ０００１００Ｙ４３", USCC),
        (COLLECTIVE, COLLECTIVE),
    ],
)
def test_uscc_forms_normalise(delivered: str, expected: str) -> None:
    assert one(CODE, delivered) == expected


@pytest.mark.parametrize(
    ("delivered", "expected", "defect"),
    [
        (USCC[:17] + "4", "USCC 913501********0Y44: check character is 4, expected 3", "checksum"),
        (USCC[:17], "USCC 913501********00Y4: must have 18 characters, not 17", "type"),
        ("91350100M00I100Y43", "characters outside the GB 32100 alphabet at position 12", "type"),
        ("9135O100M00I100Y43", "outside the GB 32100 alphabet at positions 5, 12", "type"),
        ("9135A100M000100Y43", "region code (characters 3-8) must be 6 digits", "type"),
    ],
)
def test_uscc_rejections(delivered: str, expected: str, defect: str) -> None:
    text, found = reason(CODE, delivered)
    assert expected in text and found == defect
    assert delivered not in text


# --- check characters against python-stdnum ------------------------------------------------------


def as_matrix(values: list[str]) -> np.ndarray:
    return np.frombuffer("".join(values).encode("ascii"), dtype=np.uint8).reshape(len(values), -1)


@settings(max_examples=300)
@given(st.lists(st.text("0123456789", min_size=17, max_size=17), min_size=1, max_size=50))
def test_ric_check_digits_equal_stdnum(bodies: list[str]) -> None:
    computed = ric_check_digits(as_matrix(bodies))
    assert [chr(c) for c in computed] == [ric.calc_check_digit(b + "0") for b in bodies]


@settings(max_examples=300)
@given(st.lists(st.text(USCC_ALPHABET, min_size=17, max_size=17), min_size=1, max_size=50))
def test_uscc_check_characters_equal_stdnum(bodies: list[str]) -> None:
    computed = uscc_check_characters(as_matrix(bodies))
    assert [chr(c) for c in computed] == [uscc.calc_check_digit(b) for b in bodies]


birth_dates = st.tuples(st.integers(1890, 2030), st.integers(0, 13), st.integers(0, 32))


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.text("0123456789", min_size=6, max_size=6),
            birth_dates,
            st.text("0123456789", min_size=3, max_size=3),
            st.sampled_from([None, *"0123456789Xx"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_resident_id_verdicts_equal_the_core_parser(parts: list[tuple[Any, ...]]) -> None:
    """Generated numbers, right and wrong (check character None: the right one)."""
    numbers = []
    for region, (y, m, d), serial, check_char in parts:
        body = f"{region}{y:04d}{m:02d}{d:02d}{serial}"
        numbers.append(body + (check_char or ric.calc_check_digit(body + "0")))
    values, rejects = check(RID, numbers)
    for i, number in enumerate(numbers):
        try:
            expected = parse_resident_id(number).number
        except Invalid:
            expected = None
        assert values[i] == expected, (number, rejects.get(i + 1))
        assert (i + 1 in rejects) == (expected is None)


def county_identifiers(root: Path, skip: set[tuple[str, int]]) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    codes: list[str] = []
    for source in CATALOG.sources.values():
        table = read_delivery(root, source, skip)
        for field, spec in source.fields.items():
            if spec.type in ("resident_id", "uscc"):
                values = [v for v in table[field].to_pylist() if isinstance(v, str)]
                (ids if spec.type == "resident_id" else codes).extend(values)
    return ids, codes


def test_check_characters_equal_stdnum_on_every_county_row(
    county: Path, unreadable: set[tuple[str, int]]
) -> None:
    ids, codes = county_identifiers(county, unreadable)
    ids = [v for v in ids if len(v) == 18 and v[:17].isascii() and v[:17].isdigit()]
    codes = [v for v in codes if len(v) == 18 and all(c in USCC_ALPHABET for c in v)]
    assert len(ids) > 10_000 and len(codes) > 1_000
    assert [chr(c) for c in ric_check_digits(as_matrix(ids))] == [
        ric.calc_check_digit(v) for v in ids
    ]
    assert [chr(c) for c in uscc_check_characters(as_matrix(codes))] == [
        uscc.calc_check_digit(v[:17]) for v in codes
    ]


# --- plain types ---------------------------------------------------------------------------------


INT = FieldDef(header="数", type="int", min=1, max=360)
DECIMAL = FieldDef(header="额", type="decimal", min=0, max=0.24)
DATE = FieldDef(header="日", type="date", min=date(1900, 1, 1), max=date(2030, 12, 31))


def test_ints_from_text_and_typed_columns() -> None:
    assert check(INT, ["12", "+3", "12.0", " 7 "])[0] == [12, 3, 12, 7]
    typed = pa.array([1, 360, None], pa.int32())
    assert check(INT, typed)[0] == [1, 360, None]
    assert check(INT, pa.array([24.0, None, float("nan")]))[0] == [24, None, None]


@pytest.mark.parametrize(
    ("value", "expected", "defect"),
    [
        ("1.5", "value '1.5' is not a whole number", "type"),
        ("abc", "value 'abc' is not a whole number", "type"),
        ("99999999999999999999", "value '99999999999999999999' is not a whole number", "type"),
        ("0", "value 0 is below the minimum 1", "range"),
        ("361", "value 361 is above the maximum 360", "range"),
        (2.5, "value '2.5' is not a whole number", "type"),
    ],
)
def test_int_rejections(value: Any, expected: str, defect: str) -> None:
    assert reason(INT, value) == (expected, defect)


def test_decimals_from_text_and_typed_columns() -> None:
    values, _ = check(DECIMAL, ["0.0435", "1e-2", ".24", "0", "+0.1"])
    assert values == [0.0435, 0.01, 0.24, 0.0, 0.1]
    # One bad value takes the slow path; the others still parse the same.
    values, rejects = check(DECIMAL, ["+0.1", "5.", "abc", "1e400", "-.5"])
    assert values == [0.1, None, None, None, None]
    assert [rejects[i][0] for i in (2, 3, 4, 5)] == [
        "value 5. is above the maximum 0.24",
        "value 'abc' is not a number",
        "value '1e400' is not a number",
        "value -.5 is below the minimum 0",
    ]
    assert check(DECIMAL, pa.array([0.1165, None, float("nan")]))[0] == [0.1165, None, None]


@pytest.mark.parametrize(
    ("value", "expected", "defect"),
    [
        ("abc", "value 'abc' is not a number", "type"),
        ("nan", "value 'nan' is not a number", "type"),
        ("inf", "value 'inf' is not a number", "type"),
        ("1,5", "value '1,5' is not a number", "type"),
        ("-0.01", "value -0.01 is below the minimum 0", "range"),
        ("0.25", "value 0.25 is above the maximum 0.24", "range"),
        (float("inf"), "value 'inf' is not a number", "type"),
    ],
)
def test_decimal_rejections(value: Any, expected: str, defect: str) -> None:
    assert reason(DECIMAL, value) == (expected, defect)


def test_the_three_date_forms_and_typed_dates_give_the_same_day() -> None:
    day = date(2023, 1, 5)
    assert check(DATE, ["2023-01-05", "2023/01/05", "20230105", " 2023-01-05 "])[0] == [day] * 4
    assert check(DATE, ["2024-02-29", "２０２３-０１-０５"])[0] == [date(2024, 2, 29), day]
    assert check(DATE, pa.array([day, None], pa.date32()))[0] == [day, None]
    assert check(DATE, pa.array([pd.Timestamp(day)], pa.timestamp("us")))[0] == [day]


@settings(max_examples=200)
@given(st.lists(st.dates(), min_size=1, max_size=40), st.sampled_from(["-", "/", ""]))
def test_any_real_date_in_any_accepted_form_is_that_day(days: list[date], sep: str) -> None:
    spec = FieldDef(header="日", type="date")
    texts = [f"{d.year:04d}{sep}{d.month:02d}{sep}{d.day:02d}" for d in days]
    assert check(spec, texts)[0] == days


@pytest.mark.parametrize(
    ("value", "expected", "defect"),
    [
        ("2023-02-30", "date 2023-02-30 does not exist", "date"),
        ("2023-13-01", "date 2023-13-01 does not exist", "date"),
        ("2023-04-31", "date 2023-04-31 does not exist", "date"),
        ("2023-02-29", "date 2023-02-29 does not exist", "date"),
        ("2023/02/30", "date 2023-02-30 does not exist", "date"),
        ("20230230", "date 2023-02-30 does not exist", "date"),
        ("0000-01-01", "date 0000-01-01 does not exist", "date"),
        ("2023.01.05", "value '2023.01.05' is not a date; expected YYYY-MM-DD", "date"),
        ("2023-01/05", "value '2023-01/05' is not a date; expected YYYY-MM-DD", "date"),
        ("2023-1-5", "value '2023-1-5' is not a date; expected YYYY-MM-DD", "date"),
        ("1899-12-31", "date 1899-12-31 is before the earliest allowed, 1900-01-01", "range"),
        ("2031-01-01", "date 2031-01-01 is after the latest allowed, 2030-12-31", "range"),
    ],
)
def test_date_rejections_name_the_date(value: str, expected: str, defect: str) -> None:
    text, found = reason(DATE, value)
    assert text.startswith(expected) and found == defect


def test_enums_compare_after_normalisation_and_list_the_allowed_values() -> None:
    spec = FieldDef(header="性别", type="enum", values=("男", "女"))
    assert check(spec, ["男", " 女 ", None])[0] == ["男", "女", None]
    assert reason(spec, "X") == ("value 'X' is not one of 男, 女", "enum")
    assert check(FieldDef(header="码", type="enum", values=("01", "02")), pa.array([1]))[1]


def test_booleans() -> None:
    spec = FieldDef(header="是否", type="bool")
    values, _ = check(spec, ["是", "否", "TRUE", "false", "1", "0", "Y", "no", None])
    assert values == [True, False, True, False, True, False, True, False, None]
    assert check(spec, pa.array([True, None]))[0] == [True, None]
    assert reason(spec, "maybe") == (
        "value 'maybe' is not yes or no (true/false, 1/0, 是/否)",
        "type",
    )


def test_phones_and_masked_reasons() -> None:
    spec = FieldDef(header="电话", type="phone", pii="phone")
    assert check(spec, ["13812345678", "138 1234 5678", "138-1234-5678"])[0] == ["13812345678"] * 3
    assert check(spec, pa.array([15243355341.0]))[0] == ["15243355341"]  # an XLSX number cell
    for bad in ("23812345678", "1381234567", "138123456789", "1381234567a"):
        text, defect = reason(spec, bad)
        assert bad not in text and defect == "type"
        assert text.endswith("is not 11 digits starting with 1")
    assert (
        reason(spec, "23812345678")[0]
        == "phone number '238****5678' is not 11 digits starting with 1"
    )


def test_text_patterns_match_whole_values_and_mask_names() -> None:
    code = FieldDef(header="机构号", type="text", pattern="[0-9]{9}")
    assert check(code, ["341600000", " 341600000 "])[0] == ["341600000"] * 2
    assert reason(code, "3416000001") == (
        "value '3416000001' does not have the expected form [0-9]{9}",
        "type",
    )
    name = FieldDef(header="姓名", type="text", pii="name", pattern="[^0-9]+")
    text, _ = reason(name, "张三3")
    assert "张三" not in text and "'张**'" in text
    assert check(FieldDef(header="户号", type="text"), pa.array([3416020001000000]))[0] == [
        "3416020001000000"
    ]


def test_an_id_typed_into_an_unprotected_field_is_masked_in_the_reason() -> None:
    spec = FieldDef(header="账号", type="text", pattern="B[0-9]+")
    assert reason(spec, f"{ID}")[0] == (
        "value '110105********002X' does not have the expected form B[0-9]+"
    )
    assert reason(spec, f"x{ID_15}")[0].startswith("value 'x110105********1002'")


@pytest.mark.parametrize("blank", ["", "   ", "\u3000", None])
def test_required_values_missing(blank: str | None) -> None:
    spec = FieldDef(header="名", type="text", required=True)
    assert reason(spec, blank) == ("required value missing", "missing")
    assert check(FieldDef(header="名", type="text"), [blank])[0] == [None]


# --- records -------------------------------------------------------------------------------------


def test_a_record_is_rejected_once_for_its_first_failing_field_in_catalogue_order() -> None:
    source = source_of(
        rid=RID,
        born=FieldDef(header="生日", type="date", required=True),
        amount=FieldDef(header="额", type="decimal", min=0),
    )
    raw = raw_table(
        {
            # catalogue order is rid, born, amount; the table's column order must not matter
            "amount": ["-1", "-1", "-1", "5"],
            "born": ["2023-02-30", "2023-02-30", "2023-01-01", "2023-01-01"],
            "rid": [ID[:17] + "1", ID, ID, ID_15],
            "unknown_extra_column": ["x"] * 4,
        }
    )
    result = validate(raw, source)
    assert result.rejects.schema == REJECT_SCHEMA
    assert result.rejects.select(["record", "field", "raw", "defect"]).to_pylist() == [
        {"record": 1, "field": "rid", "raw": ID[:17] + "1", "defect": "checksum"},
        {"record": 2, "field": "born", "raw": "2023-02-30", "defect": "date"},
        {"record": 3, "field": "amount", "raw": "-1", "defect": "range"},
    ]
    assert result.rejects["file"].to_pylist() == ["sources/test/test.csv"] * 3
    assert result.table.schema == valid_schema(source)
    assert result.table.to_pylist() == [
        {
            "rid": ID,
            "born": date(2023, 1, 1),
            "amount": 5.0,
            "_record": 4,
            "_file": "sources/test/test.csv",
        }
    ]


def test_missing_columns_are_null_and_meta_columns_are_required() -> None:
    source = source_of(rid=RID, note=FieldDef(header="备注", type="text"))
    result = validate(raw_table({"rid": [ID]}), source)
    assert result.table["note"].to_pylist() == [None]
    with pytest.raises(ValueError, match="_record"):
        validate(pa.table({"rid": [ID]}), source)


def test_empty_tables_and_typed_columns_keep_the_schema() -> None:
    source = source_of(rid=RID, n=INT)
    empty = validate(
        raw_table({"rid": pa.array([], pa.string()), "n": pa.array([], pa.int64())}), source
    )
    assert empty.table.num_rows == 0 and empty.table.schema == valid_schema(source)
    assert empty.rejects.num_rows == 0 and empty.rejects.schema == REJECT_SCHEMA
    typed = validate(
        raw_table({"rid": pa.array([ID], pa.large_string()), "n": pa.array([7])}), source
    )
    assert typed.table.column("n").type == pa.int64() and typed.table["rid"].to_pylist() == [ID]


def test_slicing_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    source = source_of(rid=RID, born=DATE, n=INT)
    rng = np.random.default_rng(5)
    n = 1000
    raw = raw_table(
        {
            "rid": rng.choice([ID, ID_15, ID[:17] + "1", "", "x"], n).tolist(),
            "born": rng.choice(
                np.array(["2023-01-05", "2023-02-30", "20230105", None]), n
            ).tolist(),
            "n": rng.choice(["1", "0", "abc", "12.0"], n).tolist(),
        }
    )
    whole = validate(raw, source)
    monkeypatch.setattr(validate_table, "SLICE_ROWS", 37)
    sliced = validate(raw, source)
    assert sliced.table.equals(whole.table) and sliced.rejects.equals(whole.rejects)
    assert whole.table.num_rows + whole.rejects.num_rows == n
    assert 0 < whole.rejects.num_rows < n


# --- a synthetic county --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("validate_county")
    build_county(SynthConfig(people=1500, seed=3), out)
    return out


@pytest.fixture(scope="module")
def defects(county: Path) -> pd.DataFrame:
    return pd.read_parquet(county / "truth" / "defects.parquet")


@pytest.fixture(scope="module")
def unreadable(defects: pd.DataFrame) -> set[tuple[str, int]]:
    """Records a connector rejects before validation sees them."""
    lines = defects[defects.defect.isin(["bad_encoding", "wrong_column_count"])]
    return set(zip(lines.file, lines.record, strict=True))


def read_delivery(root: Path, source: SourceDef, skip: set[tuple[str, int]]) -> pa.Table:
    """A source's files as the connectors hand them over (field names, `_record`, `_file`),
    leaving out the records in `skip` (lines a connector rejects before validation)."""
    names = source.header_map()
    parts = []
    for path in sorted((root / "sources" / source.name).glob(source.files)):
        file = path.relative_to(root).as_posix()
        if source.format == "parquet":
            table = pq.read_table(path)
            table = table.append_column("_record", pa.array(range(1, table.num_rows + 1)))
        elif source.format == "xlsx":
            table = pa.Table.from_pandas(pd.read_excel(path, dtype=object), preserve_index=False)
            table = table.append_column("_record", pa.array(range(1, table.num_rows + 1)))
        else:
            table = _read_lines(path, source, file, skip)
        table = table.rename_columns([names.get(c, c) for c in table.column_names])
        parts.append(table.append_column("_file", pa.array([file] * table.num_rows, pa.string())))
    return pa.concat_tables(parts, promote_options="permissive")


def _read_lines(path: Path, source: SourceDef, file: str, skip: set[tuple[str, int]]) -> pa.Table:
    lines = path.read_bytes().split(b"\n")
    headers: list[str] = []
    if source.format == "csv":  # JSON lines have no header line
        headers = next(csv.reader([lines.pop(0).decode(source.encoding)]))
    rows: list[dict[str, Any]] = []
    for record, line in enumerate(lines, start=1):
        if not line or (file, record) in skip:
            continue
        text = line.decode(source.encoding)
        if source.format == "csv":
            cells = next(csv.reader([text]))
            row = {h: (c if c != "" else None) for h, c in zip(headers, cells, strict=True)}
        else:
            row = json.loads(text)
        rows.append({**row, "_record": record})
    return pa.Table.from_pylist(rows)


def test_the_county_rejects_exactly_its_bad_checksums_and_impossible_dates(
    county: Path, defects: pd.DataFrame, unreadable: set[tuple[str, int]]
) -> None:
    checked = 0
    for name, source in CATALOG.sources.items():
        result = validate(read_delivery(county, source, unreadable), source)
        names = source.header_map()
        mine = defects[(defects.source == name) & defects.defect.isin(list(CELL_DEFECTS))]
        expected = {
            (f, r, names[h], CELL_DEFECTS[d])
            for f, r, h, d in zip(mine.file, mine.record, mine.header, mine.defect, strict=True)
        }
        found = {
            (row["file"], row["record"], row["field"], row["defect"])
            for row in result.rejects.to_pylist()
        }
        assert found == expected, name
        checked += len(found)
        for row in result.rejects.to_pylist():
            if source.fields[row["field"]].type == "resident_id":
                assert row["raw"] not in row["reason"]
    assert checked > 100


def test_near_duplicates_normalise_to_their_originals(
    county: Path, defects: pd.DataFrame, unreadable: set[tuple[str, int]]
) -> None:
    """A near copy differs only cosmetically (spaces, full-width digits, 2023/01/05 or
    20230105, the case of an X), so after validation it equals the row it copies."""
    near = defects[defects.defect == "near_duplicate"]
    seen = 0
    for name in sorted(set(near.source)):
        source = CATALOG.sources[name]
        result = validate(read_delivery(county, source, unreadable), source)
        frame = result.table.to_pandas().astype(object)
        fields = list(source.fields)
        copies = near[near.source == name]
        for file, record in zip(copies.file, copies.record, strict=True):
            rows = frame[frame._file == file]
            copy = rows[rows._record == record][fields]
            assert len(copy) == 1, (name, file, record)
            originals = rows[rows._record < record][fields]
            same = (originals.fillna("-") == copy.fillna("-").iloc[0]).all(axis=1)
            assert same.any(), (name, file, record)
            seen += 1
    assert seen > 50
