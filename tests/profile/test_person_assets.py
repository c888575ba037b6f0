"""The assets and liabilities module against an independent computation from the delivered
files (pandas over the raw sources read by `raw.read`; defective records are handled as in
test_person_credit)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from purecredit.profile.features.person_assets import MODULE
from purecredit.profile.spine import months_before
from tests.profile.conftest import ARRIVED, AS_OF, BEFORE, Profiled
from tests.profile.raw import ACCEPTED, day, read, tokens


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
        raw = read(profiled.county, name, accept=ACCEPTED)
        return raw.rows, raw.damaged

    out: dict[str, pd.DataFrame] = {}
    touched: set[str] = set()
    props, bad = read_source("property_registry")
    props["subject"] = props.owner_id.map(key)
    touched |= keyed(bad.get("owner_id", []))
    owner = dict(zip(props.unit_no, props.subject, strict=True))
    seized, bad = read_source("property_seizures")
    seized["subject"] = seized.unit_no.map(owner)
    touched |= {owner[u] for u in bad.get("unit_no", []) if u in owner}
    loans, bad_loans = read_source("bank_loans")
    loans["subject"] = loans.resident_id.map(key)
    reps, bad_reps = read_source("bank_repayments")
    by_loan = dict(zip(loans.loan_id, loans.subject, strict=True))
    reps["subject"] = reps.loan_id.map(by_loan)
    touched |= keyed(bad_loans.get("resident_id", []))
    touched |= {
        by_loan.get(i) for i in [*bad_reps.get("loan_id", []), *bad_loans.get("loan_id", [])]
    }
    accounts, bad = read_source("credit_bureau_accounts")
    accounts["subject"] = accounts.subject_resident_id.map(key)
    touched |= keyed(bad.get("subject_resident_id", []))
    reported = set(accounts.subject)
    for name in ("credit_bureau_queries", "credit_bureau_public_records"):
        extract, bad = read_source(name)
        reported |= {key(i) for i in extract.subject_resident_id}
        touched |= keyed(bad.get("subject_resident_id", []))
    customers, bad = read_source("bank_customers")
    customers["subject"] = customers.resident_id.map(key)
    touched |= keyed(bad.get("resident_id", []))
    by_customer = dict(zip(customers.customer_no, customers.subject, strict=True))
    deposits, bad = read_source("bank_deposits")
    deposits["subject"] = deposits.customer_no.map(by_customer)
    touched |= {by_customer.get(c) for c in bad.get("customer_no", [])}
    for name, frame in (
        ("props", props), ("seized", seized), ("loans", loans), ("reps", reps),
        ("accounts", accounts), ("deposits", deposits),
    ):  # fmt: skip
        for column in frame.columns:
            if column.endswith(("_on", "_date")) or column == "month":
                frame[column] = frame[column].map(day)
        out[name] = frame[frame.subject.notna()]
    out["touched"] = pd.DataFrame({"subject": sorted(t for t in touched if isinstance(t, str))})
    out["reported"] = pd.DataFrame({"subject": sorted(t for t in reported if isinstance(t, str))})
    return out


def expected(raw: dict[str, pd.DataFrame], as_of: date) -> pd.DataFrame:
    """Every feature by subject, for the subjects the sources name (others: see the tests)."""
    props = raw["props"][raw["props"].registered_on <= as_of]
    price = pd.to_numeric(props.price)
    out: dict[str, pd.Series] = {
        "property_count": props.groupby("subject").size(),
        "property_area_sqm": pd.to_numeric(props.area).groupby(props.subject).sum(),
        "property_value": price.fillna(0).groupby(props.subject).sum(),
        "property_unpriced_count": price.isna().groupby(props.subject).sum(),
    }
    seized = raw["seized"][raw["seized"].seized_on <= as_of]
    active = seized.released_on.map(lambda d: d is None or d > as_of)
    out["property_seizures_active"] = active.groupby(seized.subject).sum()
    out["property_seizures_total"] = seized.groupby("subject").size()
    loans = raw["loans"][raw["loans"].start_date <= as_of]
    reps = raw["reps"]
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
    acc = raw["accounts"]
    other = ~acc.account_no.isin(loans.loan_id)
    balance = pd.to_numeric(acc.balance)
    out["bureau_balance"] = balance.groupby(acc.subject).sum()
    out["bureau_other_lender_balance"] = balance.where(other, 0).groupby(acc.subject).sum()
    out["bureau_other_lender_open_accounts"] = (
        (other & ~acc.account_state.isin(["结清", "销户"])).groupby(acc.subject).sum()
    )
    dep = raw["deposits"]
    dep = dep[(dep.month > months_before(as_of, 12)) & (dep.month <= as_of) & dep.inflow.notna()]
    monthly = pd.to_numeric(dep.inflow).groupby([dep.subject, dep.month]).sum()
    out["dti_annual_income"] = monthly.groupby(level=0).mean() * 12
    return pd.concat(out, axis=1)  # every subject any source names, not only the first's


@pytest.mark.parametrize("as_of", [AS_OF, ARRIVED])
def test_features_match_the_sources(
    profiled: Profiled, people: list[str], raw: dict[str, pd.DataFrame], as_of: date
) -> None:
    want = expected(raw, as_of)
    subjects = sorted(set(people) - set(raw["touched"].subject))
    got = profiled.features([MODULE], subjects, as_of).to_pandas().set_index("subject")
    want = want.reindex(subjects)
    registers = [c for c in want.columns if c.startswith(("property_", "bank_"))]
    want[registers] = want[registers].fillna(0)  # a county-wide register: not listed is none
    # A report (any record in the three extracts) without accounts owes nothing elsewhere;
    # no report at all: debt elsewhere is unknown.
    reported = want.index.isin(raw["reported"].subject)
    bureau = [c for c in want.columns if c.startswith("bureau_")]
    want[bureau] = want[bureau].fillna(0).where(pd.Series(reported, index=want.index), axis=0)
    want["total_debt"] = want.bank_loan_outstanding + want.bureau_other_lender_balance
    income = want.dti_annual_income.where(want.dti_annual_income > 0)
    want["debt_to_income"] = want.total_debt / income
    for column in want.columns:
        have = got[column].astype(float)
        expect = want[column].astype(float)
        assert ((expect - have).abs().fillna(0) < 0.01).all(), column
        assert (expect.isna() == have.isna()).all(), column
    assert (got.property_seized_now == (got.property_seizures_active > 0)).all()
    assert got.debt_to_income.notna().sum() > 100 and got.property_seized_now.sum() > 0


def test_before_the_registers_arrived_everything_is_null(
    profiled: Profiled, raw: dict[str, pd.DataFrame]
) -> None:
    owners = sorted(set(raw["props"].subject) & set(raw["loans"].subject))[:20]
    got = profiled.features([MODULE], owners, BEFORE).to_pandas()
    assert got[list(MODULE.columns)].isna().all().all()


def test_income_window_moves_with_the_date(
    profiled: Profiled, raw: dict[str, pd.DataFrame]
) -> None:
    """January 2025's inflow is in the 12 months to 5 January 2026, not in those to 31 January."""
    dep = raw["deposits"]
    subjects = sorted(set(dep.subject) - set(raw["touched"].subject))[:50]
    early = profiled.features([MODULE], subjects, ARRIVED).to_pandas().set_index("subject")
    late = profiled.features([MODULE], subjects, AS_OF).to_pandas().set_index("subject")
    assert (early.dti_annual_income != late.dti_annual_income).any()
