"""The review report's content (贷时审查报告), for one decision: the outcome and why, the
approval authority and what reviewers did (`decide.review`), the compliance checks (consent,
borrowing from many lenders, the unified limit: `decide.exposure`) and the versions.

A decision is reviewed once its review is closed, or at once when it needed none: that is
the report's event time (`event_at`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from purecredit.decide import store
from purecredit.decide.review import review_of
from purecredit.store.ledger import as_utc

# Admission rules against borrowing from many lenders at once read these bureau counts
# (institutions that queried, or applied, in 30/90 days; DESIGN.md "Decisions").
MULTI_HEAD_FEATURES = (
    "bureau_query_orgs_30d",
    "bureau_query_orgs_90d",
    "bureau_application_orgs_30d",
    "bureau_application_orgs_90d",
)


def event_time(row: dict[str, Any], review: dict[str, Any] | None) -> datetime | None:
    """When the review report's event happened: the review's close, the decision when it
    needed none; None while a review is open."""
    if review is None:
        return as_utc(row["decided_at"])
    if review["closed_at"] is None:
        return None
    return as_utc(review["closed_at"])


def review(engine: Engine, row: dict[str, Any]) -> dict[str, Any]:
    """What the template shows, from a decision row."""
    record, inputs = row["record"], row["inputs"]
    application = inputs["application"]
    reviewed = review_of(engine, row["decision_id"])
    decided = as_utc(row["decided_at"]).date()
    consent = _consent(engine, application["consent_id"], decided)
    multi = [r for r in record["reasons"] if r["detail"].get("feature") in MULTI_HEAD_FEATURES]
    counts = {f: inputs["profile"].get(f) for f in MULTI_HEAD_FEATURES if f in inputs["profile"]}
    return {
        "record": record,
        "application": application,
        "working": record.get("working", {}),
        "review": reviewed,
        "consent": consent,
        "multi_head": {"fired": [r for r in multi if r["source"] == "rule"], "counts": counts},
        "standing": inputs["standing"],
        "grant": record.get("grant"),
        "versions": record["versions"],
        "arm": inputs["arm"],
    }


def _consent(engine: Engine, consent_id: str, on: Any) -> dict[str, Any]:
    """The consent the decision used, and whether it was valid on the decision's day."""
    with engine.connect() as connection:
        found = (
            connection.execute(
                select(store.CONSENTS).where(store.CONSENTS.c.consent_id == consent_id)
            )
            .mappings()
            .first()
        )
    if found is None:
        return {"consent_id": consent_id, "valid": False}
    withdrawn = found["withdrawn_at"]
    return {
        "consent_id": consent_id,
        "purpose": found["purpose"],
        "sources": ", ".join(found["sources"]),
        "granted_on": as_utc(found["granted_at"]).date().isoformat(),
        "valid_until": found["valid_until"].isoformat(),
        # Valid when the decision read the data: a later withdrawal (PIPL art. 15) does not
        # undo a lawful decision, and saying "withdrawn" here would change the report later.
        "valid": found["valid_until"] >= on
        and (withdrawn is None or as_utc(withdrawn).date() > on),
    }
