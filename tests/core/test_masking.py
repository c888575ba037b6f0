from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from purecredit.core.masking import (
    COMPOUND_SURNAMES,
    mask_name,
    mask_phone,
    mask_resident_id,
)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张**"),
        (" 李四 ", "李*"),
        ("欧阳修", "欧阳*"),
        ("诸葛孔明", "诸葛**"),
        ("欧阳", "欧*"),
        ("王", "王"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


# The compound surnames the product brief names; COMPOUND_SURNAMES may hold more.
REQUIRED_COMPOUND_SURNAMES = [
    *("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟"),
    *("公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐"),
]


@pytest.mark.parametrize("surname", REQUIRED_COMPOUND_SURNAMES)
def test_required_compound_surnames_are_kept_whole(surname: str) -> None:
    assert surname in COMPOUND_SURNAMES
    assert mask_name(surname + "明") == surname + "*"


@given(st.text(alphabet=st.characters(categories=["Lo"]), min_size=2, max_size=6))
def test_mask_name_hides_everything_after_the_surname(name: str) -> None:
    masked = mask_name(name)
    kept = len(masked.rstrip("*"))
    assert len(masked) == len(name)
    assert kept in (1, 2)
    assert masked[:kept] == name[:kept]


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812341234", "138****1234"),
        (" 138 1234 1234 ", "138****1234"),
        ("05585123456", "055****3456"),
        ("1234567", "*******"),
        ("", ""),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("34160219900101123X", "341602********123X"),
        ("340524800101001", "340524********1001"),
        ("3416021990010112345", "341602********2345"),
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_resident_id(number: str, masked: str) -> None:
    assert mask_resident_id(number) == masked


@given(st.from_regex(r"[0-9]{17}[0-9X]", fullmatch=True))
def test_masked_id_never_shows_the_birth_date_or_sequence(number: str) -> None:
    masked = mask_resident_id(number)
    assert masked[6:14] == "********"
    assert masked[:6] == number[:6]
    assert masked[14:] == number[14:]
    assert number not in masked
