"""The credit module against an independent computation from the delivered files.

Expected values come from the raw files (pandas and plain Python, not SQL). The bureau
extracts are a report archive, a file per report month: per person and date, only the latest
report dated by then whose file had reached the bank by then counts (`raw.latest_reports`),
as the bank reads the last report it holds. Defective records are dropped the way ingest quarantines
them (`raw.read`, keeping those ingest accepts), and subjects named by any defective record
are left out of the exact comparison: a duplicate or a damaged line may legitimately change
what the lake holds for them.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from purecredit.profile.features.person_credit import GRADES, MODULE
from purecredit.profile.spine import months_before
from tests.profile.conftest import ARRIVED, AS_OF, BEFORE, Profiled
from tests.profile.raw import (
    ACCEPTED,
    BUREAU,
    day,
    in_latest,
    latest_reports,
    read,
    read_received,
    tokens,
)

FIRST_REPORT = date(2022, 12, 31)  # the archive's oldest report, received 1 January 2023
MID_REPORT = date(2025, 6, 30)  # a report dated BEFORE, received the day after


def read_source(profiled: Profiled, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clean, damaged) records of a source: the damaged ones are those ingest would reject
    or that duplicate another."""
    raw = read(profiled.county, name, accept=ACCEPTED)
    return raw.rows, raw.damaged


@pytest.fixture(scope="module")
def people(profiled: Profiled) -> list[str]:
    return [r[0] for r in profiled.con.sql("SELECT _entity FROM r_population_register").fetchall()]


@pytest.fixture(scope="module")
def bureau(profiled: Profiled) -> dict[str, tuple[pd.DataFrame, set[str]]]:
    """Clean records of each bureau extract (every report of the archive, with the day its
    file was received) by subject key, and the subjects to leave out."""
    out = {}
    keys = tokens(profiled)
    for name in BUREAU:
        raw = read_received(profiled.county, name)
        clean, damaged = raw.rows, raw.damaged
        clean = clean[clean.subject_resident_id.notna()].copy()
        clean["subject"] = [keys.of(i) for i in clean.subject_resident_id]
        out[name] = (clean, keys.all(damaged.get("subject_resident_id", [])))
    return out


def expected_bureau(bureau: dict[str, tuple[pd.DataFrame, set[str]]], as_of: date) -> pd.DataFrame:
    """The features by subject from each one's latest report known as of `as_of` (only that
    report's rows), for the subjects that have one."""
    latest = latest_reports((frame for frame, _ in bureau.values()), as_of)
    acc = in_latest(bureau["credit_bureau_accounts"][0], latest)
    qs = in_latest(bureau["credit_bureau_queries"][0], latest)
    pr = in_latest(bureau["credit_bureau_public_records"][0], latest)
    rows = {}
    for subject, a in acc.groupby("subject"):
        windows = []
        for status, start in zip(a.repayment_status, a.status_from, strict=True):
            first = day(start)
            assert first is not None
            offset = (as_of.year * 12 + as_of.month) - (first.year * 12 + first.month) - 22
            windows.append(status[max(offset, 1) - 1 :])
        levels = [
            7 if "B" in w else max([int(c) for c in w if c in "1234567"], default=0)
            for w in windows
        ]
        amount = pd.to_numeric(a.overdue_amount).fillna(0)
        periods = pd.to_numeric(a.overdue_periods).fillna(0)
        grades = [GRADES.index(g) for g in a.five_category if isinstance(g, str)]
        rows[subject] = {
            "bureau_accounts": len(a),
            "bureau_open_accounts": int((~a.account_state.isin(["结清", "销户"])).sum()),
            "bureau_overdue_accounts": int(
                (a.account_state.isin(["逾期", "呆账"]) | (periods > 0) | (amount > 0)).sum()
            ),
            "bureau_overdue_months_24m": sum(sum(c in "1234567B" for c in w) for w in windows),
            "bureau_overdue_accounts_24m": sum(level > 0 for level in levels),
            "bureau_worst_dpd_24m": max(levels) * 30,
            "bureau_writeoff_24m": any(set(w) & set("BDZ") for w in windows),
            "bureau_worst_five_category": GRADES[max(grades)] if grades else None,
        }
    for subject, q in qs.groupby("subject"):
        when = q.query_date.map(day)
        row = rows.setdefault(subject, {"bureau_accounts": 0})
        for days in (30, 90):
            recent = q[(when > as_of - timedelta(days=days)) & (when <= as_of)]
            apps = recent[recent.reason_code.isin(["02", "03", "24", "26"])]
            row[f"bureau_query_orgs_{days}d"] = recent.institution_code.nunique()
            row[f"bureau_application_orgs_{days}d"] = apps.institution_code.nunique()
    for subject, p in pr.groupby("subject"):
        rows.setdefault(subject, {"bureau_accounts": 0})["bureau_public_records"] = len(p)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    counts = [c for c in frame.columns if c not in ("bureau_worst_five_category",)]
    frame[counts] = frame[counts].fillna(0)
    assert set(frame.index) == set(latest.index)  # every report has a row in some extract
    frame["bureau_report_date"] = latest.report_date.reindex(frame.index)
    return frame


@pytest.mark.parametrize("as_of", [AS_OF, ARRIVED, BEFORE, MID_REPORT + timedelta(days=1)])
def test_bureau_features_match_the_report(
    profiled: Profiled,
    people: list[str],
    bureau: dict[str, tuple[pd.DataFrame, set[str]]],
    as_of: date,
) -> None:
    expected = expected_bureau(bureau, as_of)
    skip = set().union(*(touched for _, touched in bureau.values()))
    subjects = sorted((set(expected.index) & set(people)) - skip)
    assert len(subjects) > 500
    got = profiled.features([MODULE], subjects, as_of).to_pandas().set_index("subject")
    dated = expected.loc[subjects, "bureau_report_date"]
    newest = dated.max()
    # The newest report the bank holds: the one of 31 December once received (1 January);
    # on 30 June 2025 that day's report is not yet received, the next day it is.
    assert (
        newest
        == {
            AS_OF: date(2025, 12, 31),
            ARRIVED: date(2025, 12, 31),
            BEFORE: date(2024, 12, 31),
            MID_REPORT + timedelta(days=1): MID_REPORT,
        }[as_of]
    )
    # A person absent from the newest report (nothing in its window) keeps an older one.
    assert (dated < newest).sum() > 10 and (dated == newest).sum() > 500
    for column in expected.columns:
        want = expected.loc[subjects, column]
        have = got.loc[subjects, column]
        if column == "bureau_report_date":
            assert (want == have).all(), column
        elif column == "bureau_worst_five_category":
            assert (want.fillna("-") == have.fillna("-")).all(), column
        else:
            assert (want.astype(float) == have.astype(float)).all(), column
    # The windows move with the date: some queries in the 90 days before 5 January are out
    # of the 90 days before 31 January.
    if as_of == ARRIVED:
        assert got.bureau_query_orgs_90d.sum() > 0


def test_no_report_and_before_arrival_are_null(
    profiled: Profiled, people: list[str], bureau: dict[str, tuple[pd.DataFrame, set[str]]]
) -> None:
    covered = set().union(*(set(frame.subject) | touched for frame, touched in bureau.values()))
    nobody = sorted(set(people) - covered)[:20]
    assert len(nobody) == 20
    bureau_columns = [c for c in MODULE.columns if c.startswith("bureau_")]
    got = profiled.features([MODULE], nobody).to_pandas()
    assert got[bureau_columns].isna().all().all()
    # The archive's first report is dated 31 December 2022 and reaches the bank on 1 January
    # 2023: on its own date nothing of it is known, though the accounts, queries and records
    # inside it are dated earlier; the next day those it lists have it, and those first
    # listed by a later report still have none.
    heads = pd.concat([frame[["subject", "report_date"]] for frame, _ in bureau.values()])
    heads = heads.assign(report_date=heads.report_date.map(day))
    assert heads.report_date.min() == FIRST_REPORT
    in_first = set(heads.subject[heads.report_date == FIRST_REPORT]) & set(people)
    later = set(heads.subject) & set(people) - in_first
    some, fresh = sorted(in_first)[:20], sorted(later)[:20]
    assert len(some) == len(fresh) == 20
    before = profiled.features([MODULE], some, FIRST_REPORT).to_pandas()
    assert before[bureau_columns].isna().all().all()
    after = profiled.features([MODULE], some + fresh, FIRST_REPORT + timedelta(days=1))
    after = after.to_pandas().set_index("subject")
    assert (after.loc[some, "bureau_report_date"] == FIRST_REPORT).all()
    assert after.loc[some, "bureau_accounts"].notna().all()
    assert after.loc[fresh, bureau_columns].isna().all().all()


@pytest.fixture(scope="module")
def instalments(profiled: Profiled) -> tuple[pd.DataFrame, set[str]]:
    """Clean instalments with their borrower's key, and the borrowers to leave out."""
    loans, bad_loans = read_source(profiled, "bank_loans")
    reps, bad_reps = read_source(profiled, "bank_repayments")
    loans = loans[loans.resident_id.notna()]
    owner = dict(zip(loans.loan_id, loans.resident_id, strict=True))
    keys = tokens(profiled)
    reps = reps[reps.loan_id.isin(owner)].copy()
    reps["subject"] = [keys.of(owner[i]) for i in reps.loan_id]
    for column in ("due_date", "paid_date"):
        reps[column] = reps[column].map(day)
    touched_loans = set(bad_reps.get("loan_id", [])) | set(bad_loans.get("loan_id", []))
    touched = keys.all([owner.get(i) for i in touched_loans])
    touched |= keys.all(bad_loans.get("resident_id", []))
    # A loan number shared by two borrowers cannot be resolved; its people are left out too.
    return reps, touched


def expected_bank(reps: pd.DataFrame, as_of: date) -> pd.DataFrame:
    reps = reps[reps.due_date <= as_of]
    m24 = months_before(as_of, 24)
    rows = {}
    for subject, r in reps.groupby("subject"):
        late = []
        unpaid = 0
        owed = 0.0
        for due, paid, p, i, amount in zip(
            r.due_date, r.paid_date, r.principal_due, r.interest_due, r.paid_amount, strict=True
        ):
            paid_by = paid is not None and paid <= as_of
            days = (paid - due).days if paid_by else (as_of - due).days if due < as_of else 0
            if due > m24:
                late.append(days)
            if due < as_of and not paid_by:
                unpaid += 1
                owed += max(float(p) + float(i) - float(amount or 0), 0.0)
        rows[subject] = {
            "bank_instalments_due_24m": len(late),
            "bank_late_instalments_24m": sum(d > 0 for d in late),
            "bank_max_days_late_24m": max([max(d, 0) for d in late], default=None),
            "bank_unpaid_overdue_instalments": unpaid,
            "bank_unpaid_overdue_amount": round(owed, 2),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


@pytest.mark.parametrize("as_of", [AS_OF, ARRIVED])
def test_own_bank_repayments(
    profiled: Profiled, people: list[str], instalments: tuple[pd.DataFrame, set[str]], as_of: date
) -> None:
    reps, touched = instalments
    expected = expected_bank(reps, as_of)
    subjects = sorted((set(expected.index) & set(people)) - touched)
    assert len(subjects) > 100
    got = profiled.features([MODULE], subjects, as_of).to_pandas().set_index("subject")
    for column in expected.columns:
        want = expected.loc[subjects, column].astype(float)
        have = got.loc[subjects, column].astype(float)
        assert ((want - have).abs().fillna(0) < 0.01).all() and (
            want.isna() == have.isna()
        ).all(), column
    assert expected.loc[subjects, "bank_late_instalments_24m"].sum() > 0
    # Not a borrower: no repayment history is NULL, not a clean 0.
    others = sorted(set(people) - set(reps.subject) - touched)[:20]
    none = profiled.features([MODULE], others, as_of).to_pandas()
    assert none[[c for c in MODULE.columns if c.startswith("bank_")]].isna().all().all()
