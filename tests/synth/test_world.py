"""The simulated world: realistic enough to mean something, and honest about its truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stdnum.cn import ric, uscc

from purecredit.synth.config import SynthConfig
from purecredit.synth.world import World, build_world, oracle_auc


@pytest.fixture(scope="module")
def county_world() -> World:
    """The default county (10,000 people): the size the issue's oracle band is stated for."""
    return build_world(SynthConfig())


def test_oracle_auc_is_neither_trivial_nor_impossible(county_world: World) -> None:
    assert 0.75 <= oracle_auc(county_world.truth) <= 0.92


def test_base_default_rate_is_within_a_point_of_the_flag(county_world: World) -> None:
    realised = county_world.truth["default_12m"].mean()
    assert abs(realised - 0.06) < 0.01


def test_base_rate_follows_another_flag() -> None:
    world = build_world(SynthConfig(people=6000, default_rate=0.03, seed=5))
    assert abs(world.truth["default_12m"].mean() - 0.03) < 0.01


def test_truth_has_one_row_per_person_and_enterprise(county_world: World) -> None:
    truth = county_world.truth
    assert truth.shape[0] == county_world.persons.shape[0] + county_world.enterprises.shape[0]
    assert truth["entity_key"].is_unique
    assert set(truth["entity_type"]) == {"person", "enterprise"}
    assert truth["true_pd_12m"].between(0, 1).all()
    assert set(truth["default_12m"].unique()) <= {0, 1}


def test_minors_cannot_default(county_world: World) -> None:
    minors = county_world.persons["age"].to_numpy() < 17
    truth = county_world.truth.iloc[: county_world.persons.shape[0]]
    assert truth.loc[minors, "true_pd_12m"].max() == 0
    assert truth.loc[minors, "default_12m"].sum() == 0


def test_defaults_rise_with_latent_risk(county_world: World) -> None:
    truth = county_world.truth[county_world.truth["eligible"]]
    deciles = pd.qcut(truth["latent_z"], 10, labels=False)
    rates = truth.groupby(deciles)["default_12m"].mean().to_numpy()
    assert rates[-1] > 4 * max(rates[0], 0.005)
    assert np.corrcoef(np.arange(10), rates)[0, 1] > 0.8


def test_every_identifier_is_valid(county_world: World) -> None:
    assert all(
        ric.is_valid(i) or _known_region_only(i) for i in county_world.persons["resident_id"]
    )
    assert county_world.persons["resident_id"].is_unique
    codes = county_world.enterprises["uscc"]
    assert codes.is_unique
    assert all(uscc.calc_check_digit(c) == c[-1] for c in codes)
    assert codes.str.startswith("N").any(), (
        "GB 32100 allows letter authorities; the county has some"
    )


def _known_region_only(number: str) -> bool:
    # stdnum rejects region codes that postdate the birth year; the checksum must still hold.
    return ric.calc_check_digit(number) == number[-1]


def test_legal_representatives_and_shareholders_exist(county_world: World) -> None:
    pids = set(county_world.persons["pid"])
    eids = set(county_world.enterprises["eid"])
    assert set(county_world.enterprises["legal_rep_pid"]) <= pids
    holders = county_world.shareholders
    assert set(holders.loc[holders["holder_type"] == "person", "holder_id"]) <= pids
    assert set(holders.loc[holders["holder_type"] == "enterprise", "holder_id"]) <= eids
    shares = holders.groupby("eid")["share_pct"].sum()
    assert np.allclose(shares.to_numpy(), 100.0, atol=0.1)


def test_roles_follow_the_brief(county_world: World) -> None:
    shares = county_world.persons["role"].value_counts(normalize=True)
    assert 0.10 <= shares["herb_farmer"] <= 0.20  # "a million herb farmers" of 6.5 million
    assert shares["herb_trader"] > shares["firm_owner"] > 0
    ent = county_world.enterprises
    assert ent["is_core"].sum() >= 2
    assert (ent["supplier_of"] >= 0).sum() > 0


def test_same_seed_same_world() -> None:
    a = build_world(SynthConfig(people=1500, seed=3))
    b = build_world(SynthConfig(people=1500, seed=3))
    c = build_world(SynthConfig(people=1500, seed=4))
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.persons, b.persons)
    assert not a.persons["resident_id"].equals(c.persons["resident_id"])


def test_divorces_only_end_marriages(county_world: World) -> None:
    from purecredit.synth.lifecourse import DIVORCED, MARRIED, marital_status

    events = county_world.events
    divorced = events.loc[(events["kind"] == "divorce") & (events["entity"] == "person"), "idx"]
    before = marital_status(county_world, -1)
    after = marital_status(county_world, county_world.cal.total - 1)
    first = events[events["kind"].isin(["marriage", "divorce"])].drop_duplicates("idx")
    first_divorce = first.loc[first["kind"] == "divorce", "idx"]
    assert (before[first_divorce.to_numpy()] == MARRIED).all()
    assert (after[divorced.to_numpy()] == DIVORCED).sum() > 0


def test_bank_history_reflects_risk(county_world: World) -> None:
    from purecredit.synth.banking import repayments

    loans = county_world.bank_loans
    rep = repayments(
        loans,
        county_world.keyed(county_world.defaults),
        county_world.keyed(county_world.lates),
        county_world.cal.study_month,
        county_world.config.seed,
    )
    worst = rep.groupby("loan_id")["days_late"].max()
    bad = worst.index[(worst >= 90) | (worst == -1)]
    assert 0.005 < len(bad) / loans.shape[0] < 0.25
    assert set(loans["branch_code"]) <= set(county_world.branches["code"])


def test_pd_history_runs_quarter_by_quarter_to_the_study_month(county_world: World) -> None:
    h = county_world.pd_history
    s = county_world.cal.study_month
    assert h.months.tolist() == list(range(s - 36, s + 1, 3))
    assert h.person.shape == (county_world.persons.shape[0], 13)
    assert h.firm.shape == (county_world.enterprises.shape[0], 13)
    # Minors and inactive firms have no PD; adults and active firms a PD in (0, 1).
    assert (h.person[~h.person_eligible] == 0).all() and (h.firm[~h.firm_eligible] == 0).all()
    assert ((h.person[h.person_eligible] > 0) & (h.person[h.person_eligible] < 1)).all()
    # More adults as minors come of age; the PD moves from quarter to quarter.
    assert (np.diff(h.person_eligible.sum(axis=0)) >= 0).all()
    assert np.abs(np.diff(h.person, axis=1)).mean() > 1e-3


def test_pd_history_at_the_study_month_is_the_truths(county_world: World) -> None:
    truth = county_world.truth
    h = county_world.pd_history
    now = np.concatenate([h.person[:, -1], h.firm[:, -1]])
    assert (now == truth["true_pd_12m"].to_numpy()).all()  # bit for bit
    eligible = np.concatenate([h.person_eligible[:, -1], h.firm_eligible[:, -1]])
    assert (eligible == truth["eligible"].to_numpy()).all()


def test_keeping_the_pd_history_changes_no_draw() -> None:
    """The risk paths and everything drawn after them are those of a world without it."""
    with_history = build_world(SynthConfig(people=400, seed=5))
    without = build_world(SynthConfig(people=400, seed=5, pd_history_months=0))
    assert without.pd_history.months.tolist() == [without.cal.study_month]
    assert (with_history.paths.z_person == without.paths.z_person).all()
    pd.testing.assert_frame_equal(with_history.defaults, without.defaults)
    pd.testing.assert_frame_equal(with_history.truth, without.truth)
