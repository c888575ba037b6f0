"""Market entities: sole traders (个体工商户), small firms and cooperatives, village
collectives, and the few core firms whose supply chains the bank finances.

Each has a valid unified social credit code (GB 32100), a legal representative who exists
among the county's people, and, for firms, shareholders who are people or firms that exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from purecredit.core.identifiers import make_uscc
from purecredit.synth import names
from purecredit.synth.calendar import Calendar
from purecredit.synth.population import Population

TCM_INDUSTRIES = ("planting", "processing", "trading")
OTHER_INDUSTRIES = ("retail", "catering", "services", "manufacturing", "logistics")
# GB 32100 codes: registration authority 9 = market regulation, N = agriculture and rural
# affairs; entity type under 9: 1 enterprise, 2 sole trader, 3 farmers' cooperative; under N:
# 2 village-level collective economic organisation.
KINDS = {
    "sole_trader": ("9", "2"),
    "company": ("9", "1"),
    "cooperative": ("9", "3"),
    "collective": ("N", "2"),
}
CORE_FIRM_SHARE = 0.0002  # core processing/pharma firms per resident (at least two)


def build_enterprises(
    rng: np.random.Generator, cal: Calendar, pop: Population
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (enterprises, shareholders)."""
    persons, hh = pop.persons, pop.households
    role = persons["role"].to_numpy()
    pid = persons["pid"].to_numpy()
    hid = persons["household_id"].to_numpy()
    variety = hh["herb_variety"].to_numpy()[hid]
    parts = [
        _frame(
            pid[role == "herb_trader"], "sole_trader", "trading", variety[role == "herb_trader"]
        ),
    ]
    shop = role == "sole_trader"
    parts.append(
        _frame(pid[shop], "sole_trader", rng.choice(OTHER_INDUSTRIES[:3], int(shop.sum())), -1)
    )
    owners = pid[role == "firm_owner"]
    owners = (
        np.concatenate([owners, rng.choice(owners, int(owners.size * 0.1))])
        if owners.size
        else owners
    )
    tcm = rng.random(owners.size) < 0.65
    industry = np.where(
        tcm, rng.choice(TCM_INDUSTRIES, owners.size), rng.choice(OTHER_INDUSTRIES, owners.size)
    )
    coop = tcm & (industry == "planting") & (rng.random(owners.size) < 0.5)
    firm_variety = np.where(tcm, rng.choice(12, owners.size), -1)
    firms = _frame(owners, "company", industry, firm_variety)
    firms.loc[coop, "kind"] = "cooperative"
    parts.append(firms)
    parts.append(_collectives(rng, pop))
    ent = pd.concat(parts, ignore_index=True)
    ent.insert(0, "eid", np.arange(ent.shape[0]))
    ent = _details(rng, cal, ent, persons, hh)
    ent = _core_firms(rng, ent)
    return ent, _shareholders(rng, ent, persons)


def _frame(legal_rep: np.ndarray, kind: str, industry: object, variety: object) -> pd.DataFrame:
    return pd.DataFrame(
        {"legal_rep_pid": legal_rep, "kind": kind, "industry": industry, "herb_variety": variety}
    )


def _collectives(rng: np.random.Generator, pop: Population) -> pd.DataFrame:
    """One village-level collective economic organisation in about half of the villages."""
    persons, hh = pop.persons, pop.households
    adults = persons[(persons["age"] >= 40) & (persons["age"] <= 65)]
    village = hh["village_code"].to_numpy()[adults["household_id"].to_numpy()]
    first = pd.Series(adults["pid"].to_numpy()).groupby(village).first()
    keep = rng.random(first.size) < 0.5
    return _frame(first.to_numpy()[keep], "collective", "collective", -1)


def _details(
    rng: np.random.Generator,
    cal: Calendar,
    ent: pd.DataFrame,
    persons: pd.DataFrame,
    hh: pd.DataFrame,
) -> pd.DataFrame:
    n = ent.shape[0]
    rep_hh = persons["household_id"].to_numpy()[ent["legal_rep_pid"].to_numpy()]
    region = hh["district_code"].to_numpy()[rep_hh]
    kind = ent["kind"].to_numpy()
    auth = np.array([KINDS[k][0] for k in kind])
    etype = np.array([KINDS[k][1] for k in kind])
    serial = rng.choice(90_000_000, n, replace=False) + 10_000_000
    ent["uscc"] = [
        make_uscc(a, t, r, str(s)) for a, t, r, s in zip(auth, etype, region, serial, strict=True)
    ]
    # Registered before history mostly; about one in six during it (the county keeps growing).
    during = rng.random(n) < 0.16
    reg_month = np.where(during, rng.integers(0, cal.history_months, n), -rng.integers(1, 180, n))
    ent["registered_month"] = reg_month
    scale = {"sole_trader": 0.5, "company": 3.0, "cooperative": 1.0, "collective": 2.0}
    capital = np.exp(rng.normal(np.log(10_000), 0.8, n)) * ent["kind"].map(scale).to_numpy() * 10
    ent["registered_capital"] = np.round(capital, -3)
    ent["employees"] = np.maximum(
        1, np.round(rng.lognormal(np.log(3), 0.8, n) * np.where(kind == "sole_trader", 0.5, 2))
    )
    ent["district_code"] = region
    ent["village_code"] = hh["village_code"].to_numpy()[rep_hh]
    ent["name"] = _names(rng, ent, persons)
    return ent


def _names(rng: np.random.Generator, ent: pd.DataFrame, persons: pd.DataFrame) -> np.ndarray:
    brand = names.brands(rng, ent.shape[0])
    kind = ent["kind"].to_numpy()
    industry = ent["industry"].to_numpy()
    suffix = np.select(
        [
            kind == "sole_trader",
            kind == "cooperative",
            kind == "collective",
            np.isin(industry, TCM_INDUSTRIES),
        ],
        ["中药材经营部", "中药材种植专业合作社", "股份经济合作社", "药业有限公司"],
        "商贸有限公司",
    )
    suffix = np.where((kind == "sole_trader") & (industry != "trading"), "便民商店", suffix)
    return np.char.add(np.char.add("亳州市", brand), suffix)


def _core_firms(rng: np.random.Generator, ent: pd.DataFrame) -> pd.DataFrame:
    """Promote a few processing/trading companies to core firms and link their suppliers."""
    candidates = np.flatnonzero(
        (ent["kind"].to_numpy() == "company")
        & np.isin(ent["industry"].to_numpy(), ["processing", "trading"])
    )
    n_core = max(2, round(CORE_FIRM_SHARE * ent["legal_rep_pid"].nunique() / 0.06))
    core = (
        rng.choice(candidates, min(n_core, candidates.size), replace=False)
        if candidates.size
        else candidates
    )
    is_core = np.zeros(ent.shape[0], dtype=bool)
    is_core[core] = True
    ent["is_core"] = is_core
    ent.loc[is_core, "registered_capital"] *= 50
    ent.loc[is_core, "employees"] *= 30
    supplier = (
        np.isin(ent["industry"].to_numpy(), ["trading", "planting"])
        & ~is_core
        & (rng.random(ent.shape[0]) < 0.6)
    )
    ent["supplier_of"] = np.where(
        supplier & (core.size > 0),
        ent["eid"].to_numpy()[rng.choice(core, ent.shape[0])] if core.size else -1,
        -1,
    )
    return ent


def _shareholders(
    rng: np.random.Generator, ent: pd.DataFrame, persons: pd.DataFrame
) -> pd.DataFrame:
    """Shareholders of companies and cooperatives: the legal representative, usually with
    family members or partners, sometimes a core firm. Shares sum to 100 per firm."""
    firms = ent[ent["kind"].isin(["company", "cooperative"])]
    rows: list[pd.DataFrame] = []
    extra = rng.integers(0, 4, firms.shape[0])
    rep_share = np.where(extra == 0, 100.0, np.round(rng.uniform(40, 90, firms.shape[0]), 1))
    rows.append(
        pd.DataFrame(
            {
                "eid": firms["eid"].to_numpy(),
                "holder_type": "person",
                "holder_id": firms["legal_rep_pid"].to_numpy(),
                "share_pct": rep_share,
            }
        )
    )
    adults = persons["pid"].to_numpy()[persons["age"].to_numpy() >= 20]
    owner_eid = np.repeat(firms["eid"].to_numpy(), extra)
    rest = np.repeat(100.0 - rep_share, extra) / np.repeat(np.maximum(extra, 1), extra)
    cores = ent["eid"].to_numpy()[ent["is_core"].to_numpy()]
    core_holder = rng.choice(cores, owner_eid.size) if cores.size else np.full(owner_eid.size, -1)
    # A core firm sometimes invests in a supplier; never in itself.
    corp = (rng.random(owner_eid.size) < 0.08) & (core_holder >= 0) & (core_holder != owner_eid)
    holder = np.where(corp, core_holder, rng.choice(adults, owner_eid.size))
    rows.append(
        pd.DataFrame(
            {
                "eid": owner_eid,
                "holder_type": np.where(corp, "enterprise", "person"),
                "holder_id": holder,
                "share_pct": np.round(rest, 2),
            }
        )
    )
    out = pd.concat(rows, ignore_index=True)
    return out.sort_values(["eid", "share_pct"], ascending=[True, False], ignore_index=True)
