from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from purecredit.core.errors import Invalid
from purecredit.core.identifiers import (
    USCC_ALPHABET,
    gb11714_check_character,
    make_resident_id,
    make_uscc,
    parse_resident_id,
    parse_uscc,
)

# Region codes stdnum knows (some only from a given year: Bozhou's 3416xx date from 2000).
KNOWN_REGIONS = ["110101", "360426", "340000", "341602", "341621", "341622", "341623"]
births = st.dates(min_value=date(1900, 1, 1), max_value=date.today())
sequences = st.integers(min_value=0, max_value=999)
uscc_chars = st.sampled_from(USCC_ALPHABET)
digits6 = st.from_regex(r"[0-9]{6}", fullmatch=True)


@given(st.one_of(digits6, st.sampled_from(KNOWN_REGIONS)), births, sequences)
def test_resident_id_round_trip(region: str, born: date, sequence: int) -> None:
    number = make_resident_id(region, born, sequence)
    parsed = parse_resident_id(number)
    assert parsed.number == number
    assert (parsed.region_code, parsed.birth_date) == (region, born)
    assert parsed.sex == ("M" if sequence % 2 else "F")
    assert int(number[14:17]) == sequence


@given(st.sampled_from(KNOWN_REGIONS), births, sequences)
def test_agrees_with_stdnum_where_the_region_table_applies(
    region: str, born: date, sequence: int
) -> None:
    number = make_resident_id(region, born, sequence)
    assert parse_resident_id(number).region_known == ric.is_valid(number)
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    assert not ric.is_valid(wrong)
    with pytest.raises(Invalid):
        parse_resident_id(wrong)


def test_region_table_is_a_warning_not_an_error() -> None:
    # Qiaocheng (341602) has existed since 2000; stdnum's validate() rejects a 1990 birth.
    bozhou_1990 = make_resident_id("341602", date(1990, 1, 1), 123)
    assert not ric.is_valid(bozhou_1990)
    assert parse_resident_id(bozhou_1990).region_known is False
    assert parse_resident_id(make_resident_id("341602", date(2001, 1, 1), 123)).region_known
    # 110001 makes stdnum raise KeyError, not a validation error.
    unknown = make_resident_id("110001", date(1990, 1, 1), 1)
    with pytest.raises(KeyError):
        ric.get_birth_place(unknown)
    assert parse_resident_id(unknown).region_known is False


def test_old_15_digit_form_is_converted() -> None:
    # The textbook example: 340524800101001 became 34052419800101001X.
    parsed = parse_resident_id("340524800101001")
    assert parsed.number == "34052419800101001X"
    assert parsed.birth_date == date(1980, 1, 1)
    assert parsed.sex == "M"


def test_normalises_full_width_spaces_and_lower_x() -> None:
    number = "34052419800101001X"
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in number)
    assert parse_resident_id(full_width).number == number
    assert parse_resident_id(" 340524 19800101\u3000001x\n").number == number


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("3405241980010100", "18 characters"),
        ("3405241980010100123", "18 characters"),
        ("3405241980A101001X", "17 digits"),
        ("34052419800101001Y", "17 digits"),
        ("34052480010A001", "all digits"),
        ("34052419800101001", "18 characters"),
        ("34052419800101002X", "check digit"),
        ("340524800230001", "not a real date"),
    ],
)
def test_hard_errors_name_record_and_field(value: str, problem: str) -> None:
    with pytest.raises(Invalid, match=problem) as caught:
        parse_resident_id(value, record="row 9", field="applicant_id")
    assert (caught.value.record, caught.value.field) == ("row 9", "applicant_id")
    assert caught.value.to_problem()["field"] == "applicant_id"


def test_impossible_old_and_future_birth_dates() -> None:
    for body in ("34052419800230001", "34052418991231001"):
        with pytest.raises(Invalid, match=r"not a real date|before 1900"):
            parse_resident_id(body + ric.calc_check_digit(body + "0"))
    tomorrow = date.today() + timedelta(days=1)
    body = f"340524{tomorrow:%Y%m%d}001"
    with pytest.raises(Invalid, match="future"):
        parse_resident_id(body + ric.calc_check_digit(body + "0"))


@given(st.sampled_from(KNOWN_REGIONS), births, sequences, st.integers(0, 16))
def test_error_text_never_contains_the_raw_number(
    region: str, born: date, sequence: int, position: int
) -> None:
    good = make_resident_id(region, born, sequence)
    changed = str((int(good[position]) + 1) % 10)
    bad = good[:position] + changed + good[position + 1 :]
    try:
        parse_resident_id(bad, record="row 1")
    except Invalid as err:
        assert bad not in str(err)
        assert bad not in str(err.to_problem())
        assert "********" in err.detail
    else:  # a single changed digit always breaks the GB 11643 check digit
        pytest.fail("a corrupted number was accepted")


def test_make_resident_id_rejects_bad_parts() -> None:
    for args in (("34052", date(1990, 1, 1), 1), ("340524", date(1990, 1, 1), 1000)):
        with pytest.raises(ValueError):
            make_resident_id(*args)


@given(uscc_chars, uscc_chars, digits6, st.text(USCC_ALPHABET, min_size=8, max_size=8))
def test_uscc_round_trip(authority: str, entity: str, region: str, serial: str) -> None:
    code = make_uscc(authority, entity, region, serial)
    parsed = parse_uscc(code)
    assert parsed.code == code
    assert (parsed.authority, parsed.entity_type, parsed.region_code) == (authority, entity, region)
    assert parsed.org_code[:8] == serial
    assert parsed.org_code[8] == gb11714_check_character(serial)


@given(
    st.from_regex(r"[1-9]{2}", fullmatch=True),
    digits6,
    st.text(USCC_ALPHABET, min_size=8, max_size=8),
)
def test_uscc_agrees_with_stdnum_on_digit_prefixes(prefix: str, region: str, serial: str) -> None:
    code = make_uscc(prefix[0], prefix[1], region, serial)
    assert uscc.is_valid(code)
    assert not uscc.is_valid(code[:17] + ("0" if code[17] != "0" else "1"))


def test_make_uscc_reproduces_a_real_code() -> None:
    assert make_uscc("9", "1", "110000", "60003734") == "91110000600037341L"


@pytest.mark.parametrize(
    ("serial", "check"),
    [("60003734", "1"), ("D2143569", "X"), ("00000000", "0"), ("12345678", "8")],
)
def test_gb11714_check_character(serial: str, check: str) -> None:
    assert gb11714_check_character(serial) == check


def test_letter_prefixed_uscc_is_accepted() -> None:
    code = make_uscc("N", "2", "341602", "MA2T0001")
    assert not uscc.is_valid(code)  # stdnum wrongly rejects GB 32100 letter authorities
    parsed = parse_uscc(code)
    assert (parsed.authority, parsed.entity_type) == ("N", "2")


def test_uscc_normalisation() -> None:
    assert parse_uscc(" 9111-0000 6000-3734-1l ").code == "91110000600037341L"
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in "91110000600037341L")
    assert parse_uscc(full_width).code == "91110000600037341L"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("9111000060003734", "18 characters"),
        ("91110000600037341LL", "18 characters"),
        ("91110000600O37341L", "alphabet at position 12"),
        ("9111000S600037341L", "alphabet at position 8"),
        ("9111000S6000373I1L", "alphabet at positions 8, 16"),
        ("911A0000600037341L", "region code"),
        ("91110000600037341M", "check character"),
    ],
)
def test_uscc_hard_errors(value: str, problem: str) -> None:
    with pytest.raises(Invalid, match=problem) as caught:
        parse_uscc(value, record="row 4")
    assert (caught.value.record, caught.value.field) == ("row 4", "uscc")


def test_resident_id_in_the_uscc_field_is_not_echoed() -> None:
    person = make_resident_id("341602", date(1990, 1, 1), 123)
    with pytest.raises(Invalid) as caught:
        parse_uscc(person, record="row 2")
    assert person not in str(caught.value)
    assert "341602********" in caught.value.detail
