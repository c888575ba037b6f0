"""The counter on a small county with trained models, online profiles and the ledger: an
application decided, granted against the unified limit, stored and replayed exactly; errors
that change nothing; the command line. The county and the `desk` are in `conftest.py`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.errors import Invalid, NotFound, PolicyViolation
from purecredit.core.settings import get_settings
from purecredit.decide import exposure, store
from purecredit.decide.applications import month_of_walk_ins, outlets_of, run_asks
from purecredit.decide.counter import Counter
from tests.county import AS_OF, Desk

OUTLET = "341602001"


def _key(counter: Counter, resident_id: str) -> tuple[str, str, str]:
    from purecredit.core.subjects import subject_key

    return subject_key(resident_id, counter.settings)


def _count(counter: Counter, table: str) -> int:
    tables = {"decisions": store.DECISIONS, "consents": store.CONSENTS}
    with counter.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(tables[table])).scalar_one())


def test_applications_are_decided_granted_stored_and_replay_exactly(desk: Desk) -> None:
    counter = desk.counter
    outcomes = []
    for resident_id in desk.people["resident_id"].head(12):
        applied = counter.apply(resident_id, product="household", amount=30_000, branch=OUTLET)
        d = applied.decision
        outcomes.append(d.outcome)
        assert d.outcome in ("approve", "refer", "decline")
        assert d.reasons and all(r.zh and r.en for r in d.reasons)
        _, key, _ = _key(counter, resident_id)
        now = exposure.exposure(counter.engine, key)
        if d.outcome == "approve":
            assert applied.granted is True
            assert float(now["unified_limit"]) == d.unified_limit
            assert [(x["product"], float(x["limit"])) for x in now["lines"]] == [
                ("household", float(d.line))
            ]
        else:
            assert now["lines"] == []  # nothing granted on a refer or a decline
    assert "approve" in outcomes  # the safest applicants of the county
    ids = store.decision_ids(counter.engine)
    assert len(ids) >= 12
    assert all(counter.replay(i)["same"] for i in ids)


def test_a_second_application_is_answered_from_the_existing_line(desk: Desk) -> None:
    counter = desk.counter
    for resident_id in desk.people["resident_id"].iloc[12:42]:  # not yet applied
        first = counter.apply(resident_id, product="household", amount=20_000, branch=OUTLET)
        if first.decision.outcome == "approve":
            break
    else:
        pytest.fail("no applicant approved among the county's thirty safest")
    again = counter.apply(resident_id, product="household", amount=25_000, branch="341602002")
    _, key, _ = _key(counter, resident_id)
    lines = exposure.exposure(counter.engine, key)["lines"]
    assert len(lines) == 1  # never a parallel line
    if again.decision.outcome == "approve":
        assert again.decision.increase == again.decision.line - first.decision.line
        assert float(lines[0]["limit"]) == again.decision.line
    # Asking for less than the line held keeps the line: nothing is granted, nothing cut.
    less = counter.apply(resident_id, product="household", amount=10_000, branch=OUTLET)
    if less.decision.outcome == "approve":
        assert less.decision.increase == 0 and less.granted is None
        assert less.decision.line == float(lines[0]["limit"])


@pytest.mark.parametrize(
    ("identifier", "product", "amount", "branch", "error"),
    [
        ("110101199003071234", "household", 30_000, OUTLET, Invalid),  # bad check digit
        (None, "no-such-product", 30_000, OUTLET, NotFound),
        (None, "household", 30_000, "999999999", NotFound),
        (None, "household", 10**9, OUTLET, Invalid),
        (None, "enterprise", 100_000, OUTLET, Invalid),  # a person cannot take it
    ],
)
def test_a_bad_application_is_an_error_that_changes_nothing(
    desk: Desk, identifier: str | None, product: str, amount: int, branch: str,
    error: type[Exception],
) -> None:  # fmt: skip
    counter = desk.counter
    before = (_count(counter, "decisions"), _count(counter, "consents"))
    with pytest.raises(error):
        counter.apply(identifier or desk.people["resident_id"].iloc[-1], product=product,
                      amount=amount, branch=branch)  # fmt: skip
    assert (_count(counter, "decisions"), _count(counter, "consents")) == before


def test_someone_elses_consent_is_refused(desk: Desk) -> None:
    counter = desk.counter
    mine = counter.apply(desk.people["resident_id"].iloc[0], product="household",
                         amount=30_000, branch=OUTLET)  # fmt: skip
    row = store.decision(counter.engine, mine.decision_id)
    consent = row["inputs"]["application"]["consent_id"]
    before = _count(counter, "decisions")
    with pytest.raises(Invalid, match="consent"):
        counter.apply(desk.people["resident_id"].iloc[5], product="household", amount=30_000,
                      branch=OUTLET, consent_id=consent)  # fmt: skip
    assert _count(counter, "decisions") == before


def test_a_withdrawn_consent_is_refused_and_stays_withdrawn(desk: Desk) -> None:
    counter = desk.counter
    person = desk.people["resident_id"].iloc[1]
    first = counter.apply(person, product="household", amount=30_000, branch=OUTLET)
    consent = store.decision(counter.engine, first.decision_id)["inputs"]["application"][
        "consent_id"
    ]
    at = datetime(2026, 2, 1, tzinfo=UTC)
    assert store.withdraw_consent(counter.engine, consent, at=at)["withdrawn_at"] is not None
    again = store.withdraw_consent(counter.engine, consent, at=at + timedelta(days=1))
    assert again["withdrawn_at"].replace(tzinfo=UTC) == at  # the first withdrawal counts
    before = _count(counter, "decisions")
    with pytest.raises(PolicyViolation, match="withdrawn") as refused:
        counter.apply(person, product="household", amount=30_000, branch=OUTLET,
                      consent_id=consent)  # fmt: skip
    assert refused.value.field == "consent"
    assert _count(counter, "decisions") == before
    with pytest.raises(NotFound):
        store.withdraw_consent(counter.engine, "Cnone", at=at)


@pytest.fixture
def as_home(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PURECREDIT_HOME", str(desk.home))
    get_settings.cache_clear()
    yield desk.home
    get_settings.cache_clear()


def test_the_command_line(desk: Desk, as_home: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["branches", "--json"])
    assert listed.exit_code == 0, listed.output
    branches = json.loads(listed.output)
    assert len(branches) >= 20 and {"code", "name", "level", "parent"} <= set(branches[0])
    resident_id = desk.people["resident_id"].iloc[1]
    args = ["apply", "--id", resident_id, "--product", "household", "--amount", "30000"]
    done = runner.invoke(app, [*args, "--branch", OUTLET, "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert {"application_id", "decision_id", "decision", "grade", "pd", "limit", "rate",
            "term_months", "reasons"} <= set(summary)  # fmt: skip
    shown = runner.invoke(app, ["exposure", resident_id, "--json"])
    assert shown.exit_code == 0 and {"unified_limit", "granted", "lines"} <= set(
        json.loads(shown.output)
    )
    replayed = runner.invoke(app, ["decision", "replay", "--all", "--json"])
    assert replayed.exit_code == 0, replayed.output
    figures = json.loads(replayed.output)
    assert figures["replayed"] >= 1 and figures["different"] == 0
    wrong = runner.invoke(app, [*args, "--branch", "999999999"])
    assert wrong.exit_code == 1 and "no branch" in wrong.output


def test_a_month_of_walk_ins_is_decided_every_way_and_replays(desk: Desk) -> None:
    counter = desk.counter
    month = month_of_walk_ins(desk.county, outlets_of(counter), "2026-01", from_day=AS_OF)
    # Some customers come back a day later and are answered from the line they were given.
    month += [replace(a, received_at=a.received_at + timedelta(days=1)) for a in month[:80]]
    before = set(store.decision_ids(counter.engine))
    counts = run_asks(counter, month)
    assert sum(counts.values()) == len(month)
    assert counts.get("approve", 0) > 0 and counts.get("decline", 0) > 0
    assert counts.get("refer", 0) > 0
    # Every application that was not an error left exactly one stored decision...
    made = [i for i in store.decision_ids(counter.engine) if i not in before]
    assert len(made) == len(month) - counts.get("error", 0)
    # ...which replays exactly, including the second applications' answers from a line.
    replayed = [counter.replay(i) for i in made]
    assert all(r["same"] for r in replayed), [r for r in replayed if not r["same"]][:3]
    answered = [store.decision(counter.engine, i)["record"] for i in made]
    assert any(r["working"]["standing"]["line"] for r in answered)


def test_referred_decisions_wait_for_a_reviewer_with_the_authority(desk: Desk) -> None:
    from purecredit.decide import review
    from purecredit.decide.authority import can_approve

    counter = desk.counter
    if not review.open_reviews(counter.engine):
        run_asks(counter, month_of_walk_ins(desk.county, outlets_of(counter), "2026-01"))
    waiting = [r for r in review.open_reviews(counter.engine) if r["kind"] == "refer"]
    assert waiting, "a month of walk-ins refers some applications"
    for r in waiting:  # every refer opened a review, needing the level the decision named
        stored = store.decision(counter.engine, r["decision_id"])
        assert stored["outcome"] == "refer"
        assert r["needs_level"] == stored["record"]["refer_to"]
    policy = counter.policy
    grantable = [r for r in waiting if r["line"] > 0 and r["grade"] is not None]
    assert grantable
    case = grantable[0]
    row = store.decision(counter.engine, case["decision_id"])
    subject = row["inputs"]["application"]["subject"]
    before = exposure.exposure(counter.engine, subject)
    weakest = next(
        (lv for lv in ("outlet", "sub_branch", "head")
         if not can_approve(policy, case["product"], lv, case["line"], case["grade"])),
        None,
    )  # fmt: skip
    if weakest is not None:  # a reviewer without the authority is refused; nothing changes
        with pytest.raises(Invalid, match="may not approve"):
            review.close(counter.engine, policy, case["decision_id"], approve=True,
                         reviewer="王审批", level=weakest)  # fmt: skip
        assert exposure.exposure(counter.engine, subject) == before
    done = review.close(counter.engine, policy, case["decision_id"], approve=True,
                        reviewer="李行长", level="head", note="visited the farm")  # fmt: skip
    assert done["status"] == "approved"
    after = exposure.exposure(counter.engine, subject)
    if row["record"]["increase"] > 0:
        assert done["grant"]["granted"] is True
        assert float(after["granted"]) == float(before["granted"]) + row["record"]["increase"]
    with pytest.raises(Invalid, match="already approved"):
        review.close(counter.engine, policy, case["decision_id"], approve=False,
                     reviewer="李行长", level="head")  # fmt: skip
    assert case["decision_id"] not in {
        r["decision_id"] for r in review.open_reviews(counter.engine)
    }


def test_an_applicant_may_ask_a_person_to_review_an_automated_decision(desk: Desk) -> None:
    from purecredit.decide import review

    counter = desk.counter
    declined = next(
        i for i in store.decision_ids(counter.engine)
        if store.decision(counter.engine, i)["outcome"] == "decline"
    )  # fmt: skip
    with pytest.raises(Invalid, match="say why"):
        review.request_review(counter.engine, declined, "  ")
    review.request_review(counter.engine, declined, "我的收入不止这些 / my income is higher")
    opened = {r["decision_id"]: r for r in review.open_reviews(counter.engine)}
    assert opened[declined]["kind"] == "applicant_request"
    with pytest.raises(Invalid, match="already has a review"):
        review.request_review(counter.engine, declined, "again")
    done = review.close(counter.engine, counter.policy, declined, approve=False,
                        reviewer="张经理", level="sub_branch", note="income low")  # fmt: skip
    assert done["status"] == "declined"


def test_a_firm_is_decided_in_its_legal_representatives_group(desk: Desk) -> None:
    """Before its first line, a firm's standing is its representative's group (where its
    grant will go), so the representative's lines count against the firm's application."""
    import uuid
    from decimal import Decimal

    from purecredit.decide.engine import Standing

    counter = desk.counter
    rep, firm = f"id:{uuid.uuid4().hex}", f"91{uuid.uuid4().hex[:16].upper()}"
    exposure.grant(counter.engine, subject=rep, legal_rep=None, product="household",
                   branch="341602001", amount=Decimal(70_000), unified_limit=Decimal(300_000),
                   decision_id=None)  # fmt: skip
    assert counter.standing(firm, "enterprise").group_granted == 0  # not yet in any group
    seen = counter.standing(firm, "enterprise", legal_rep=rep)
    assert seen.group_granted == 70_000 and seen.line is None
    exposure.grant(counter.engine, subject=firm, legal_rep=rep, product="enterprise",
                   branch="341602001", amount=Decimal(100_000), unified_limit=Decimal(300_000),
                   decision_id=None)  # fmt: skip
    both = Standing(group_granted=170_000, line=100_000)
    assert counter.standing(firm, "enterprise", legal_rep=rep) == both
    assert counter.standing(rep, "household").line == 70_000
