"""The counter: an application in, a decision out, recorded and granted.

`Counter` holds what every application needs, loaded once per process (the ledger, the online
profiles, the policy and its challenger, the champion models); `apply` checks what the
applicant gives (identity, consent, product, amount, branch) and fails with a clear error
that changes nothing when any of it is wrong; then it decides (`engine.decide`, pure), grants
an approved line against the unified limit (`exposure.grant`, one locked transaction) and
stores the decision with its inputs (`store`). If the ledger refuses the grant because a
concurrent application at another branch took the room first, the decision as stored says so
(`granted: false`); the decision itself, being pure, replays the same.

An application is one ledger transaction: the consent it records, the grant, the decision row
and the review row commit together or not at all. `apply` runs it in the caller's open write
transaction when given one (``connection=``; the gateway's, which also holds the request's
`Idempotency-Key` claim and its stored answer), else in one of its own (`run_locked`). A
deadlock or serialisation failure retries the whole unit at the outer `run_locked`: the ids
are made afresh inside it, so a retry leaves nothing of the attempt that lost.

`replay` runs a stored decision again from its stored inputs, with the policy and model
versions it names, and reports any difference.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from purecredit.core.errors import Invalid, NotFound
from purecredit.core.settings import Settings
from purecredit.core.subjects import subject_key
from purecredit.decide import exposure, review, store
from purecredit.decide.engine import (
    Application,
    Decision,
    Standing,
    check_application,
    decide,
    profile_inputs,
)
from purecredit.decide.policy import Policy, arm, load_policy
from purecredit.profile.graph import EDGE_TABLE
from purecredit.profile.online import OnlineProfiles
from purecredit.score import registry
from purecredit.score.sample import segment_of
from purecredit.store.ledger import ledger_engine, run_locked

CONSENT_DAYS = 365
CONSENT_SOURCES = ("credit_bureau", "government", "tax", "social", "bank")


@dataclass(frozen=True)
class Applied:
    decision_id: str
    decision: Decision
    granted: bool | None  # None: nothing to grant (not approved, or the line already covers)
    grant: dict[str, Any] | None = None  # the ledger's answer to the grant, as stored

    def summary(self) -> dict[str, Any]:
        d = self.decision
        return {
            "application_id": d.application_id,
            "decision_id": self.decision_id,
            "decision": d.outcome if self.granted is not False else "decline",
            "grade": d.grade,
            "pd": d.pd,
            "limit": d.line,
            "unified_limit": d.unified_limit,
            "rate": d.rate,
            "term_months": d.term_months,
            "refer_to": d.refer_to,
            "reasons": [
                {"source": r.source, "code": r.code, "zh": r.zh, "en": r.en, "action": r.action}
                for r in d.reasons
            ],
        }


@dataclass(frozen=True)
class _Ask:
    """What `Counter.apply` was given, as given (it checks it)."""

    identifier: str
    product: str
    amount: int
    branch: str
    consent_id: str | None
    officer: str
    term_months: int | None
    now: datetime | None


class Counter:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.home = settings.home
        self.engine = engine or ledger_engine(settings)
        store.create_tables(self.engine)
        exposure.create_tables(self.engine)
        self.profiles = {
            kind: OnlineProfiles(self.engine, kind) for kind in ("person", "enterprise")
        }
        self.policy = load_policy(settings.policy)

    @cache  # noqa: B019 - one Counter per process; the cache lives as long as it
    def policy_for(self, arm_name: str) -> Policy:
        if arm_name == "challenger" and self.policy.split.challenger:
            return load_policy(self.policy.split.challenger)
        return self.policy

    @cache  # noqa: B019 - one Counter per process; the cache lives as long as it
    def model_for(self, kind: str, segment: str) -> registry.RegisteredModel:
        """The champion that scores a subject: the person segment's own, else the pooled
        person model; for a firm, the two-layer enterprise model. Resolved once per segment,
        as `_model` loads each champion once: reading the champion files again for every
        application cost more than the rest of choosing a model."""
        return self._model(registry.scoring_segment(self.home, kind, segment), None)

    @cache  # noqa: B019
    def _model(self, segment: str, version: str | None) -> registry.RegisteredModel:
        return registry.load(self.home, segment, version)

    def legal_rep(self, firm: str, bind: store.Bind | None = None) -> str | None:
        with store.reading(bind or self.engine) as connection:
            row = connection.execute(
                text(f"SELECT dst FROM {EDGE_TABLE} WHERE src = :firm AND kind = 'has_legal_rep'"),
                {"firm": firm},
            ).first()
        return None if row is None else str(row[0])

    def standing(
        self,
        subject: str,
        product: str,
        legal_rep: str | None = None,
        bind: store.Bind | None = None,
    ) -> Standing:
        """The subject's group in the unified-limit ledger, as `exposure.exposure` reports it
        (the sum of the group's active lines, and the subject's oldest active line for the
        product). A firm with a known legal representative is read in the representative's
        group, which is where `exposure.grant` will put it (`exposure.group_of`): read in its
        own, a firm's first application would be decided as if the representative's lines
        were not there, approved, then refused by the ledger. Read with one statement of only
        what a decision needs, the active lines of the group: one statement is one snapshot,
        and takes a third of the time of `exposure`'s three plus the money formatting of
        every line. A frozen line still counts (`exposure.LIVE`)."""
        lines = exposure.credit_lines
        active = text(
            'SELECT l.subject, l.product, l."limit" FROM credit_group_members m '
            "JOIN credit_lines l ON l.group_id = m.group_id "
            "WHERE m.subject = :subject AND l.status IN (:active, :frozen) "
            "ORDER BY l.created_at, l.line_id"
        ).columns(lines.c.subject, lines.c.product, lines.c.limit)  # the ledger's money type
        with store.reading(bind or self.engine) as connection:
            anchor = legal_rep if legal_rep else subject
            live = {"subject": anchor, "active": exposure.ACTIVE, "frozen": exposure.FROZEN}
            rows = connection.execute(active, live).all()
        limits = [Decimal(str(row.limit)).quantize(exposure.CENT) for row in rows]
        line = next(
            (
                float(limit)
                for row, limit in zip(rows, limits, strict=True)
                if row.subject == subject and row.product == product
            ),
            None,
        )
        return Standing(group_granted=float(sum(limits, Decimal("0.00"))), line=line)

    def apply(
        self,
        identifier: str,
        *,
        product: str,
        amount: int,
        branch: str,
        consent_id: str | None = None,
        officer: str = "counter",
        term_months: int | None = None,
        now: datetime | None = None,
        connection: Connection | None = None,
    ) -> Applied:
        """Decide an application and record it (see the module docstring): in the caller's
        open write transaction when `connection` is given (on SQLite begun ``IMMEDIATE``, as
        `run_locked` begins it; the caller retries it whole on `Retry` or a deadlock), else
        in a transaction of its own. An error raised changes nothing once rolled back."""
        ask = _Ask(identifier, product, amount, branch, consent_id, officer, term_months, now)
        if connection is not None:
            return self._apply(connection, ask)
        return run_locked(self.engine, lambda own: self._apply(own, ask))

    def _apply(self, connection: Connection, ask: _Ask) -> Applied:
        received = ask.now or datetime.now(UTC)
        kind, subject, _shown = subject_key(ask.identifier, self.settings)
        amount, product = ask.amount, ask.product
        if not isinstance(amount, int) or amount <= 0:
            raise Invalid(
                f"amount must be a whole number of yuan above 0, not {amount!r}", field="amount"
            )
        # Everything checked before anything is written (and an error rolls back anyway).
        offered = self.policy.product(product)  # NotFound for an unknown product
        check_application(offered, kind, amount, ask.term_months)
        where = store.branch(connection, ask.branch)  # NotFound for an unknown branch
        profile = self._profile(connection, kind, subject)
        if profile is None:
            raise NotFound(
                "no profile for this applicant: nothing is known to decide on", field="identifier"
            )
        consent_id = ask.consent_id
        if consent_id is None:
            consent_id = store.record_consent(
                connection,
                consent_id=f"C{uuid.uuid4().hex[:20]}",
                subject=subject,
                recorded_by=ask.officer,
                sources=CONSENT_SOURCES,
                granted_at=received,
                valid_until=received.date() + timedelta(days=CONSENT_DAYS),
            )
        else:
            store.check_consent(connection, consent_id, subject, received.date())
        application = Application(
            application_id=f"A{uuid.uuid4().hex[:20]}",
            subject=subject,
            kind=kind,
            product=product,
            amount=amount,
            branch=where.code,
            branch_level=where.level,
            consent_id=consent_id,
            received_at=received.isoformat(),
            term_months=ask.term_months,
        )
        chosen = arm(self.policy, application.application_id)
        policy = self.policy_for(chosen)
        segment = segment_of(profile) if kind == "person" else "enterprise"
        model = self.model_for(kind, segment)
        legal_rep = self.legal_rep(subject, connection) if kind == "enterprise" else None
        standing = self.standing(subject, product, legal_rep, connection)
        decision = decide(
            application, profile, model, policy, standing, self.settings.lpr_1y, arm=chosen
        )
        decision_id = f"D{uuid.uuid4().hex[:20]}"
        granted: bool | None = None
        grant: dict[str, Any] | None = None
        if decision.outcome == "approve" and decision.increase > 0:
            # A refusal rolls back the grant's own writes only: the decision is still stored,
            # saying it was not granted.
            result = exposure.grant_on(
                connection,
                subject=subject,
                legal_rep=legal_rep,
                product=product,
                branch=where.code,
                amount=Decimal(decision.increase),
                unified_limit=Decimal(decision.unified_limit),
                decision_id=decision_id,
                # Raise the line to what was decided, not by the increase: applications
                # decided on the same standing must not each add theirs to one line.
                up_to=Decimal(decision.line),
            )
            granted, grant = result.granted, result.to_dict()
        store.store_decision(
            connection,
            decision_id=decision_id,
            record={**decision.to_dict(), "granted": granted, "grant": grant},
            inputs={
                "application": application.to_dict(),
                "profile": profile_inputs(policy, product, model, profile),
                "standing": standing.to_dict(),
                "arm": chosen,
            },
            subject=subject,
            branch_code=where.code,
        )
        if decision.outcome == "refer":
            level = decision.refer_to or where.level
            review.open_review(connection, decision_id, "refer", level)
        return Applied(decision_id, decision, granted, grant)

    def _profile(self, connection: Connection, kind: str, subject: str) -> dict[str, Any] | None:
        """The online profile, read in the application's transaction (`OnlineProfiles.get`
        would take a second pooled connection while this one is held)."""
        table = self.profiles[kind].table
        query = select(table).where(table.c.subject == subject)
        row = connection.execute(query).mappings().first()
        return None if row is None else dict(row)

    def replay(self, decision_id: str) -> dict[str, Any]:
        """Decide a stored decision again from its stored inputs; the fields that differ."""
        row = store.decision(self.engine, decision_id)
        inputs, record = row["inputs"], row["record"]
        versions = record["versions"]
        policy = self.policy_for(inputs["arm"])
        if policy.content_hash != versions["policy_hash"]:
            raise Invalid(
                f"decision {decision_id} used policy {versions['policy']} "
                "whose content has since changed",
                field="policy",
            )
        named = versions["model"]
        model = self._model(named["segment"], named["version"])
        if model.content_hash != named["content_hash"]:
            raise Invalid(f"decision {decision_id}'s model changed", field="model")
        application = Application(**inputs["application"])
        again = decide(
            application,
            inputs["profile"],
            model,
            policy,
            Standing(**inputs["standing"]),
            versions["lpr_1y"],
            arm=inputs["arm"],
        )
        fresh = store.as_stored(again.to_dict())
        stored = {k: v for k, v in record.items() if k not in ("granted", "grant")}
        different = sorted(k for k in set(fresh) | set(stored) if fresh.get(k) != stored.get(k))
        return {"decision_id": decision_id, "same": not different, "different": different}
