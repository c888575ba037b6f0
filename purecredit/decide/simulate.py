"""Policy simulation: what a policy would have done with a batch of applications, and, where
the synthetic world can play the loans forward, what would have become of them.

Every application is decided by the pure `engine.decide` with the same profiles and champion
models the counter uses, once per policy, as a first application (no line held: a simulation
compares policies, not the ledger's state, and writes nothing). A customer who applies twice
for the same product is simulated once (the first time); that is counted as a repeat.

Per product and grade, each policy reports approval, referral and decline rates, the average
line and rate of what it approves, and the expected loss from the model's PD
(PD x LGD x line, the LGD the policy prices with). Where the county's world runs at least
12 months and 90 days past an application, its approved lines are played forward
(`synth.play.Forward`): each is drawn in full when granted and repaid in 12 monthly
instalments; a loan defaults when an instalment is 90+ days late or never paid. The
realised default rate counts loans, the NPL ratio weighs them by line. Beside them stands
the same measure for a policy that knew each applicant's true 12-month PD (`true_pd_12m` in
the county's truth, as of its study date) and approved, per product, the same number of the
least risky applicants, each for what they asked: the best any ranking could do at that
approval rate. Only the simulator reads the truth, and only to measure outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from purecredit.core.errors import Invalid, PurecreditError
from purecredit.core.identifiers import parse_resident_id, parse_uscc
from purecredit.core.subjects import subject_key
from purecredit.decide.applications import Ask
from purecredit.decide.counter import Counter
from purecredit.decide.engine import Application, Standing, decide
from purecredit.decide.policy import Policy
from purecredit.decide.store import branches
from purecredit.score.registry import RegisteredModel
from purecredit.score.sample import segment_of
from purecredit.synth.manifest import read_manifest
from purecredit.synth.play import Forward

LOAN_MONTHS = 12
DEFAULT_DAYS = 90


@dataclass(frozen=True)
class Case:
    """An application ready to decide: who (for the profile and for the world), what it asks."""

    ask: Ask
    kind: str
    subject: str
    entity: str  # how the county's world knows the applicant (resident ID or USCC)
    profile: dict[str, Any]
    model: RegisteredModel


@dataclass(frozen=True)
class Prepared:
    cases: list[Case]
    repeats: int
    errors: dict[str, int]


def prepare(counter: Counter, asks: Iterable[Ask]) -> Prepared:
    """Look every applicant up once; what cannot be decided is counted by reason, not lost."""
    as_of = {kind: profiles.as_of() for kind, profiles in counter.profiles.items()}
    cases: list[Case] = []
    seen: set[tuple[str, str]] = set()
    repeats = 0
    errors: dict[str, int] = {}

    def error(reason: str) -> None:
        errors[reason] = errors.get(reason, 0) + 1

    for ask in asks:
        try:
            kind, subject, _ = subject_key(ask.identifier, counter.settings)
        except Invalid:
            error("identifier does not read")
            continue
        if (subject, ask.product) in seen:
            repeats += 1
            continue
        seen.add((subject, ask.product))
        known = as_of[kind]
        if known is not None and ask.received_at.date() < known:
            error("received before the profiles' date")
            continue
        profile = counter.profiles[kind].get(subject)
        if profile is None:
            error("no profile")
            continue
        if kind == "person":
            entity = parse_resident_id(ask.identifier).number
            model = counter.model_for(kind, segment_of(profile))
        else:
            entity = parse_uscc(ask.identifier).code
            model = counter.model_for(kind, "enterprise")
        cases.append(Case(ask, kind, subject, entity, profile, model))
    return Prepared(cases, repeats, errors)


def decide_cases(
    cases: list[Case],
    policy: Policy,
    levels: dict[str, str],
    lpr_1y: float,
    step: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """One row per case: the decision's outcome, grade, PD, line, rate and the LGD priced."""
    rows = []
    for i, case in enumerate(cases):
        ask = case.ask
        row: dict[str, Any] = {"case": i, "product": ask.product, "asked": ask.amount}
        try:
            level = levels.get(ask.branch)
            if level is None:
                raise Invalid(f"no branch {ask.branch}", field="branch")
            application = Application(
                application_id=f"S{i}",
                subject=case.subject,
                kind=case.kind,  # type: ignore[arg-type]
                product=ask.product,
                amount=ask.amount,
                branch=ask.branch,
                branch_level=level,
                consent_id="simulation",
                received_at=ask.received_at.isoformat(),
            )
            made = decide(application, case.profile, case.model, policy, Standing(), lpr_1y)
        except PurecreditError as exc:
            row.update(outcome="error", error=exc.field or "application")
        else:
            row.update(
                outcome=made.outcome,
                grade=made.grade,
                pd=made.pd,
                line=made.line if made.outcome == "approve" else 0,
                rate=made.rate if made.outcome == "approve" else None,
                lgd=made.working["price"]["lgd"],
            )
        rows.append(row)
        if step:
            step(str(row["outcome"]))
    frame = pd.DataFrame(rows)
    for column in ("grade", "pd", "line", "rate", "lgd", "error"):
        if column not in frame:
            frame[column] = None
    return frame


class Outcomes:
    """What became of each case in the county's world: played forward, and its true PD."""

    def __init__(self, county: Path) -> None:
        manifest = read_manifest(county / "manifest.json")
        self.forward = Forward(county)
        self.study_date = manifest.study_date
        truth = pd.read_parquet(county / manifest.truth["borrowers"],
                                columns=["entity_key", "true_pd_12m"])  # fmt: skip
        self.true_pd = truth.drop_duplicates("entity_key").set_index("entity_key")["true_pd_12m"]

    def seen_until(self, cases: list[Case]) -> date | None:
        """The last day a loan of these cases needs the world for; None if there are none."""
        if not cases:
            return None
        latest = max(c.ask.received_at for c in cases).date()
        due = (pd.Timestamp(latest) + pd.DateOffset(months=LOAN_MONTHS)).date()
        return due + timedelta(days=DEFAULT_DAYS)

    def can_play(self, cases: list[Case]) -> bool:
        until = self.seen_until(cases)
        return until is not None and until <= self.forward.last_day()

    def defaulted(self, cases: list[Case]) -> np.ndarray:
        """Whether each case, lent to in full on the day it applied, defaults on 12 monthly
        instalments (one 90+ days late or never paid)."""
        if not cases:
            return np.zeros(0, dtype=bool)
        starts = pd.to_datetime([c.ask.received_at.date() for c in cases])
        keys = np.repeat([c.entity for c in cases], LOAN_MONTHS)
        start = np.repeat(starts.to_numpy(), LOAN_MONTHS)
        due = np.concatenate(
            [
                (starts + pd.DateOffset(months=k)).to_numpy()[:, None]
                for k in range(1, LOAN_MONTHS + 1)
            ],
            axis=1,
        ).reshape(-1)
        out = self.forward.instalments(keys=keys, start_dates=start, due_dates=due)
        bad = (~out["paid"].to_numpy()) | (out["days_late"].to_numpy() >= DEFAULT_DAYS)
        return np.asarray(bad.reshape(len(cases), LOAN_MONTHS).any(axis=1))

    def true_pds(self, cases: list[Case]) -> np.ndarray:
        return self.true_pd.reindex([c.entity for c in cases]).to_numpy(dtype=float)


def _rate(part: float, whole: float) -> float | None:
    return None if whole == 0 else round(float(part) / float(whole), 4)


def figures(rows: pd.DataFrame) -> dict[str, Any]:
    """A policy's figures over some decided rows (realised ones where `defaulted` exists)."""
    decided = rows[rows["outcome"] != "error"]
    approved = decided[decided["outcome"] == "approve"]
    lines = approved["line"].astype(float)
    loss = (approved["pd"].astype(float) * approved["lgd"].astype(float) * lines).sum()
    out: dict[str, Any] = {
        "applications": int(decided.shape[0]),
        "approved": int(approved.shape[0]),
        "referred": int((decided["outcome"] == "refer").sum()),
        "declined": int((decided["outcome"] == "decline").sum()),
        "approval_rate": _rate(approved.shape[0], decided.shape[0]),
        "average_limit": None if approved.empty else round(float(lines.mean())),
        "average_rate": None if approved.empty else round(float(approved["rate"].mean()), 4),
        "expected_loss": round(float(loss)),
        "expected_loss_rate": _rate(loss, lines.sum()),
    }
    if "defaulted" in rows:
        bad = approved["defaulted"].astype(bool)
        out["realised_default_rate"] = _rate(bad.sum(), approved.shape[0])
        out["npl_ratio"] = _rate(lines[bad].sum(), lines.sum())
        declined = decided.loc[decided["outcome"] == "decline", "defaulted"].astype(bool)
        out["declined_default_rate"] = _rate(declined.sum(), declined.shape[0])
    return out


def knowing_truth(rows: pd.DataFrame, true_pd: np.ndarray) -> dict[str, Any]:
    """Per product, approve as many as the policy did, least true PD first, each for what it
    asked; its realised default rate and NPL ratio."""
    decided = rows[rows["outcome"] != "error"].assign(true_pd=true_pd[rows["outcome"] != "error"])
    chosen = []
    for _, group in decided.groupby("product"):
        k = int((group["outcome"] == "approve").sum())
        chosen.append(group.sort_values("true_pd", na_position="last").head(k))
    taken = pd.concat(chosen) if chosen else decided.head(0)
    bad = taken["defaulted"].astype(bool)
    asked = taken["asked"].astype(float)
    return {
        "approved": int(taken.shape[0]),
        "approval_rate": _rate(taken.shape[0], decided.shape[0]),
        "realised_default_rate": _rate(bad.sum(), taken.shape[0]),
        "npl_ratio": _rate(asked[bad].sum(), asked.sum()),
    }


def report(rows: pd.DataFrame, true_pd: np.ndarray | None) -> dict[str, Any]:
    """One policy's figures: overall, per product, per product and grade, and (when played
    forward) the true-PD policy at the same approval rate."""
    out: dict[str, Any] = {
        "all": figures(rows),
        "by_product": {p: figures(g) for p, g in rows.groupby("product")},
        "by_grade": {
            p: {str(grade): figures(gg) for grade, gg in g.groupby("grade")}
            for p, g in rows.groupby("product")
        },
    }
    if true_pd is not None and "defaulted" in rows:
        out["true_pd_12m"] = knowing_truth(rows, true_pd)
    return out


def frontier(rows: pd.DataFrame, true_pd: np.ndarray) -> dict[str, list[float | None]]:
    """Realised default rate at every approval rate (5% steps), approving the least risky
    first by the model's PD and by the true PD: how far the model is from the best ranking,
    whatever cut-off a policy chooses."""
    decided = rows["outcome"] != "error"
    bad = rows.loc[decided, "defaulted"].to_numpy(dtype=bool)
    rates = [round(0.05 * k, 2) for k in range(1, 21)]
    out: dict[str, list[float | None]] = {"approval_rate": list(rates)}
    for name, risk in (("model", rows.loc[decided, "pd"].to_numpy(dtype=float)),
                       ("true_pd_12m", true_pd[decided.to_numpy()])):  # fmt: skip
        order = np.argsort(np.nan_to_num(risk, nan=np.inf), kind="stable")
        cumulative = np.cumsum(bad[order])
        out[name] = [
            None if not bad.size else round(float(cumulative[k - 1] / k), 4)
            for k in (max(1, round(r * bad.size)) for r in rates)
        ]
    return out


def simulate(
    counter: Counter,
    asks: list[Ask],
    policies: list[Policy],
    county: Path | None,
    step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run each policy over the applications (see the module docstring)."""
    prepared = prepare(counter, asks)
    cases = prepared.cases
    levels = {b.code: b.level for b in branches(counter.engine)}
    outcomes = Outcomes(county) if county is not None else None
    played = outcomes is not None and outcomes.can_play(cases)
    defaulted = outcomes.defaulted(cases) if played and outcomes else None
    true_pd = outcomes.true_pds(cases) if played and outcomes else None
    results = []
    curve = None
    for policy in policies:
        if step:
            for _ in range(len(asks) - len(cases)):
                step("not simulated")
        rows = decide_cases(cases, policy, levels, counter.settings.lpr_1y, step)
        if defaulted is not None and true_pd is not None:
            rows["defaulted"] = defaulted
            curve = curve or frontier(rows, true_pd)
        results.append({"policy": policy.version, "policy_hash": policy.content_hash,
                        **report(rows, true_pd)})  # fmt: skip
    received = [c.ask.received_at.date() for c in cases]
    return {
        "applications": len(asks),
        "simulated": len(cases),
        "repeats": prepared.repeats,
        "errors": prepared.errors,
        "received": [str(min(received)), str(max(received))] if received else None,
        "played_forward": played,
        "world_until": str(outcomes.forward.last_day()) if outcomes else None,
        "policies": results,
        "frontier": curve,
    }
