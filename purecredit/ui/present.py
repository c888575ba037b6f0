"""What the console may show of a customer: never a raw ID number, name or phone.

The ledger keys a person by a lake token (a keyed HMAC, not PII, but an identifier that
need not leave the data zone either), so a page shows only its first characters; any text
value shaped like an ID number or a phone is masked (`core.masking`), as the gateway does.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from purecredit.core.masking import mask_phone, mask_resident_id

_RESIDENT_ID = re.compile(r"\d{17}[\dXx]|\d{15}")
_PHONE = re.compile(r"1\d{10}")
_SHOWN_KEY = 10


def masked_subject(subject: str) -> str:
    """`id:3f9a…` for a person's token; a firm's USCC is public and shown whole."""
    if subject.startswith("id:"):
        return subject[: 3 + _SHOWN_KEY] + "…"
    return subject


def shown(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str):
        value = _RESIDENT_ID.sub(lambda m: mask_resident_id(m.group(0)), value)
        return _PHONE.sub(lambda m: mask_phone(m.group(0)), value)
    return value


def masked_profile(profile: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(name, shown(value)) for name, value in sorted(profile.items())]
