"""The feature registry: every module of the person and enterprise profiles, in display order.

Names are unique across a kind's modules (a training table is one wide row per subject and
date), which `tests/profile/test_registry.py` checks. An enterprise's profile is two layers:
its own modules, then its legal representative's person profile, every column prefixed
`legal_rep_` (`columns`).
"""

from __future__ import annotations

from purecredit.profile.feature import DType, Feature, Kind, Module
from purecredit.profile.features import (
    enterprise,
    enterprise_credit,
    enterprise_related,
    person_assets,
    person_business,
    person_credit,
    person_financial,
    person_identity,
    person_social,
)

PERSON_MODULES: tuple[Module, ...] = (
    person_identity.MODULE,
    person_assets.MODULE,
    person_credit.MODULE,
    person_business.MODULE,
    person_social.MODULE,
    person_financial.MODULE,
)
ENTERPRISE_MODULES: tuple[Module, ...] = (
    enterprise.MODULE,
    enterprise_credit.MODULE,
    enterprise_related.MODULE,
)
LEGAL_REP_PREFIX = "legal_rep_"
LEGAL_REP_SQL = enterprise.LEGAL_REP_SQL


def modules(kind: Kind) -> tuple[Module, ...]:
    return PERSON_MODULES if kind == "person" else ENTERPRISE_MODULES


def columns(kind: Kind) -> list[tuple[str, DType]]:
    """Every feature column of a kind's profile, in order, with its type."""
    own = [(f.name, f.dtype) for m in modules(kind) for f in m.features]
    if kind == "person":
        return own
    rep = [(LEGAL_REP_PREFIX + f.name, f.dtype) for m in PERSON_MODULES for f in m.features]
    return own + rep


Section = tuple[str, str, list[tuple[Feature, str]]]


def sections(kind: Kind) -> list[Section]:
    """(key, title, [(feature, column)]) per module, for display: an enterprise's own modules,
    then its legal representative's, keyed `legal_rep.<module>`."""
    own = [(m.name, m.title, [(f, f.name) for f in m.features]) for m in modules(kind)]
    if kind == "person":
        return own
    return own + [
        (
            f"legal_rep.{m.name}",
            f"Legal representative: {m.title}",
            [(f, LEGAL_REP_PREFIX + f.name) for f in m.features],
        )
        for m in PERSON_MODULES
    ]
