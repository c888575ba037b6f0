"""Who an identifier typed at a counter names: a person (resident ID) or a firm (USCC), and
the key the lake knows them by."""

from __future__ import annotations

from typing import Literal

from purecredit.core.crypto import Tokenizer
from purecredit.core.errors import Invalid
from purecredit.core.identifiers import parse_resident_id, parse_uscc
from purecredit.core.keys import data_zone_keys
from purecredit.core.masking import mask_resident_id
from purecredit.core.settings import Settings

SubjectKind = Literal["person", "enterprise"]


def subject_key(identifier: str, settings: Settings) -> tuple[SubjectKind, str, str]:
    """(kind, lake key, what may be shown): a resident ID becomes its keyed token
    (`id:...`, shown masked), a USCC stays itself. Neither is `Invalid` (field `identifier`),
    showing the value masked."""
    try:
        person = parse_resident_id(identifier, field="identifier")
    except Invalid as not_person:
        try:
            firm = parse_uscc(identifier, field="identifier")
        except Invalid:
            raise not_person from None
        return "enterprise", firm.code, firm.code
    tokenizer = Tokenizer(data_zone_keys(settings).token_key, settings.token_algorithm)
    return "person", tokenizer.lake_key(person.number, "id"), mask_resident_id(person.number)
