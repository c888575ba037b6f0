"""The credit bureau's report extracts, checked against the world's ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from purecredit.core.identifiers import parse_resident_id, parse_uscc
from purecredit.synth import bureau
from purecredit.synth.config import SynthConfig
from purecredit.synth.sources import SourceTable
from purecredit.synth.sources import bureau as source
from purecredit.synth.world import World, build_world

EARLIER = 6  # months before the study month of the second report


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(SynthConfig(people=3000, seed=7))


@pytest.fixture(scope="module")
def archive(world: World) -> dict[str, SourceTable]:
    """The extracts as delivered: every report of the archive."""
    return {t.spec.name: t for t in source.tables(world, np.random.default_rng(11))}


@pytest.fixture(scope="module")
def tables(world: World, archive: dict[str, SourceTable]) -> dict[str, SourceTable]:
    """The extracts' reports at the study month."""
    end = np.datetime64(world.cal.month_end(world.cal.study_month))
    return {
        name: SourceTable(t.spec, t.frame[t.frame["report_date"] == end].reset_index(drop=True))
        for name, t in archive.items()
    }


@pytest.fixture(scope="module")
def accounts(world: World, tables: dict[str, SourceTable]) -> pd.DataFrame:
    """The accounts extract with the subject's (entity, idx) and month indices added."""
    frame = tables["credit_bureau_accounts"].frame
    return _subjects(world, frame).assign(
        open_m=_months(world, frame["open_date"]),
        maturity_m=_months(world, frame["maturity_date"]),
        closed_m=_months(world, frame["closed_date"]),
    )


@pytest.fixture(scope="module")
def queries(world: World, tables: dict[str, SourceTable]) -> pd.DataFrame:
    frame = tables["credit_bureau_queries"].frame
    return _subjects(world, frame).assign(month=_months(world, frame["query_date"]))


def _subjects(world: World, frame: pd.DataFrame) -> pd.DataFrame:
    pid = pd.Series(world.persons.index, index=world.persons["resident_id"])
    eid = pd.Series(world.enterprises.index, index=world.enterprises["uscc"])
    person = frame["subject_type"].to_numpy() == "个人"
    idx = np.where(
        person,
        frame["subject_resident_id"].map(pid).fillna(-1),
        frame["subject_uscc"].map(eid).fillna(-1),
    ).astype(int)
    return frame.assign(entity=np.where(person, "person", "firm"), idx=idx)


def _months(world: World, dates: pd.Series) -> np.ndarray:
    """Month index of each date, NEVER where missing."""
    base = np.datetime64(world.cal.month_start(0), "M")
    values = dates.to_numpy().astype("datetime64[M]")
    months = (values - base).astype(np.int64)
    return np.where(dates.isna().to_numpy(), bureau.NEVER, months)


def _first(world: World) -> int:
    return world.cal.study_month - bureau.WINDOW + 1


def _first_defaults(world: World, acc: pd.DataFrame) -> pd.DataFrame:
    """Loan accounts (with a maturity) whose borrower's first default after opening fell while
    the account ran, with that default's month and cure."""
    loans = acc[acc["maturity_m"] < bureau.NEVER].reset_index(names="a")
    hits = loans.merge(world.defaults, on=["entity", "idx"], suffixes=("", "_d"))
    hits = hits[(hits["month"] > hits["open_m"]) & (hits["month"] <= hits["maturity_m"])]
    hits = hits[hits["month"] <= world.cal.study_month]
    return hits.sort_values(["a", "month"]).drop_duplicates("a")


def test_sources_match_their_specs(tables: dict[str, SourceTable]) -> None:
    assert set(tables) == {
        "credit_bureau_accounts",
        "credit_bureau_queries",
        "credit_bureau_public_records",
    }
    for table in tables.values():
        frame, spec = table.frame, table.spec
        assert list(frame.columns) == list(spec.columns)
        assert spec.fmt == "jsonl" and spec.encoding == "utf-8"
        assert not frame[list(spec.key_columns)].isna().any().any()
        assert not frame.duplicated(list(spec.key_columns)).any()
        assert frame.shape[0] > 100


def test_status_strings_are_sixty_chars_of_the_pboc_alphabet(accounts: pd.DataFrame) -> None:
    status = accounts["repayment_status"]
    assert (status.str.len() == bureau.WINDOW).all()
    used = set("".join(status))
    assert used <= set("/N1234567CBDZ")
    assert {"/", "N", "1", "7", "C", "B"} <= used


def test_strings_start_with_slash_exactly_before_opening(
    world: World, accounts: pd.DataFrame
) -> None:
    lead = (
        accounts["repayment_status"].str.len()
        - accounts["repayment_status"].str.lstrip("/").str.len()
    )
    expected = np.clip(accounts["open_m"] - _first(world), 0, None)
    assert (lead.to_numpy() == expected).all()
    assert (expected > 0).mean() > 0.5
    assert "/" not in "".join(accounts["repayment_status"].str.lstrip("/"))


def test_uncured_default_counts_up_from_its_month(world: World, accounts: pd.DataFrame) -> None:
    first = _first(world)
    hits = _first_defaults(world, accounts)
    hits = hits[hits["cure_after"] < 0]
    assert hits.shape[0] >= 20
    for a, d in zip(hits["a"], hits["month"], strict=True):
        tail = str(accounts["repayment_status"].iat[a])[d - first :]
        digits = tail.rstrip("BCDZ")
        periods = "".join(str(min(k, 7)) for k in range(1, len(digits) + 1))
        assert digits == periods, (a, tail)
        rest = tail[len(digits) :]
        if rest:  # the lender resolved it after at least nine periods overdue
            assert len(digits) >= 8 and rest[0] in "BDZ"
            assert set(rest[1:]) <= ({"B"} if rest[0] == "B" else {"C"})


def test_cured_default_returns_to_normal(world: World, accounts: pd.DataFrame) -> None:
    first, last = _first(world), world.cal.study_month
    hits = _first_defaults(world, accounts)
    hits = hits[(hits["cure_after"] >= 0) & (hits["month"] + hits["cure_after"] <= last)]
    assert hits.shape[0] >= 5
    for a, d, c in zip(hits["a"], hits["month"], hits["cure_after"], strict=True):
        status = str(accounts["repayment_status"].iat[a])
        assert status[d - first : d - first + c] == "".join(str(min(k, 7)) for k in range(1, c + 1))
        assert status[d - first + c] in "N1C"


def test_borrowers_without_defaults_or_lates_are_normal(
    world: World, accounts: pd.DataFrame
) -> None:
    troubled = pd.concat([world.defaults, world.lates])
    troubled = troubled[troubled["month"] <= world.cal.study_month]
    key = pd.MultiIndex.from_frame(accounts[["entity", "idx"]])
    clean = ~key.isin(pd.MultiIndex.from_frame(troubled[["entity", "idx"]]))
    assert clean.sum() > 500
    assert set("".join(accounts.loc[clean, "repayment_status"])) <= set("/NC")
    assert (accounts.loc[clean, "overdue_periods"] == 0).all()


def test_a_late_month_shows_one_period(world: World, accounts: pd.DataFrame) -> None:
    first, last = _first(world), world.cal.study_month
    defaulted = pd.MultiIndex.from_frame(world.defaults[["entity", "idx"]])
    late = world.lates[(world.lates["month"] >= first) & (world.lates["month"] <= last)]
    late = late[~pd.MultiIndex.from_frame(late[["entity", "idx"]]).isin(defaulted)]
    hits = accounts.reset_index(names="a").merge(late, on=["entity", "idx"])
    end = np.minimum(hits["maturity_m"], hits["closed_m"])
    hits = hits[(hits["month"] > hits["open_m"]) & (hits["month"] <= end)]
    assert hits.shape[0] > 100
    chars = [s[m - first] for s, m in zip(hits["repayment_status"], hits["month"], strict=True)]
    assert set(chars) == {"1"}


def test_five_category_agrees_with_overdue_days(world: World, accounts: pd.DataFrame) -> None:
    days = accounts["overdue_periods"].to_numpy() * 30
    expected = np.select(
        [days > 360, days > 270, days > 90, days > 0], ["损失", "可疑", "次级", "关注"], "正常"
    )
    expected = np.where(accounts["account_state"] == "呆账", "损失", expected)
    closed = accounts["account_state"].isin(["结清", "销户"]).to_numpy()
    assert accounts.loc[closed, "five_category"].isna().all()
    assert (accounts["five_category"].to_numpy()[~closed] == expected[~closed]).all()
    assert {"正常", "关注", "次级", "损失"} <= set(expected[~closed])


def test_overdue_bands_sum_to_the_overdue_amount(accounts: pd.DataFrame) -> None:
    bands = accounts[["overdue_1_30", "overdue_31_60", "overdue_61_90"]].sum(axis=1)
    bands += accounts[["overdue_91_180", "overdue_over_180"]].sum(axis=1)
    assert np.allclose(bands, accounts["overdue_amount"], atol=0.05)
    assert (accounts.filter(like="overdue_").to_numpy() >= 0).all()
    overdue = accounts["overdue_periods"] > 0
    assert (accounts.loc[overdue, "overdue_amount"] > 0).all()
    assert (accounts.loc[~overdue, "overdue_amount"] == 0).all()
    old = accounts["overdue_periods"] >= 7  # instalments over 180 days overdue exist
    assert (
        accounts.loc[old & (accounts["account_type"] != "贷记卡"), "overdue_over_180"] > 0
    ).all()


def test_current_state_follows_the_last_month(accounts: pd.DataFrame) -> None:
    now = accounts["repayment_status"].str[-1]
    periods = accounts["overdue_periods"]
    digit = now.str.isdigit()
    assert (np.minimum(periods[digit], 7) == now[digit].astype(int)).all()
    assert (periods[now == "N"] == 0).all()
    closed = now.isin(["C", "D", "Z"])
    assert accounts.loc[closed, "account_state"].isin(["结清", "销户"]).all()
    assert (accounts.loc[closed, "balance"] == 0).all()
    assert accounts.loc[closed, "closed_m"].lt(bureau.NEVER).all()
    assert (accounts.loc[now == "B", "account_state"] == "呆账").all()


def test_hard_queries_foretell_defaults(world: World, queries: pd.DataFrame) -> None:
    s = world.cal.study_month
    hard = queries[
        (queries["entity"] == "person")
        & queries["reason_code"].isin(bureau.HARD_REASONS)
        & (queries["month"] > s - 3)
    ]
    distinct = hard.groupby("idx")["institution_code"].nunique()
    count = distinct.reindex(world.persons.index, fill_value=0).to_numpy()
    truth = world.truth[world.truth["entity_type"] == "person"]
    bad = truth["default_12m"].to_numpy() == 1
    adult = world.persons["age"].to_numpy() >= 18
    ratio = count[bad & adult].mean() / count[~bad & adult].mean()
    assert ratio > 1.5, ratio


def test_post_loan_queries_come_from_lenders_of_open_accounts(
    accounts: pd.DataFrame, queries: pd.DataFrame
) -> None:
    post = queries[queries["reason_code"] == "01"].reset_index(names="q")
    assert post.shape[0] > 100
    pairs = post.merge(accounts, on=["entity", "idx", "institution_code"], suffixes=("", "_a"))
    open_then = (pairs["open_m"] <= pairs["month"]) & (pairs["month"] <= pairs["closed_m"])
    assert set(pairs.loc[open_then, "q"]) == set(post["q"])


def test_subjects_are_valid_and_belong_to_the_world(
    world: World, tables: dict[str, SourceTable]
) -> None:
    people = set(world.persons["resident_id"])
    firms = set(world.enterprises["uscc"])
    for table in tables.values():
        frame = table.frame
        person = frame["subject_type"] == "个人"
        ids, usccs = frame["subject_resident_id"], frame["subject_uscc"]
        assert ids[person].notna().all() and ids[~person].isna().all()
        assert usccs[~person].notna().all() and usccs[person].isna().all()
        for value in set(ids.dropna()):
            assert parse_resident_id(value).number == value
        for value in set(usccs.dropna()):
            assert parse_uscc(value).code == value
        assert set(ids.dropna()) <= people and set(usccs.dropna()) <= firms
        assert person.any() and (~person).any()
        # One report per subject, shared by the three extracts.
        assert (frame.groupby("report_no")["subject_name"].nunique() == 1).all()


def test_nothing_after_the_report_date(world: World, tables: dict[str, SourceTable]) -> None:
    end = np.datetime64(world.cal.month_end(world.cal.study_month))
    columns = {
        "credit_bureau_accounts": ("open_date", "closed_date"),
        "credit_bureau_queries": ("query_date",),
        "credit_bureau_public_records": ("record_date",),
    }
    for name, cols in columns.items():
        frame = tables[name].frame
        assert (frame["report_date"] == end).all()
        for col in cols:
            assert (frame[col].dropna() <= end).all(), (name, col)
    start = np.datetime64(world.cal.month_start(world.cal.study_month - bureau.QUERY_MONTHS + 1))
    assert (tables["credit_bureau_queries"].frame["query_date"] >= start).all()


def test_public_records_are_the_worlds_court_events(
    world: World, tables: dict[str, SourceTable]
) -> None:
    frame = _subjects(world, tables["credit_bureau_public_records"].frame)
    got = frame[frame["record_type"] == "强制执行"]
    ev = world.events
    ev = ev[(ev["kind"] == "enforcement") & (ev["month"] <= world.cal.study_month)]
    month = _months(world, got["record_date"])
    assert sorted(zip(got["entity"], got["idx"], month, strict=True)) == sorted(
        zip(ev["entity"], ev["idx"], ev["month"], strict=True)
    )
    listed = frame[frame["record_type"] == "失信被执行人"]
    assert listed.shape[0] > 0 and (frame["record_type"] == "欠税").any()
    assert (frame["amount"] > 0).all()


def test_own_bank_loans_are_reported(world: World, accounts: pd.DataFrame) -> None:
    loans = world.bank_loans[world.bank_loans["start_month"] <= world.cal.study_month]
    own = accounts[accounts["institution_code"] == bureau.OWN_BANK[0]]
    assert set(own["account_no"]) == set(loans["loan_id"])
    merged = own.merge(loans, left_on="account_no", right_on="loan_id")
    assert (merged["open_m"] == merged["start_month"]).all()
    assert (merged["loan_amount"] == merged["amount"]).all()


def test_an_earlier_report_is_continued_by_the_later(world: World, accounts: pd.DataFrame) -> None:
    last = world.cal.study_month - EARLIER
    earlier = source.tables(world, np.random.default_rng(11), last_month=last)
    before = next(t.frame for t in earlier if t.spec.name == "credit_bureau_accounts")
    assert (before["report_date"] == np.datetime64(world.cal.month_end(last))).all()
    assert (before["open_date"] <= np.datetime64(world.cal.month_end(last))).all()
    pairs = before.merge(accounts, on="account_no", suffixes=("_then", ""))
    # The later report lists the accounts opened in its own 60 months.
    still = _months(world, before["open_date"]) >= _first(world)
    assert pairs.shape[0] == still.sum() > 0.8 * before.shape[0]
    then = pairs["repayment_status_then"].str[EARLIER:]
    now = pairs["repayment_status"].str[: bureau.WINDOW - EARLIER]
    assert (then == now).all()


# --- the report archive ---------------------------------------------------------------------


def test_the_archive_holds_a_report_every_six_months(
    world: World, archive: dict[str, SourceTable]
) -> None:
    s = world.cal.study_month
    assert bureau.report_months(world) == [s - 36, s - 30, s - 24, s - 18, s - 12, s - 6, s]
    dates = {np.datetime64(world.cal.month_end(t), "ns") for t in bureau.report_months(world)}
    for table in archive.values():
        assert table.spec.monthly_by == "report_date"
        assert set(table.frame["report_date"].to_numpy()) == dates, table.spec.name


def test_an_earlier_month_is_cut_from_a_shorter_history() -> None:
    """No report before the first month of history; fewer when the history is short."""
    world = build_world(SynthConfig(people=300, seed=3, months=36, bureau_report_every=12))
    assert bureau.report_months(world) == [11, 23, 35]
    world = build_world(SynthConfig(people=300, seed=3, bureau_report_history=0))
    assert bureau.report_months(world) == [world.cal.study_month]


def test_report_numbers_name_one_subject_at_one_date(archive: dict[str, SourceTable]) -> None:
    heads = pd.concat(
        [
            t.frame[["report_no", "report_date", "subject_resident_id", "subject_uscc"]]
            for t in archive.values()
        ]
    )
    heads = heads.assign(subject=heads["subject_resident_id"].fillna(heads["subject_uscc"]))
    heads = heads.drop_duplicates(["report_no", "report_date", "subject"])
    assert not heads["report_no"].duplicated().any()  # one subject and date per number
    assert not heads.duplicated(["subject", "report_date"]).any()  # one number per report
    stamp = heads["report_date"].dt.strftime("%Y%m%d")
    assert (heads["report_no"].str[:8] == stamp).all()
    assert heads["report_no"].str.fullmatch(r"[0-9]{18}").all()


def test_successive_reports_tell_one_history(world: World, archive: dict[str, SourceTable]) -> None:
    """An account in two reports has the same terms, and the earlier report's 60 months,
    aligned by status_from, are the later one's on every month both cover (the earlier
    report's last month included: nothing it showed is revised)."""
    acc = archive["credit_bureau_accounts"].frame
    months = bureau.report_months(world)
    reports = {t: acc[acc["report_date"] == np.datetime64(world.cal.month_end(t))] for t in months}
    compared = 0
    for k, early in enumerate(months[:-1]):
        for late in months[k + 1 :]:
            gap = late - early
            then, now = reports[early], reports[late]
            pairs = then.merge(now, on="account_no", suffixes=("_then", ""))
            # Every account of the earlier report opened in the later one's window is in it.
            opened = _months(world, then["open_date"])
            assert pairs.shape[0] == (opened > late - bureau.WINDOW).sum()
            shift = (pairs["status_from"] - pairs["status_from_then"]).dt.days
            assert (shift // 28 >= gap - 1).all() and (shift // 31 <= gap).all()
            for col in ("open_date", "account_type", "institution_code", "term_months"):
                left, right = pairs[f"{col}_then"], pairs[col]
                assert (left.isna() & right.isna() | (left == right)).all(), col
            assert (pairs["loan_amount_then"].fillna(-1) == pairs["loan_amount"].fillna(-1)).all()
            before = pairs["repayment_status_then"].str[gap:]
            after = pairs["repayment_status"].str[: bureau.WINDOW - gap]
            assert (before == after).all(), (early, late)
            compared += pairs.shape[0]
    assert compared > 10_000


def test_a_report_at_an_earlier_date_is_the_archives(
    world: World, archive: dict[str, SourceTable]
) -> None:
    """Cutting one report with the same generator gives the archive's accounts there."""
    last = world.cal.study_month - 12
    alone = source.tables(world, np.random.default_rng(11), last_month=last)
    accounts = next(t.frame for t in alone if t.spec.name == "credit_bureau_accounts")
    acc = archive["credit_bureau_accounts"].frame
    kept = acc[acc["report_date"] == np.datetime64(world.cal.month_end(last))]
    cols = ["account_no", "open_date", "balance", "overdue_periods", "repayment_status"]
    left = accounts[cols].sort_values("account_no", ignore_index=True)
    right = kept[cols].sort_values("account_no", ignore_index=True)
    pd.testing.assert_frame_equal(left, right)


def test_public_records_keep_their_filing_across_reports(
    world: World, archive: dict[str, SourceTable]
) -> None:
    rec = archive["credit_bureau_public_records"].frame
    key = ["subject_resident_id", "subject_uscc", "record_type", "record_no"]
    by_record = rec.groupby(key, dropna=False)
    filing = by_record[["record_date", "amount", "authority"]].nunique()
    assert (filing == 1).all().all()  # a later report repeats an earlier record's filing
    later = by_record["report_date"].nunique()
    assert (later > 1).mean() > 0.5
