"""Resident identity numbers (GB 11643-1999) and unified social credit codes (GB 32100-2015).

Format, birth date and check characters are hard errors; the region table is only a hint
(`ResidentId.region_known`). python-stdnum computes the check characters, but its
`validate()` is not used: it rejects region codes that postdate the birth year, raises
`KeyError` on unknown counties and rejects USCCs starting with a letter, all of which would
turn away real customers (DESIGN.md "Identity and privacy").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from purecredit.core.errors import Invalid
from purecredit.core.masking import mask_resident_id

_DIGITS = frozenset("0123456789")
# GB 32100 character set: digits and capitals without I, O, S, V, Z.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# GB 11714 organisation code: a character's value is its index here (A = 10 ... Z = 35).
_GB11714_VALUES = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_EARLIEST_BIRTH_YEAR = 1900


@dataclass(frozen=True)
class ResidentId:
    """A checked 18-character resident identity number and what it encodes."""

    number: str
    region_code: str
    birth_date: date
    sex: Literal["M", "F"]
    region_known: bool


@dataclass(frozen=True)
class Uscc:
    """A checked unified social credit code split into its GB 32100 parts."""

    code: str
    authority: str
    entity_type: str
    region_code: str
    org_code: str


def _normalise(value: str, *, drop: str = "") -> str:
    # NFKC maps full-width digits and letters (０-９, Ａ-Ｚ) and the ideographic space to ASCII.
    text = unicodedata.normalize("NFKC", value)
    return "".join(ch for ch in text if not ch.isspace() and ch not in drop).upper()


def parse_resident_id(
    value: str, *, record: str | None = None, field: str = "resident_id"
) -> ResidentId:
    """Check and normalise a resident ID number, converting the old 15-digit form to 18.

    Raises `Invalid` naming `record` and `field`; the detail shows only the masked number.
    """
    number = _normalise(value)
    masked = mask_resident_id(number)

    def fail(problem: str) -> Invalid:
        return Invalid(f"resident ID {masked}: {problem}", record=record, field=field)

    if len(number) == 15:
        # Pre-1999 form: 6 region + YYMMDD + 3 sequence, no check digit; all were 19xx births.
        if not set(number) <= _DIGITS:
            raise fail("the 15-digit form must be all digits")
        body = number[:6] + "19" + number[6:]
        number = body + ric.calc_check_digit(body + "0")
    elif len(number) == 18:
        if not set(number[:17]) <= _DIGITS or number[17] not in _DIGITS | {"X"}:
            raise fail("must be 17 digits followed by a digit or X")
    else:
        raise fail(f"must have 18 characters (or 15 in the old form), not {len(number)}")
    birth_date = _birth_date(number[6:14], fail)
    # GB 11643 check digit (ISO 7064 MOD 11-2); stdnum reads number[:-1].
    if number[17] != ric.calc_check_digit(number):
        raise fail("check digit does not match (GB 11643)")
    return ResidentId(
        number=number,
        region_code=number[:6],
        birth_date=birth_date,
        sex="M" if int(number[16]) % 2 else "F",
        region_known=_region_known(number),
    )


def _birth_date(yyyymmdd: str, fail: Callable[[str], Invalid]) -> date:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise fail("birth date is not a real date") from None
    if born.year < _EARLIEST_BIRTH_YEAR:
        raise fail(f"birth year before {_EARLIEST_BIRTH_YEAR}")
    if born > date.today():
        raise fail("birth date is in the future")
    return born


def _region_known(number: str) -> bool:
    # A warning only: stdnum's table rejects codes that postdate the birth year (Bozhou's
    # 3416xx codes date from 2000) and raises KeyError on some unknown counties.
    try:
        ric.get_birth_place(number)
    except (KeyError, ValidationError, ValueError, IndexError):
        return False
    return True


def make_resident_id(region_code: str, birth_date: date, sequence: int) -> str:
    """Build a valid 18-character number for synthetic people; odd `sequence` means male."""
    if len(region_code) != 6 or not set(region_code) <= _DIGITS:
        raise ValueError("region_code must be 6 digits")
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be between 0 and 999")
    if not _EARLIEST_BIRTH_YEAR <= birth_date.year <= 9999:
        raise ValueError(f"birth year must be {_EARLIEST_BIRTH_YEAR} or later")
    body = f"{region_code}{birth_date:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


def parse_uscc(value: str, *, record: str | None = None, field: str = "uscc") -> Uscc:
    """Check and normalise a unified social credit code.

    Letters are accepted in the first two positions (GB 32100 authority codes such as `N`
    for rural collective economic organisations), unlike stdnum's `validate()`. A valid USCC
    is public, but a value that fails may be a resident ID typed into the wrong box, so
    errors show it masked like one.
    """
    code = _normalise(value, drop="-")

    def fail(problem: str) -> Invalid:
        shown = mask_resident_id(code)
        return Invalid(f"USCC {shown}: {problem}", record=record, field=field)

    if len(code) != 18:
        raise fail(f"must have 18 characters, not {len(code)}")
    bad = [str(i + 1) for i, ch in enumerate(code) if ch not in USCC_ALPHABET]
    if bad:
        where = "positions" if len(bad) > 1 else "position"
        raise fail(f"characters outside the GB 32100 alphabet at {where} {', '.join(bad)}")
    if not set(code[2:8]) <= _DIGITS:
        raise fail("region code (characters 3-8) must be 6 digits")
    if code[17] != uscc.calc_check_digit(code[:17]):
        raise fail("check character does not match (GB 32100)")
    return Uscc(
        code=code,
        authority=code[0],
        entity_type=code[1],
        region_code=code[2:8],
        org_code=code[8:17],
    )


def gb11714_check_character(org_serial: str) -> str:
    """The GB 11714 organisation-code check character of an 8-character serial.

    Written by hand because python-stdnum has no GB 11714 module.
    """
    if len(org_serial) != 8 or any(ch not in _GB11714_VALUES for ch in org_serial):
        raise ValueError("org_serial must be 8 characters from 0-9 and A-Z")
    pairs = zip(org_serial, _GB11714_WEIGHTS, strict=True)
    total = sum(_GB11714_VALUES.index(ch) * weight for ch, weight in pairs)
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(authority: str, entity_type: str, region_code: str, org_serial: str) -> str:
    """Build a valid USCC for synthetic enterprises from its parts.

    `org_serial` is the 8-character organisation serial; its GB 11714 check character and
    then the GB 32100 check character are appended.
    """
    for name, part in (("authority", authority), ("entity_type", entity_type)):
        if len(part) != 1 or part not in USCC_ALPHABET:
            raise ValueError(f"{name} must be one character of {USCC_ALPHABET}")
    if len(region_code) != 6 or not set(region_code) <= _DIGITS:
        raise ValueError("region_code must be 6 digits")
    if any(ch not in USCC_ALPHABET for ch in org_serial):
        raise ValueError(f"org_serial must use only {USCC_ALPHABET}")
    body = authority + entity_type + region_code + org_serial
    body += gb11714_check_character(org_serial)
    return body + uscc.calc_check_digit(body)
