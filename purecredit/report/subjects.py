"""How a report names its subject: masked, never the raw value (DESIGN.md "Identity and
privacy"). A person's resident ID is revealed from the vault inside the data zone only to be
masked at once (341602********1234); a firm by its USCC, which is public."""

from __future__ import annotations

from sqlalchemy import Engine

from purecredit.core.errors import NotFound
from purecredit.core.masking import mask_resident_id
from purecredit.core.settings import Settings
from purecredit.ingest.protect import Protector


def shown(engine: Engine, settings: Settings, subject: str) -> str:
    """The subject as a report may print it."""
    if not subject.startswith("id:"):
        return subject
    vault = Protector.from_settings(settings, engine).vault
    try:
        return mask_resident_id(vault.reveal(subject))
    except NotFound:
        return "****"
