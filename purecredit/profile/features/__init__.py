"""The feature registry: every module of the person and enterprise profiles, in display order.

Names are unique across a kind's modules (a training table is one wide row per subject and
date), which `tests/profile/test_registry.py` checks.
"""

from __future__ import annotations

from purecredit.profile.feature import Kind, Module
from purecredit.profile.features import person_identity

PERSON_MODULES: tuple[Module, ...] = (person_identity.MODULE,)
ENTERPRISE_MODULES: tuple[Module, ...] = ()


def modules(kind: Kind) -> tuple[Module, ...]:
    return PERSON_MODULES if kind == "person" else ENTERPRISE_MODULES
