"""The simulated county as one object: who lives there, what happens to them month by month,
and who defaults. Sources are views of this world; the truth is written apart from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.stats import mannwhitneyu

from purecredit.synth import banking, risk
from purecredit.synth.calendar import Calendar
from purecredit.synth.config import SynthConfig
from purecredit.synth.enterprises import build_enterprises
from purecredit.synth.population import Population, build_population, monthly_income_base
from purecredit.synth.prices import herb_prices, price_deviation
from purecredit.synth.reference import Reference, load_reference

# Lasting risk by livelihood, in log-odds (wage earners steadier, traders more exposed).
ROLE_RISK = {
    "herb_farmer": 0.15,
    "herb_trader": 0.25,
    "sole_trader": 0.15,
    "firm_owner": 0.0,
    "salaried": -0.35,
    "other": 0.3,
    "retired": -0.1,
    "minor": 0.0,
}
KIND_RISK = {"sole_trader": 0.1, "company": 0.0, "cooperative": 0.1, "collective": -0.6}
PROPERTY_OWNER_SHARE = 0.55
CURE_P = 0.25  # share of defaults whose arrears are repaid 4-8 months later
CONSEQUENCE_P = {"enforcement": 0.25, "seizure": 0.15, "dishonest": 0.3}


PD_HISTORY_STEP = 3  # months between the dates of the PD history (quarter ends)


@dataclass(frozen=True)
class PdHistory:
    """True 12-month PD of every person and firm at each month of ``months`` (ascending, the
    study month last), as the truth's borrowers table has it at the study month: ``person``
    (people, months) and ``firm`` (firms, months), 0 where not eligible then."""

    months: np.ndarray
    person: np.ndarray
    firm: np.ndarray
    person_eligible: np.ndarray  # bool (people, months): adult
    firm_eligible: np.ndarray  # bool (firms, months): active


def pd_history_months(cal: Calendar, months: int, step: int = PD_HISTORY_STEP) -> list[int]:
    """Month indices of the PD history: the study month and every ``step`` months before it,
    back ``months`` months, none before the first month of history; ascending."""
    s = cal.study_month
    return sorted(s - k * step for k in range(months // step + 1) if s - k * step >= 0)


@dataclass
class World:
    config: SynthConfig
    ref: Reference
    cal: Calendar
    pop: Population
    enterprises: pd.DataFrame
    shareholders: pd.DataFrame
    prices: np.ndarray
    income: np.ndarray  # monthly income base per person, CNY
    character: np.ndarray  # hidden trait per person (drives payment habits)
    firm_character: np.ndarray
    owns_property: np.ndarray
    spouse: np.ndarray  # pid of the spouse living in the same household at month 0, or -1
    paths: risk.RiskPaths
    person_eligible: np.ndarray  # bool (people, months): adult, can default
    intercepts: dict[str, float]
    defaults: pd.DataFrame  # entity, idx, month, cure_after (months until arrears repaid, -1 never)
    lates: pd.DataFrame  # entity, idx, month: minor lateness
    events: pd.DataFrame  # every event, life events and consequences of defaults
    truth: pd.DataFrame
    branches: pd.DataFrame  # the county bank's organisation
    bank_loans: pd.DataFrame  # loans the bank made before the study date
    pd_history: PdHistory  # true 12-month PDs at quarter ends up to the study month (truth)

    @property
    def persons(self) -> pd.DataFrame:
        return self.pop.persons

    @property
    def households(self) -> pd.DataFrame:
        return self.pop.households

    def keys(self, entity: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Resident ID or USCC of (entity, idx) pairs."""
        person = entity == "person"
        return np.where(
            person,
            self.persons["resident_id"].to_numpy()[np.where(person, idx, 0)],
            self.enterprises["uscc"].to_numpy()[np.where(person, 0, idx)],
        )

    def keyed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """An (entity, idx, ...) event table with the borrower key added as ``key``."""
        return frame.assign(key=self.keys(frame["entity"].to_numpy(), frame["idx"].to_numpy()))


def build_world(config: SynthConfig) -> World:
    """Simulate the county; deterministic in ``config`` (the seed included)."""
    ref = load_reference(config.reference)
    cal = Calendar(config.study_date, config.months, config.horizon_months)
    rng = np.random.default_rng(config.seed)
    pop = build_population(rng, ref, cal, config.people)
    ent, holders = build_enterprises(rng, cal, pop)
    prices = herb_prices(rng, ref, cal)
    persons, hh = pop.persons, pop.households
    n = persons.shape[0]
    income = monthly_income_base(rng, persons)
    character = rng.normal(0, 1, n)
    firm_character = rng.normal(0, 1, ent.shape[0])
    owns = rng.random(n) < np.where(persons["age"].to_numpy() >= 25, PROPERTY_OWNER_SHARE, 0.0)
    spouse = _spouses(persons)
    inputs = _risk_inputs(persons, hh, ent, income, character, firm_character, owns, spouse, cal)
    history_months = pd_history_months(cal, config.pd_history_months)
    paths = risk.simulate(rng, cal, inputs, price_deviation(prices), history_months)
    months_to_adult = np.ceil((18 - persons["age"].to_numpy()) * 12).astype(int)
    adult_from = cal.study_month + months_to_adult
    eligible = np.arange(cal.total)[None, :] >= adult_from[:, None]
    a_person = risk.calibrate_intercept(
        config.default_rate, paths.person_state, eligible[:, cal.study_month]
    )
    firm_ok = paths.firm_active[:, cal.study_month]
    a_firm = risk.calibrate_intercept(config.default_rate, paths.firm_state, firm_ok)
    p_idx, p_month = risk.draw_monthly(rng, paths.z_person, a_person, eligible)
    f_idx, f_month = risk.draw_monthly(rng, paths.z_firm, a_firm, paths.firm_active)
    defaults = pd.concat(
        [
            pd.DataFrame({"entity": "person", "idx": p_idx, "month": p_month}),
            pd.DataFrame({"entity": "firm", "idx": f_idx, "month": f_month}),
        ],
        ignore_index=True,
    )
    # Some defaulters pay their arrears back after a few months; most never do.
    cures = rng.random(defaults.shape[0]) < CURE_P
    defaults["cure_after"] = np.where(cures, rng.integers(4, 9, defaults.shape[0]), -1)
    lp, lm = risk.draw_monthly(rng, paths.z_person, risk.LATE_INTERCEPT + 0.0, eligible)
    lf, lfm = risk.draw_monthly(rng, paths.z_firm, risk.LATE_INTERCEPT, paths.firm_active)
    lates = pd.concat(
        [
            pd.DataFrame({"entity": "person", "idx": lp, "month": lm}),
            pd.DataFrame({"entity": "firm", "idx": lf, "month": lfm}),
        ],
        ignore_index=True,
    )
    events = pd.concat(
        [paths.events, _consequences(rng, defaults, owns, cal.total)], ignore_index=True
    )
    events = events.sort_values(["month", "entity", "idx", "kind"], ignore_index=True)
    truth = _truth(cal, persons, ent, paths, eligible, firm_ok, a_person, a_firm, defaults)
    pd_history = _pd_history(history_months, paths, eligible, a_person, a_firm)
    bank_loans = banking.history_loans(
        rng,
        cal,
        ref,
        persons,
        ent,
        paths.z_person,
        paths.z_firm,
        paths.firm_active,
        income,
        a_person,
    )
    return World(
        config=config,
        ref=ref,
        cal=cal,
        pop=pop,
        enterprises=ent,
        shareholders=holders,
        prices=prices,
        income=income,
        character=character,
        firm_character=firm_character,
        owns_property=owns,
        spouse=spouse,
        paths=paths,
        person_eligible=eligible,
        intercepts={"person": a_person, "firm": a_firm},
        defaults=defaults,
        lates=lates,
        events=events,
        truth=truth,
        branches=banking.branches(ref),
        bank_loans=bank_loans,
        pd_history=pd_history,
    )


def _risk_inputs(
    persons: pd.DataFrame,
    hh: pd.DataFrame,
    ent: pd.DataFrame,
    income: np.ndarray,
    character: np.ndarray,
    firm_character: np.ndarray,
    owns: np.ndarray,
    spouse: np.ndarray,
    cal: Calendar,
) -> risk.RiskInputs:
    role = persons["role"].to_numpy()
    age = persons["age"].to_numpy()
    role_median = persons["role"].map({"minor": 1.0}).fillna(0).to_numpy()
    rel_income = np.log(
        np.maximum(income, 1)
        / np.maximum(pd.Series(income).groupby(role).transform("median").to_numpy(), 1)
    )
    mu = (
        1.05 * character
        + persons["role"].map(ROLE_RISK).to_numpy()
        + np.where(age < 25, 0.3, 0.0)
        + np.where(age > 60, 0.15, 0.0)
        - 0.3 * np.where(role_median > 0, 0.0, rel_income)
    )
    variety = hh["herb_variety"].to_numpy()[persons["household_id"].to_numpy()]
    herb = np.where(np.isin(role, ["herb_farmer", "herb_trader"]), variety, -1)
    rel = persons["relation"].to_numpy()
    married = (
        np.isin(rel, ["head", "spouse"])
        & (hh["size"].to_numpy()[persons["household_id"].to_numpy()] > 1)
        & (age >= 22)
    )
    kind = ent["kind"].to_numpy()
    firm_age = cal.study_month - ent["registered_month"].to_numpy()
    fmu = (
        0.9 * firm_character
        + ent["kind"].map(KIND_RISK).to_numpy()
        + np.where(firm_age < 24, 0.3, 0.0)
        - 0.15 * np.log(ent["employees"].to_numpy())
        - 0.8 * ent["is_core"].to_numpy()
    )
    tcm_herb = ent["herb_variety"].to_numpy().astype(int)
    return risk.RiskInputs(
        person_mu=mu,
        person_herb=herb.astype(int),
        person_alive_from=cal.study_month + np.ceil((18 - age) * 12).astype(int),
        person_spouse=spouse,
        person_single_marriageable=(age >= 22) & (age <= 45) & ~married,
        person_salaried=role == "salaried",
        person_owns_property=owns,
        firm_mu=fmu,
        firm_herb=tcm_herb,
        firm_rep=ent["legal_rep_pid"].to_numpy(),
        firm_registered=ent["registered_month"].to_numpy(),
        firm_dissolvable=~np.isin(kind, ["collective"]) & ~ent["is_core"].to_numpy(),
    )


def _spouses(persons: pd.DataFrame) -> np.ndarray:
    """Pair the head and spouse of each household: the couples living together at month 0."""
    rel = persons["relation"].to_numpy()
    married = persons["age"].to_numpy() >= 20
    hid = persons["household_id"].to_numpy()
    pid = persons["pid"].to_numpy()
    head = np.full(int(hid.max()) + 1, -1)
    wife = np.full(int(hid.max()) + 1, -1)
    head[hid[(rel == "head") & married]] = pid[(rel == "head") & married]
    wife[hid[(rel == "spouse") & married]] = pid[(rel == "spouse") & married]
    out = np.full(pid.size, -1)
    couple = (head >= 0) & (wife >= 0)
    out[head[couple]] = wife[couple]
    out[wife[couple]] = head[couple]
    return out


def _consequences(
    rng: np.random.Generator, defaults: pd.DataFrame, owns: np.ndarray, horizon: int
) -> pd.DataFrame:
    """Court enforcement, seizures and dishonest-debtor listings that follow a default by
    3 to 9 months (creditors sue, courts act), as public records do."""
    rows = []
    for kind in ("enforcement", "seizure"):
        hit = defaults[rng.random(defaults.shape[0]) < CONSEQUENCE_P[kind]]
        if kind == "seizure":
            hit = hit[
                (hit["entity"] == "person")
                & owns[np.where(hit["entity"] == "person", hit["idx"], 0)]
            ]
        hit = hit.assign(month=hit["month"].to_numpy() + rng.integers(3, 10, hit.shape[0]))
        rows.append(hit.assign(kind=kind))
        if kind == "enforcement":
            # Listed as a dishonest debtor when the judgment is still unperformed months later.
            listed = hit[rng.random(hit.shape[0]) < CONSEQUENCE_P["dishonest"]]
            lag = rng.integers(1, 7, listed.shape[0])
            rows.append(listed.assign(month=listed["month"].to_numpy() + lag, kind="dishonest"))
    out = pd.concat(rows, ignore_index=True)
    return out[out["month"] < horizon]


def _truth(
    cal: Calendar,
    persons: pd.DataFrame,
    ent: pd.DataFrame,
    paths: risk.RiskPaths,
    eligible: np.ndarray,
    firm_ok: np.ndarray,
    a_person: float,
    a_firm: float,
    defaults: pd.DataFrame,
) -> pd.DataFrame:
    s = cal.study_month
    window = defaults[(defaults["month"] > s) & (defaults["month"] <= s + 12)]
    person_def = np.zeros(persons.shape[0], dtype=np.int8)
    person_def[window.loc[window["entity"] == "person", "idx"].to_numpy()] = 1
    firm_def = np.zeros(ent.shape[0], dtype=np.int8)
    firm_def[window.loc[window["entity"] == "firm", "idx"].to_numpy()] = 1
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "entity_key": persons["resident_id"].to_numpy(),
                    "entity_type": "person",
                    "true_pd_12m": risk.expected_pd_12m(
                        a_person, paths.person_state, eligible[:, s]
                    ),
                    "default_12m": person_def,
                    "eligible": eligible[:, s],
                    "latent_z": paths.z_person[:, s],
                    "segment": persons["role"].to_numpy(),
                }
            ),
            pd.DataFrame(
                {
                    "entity_key": ent["uscc"].to_numpy(),
                    "entity_type": "enterprise",
                    "true_pd_12m": risk.expected_pd_12m(a_firm, paths.firm_state, firm_ok),
                    "default_12m": firm_def,
                    "eligible": firm_ok,
                    "latent_z": paths.z_firm[:, s],
                    "segment": ent["kind"].to_numpy(),
                }
            ),
        ],
        ignore_index=True,
    )


def _pd_history(
    months: list[int],
    paths: risk.RiskPaths,
    eligible: np.ndarray,
    a_person: float,
    a_firm: float,
) -> PdHistory:
    """True PDs at each month of the history, computed as `_truth` computes them at the study
    month (the same function of the same state, so equal there to the last bit); the captured
    states are dropped afterwards but for the study month's."""
    cols = np.array(months, dtype=np.int64)
    person_ok = eligible[:, cols]
    firm_ok = paths.firm_active[:, cols]
    person = np.column_stack(
        [
            risk.expected_pd_12m(a_person, paths.person_states[t], person_ok[:, k])
            for k, t in enumerate(months)
        ]
    )
    firm = np.column_stack(
        [
            risk.expected_pd_12m(a_firm, paths.firm_states[t], firm_ok[:, k])
            for k, t in enumerate(months)
        ]
    )
    paths.person_states.clear()
    paths.firm_states.clear()
    return PdHistory(cols, person, firm, person_ok, firm_ok)


def pd_history_table(world: World) -> pa.Table:
    """The PD history as the truth writes it, one row per entity and date (persons, then
    firms, date by date): entity_key, entity_type, as_of (month end), true_pd_12m, eligible."""
    h = world.pd_history
    keys = pa.array(
        np.concatenate(
            [world.persons["resident_id"].to_numpy(), world.enterprises["uscc"].to_numpy()]
        ).astype(str),
        pa.string(),
    )
    n, f = h.person.shape[0], h.firm.shape[0]
    kinds = pa.DictionaryArray.from_arrays(
        pa.array(np.r_[np.zeros(n, np.int8), np.ones(f, np.int8)]),
        pa.array(["person", "enterprise"]),
    ).dictionary_decode()
    parts = []
    for k, t in enumerate(h.months.tolist()):
        rows = n + f
        parts.append(
            pa.table(
                {
                    "entity_key": keys,
                    "entity_type": kinds,
                    "as_of": pa.array(
                        np.full(rows, np.datetime64(world.cal.month_end(int(t)), "D"))
                    ).cast(pa.date32()),
                    "true_pd_12m": pa.array(np.r_[h.person[:, k], h.firm[:, k]], pa.float64()),
                    "eligible": pa.array(
                        np.r_[h.person_eligible[:, k], h.firm_eligible[:, k]], pa.bool_()
                    ),
                }
            )
        )
    return pa.concat_tables(parts)


def oracle_auc(truth: pd.DataFrame) -> float:
    """AUC of the true PD against realised default: the best any model could do."""
    bad = truth["default_12m"].to_numpy() == 1
    scores = truth["true_pd_12m"].to_numpy()
    u = mannwhitneyu(scores[bad], scores[~bad]).statistic
    return float(u / (bad.sum() * (~bad).sum()))
