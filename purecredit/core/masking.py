"""Masked forms of names, phone numbers and resident ID numbers for display and logs.

Anything shown to a user, written to a log or put in an error message goes through these
(DESIGN.md "Identity and privacy"). They never raise: a malformed value is still masked, and
values too short to mask meaningfully are starred out entirely.
"""

from __future__ import annotations

# Two-character (compound) surnames common enough to meet at a rural bank's counter; the whole
# surname stays visible, as on a bank receipt (欧阳*, not 欧**).
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "夏侯", "令狐", "端木", "独孤", "南宫", "西门", "轩辕", "呼延",
        "申屠", "澹台", "万俟", "闻人", "赫连", "百里", "东郭", "公冶", "太史", "钟离",
    }
)  # fmt: skip

_PHONE_HEAD = 3
_PHONE_TAIL = 4
_ID_HEAD = 6  # GB 11643 region code: a county, not a person
_ID_TAIL = 4
_ID_STARS = 8  # covers the birth date, as banks print it
_ID_MIN_LENGTH = 15  # below this, head + tail would reveal most of the value


def mask_name(name: str) -> str:
    """Keep the surname and star the given name: 张三 -> 张*, 欧阳修 -> 欧阳*.

    A name that is only a surname (one character, or a bare compound surname) keeps its
    first character and stars the rest.
    """
    name = name.strip()
    if not name:
        return ""
    kept = 2 if len(name) > 2 and name[:2] in COMPOUND_SURNAMES else 1
    return name[:kept] + "*" * (len(name) - kept)


def mask_phone(phone: str) -> str:
    """Keep the carrier prefix and last four digits: 13812341234 -> 138****1234."""
    phone = "".join(phone.split())
    if len(phone) <= _PHONE_HEAD + _PHONE_TAIL:
        return "*" * len(phone)
    hidden = len(phone) - _PHONE_HEAD - _PHONE_TAIL
    return phone[:_PHONE_HEAD] + "*" * hidden + phone[-_PHONE_TAIL:]


def mask_resident_id(number: str) -> str:
    """Keep the region code and last four characters: 34160219900101123X -> 341602********123X.

    Always eight stars, whatever the length, so the mask of a mistyped number never reveals
    more than the region and the last four characters.
    """
    number = "".join(number.split())
    if len(number) < _ID_MIN_LENGTH:
        return "*" * len(number)
    return number[:_ID_HEAD] + "*" * _ID_STARS + number[-_ID_TAIL:]
