"""Resident ID numbers (GB 11643-1999) and unified social credit codes (GB 32100-2015), checked
a whole column at a time.

`purecredit.core.identifiers` checks one value with python-stdnum; a county's deliveries hold
millions, so here the check characters are computed with numpy over the ASCII bytes of all
rows at once. The test suite proves them equal to `stdnum.cn.ric.calc_check_digit` and
`stdnum.cn.uscc.calc_check_digit` on every row of a synthetic county and on generated
numbers. As in the core parser, the region table is not consulted (a warning elsewhere, never
a rejection) and a USCC may start with letters. Reasons show values masked like an ID: a
code that fails may be an ID typed into the wrong box.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from purecredit.core.identifiers import USCC_ALPHABET
from purecredit.core.masking import mask_resident_id
from purecredit.ingest.catalog import FieldDef
from purecredit.ingest.validate.outcome import Checked, Failure, Rows, failure
from purecredit.ingest.validate.text import (
    Bytes,
    Mask,
    byte_lengths,
    byte_matrix,
    char_lengths,
    digits_value,
    is_digit,
    normalise,
    squeeze,
    strings_from_matrix,
)
from purecredit.ingest.validate.values import calendar_date_exists

# GB 11643 / ISO 7064 MOD 11-2: position i (0-based) weighs 2^(17-i) mod 11; the weighted sum
# mod 11 indexes the check character.
_RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.uint16)
_RIC_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
# GB 32100: position i weighs 3^i mod 31; the check value is (31 - sum mod 31) mod 31.
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.uint16)
_USCC_CHARS = np.frombuffer(USCC_ALPHABET.encode("ascii"), dtype=np.uint8)
_USCC_VALUE = np.zeros(256, dtype=np.uint8)
_USCC_VALUE[_USCC_CHARS] = np.arange(len(USCC_ALPHABET))
_IN_USCC_ALPHABET = np.zeros(256, dtype=bool)
_IN_USCC_ALPHABET[_USCC_CHARS] = True
_X = ord("X")
_OLD_FORM = " (or 15 in the old form)"
_EARLIEST_BIRTH_YEAR = 1900  # as purecredit.core.identifiers

Reasons = Callable[[Rows], list[str]]


def ric_check_digits(body: Bytes) -> Bytes:
    """GB 11643 check characters (ASCII codes) of an (n, 17+) matrix of ASCII digits; only the
    first 17 columns are read."""
    # Sum over the ASCII codes, then take off the '0's: one pass, exact in int32.
    total = _weighted_sum(body, _RIC_WEIGHTS) - ord("0") * int(_RIC_WEIGHTS.sum())
    result: Bytes = _RIC_CHECK[total % 11]
    return result


def uscc_check_characters(body: Bytes) -> Bytes:
    """GB 32100 check characters (ASCII codes) of an (n, 17+) matrix of code characters;
    characters outside the alphabet count as 0 (such codes are rejected before this)."""
    total = _weighted_sum(_USCC_VALUE[body[:, :17]], _USCC_WEIGHTS)
    result: Bytes = _USCC_CHARS[(31 - total % 31) % 31]
    return result


def _weighted_sum(matrix: Bytes, weights: npt.NDArray[np.uint16]) -> npt.NDArray[np.int64]:
    total: npt.NDArray[np.int32] = np.einsum("ij,j->i", matrix[:, :17], weights, dtype=np.int32)
    return total.astype(np.int64)


def check_resident_ids(raw: pa.Array, spec: FieldDef) -> Checked:
    """Normalise (NFKC, no spaces, upper-case X, 15-digit form converted to 18) and check
    format, birth date and check digit, in that order."""
    text = normalise(raw)
    text = squeeze(text, np.isin(byte_lengths(text), (15, 18)))
    lengths = byte_lengths(text)
    new, old = lengths == 18, lengths == 15
    number = _upper(byte_matrix(text, 18, new))
    old_ok = old & np.all(is_digit(byte_matrix(text, 15, old)), axis=1)
    if old_ok.any():
        number[old_ok] = _from_old_form(byte_matrix(text, 15, old_ok)[old_ok])
    digits = is_digit(number)
    new_ok = new & np.all(digits[:, :17], axis=1) & (digits[:, 17] | (number[:, 17] == _X))
    formed = new_ok | old_ok
    real, early, future = _birth_date_problems(number)
    expected = ric_check_digits(number)
    say = _Explain(text, "resident ID").say
    sizes = char_lengths(text)
    wrong_size = (lengths > 0) & ~new & ~old
    dated = formed & real & ~early & ~future
    wrong_check = dated & new & (number[:, 17] != expected)
    failures: list[Failure] = [
        *failure(wrong_size, "type", say(f"must have 18 characters{_OLD_FORM}, not {{}}", sizes)),
        *failure(old & ~old_ok, "type", say("the 15-digit form must be all digits")),
        *failure(new & ~new_ok, "type", say("must be 17 digits followed by a digit or X")),
        *failure(formed & ~real, "date", say("birth date is not a real date")),
        *failure(formed & real & early, "date", say(f"birth year before {_EARLIEST_BIRTH_YEAR}")),
        *failure(formed & real & ~early & future, "date", say("birth date is in the future")),
        *failure(
            wrong_check,
            "checksum",
            say("check digit is {}, expected {} (GB 11643)", number[:, 17], expected),
        ),
    ]
    return Checked(strings_from_matrix(number, dated & ~wrong_check), failures)


def check_usccs(raw: pa.Array, spec: FieldDef) -> Checked:
    """Normalise (NFKC, no spaces or hyphens, upper case) and check length, alphabet, region
    code and check character, in that order."""
    text = normalise(raw)
    text = squeeze(text, byte_lengths(text) == 18, r"[\s\-]+")
    lengths = byte_lengths(text)
    sized = lengths == 18
    code = _upper(byte_matrix(text, 18, sized))
    outside = ~_IN_USCC_ALPHABET[code]
    in_alphabet = sized & ~outside.any(axis=1)
    region_ok = in_alphabet & np.all(is_digit(code[:, 2:8]), axis=1)
    expected = uscc_check_characters(code)
    wrong_check = region_ok & (code[:, 17] != expected)
    explain = _Explain(text, "USCC")
    say = explain.say
    sizes = char_lengths(text)

    def positions(rows: Rows) -> list[str]:
        return [
            ("positions " if row.sum() > 1 else "position ")
            + ", ".join(str(i + 1) for i in np.flatnonzero(row))
            for row in outside[rows]
        ]

    failures: list[Failure] = [
        *failure((lengths > 0) & ~sized, "type", say("must have 18 characters, not {}", sizes)),
        *failure(
            sized & ~in_alphabet,
            "type",
            lambda rows: [
                f"{m}: characters outside the GB 32100 alphabet at {p}"
                for m, p in zip(explain.named(rows), positions(rows), strict=True)
            ],
        ),
        *failure(
            in_alphabet & ~region_ok, "type", say("region code (characters 3-8) must be 6 digits")
        ),
        *failure(
            wrong_check,
            "checksum",
            say("check character is {}, expected {} (GB 32100)", code[:, 17], expected),
        ),
    ]
    return Checked(strings_from_matrix(code, region_ok & ~wrong_check), failures)


class _Explain:
    """Reasons "<what> <masked value>: <problem>" for the failing rows of one column."""

    def __init__(self, text: pa.Array, what: str) -> None:
        self.text = text
        self.what = what

    def named(self, rows: Rows) -> list[str]:
        """The "<what> <masked value>" start of each row's reason, masked like an ID."""
        shown = self.text.take(pa.array(rows)).to_pylist()
        return [f"{self.what} {mask_resident_id(v)}" for v in shown]

    def say(self, problem: str, *columns: npt.NDArray[np.generic]) -> Reasons:
        """Reasons with the problem's `{}` filled from per-row columns (numbers, or ASCII
        codes shown as characters)."""

        def reasons(rows: Rows) -> list[str]:
            cells = [problem.format(*(_cell(c[row]) for c in columns)) for row in rows]
            return [f"{n}: {c}" for n, c in zip(self.named(rows), cells, strict=True)]

        return reasons


def _cell(value: np.generic) -> str:
    if isinstance(value, np.uint8):
        return chr(int(value))
    return str(value)


def _upper(matrix: Bytes) -> Bytes:
    """ASCII lower-case letters to upper case (a trailing x, a typed-in lower-case USCC)."""
    lower = (matrix >= ord("a")) & (matrix <= ord("z"))
    result: Bytes = np.where(lower, matrix - 32, matrix).astype(np.uint8)
    return result


def _from_old_form(old: Bytes) -> Bytes:
    """15-digit numbers (pre-1999: region, YYMMDD, sequence; all 19xx births) as 18 digits."""
    body = np.empty((old.shape[0], 18), dtype=np.uint8)
    body[:, :6] = old[:, :6]
    body[:, 6:8] = np.frombuffer(b"19", dtype=np.uint8)
    body[:, 8:17] = old[:, 6:15]
    body[:, 17] = ric_check_digits(body)
    return body


def _birth_date_problems(number: Bytes) -> tuple[Mask, Mask, Mask]:
    """Per row: birth date (characters 7-14) is a real date; is before 1900; is in the future."""
    year = digits_value(number[:, 6:10])
    month = digits_value(number[:, 10:12])
    day = digits_value(number[:, 12:14])
    real = calendar_date_exists(year, month, day)
    today = date.today()
    stamp = year * 10_000 + month * 100 + day
    future: Mask = stamp > today.year * 10_000 + today.month * 100 + today.day
    early: Mask = year < _EARLIEST_BIRTH_YEAR
    return real, early, future
