"""The government sources, checked against the world they are views of."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from stdnum.cn import ric, uscc

from purecredit.synth.config import SynthConfig
from purecredit.synth.sources import SourceTable, government
from purecredit.synth.sourcespec import SourceSpec
from purecredit.synth.world import World, build_world

SOURCES = {
    "enterprise_registry",
    "enterprise_shareholders",
    "electronic_licences",
    "court_enforcement",
    "dishonest_debtors",
    "property_registry",
    "property_seizures",
    "marriage_registry",
    "medical_serious_illness",
    "social_security",
}
_RIC = re.compile(r"^\d{17}[\dX]$")
_USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(SynthConfig(people=3000, seed=7))


@pytest.fixture(scope="module")
def tables(world: World) -> dict[str, SourceTable]:
    return {t.spec.name: t for t in government.tables(world, np.random.default_rng(11))}


@pytest.fixture(scope="module")
def earlier(world: World) -> dict[str, SourceTable]:
    """The same sources delivered a year earlier."""
    last = world.cal.study_month - 12
    out = government.tables(world, np.random.default_rng(11), last_month=last)
    return {t.spec.name: t for t in out}


def _frame(tables: dict[str, SourceTable], name: str) -> pd.DataFrame:
    return tables[name].frame


def _end(world: World, last: int) -> np.datetime64:
    return np.datetime64(world.cal.month_end(last))


def _valid_id(value: str) -> bool:
    # GB 11643 check digit via stdnum (its validate() rejects Bozhou's post-2000 region codes).
    return bool(_RIC.match(value)) and ric.calc_check_digit(value) == value[17]


def _valid_uscc(value: str) -> bool:
    return bool(_USCC.match(value)) and uscc.calc_check_digit(value[:17]) == value[17]


def _pid_of(world: World) -> pd.Series:
    return pd.Series(world.persons["pid"].to_numpy(), index=world.persons["resident_id"])


def test_every_source_has_a_valid_spec_and_exactly_its_columns(
    tables: dict[str, SourceTable],
) -> None:
    assert set(tables) == SOURCES
    for name, table in tables.items():
        assert isinstance(table.spec, SourceSpec)
        assert list(table.frame.columns) == list(table.spec.columns), name
        assert len(table.frame) > 0, name
        keys = table.frame[list(table.spec.key_columns)]
        assert keys.notna().all().all(), name
        assert not keys.duplicated().any(), name
        for column in table.spec.date_columns:
            assert pd.api.types.is_datetime64_any_dtype(table.frame[column]), (name, column)
        required = set(table.spec.columns) - set(table.spec.nullable_columns)
        assert table.frame[sorted(required)].notna().all().all(), name


def test_gbk_sources_encode_in_gbk(tables: dict[str, SourceTable]) -> None:
    for table in tables.values():
        if table.spec.encoding != "gbk":
            continue
        for column in table.frame.columns:
            if pd.api.types.is_string_dtype(table.frame[column]):
                text = "".join(table.frame[column].dropna().unique())
                text.encode("gbk")


def test_resident_ids_are_valid_and_belong_to_the_world(
    world: World, tables: dict[str, SourceTable]
) -> None:
    people = set(world.persons["resident_id"])
    outsiders = government.outside_spouses(world)
    assert not people & set(outsiders["resident_id"])
    for name, table in tables.items():
        known = people | set(outsiders["resident_id"]) if name == "marriage_registry" else people
        columns = table.spec.id_columns
        assert not columns or table.frame[list(columns)].notna().any().any(), name
        for column in columns:
            ids = table.frame[column].dropna()
            assert all(_valid_id(v) for v in ids.unique()), (name, column)
            assert set(ids) <= known, (name, column)
    assert all(_valid_id(v) for v in outsiders["resident_id"])


def test_usccs_are_valid_and_belong_to_the_world(
    world: World, tables: dict[str, SourceTable]
) -> None:
    firms = set(world.enterprises["uscc"])
    for name, table in tables.items():
        columns = table.spec.uscc_columns
        assert not columns or table.frame[list(columns)].notna().any().any(), name
        for column in columns:
            codes = table.frame[column].dropna()
            assert all(_valid_uscc(v) for v in codes.unique()), (name, column)
            assert set(codes) <= firms, (name, column)


def test_no_record_is_dated_after_the_last_month(
    world: World, tables: dict[str, SourceTable], earlier: dict[str, SourceTable]
) -> None:
    for delivered, last in ((tables, world.cal.study_month), (earlier, world.cal.study_month - 12)):
        for name, table in delivered.items():
            for column in table.spec.date_columns:
                if name == "electronic_licences" and column == "expires_on":
                    continue  # an expiry date is a promise about the future, not a fact
                assert (table.frame[column].dropna() <= _end(world, last)).all(), (name, column)


def test_a_later_delivery_keeps_what_an_earlier_one_said(
    tables: dict[str, SourceTable], earlier: dict[str, SourceTable]
) -> None:
    for name in ("court_enforcement", "property_registry", "marriage_registry", "social_security"):
        keys = list(tables[name].spec.key_columns)
        fixed = [c for c in tables[name].spec.columns if c not in ("status", "closed_on")]
        before = earlier[name].frame[fixed]
        after = tables[name].frame[fixed].merge(before[keys], on=keys)
        assert len(before) < len(tables[name].frame), name
        pd.testing.assert_frame_equal(
            before.sort_values(keys, ignore_index=True),
            after.sort_values(keys, ignore_index=True),
            check_dtype=False,
        )


def test_registry_shows_enterprises_registered_by_the_last_month(
    world: World, tables: dict[str, SourceTable]
) -> None:
    ent, last = world.enterprises, world.cal.study_month
    registry = _frame(tables, "enterprise_registry").set_index("uscc")
    assert set(registry.index) == set(ent.loc[ent["registered_month"] <= last, "uscc"])
    reps = world.persons["resident_id"].to_numpy()[ent["legal_rep_pid"].to_numpy()]
    expected = pd.Series(reps, index=ent["uscc"]).reindex(registry.index)
    assert (registry["legal_rep_id"] == expected).all()
    ev = world.events
    gone = ev[(ev["kind"] == "deregistration") & (ev["month"] <= last)]
    closed = registry.index[registry["status"] != "存续"]
    assert set(closed) == set(ent["uscc"].to_numpy()[gone["idx"]])
    assert registry.loc[closed, "closed_on"].notna().all()
    assert (registry.loc[closed, "closed_on"] > registry.loc[closed, "registered_on"]).all()
    assert set(registry["entity_type"]) <= set(government.KIND_ZH.values())


def test_shareholders_are_the_worlds(world: World, tables: dict[str, SourceTable]) -> None:
    holders = _frame(tables, "enterprise_shareholders")
    ent, pid_of = world.enterprises, _pid_of(world)
    eid_of = pd.Series(ent["eid"].to_numpy(), index=ent["uscc"])
    person = holders["holder_type"] == "自然人"
    assert holders.loc[person, "holder_id"].notna().all()
    assert holders.loc[~person, "holder_uscc"].notna().all()
    got = set(
        zip(
            eid_of[holders["uscc"]].to_numpy(),
            np.where(person, "person", "enterprise"),
            np.where(
                person,
                pid_of.reindex(holders["holder_id"]).fillna(-1).to_numpy(),
                eid_of.reindex(holders["holder_uscc"]).fillna(-1).to_numpy(),
            ).astype(int),
            strict=True,
        )
    )
    sh = world.shareholders
    truth = set(zip(sh["eid"], sh["holder_type"], sh["holder_id"], strict=True))
    assert got <= truth
    total = sh.groupby("eid")["share_pct"].sum()
    delivered = holders.groupby("uscc")["share_pct"].sum()
    assert np.allclose(delivered, total.loc[eid_of[delivered.index]].to_numpy(), atol=0.05)


def test_licences_go_to_herb_businesses_and_shops_and_are_renewed(
    world: World, tables: dict[str, SourceTable]
) -> None:
    lic = _frame(tables, "electronic_licences")
    ent = world.enterprises.set_index("uscc")
    kind = ent.loc[lic["holder_uscc"], "kind"].to_numpy()
    industry = ent.loc[lic["holder_uscc"], "industry"].to_numpy()
    herb = lic["licence_type"].to_numpy() == "中药材经营备案凭证"
    assert ((kind[herb] == "sole_trader") & (industry[herb] == "trading")).all()
    drug = lic["licence_type"].str.startswith("药品").to_numpy()
    assert ((kind[drug] == "company") & np.isin(industry[drug], ["processing", "trading"])).all()
    assert (lic["expires_on"] > lic["issued_on"]).all()
    gsp = lic[lic["licence_type"] == government.LICENCE_TYPES["gsp"][0]]
    assert len(gsp) > 0 and (gsp["issued_on"] < pd.Timestamp(government.GSP_ABOLISHED)).all()
    assert (lic["status"] == "过期").any() and (lic["status"] == "有效").any()
    # Renewals: some holder has two licences of one type, the second issued after the first.
    chains = lic.groupby(["holder_uscc", "licence_type"])["issued_on"].agg(["size", "min", "max"])
    renewed = chains[chains["size"] > 1]
    assert len(renewed) > 0 and (renewed["max"] > renewed["min"]).all()


def test_enforcement_cases_match_the_worlds_events(
    world: World, tables: dict[str, SourceTable]
) -> None:
    cases = _frame(tables, "court_enforcement")
    ev = world.events
    ev = ev[(ev["kind"] == "enforcement") & (ev["month"] <= world.cal.study_month)]
    assert len(cases) == len(ev)
    people = ev.loc[ev["entity"] == "person", "idx"]
    expected = world.persons["resident_id"].to_numpy()[people].tolist()
    assert sorted(cases["debtor_id"].dropna()) == sorted(expected)
    firms = world.enterprises["uscc"].to_numpy()[ev.loc[ev["entity"] == "firm", "idx"]]
    assert sorted(cases["debtor_uscc"].dropna()) == sorted(firms.tolist())
    assert (cases["debtor_id"].isna() != cases["debtor_uscc"].isna()).all()
    assert cases["case_no"].str.match(r"^\(\d{4}\)皖16\d{2}执\d+号$").all()
    closed = cases["status"] != "执行中"
    assert (cases["closed_on"].notna() == closed).all()
    assert (cases.loc[closed, "closed_on"] > cases.loc[closed, "filed_on"]).all()
    assert (cases.loc[cases["debtor_uscc"].notna(), "amount"].median()) > (
        cases.loc[cases["debtor_id"].notna(), "amount"].median()
    )


def test_dishonest_listings_name_a_case_of_the_debtor(
    world: World, tables: dict[str, SourceTable]
) -> None:
    listed = _frame(tables, "dishonest_debtors")
    ev = world.events
    ev = ev[(ev["kind"] == "dishonest") & (ev["month"] <= world.cal.study_month)]
    assert 0 < len(listed) <= len(ev)
    cases = _frame(tables, "court_enforcement").set_index("case_no")
    local = listed[listed["case_no"].isin(cases.index)]
    assert len(local) > len(listed) / 2
    case = cases.loc[local["case_no"]]
    same = np.where(
        local["debtor_id"].notna(),
        local["debtor_id"].to_numpy() == case["debtor_id"].to_numpy(),
        local["debtor_uscc"].to_numpy() == case["debtor_uscc"].to_numpy(),
    )
    assert same.all()
    assert (local["published_on"].to_numpy() >= case["filed_on"].to_numpy()).all()
    away = listed[~listed["case_no"].isin(cases.index)]
    assert (
        ~away["court"].str.startswith("亳州市")
        & ~away["court"].str[:3].isin(["涡阳县", "蒙城县", "利辛县"])
    ).all()
    removed = listed["removed_on"].notna()
    assert (listed.loc[removed, "removed_on"] > listed.loc[removed, "published_on"]).all()
    assert set(listed["circumstance"]) <= set(government.CIRCUMSTANCES)


def test_properties_belong_to_owners(world: World, tables: dict[str, SourceTable]) -> None:
    props = _frame(tables, "property_registry")
    owners = set(world.persons["resident_id"].to_numpy()[world.owns_property])
    assert set(props["owner_id"]) == owners
    assert (props["unit_no"].str.len() == 28).all()
    assert props["unit_no"].str.match(r"^\d{12}(GB|JC)\d{5}F\d{8}$").all()
    counts = props.groupby("owner_id").size()
    assert counts.max() <= 3 and (counts > 1).any() and (counts == 1).mean() > 0.5
    assert set(props["use"]) == {"住宅", "商业"}


def test_seizures_only_on_properties_of_their_owners(
    world: World, tables: dict[str, SourceTable]
) -> None:
    seized = _frame(tables, "property_seizures")
    props = _frame(tables, "property_registry").set_index("unit_no")
    assert seized["unit_no"].isin(props.index).all()
    unit = props.loc[seized["unit_no"]]
    assert (unit["registered_on"].to_numpy() < seized["seized_on"].to_numpy()).all()
    ev = world.events
    ev = ev[(ev["kind"] == "seizure") & (ev["month"] <= world.cal.study_month)]
    assert len(seized) == len(ev)
    events = set(zip(world.persons["resident_id"].to_numpy()[ev["idx"]], ev["month"], strict=True))
    month = [world.cal.month_of(d.date()) for d in seized["seized_on"]]
    assert set(zip(unit["owner_id"], month, strict=True)) <= events
    assert seized["authority"].str.endswith("人民法院").all()
    released = seized["released_on"].notna()
    assert 0 < released.sum() < len(seized)
    gap = (seized.loc[released, "released_on"] - seized.loc[released, "seized_on"]).dt.days
    assert gap.between(5 * 30, 19 * 31).all()


def test_marriage_registrations_match_couples_and_events(
    world: World, tables: dict[str, SourceTable]
) -> None:
    regs = _frame(tables, "marriage_registry")
    cal, pid_of = world.cal, _pid_of(world)
    outsiders = government.outside_spouses(world).set_index("resident_id")
    assert (regs["man_id"].str[16].astype(int) % 2 == 1).all()
    assert (regs["woman_id"].str[16].astype(int) % 2 == 0).all()
    assert (regs["man_id"].isin(pid_of.index) | regs["woman_id"].isin(pid_of.index)).all()
    # An outside spouse is married to (or divorcing) the county person declared as partner.
    for side, other in (("man_id", "woman_id"), ("woman_id", "man_id")):
        away = regs[~regs[side].isin(pid_of.index)]
        partner = outsiders.loc[away[side], "partner"].to_numpy()
        assert (pid_of[away[other]].to_numpy() == partner).all()
    ev = world.events
    ev = ev[ev["kind"].isin(["marriage", "divorce"]) & (ev["month"] <= cal.study_month)]
    month = np.array([cal.month_of(d.date()) for d in regs["registered_on"]])
    recent = regs[month >= 0]
    for kind, label in (("marriage", "结婚登记"), ("divorce", "离婚登记")):
        rows = recent[recent["kind"] == label]
        parties = set(rows["man_id"]) | set(rows["woman_id"])
        drawn = world.persons["resident_id"].to_numpy()[ev.loc[ev["kind"] == kind, "idx"]]
        assert set(drawn) <= parties, kind
        assert len(rows) <= len(drawn), kind
    old = regs[month < 0]
    assert len(old) > 0 and (old["kind"] == "结婚登记").all()
    husbands = world.spouse[pid_of[old["man_id"]].to_numpy()]
    assert (husbands == pid_of[old["woman_id"]].to_numpy()).all()


def test_medical_claims_follow_illness_events(world: World, tables: dict[str, SourceTable]) -> None:
    claims = _frame(tables, "medical_serious_illness")
    cal, pid_of = world.cal, _pid_of(world)
    ev = world.events[world.events["kind"] == "illness"]
    first = ev.groupby("idx")["month"].min()
    pid = pid_of[claims["resident_id"]].to_numpy()
    assert set(pid) <= set(first.index)
    admitted = np.array([cal.month_of(d.date()) for d in claims["admitted_on"]])
    assert (admitted >= first.loc[pid].to_numpy()).all()
    assert (claims["settled_on"] > claims["admitted_on"]).all()
    assert (claims["reimbursed"] < claims["total_cost"]).all()
    assert set(claims["disease"]) <= set(government.DISEASES)


def test_social_security_only_in_months_employed(
    world: World, tables: dict[str, SourceTable]
) -> None:
    rows = _frame(tables, "social_security")
    cal, pid_of = world.cal, _pid_of(world)
    month = (rows["month"].dt.year - cal.month_start(0).year) * 12 + rows["month"].dt.month - 1
    month = month.to_numpy() - (cal.month_start(0).month - 1)
    pid = pid_of[rows["resident_id"]].to_numpy()
    staff = (rows["insurance"] == "职工基本养老保险").to_numpy()
    assert staff.sum() > 0 and (~staff).sum() > 0
    assert world.paths.employed[pid[staff], month[staff]].all()
    assert (rows.loc[staff, "employer_amount"] > rows.loc[staff, "employee_amount"]).all()
    in_county = rows.loc[staff, "employer_uscc"].notna().mean()
    assert 0.4 < in_county < 0.8
    residents = rows[~staff]
    assert (residents["month"].dt.month == 12).all()
    assert (world.persons["role"].to_numpy()[pid[~staff]] != "salaried").all()
    assert set(residents["employee_amount"]) <= set(government.RESIDENT_GRADES.astype(float))
    # Grades rise with income and fall with poor payment habits.
    res_pid = pid[~staff]
    grade = residents["employee_amount"].to_numpy()
    assert np.corrcoef(np.log(world.income[res_pid]), grade)[0, 1] > 0.2
    assert np.corrcoef(world.character[res_pid], grade)[0, 1] < 0
