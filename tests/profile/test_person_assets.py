"""The assets and liabilities module against an independent computation from the delivered
files (pandas over the raw sources read by `raw.read`; defective records are handled as in
test_person_credit).

Point in time, as the bank learned each record: a register's first copy (delivered on
ARRIVED) is known record by record from its own date plus the publication lag, never after
the delivery (`raw.known_on`); a monthly file from the day it was received; a record reached
through another source's (a seizure through its unit, an instalment through its loan, a
deposit through the customer master) no earlier than that link; the credit report is each
person's latest one received by the date (`raw.latest_reports`).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from purecredit.ingest.catalog import load_catalog
from purecredit.profile.features.person_assets import MODULE
from purecredit.profile.spine import months_before
from tests.profile.conftest import ARRIVED, AS_OF, BEFORE, Profiled
from tests.profile.raw import (
    ACCEPTED,
    BUREAU,
    day,
    in_latest,
    known_on,
    latest_reports,
    read,
    read_received,
    tokens,
)


@pytest.fixture(scope="module")
def people(profiled: Profiled) -> list[str]:
    return [r[0] for r in profiled.con.sql("SELECT _entity FROM r_population_register").fetchall()]


@pytest.fixture(scope="module")
def raw(profiled: Profiled) -> dict[str, pd.DataFrame]:
    """Clean records of the sources, each with its subject's key; `touched` lists the subjects
    named by a damaged record of any of them."""
    keys = tokens(profiled)
    key, keyed = keys.of, keys.all

    def read_source(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Records with `known`: when the bank learned them (link aside)."""
        if load_catalog().source(name).monthly:
            raw = read_received(profiled.county, name)
            return raw.rows.rename(columns={"received": "known"}), raw.damaged
        raw = read(profiled.county, name, accept=ACCEPTED)
        return raw.rows.assign(known=known_on(name, raw.rows)), raw.damaged

    def link(frame: pd.DataFrame, key: str) -> pd.Series:
        """When each `key` was first known to be someone's: its earliest record's day."""
        return frame.groupby(key).known.min()

    out: dict[str, pd.DataFrame] = {}
    touched: set[str] = set()
    props, bad = read_source("property_registry")
    props["subject"] = props.owner_id.map(key)
    touched |= keyed(bad.get("owner_id", []))
    owner = dict(zip(props.unit_no, props.subject, strict=True))
    seized, bad = read_source("property_seizures")
    seized["subject"] = seized.unit_no.map(owner)
    seized["known"] = seized.known.combine(seized.unit_no.map(link(props, "unit_no")), max)
    touched |= {owner[u] for u in bad.get("unit_no", []) if u in owner}
    loans, bad_loans = read_source("bank_loans")
    loans["subject"] = loans.resident_id.map(key)
    reps, bad_reps = read_source("bank_repayments")
    by_loan = dict(zip(loans.loan_id, loans.subject, strict=True))
    reps["subject"] = reps.loan_id.map(by_loan)
    reps = reps[reps.subject.notna()].copy()
    reps["known"] = reps.known.combine(reps.loan_id.map(link(loans, "loan_id")), max)
    touched |= keyed(bad_loans.get("resident_id", []))
    touched |= {
        by_loan.get(i) for i in [*bad_reps.get("loan_id", []), *bad_loans.get("loan_id", [])]
    }
    extracts = []
    for name in BUREAU:
        extract, bad = read_source(name)
        extract["subject"] = extract.subject_resident_id.map(key)
        extracts.append(extract.rename(columns={"known": "received"}))
        touched |= keyed(bad.get("subject_resident_id", []))
    customers, bad = read_source("bank_customers")
    customers["subject"] = customers.resident_id.map(key)
    touched |= keyed(bad.get("resident_id", []))
    by_customer = dict(zip(customers.customer_no, customers.subject, strict=True))
    deposits, bad = read_source("bank_deposits")
    deposits["subject"] = deposits.customer_no.map(by_customer)
    deposits = deposits[deposits.subject.notna()].copy()
    deposits["known"] = deposits.known.combine(
        deposits.customer_no.map(link(customers, "customer_no")), max
    )
    touched |= {by_customer.get(c) for c in bad.get("customer_no", [])}
    for name, frame in (
        ("props", props), ("seized", seized), ("loans", loans), ("reps", reps),
        ("accounts", extracts[0]), ("queries", extracts[1]), ("public", extracts[2]),
        ("deposits", deposits),
    ):  # fmt: skip
        for column in frame.columns:
            if column.endswith(("_on", "_date")) or column == "month":
                frame[column] = frame[column].map(day)
        out[name] = frame[frame.subject.notna()]
    out["touched"] = pd.DataFrame({"subject": sorted(t for t in touched if isinstance(t, str))})
    return out


def as_known(frame: pd.DataFrame, dated: str, as_of: date) -> pd.DataFrame:
    """The records the bank knew by the end of `as_of` and that were true by then."""
    return frame[(frame.known <= as_of) & (frame[dated] <= as_of)]


def arrived(frame: pd.DataFrame, as_of: date) -> bool:
    """Whether any record of a county-wide register had reached the bank by `as_of`."""
    return bool((frame.known <= as_of).any())


def expected(raw: dict[str, pd.DataFrame], as_of: date) -> pd.DataFrame:
    """Every feature by subject, for the subjects the sources name (others: see the tests)."""
    props = as_known(raw["props"], "registered_on", as_of)
    price = pd.to_numeric(props.price)
    out: dict[str, pd.Series] = {
        "property_count": props.groupby("subject").size(),
        "property_area_sqm": pd.to_numeric(props.area).groupby(props.subject).sum(),
        "property_value": price.fillna(0).groupby(props.subject).sum(),
        "property_unpriced_count": price.isna().groupby(props.subject).sum(),
    }
    seized = as_known(raw["seized"], "seized_on", as_of)
    active = seized.released_on.map(lambda d: d is None or d > as_of)
    out["property_seizures_active"] = active.groupby(seized.subject).sum()
    out["property_seizures_total"] = seized.groupby("subject").size()
    loans = as_known(raw["loans"], "start_date", as_of)
    reps = as_known(raw["reps"], "due_date", as_of)
    paid = reps.paid_date.map(lambda d: d is not None and d <= as_of)
    principal = (
        (pd.to_numeric(reps.paid_amount) - pd.to_numeric(reps.interest_due))
        .clip(lower=0)
        .combine(pd.to_numeric(reps.principal_due), min)
        .where(paid, 0.0)
    )
    left = pd.to_numeric(loans.amount) - loans.loan_id.map(
        principal.groupby(reps.loan_id).sum()
    ).fillna(0)
    left = left.clip(lower=0).where(left >= 1, 0.0)
    out["bank_loans_open"] = (left > 0).groupby(loans.subject).sum()
    out["bank_loan_outstanding"] = left.groupby(loans.subject).sum()
    latest = latest_reports([raw["accounts"], raw["queries"], raw["public"]], as_of)
    acc = in_latest(raw["accounts"], latest)
    other = ~acc.account_no.isin(loans.loan_id)
    balance = pd.to_numeric(acc.balance)
    out["bureau_balance"] = balance.groupby(acc.subject).sum()
    out["bureau_other_lender_balance"] = balance.where(other, 0).groupby(acc.subject).sum()
    out["bureau_other_lender_open_accounts"] = (
        (other & ~acc.account_state.isin(["结清", "销户"])).groupby(acc.subject).sum()
    )
    dep = as_known(raw["deposits"], "month", as_of)
    dep = dep[(dep.month > months_before(as_of, 12)) & dep.inflow.notna()]
    monthly = pd.to_numeric(dep.inflow).groupby([dep.subject, dep.month]).sum()
    out["dti_annual_income"] = monthly.groupby(level=0).mean() * 12
    # A report (any record in the three extracts) without accounts owes nothing elsewhere.
    out["reported"] = pd.Series(True, index=latest.index)
    return pd.concat(out, axis=1)  # every subject any source names, not only the first's


def expected_for(raw: dict[str, pd.DataFrame], subjects: list[str], as_of: date) -> pd.DataFrame:
    """Every feature of `subjects` as of `as_of`, NULL where nothing is known."""
    want = expected(raw, as_of).reindex(subjects)
    # A county-wide register: once it has reached the bank, not listed is none; before, NULL.
    for columns, register in (
        (["property_seizures_active", "property_seizures_total"], "seized"),
        (["property_count", "property_area_sqm", "property_value", "property_unpriced_count"],
         "props"),
        (["bank_loans_open", "bank_loan_outstanding"], "loans"),
    ):  # fmt: skip
        if arrived(raw[register], as_of):
            want[columns] = want[columns].fillna(0)
    # No report known by the date: debt elsewhere is unknown.
    reported = want.pop("reported").fillna(False).astype(bool)
    bureau = [c for c in want.columns if c.startswith("bureau_")]
    want[bureau] = want[bureau].fillna(0).where(reported, axis=0)
    want["total_debt"] = want.bank_loan_outstanding + want.bureau_other_lender_balance
    income = want.dti_annual_income.where(want.dti_annual_income > 0)
    want["debt_to_income"] = want.total_debt / income
    return want


@pytest.mark.parametrize("as_of", [AS_OF, ARRIVED, BEFORE])
def test_features_match_the_sources(
    profiled: Profiled, people: list[str], raw: dict[str, pd.DataFrame], as_of: date
) -> None:
    subjects = sorted(set(people) - set(raw["touched"].subject))
    got = profiled.features([MODULE], subjects, as_of).to_pandas().set_index("subject")
    want = expected_for(raw, subjects, as_of)
    assert set(want.columns) == set(MODULE.columns) - {"property_seized_now"}
    for column in want.columns:
        have = got[column].astype(float)
        expect = want[column].astype(float)
        assert ((expect - have).abs().fillna(0) < 0.01).all(), column
        assert (expect.isna() == have.isna()).all(), column
    assert (got.property_seized_now == (got.property_seizures_active > 0)).all()
    assert got.debt_to_income.notna().sum() > 100 and got.property_seized_now.sum() > 0


def test_registers_are_known_from_their_own_dates(
    profiled: Profiled, people: list[str], raw: dict[str, pd.DataFrame]
) -> None:
    """Before the copies arrived, a unit is known 30 days after its registration; before any
    record of any source was known, nothing is."""
    props = raw["props"][~raw["props"].subject.isin(raw["touched"].subject)]
    props = props[props.subject.isin(people)]
    lag = timedelta(days=30)  # the register's publication lag
    # Owners of a unit registered in the 30 days to BEFORE: true, but not yet published.
    recent = props.registered_on.between(BEFORE - lag + timedelta(days=1), BEFORE)
    waiting = sorted(set(props.subject[recent]))
    settled = sorted(set(props.subject) - set(waiting))
    settled = [s for s in settled if (props.registered_on[props.subject == s] <= BEFORE).any()]
    assert waiting and len(settled) > 20
    got = profiled.features([MODULE], waiting + settled[:20], BEFORE)
    got = got.to_pandas().set_index("subject").property_count
    for subject in waiting + settled[:20]:
        mine = props[props.subject == subject]
        assert got[subject] == (mine.registered_on <= BEFORE - lag).sum(), subject
        assert (subject in waiting) == (got[subject] < (mine.registered_on <= BEFORE).sum())
    # The day before the first record of any of the module's sources was known.
    first = min(raw[name].known.min() for name in ("props", "seized", "loans", "reps", "deposits"))
    first = min(first, *(raw[name].received.min() for name in ("accounts", "queries", "public")))
    early = first - timedelta(days=1)
    assert early < date(2022, 1, 1)
    owners = sorted(set(props.subject) & set(raw["loans"].subject))[:20]
    assert len(owners) == 20
    nothing = profiled.features([MODULE], owners, early).to_pandas()
    assert nothing[list(MODULE.columns)].isna().all().all()
    known = profiled.features([MODULE], owners, first).to_pandas()
    assert known[list(MODULE.columns)].notna().any().any()


def test_income_window_moves_with_the_date(
    profiled: Profiled, raw: dict[str, pd.DataFrame]
) -> None:
    """January 2025's inflow is in the 12 months to 5 January 2026, not in those to 31 January."""
    dep = raw["deposits"]
    subjects = sorted(set(dep.subject) - set(raw["touched"].subject))[:50]
    early = profiled.features([MODULE], subjects, ARRIVED).to_pandas().set_index("subject")
    late = profiled.features([MODULE], subjects, AS_OF).to_pandas().set_index("subject")
    assert (early.dti_annual_income != late.dti_annual_income).any()
