"""The latent risk process that drives both what the sources show and who defaults.

Every person and firm has a latent log-odds of distress, ``z``, month by month:

    z(t) = mu + x(t) + bumps(t) + herb(t) + contagion(t)

``mu`` is a lasting trait (character, livelihood, age, firm size), ``x`` an AR(1) drift,
``bumps`` decaying effects of life events (serious illness, divorce, losing a job, court
enforcement), ``herb`` the price of the herbs a farmer grows or a trader deals in, and
``contagion`` couples a firm and its legal representative both ways, one month apart.

Events that banks can observe (enforcement, seizures, divorce, job loss, deregistration) are
drawn month by month with rates that rise with ``z``, so they carry signal before a default.
A default event (90+ days past due on some obligation) happens in month t with probability
``sigmoid(a + z(t))``; the intercept ``a`` is calibrated per segment so that the expected
12-month default rate after the study date equals the configured base rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from purecredit.synth.calendar import Calendar

PHI = 0.9  # monthly persistence of the drift
SIGMA = 0.22  # monthly innovation of the drift
BUMP_DECAY = 0.93
HERB_PERSISTENCE = 0.9
CONTAGION = 0.4
LATE_INTERCEPT = -3.6  # minor 1-29 day lateness, about 3% of months for an average borrower

# Event rates per month at z = 0, and how strongly each rises with z (rate * exp(slope * z)).
PERSON_EVENTS = {
    "illness": (0.0006, 0.0, 0.9),  # serious-illness claim; exogenous, raises risk
    "divorce": (0.0012, 0.5, 0.5),
    "job_loss": (0.004, 0.5, 0.6),
    "enforcement": (0.00012, 1.2, 0.3),  # court enforcement filed against the person
    "seizure": (0.0001, 1.2, 0.4),  # property seized or frozen (owners only)
    "marriage": (0.008, 0.0, 0.0),  # single adults 22-45
}
FIRM_EVENTS = {
    "enforcement": (0.0003, 1.2, 0.3),
    "abnormal": (0.0008, 1.0, 0.3),  # listed for abnormal operation
    "deregistration": (0.0012, 1.0, 0.0),
}


@dataclass(frozen=True)
class RiskInputs:
    """What the process needs about each entity, aligned by index."""

    person_mu: np.ndarray
    person_herb: np.ndarray  # herb variety index or -1
    person_alive_from: np.ndarray  # first month of adulthood (18): life events, defaults
    person_spouse: np.ndarray  # pid of the spouse living together at month 0, or -1
    person_single_marriageable: np.ndarray  # age window for marrying, at month 0 (approx.)
    person_salaried: np.ndarray
    person_owns_property: np.ndarray
    firm_mu: np.ndarray
    firm_herb: np.ndarray
    firm_rep: np.ndarray  # person index of the legal representative
    firm_registered: np.ndarray  # month index of registration (may be negative)
    firm_dissolvable: np.ndarray  # collectives and core firms are not deregistered


@dataclass
class RiskPaths:
    z_person: np.ndarray  # float32 (people, months)
    z_firm: np.ndarray  # float32 (firms, months)
    employed: np.ndarray  # bool (people, months), salaried only
    firm_active: np.ndarray  # bool (firms, months)
    events: pd.DataFrame  # entity ("person"/"firm"), idx, month, kind
    person_state: dict[str, np.ndarray]  # components at the study month, for the truth
    firm_state: dict[str, np.ndarray]
    # Components at each month of ``state_months`` (the study month's are the dicts above).
    person_states: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    firm_states: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


def simulate(
    rng: np.random.Generator,
    cal: Calendar,
    inputs: RiskInputs,
    herb_dev: np.ndarray,
    state_months: Iterable[int] = (),
) -> RiskPaths:
    """Paths of the process; the latent components are kept at the study month and at every
    month of ``state_months`` (for the truth's PD history). Keeping them draws nothing."""
    capture = {*state_months, cal.study_month}
    n, f, total = inputs.person_mu.size, inputs.firm_mu.size, cal.total
    zp = np.empty((n, total), dtype=np.float32)
    zf = np.empty((f, total), dtype=np.float32)
    employed = np.zeros((n, total), dtype=bool)
    active = np.zeros((f, total), dtype=bool)
    xp = rng.normal(0, SIGMA / np.sqrt(1 - PHI**2), n)
    xf = rng.normal(0, SIGMA / np.sqrt(1 - PHI**2), f)
    bp, bf = np.zeros(n), np.zeros(f)
    married = inputs.person_spouse >= 0
    marriageable = inputs.person_single_marriageable & ~married
    working = inputs.person_salaried.copy()
    alive_firm = inputs.firm_registered < 0
    dissolved = np.zeros(f, dtype=bool)
    herb_p = _herb_term(inputs.person_herb, herb_dev)
    herb_f = _herb_term(inputs.firm_herb, herb_dev)
    events: list[pd.DataFrame] = []
    states_p: dict[int, dict[str, np.ndarray]] = {}
    states_f: dict[int, dict[str, np.ndarray]] = {}
    led_sum = np.zeros(n)
    led_count = np.bincount(inputs.firm_rep, minlength=n)
    prev_zf = inputs.firm_mu.copy()
    prev_zp = inputs.person_mu.copy()
    for t in range(total):
        alive_firm = (alive_firm | (inputs.firm_registered == t)) & ~dissolved
        led_sum[:] = np.bincount(
            inputs.firm_rep, weights=np.where(alive_firm, prev_zf, 0.0), minlength=n
        )
        contagion_p = CONTAGION * np.divide(
            led_sum, led_count, out=np.zeros(n), where=led_count > 0
        )
        contagion_f = CONTAGION * (prev_zp[inputs.firm_rep] - inputs.person_mu.mean())
        zp[:, t] = inputs.person_mu + xp + bp + herb_p[:, t] + contagion_p
        zf[:, t] = inputs.firm_mu + xf + bf + herb_f[:, t] + contagion_f
        if t in capture:
            states_p[t] = {
                "mu": inputs.person_mu,
                "x": xp.copy(),
                "bump": bp.copy(),
                "herb": herb_p[:, t].copy(),
                "contagion": contagion_p,
            }
            states_f[t] = {
                "mu": inputs.firm_mu,
                "x": xf.copy(),
                "bump": bf.copy(),
                "herb": herb_f[:, t].copy(),
                "contagion": contagion_f,
            }
        z = zp[:, t].astype(float)
        adult = t >= inputs.person_alive_from
        drawn = {
            k: _draw(rng, rate, slope, z) & adult for k, (rate, slope, _) in PERSON_EVENTS.items()
        }
        drawn["divorce"] &= married
        # A couple divorces once: the event is the person's, the status both partners'.
        partner = inputs.person_spouse[drawn["divorce"]]
        partner = partner[partner >= 0]
        drawn["divorce"][partner] = False
        married[partner] = False
        drawn["marriage"] &= marriageable
        drawn["job_loss"] &= working
        drawn["seizure"] &= inputs.person_owns_property
        married = (married | drawn["marriage"]) & ~drawn["divorce"]
        marriageable &= ~drawn["marriage"]
        rehired = inputs.person_salaried & ~working & (rng.random(n) < 0.12)
        working = (working & ~drawn["job_loss"]) | rehired
        employed[:, t] = working
        for kind, hit in drawn.items():
            bp += PERSON_EVENTS[kind][2] * hit
            events.append(_rows("person", np.flatnonzero(hit), t, kind))
        events.append(_rows("person", np.flatnonzero(rehired), t, "rehired"))
        zfirm = zf[:, t].astype(float)
        fdrawn = {
            k: _draw(rng, rate, slope, zfirm) & alive_firm
            for k, (rate, slope, _) in FIRM_EVENTS.items()
        }
        fdrawn["deregistration"] &= inputs.firm_dissolvable & (t > inputs.firm_registered)
        for kind, hit in fdrawn.items():
            bf += FIRM_EVENTS[kind][2] * hit
            events.append(_rows("firm", np.flatnonzero(hit), t, kind))
        dissolved |= fdrawn["deregistration"]
        active[:, t] = alive_firm & ~dissolved
        bp *= BUMP_DECAY
        bf *= BUMP_DECAY
        xp = PHI * xp + rng.normal(0, SIGMA, n)
        xf = PHI * xf + rng.normal(0, SIGMA, f)
        prev_zp, prev_zf = z, zfirm
    frame = pd.concat(events, ignore_index=True)
    s = cal.study_month
    return RiskPaths(
        zp,
        zf,
        employed,
        active,
        frame,
        states_p.get(s, {}),
        states_f.get(s, {}),
        states_p,
        states_f,
    )


def _herb_term(variety: np.ndarray, herb_dev: np.ndarray) -> np.ndarray:
    """Lower prices of one's own herb raise risk, with a lag of one month (sales, then cash)."""
    lagged = np.concatenate([herb_dev[:, :1], herb_dev[:, :-1]], axis=1)
    out = np.zeros((variety.size, herb_dev.shape[1]))
    has = variety >= 0
    out[has] = -1.0 * lagged[variety[has]]
    return out


def _draw(rng: np.random.Generator, rate: float, slope: float, z: np.ndarray) -> np.ndarray:
    return rng.random(z.size) < np.minimum(rate * np.exp(slope * z), 0.5)


def _rows(entity: str, idx: np.ndarray, month: int, kind: str) -> pd.DataFrame:
    return pd.DataFrame({"entity": entity, "idx": idx, "month": month, "kind": kind})


def expected_pd_12m(
    intercept: float, state: dict[str, np.ndarray], eligible: np.ndarray
) -> np.ndarray:
    """P(a default event in the 12 months after the study month | the latent state then).

    The future drift is Gaussian given today's state, so each month's default probability is
    E[sigmoid(a + z)] with z ~ N(m_k, v_k), approximated by the probit-logit identity
    sigmoid(m / sqrt(1 + pi v / 8)) (MacKay 1992)."""
    no_default = np.ones(state["mu"].size)
    for k in range(1, 13):
        mean = (
            state["mu"]
            + PHI**k * state["x"]
            + BUMP_DECAY**k * state["bump"]
            + HERB_PERSISTENCE**k * state["herb"]
            + PHI**k * state["contagion"]
        )
        var = SIGMA**2 * (1 - PHI ** (2 * k)) / (1 - PHI**2)
        no_default *= 1 - expit((intercept + mean) / np.sqrt(1 + np.pi * var / 8))
    return np.where(eligible, 1 - no_default, 0.0)


def calibrate_intercept(target: float, state: dict[str, np.ndarray], eligible: np.ndarray) -> float:
    """Intercept whose mean 12-month PD over every row of the segment equals ``target``."""
    return float(brentq(lambda a: expected_pd_12m(a, state, eligible).mean() - target, -20.0, 5.0))


def draw_monthly(
    rng: np.random.Generator, z: np.ndarray, intercept: float, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(entity index, month) of every event with monthly probability sigmoid(intercept + z),
    drawn month by month so memory stays at one column of uniforms."""
    idx: list[np.ndarray] = []
    months: list[np.ndarray] = []
    for t in range(z.shape[1]):
        hit = np.flatnonzero((rng.random(z.shape[0]) < expit(intercept + z[:, t])) & eligible[:, t])
        idx.append(hit)
        months.append(np.full(hit.size, t))
    return np.concatenate(idx), np.concatenate(months)
