"""The county bank's own history: its branches, the loans it made before the study date and
how each instalment was paid. This is what the bank later learns from (labels come from here
and from the credit bureau, never from the truth).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from purecredit.synth.behaviour import NEVER, instalment_outcomes
from purecredit.synth.calendar import Calendar
from purecredit.synth.reference import Reference

BANK_NAME = "药都农村商业银行"
HEAD_OFFICE = "341600000"
OUTLETS_PER_DISTRICT = 4
BORROWING_ROLES = ("herb_farmer", "herb_trader", "sole_trader", "firm_owner", "salaried", "other")
PERSON_MONTHLY_TAKE_UP = 0.009
FIRM_MONTHLY_TAKE_UP = 0.01
METHODS = ("equal_instalment", "equal_principal", "interest_monthly", "seasonal")


def branches(ref: Reference) -> pd.DataFrame:
    """Head office, one sub-branch per district, and outlets under each (at least 20 in all)."""
    rows = [(HEAD_OFFICE, f"{BANK_NAME}总行", "head", "")]
    for d in ref.districts:
        sub = f"{d.code}000"
        rows.append((sub, f"{BANK_NAME}{d.name}支行", "sub_branch", HEAD_OFFICE))
        for k in range(1, OUTLETS_PER_DISTRICT + 1):
            rows.append((f"{d.code}{k:03d}", f"{BANK_NAME}{d.name}第{k}分理处", "outlet", sub))
    return pd.DataFrame(rows, columns=["code", "name", "level", "parent"])


def history_loans(
    rng: np.random.Generator,
    cal: Calendar,
    ref: Reference,
    persons: pd.DataFrame,
    enterprises: pd.DataFrame,
    z_person: np.ndarray,
    z_firm: np.ndarray,
    firm_active: np.ndarray,
    income: np.ndarray,
    person_intercept: float,
) -> pd.DataFrame:
    """Loans granted month by month before the study date, one open loan per borrower.

    The bank already screened, if imperfectly: take-up falls with the latent risk, so its book
    is better than the county, as a real lender's is."""
    can_borrow = np.isin(persons["role"].to_numpy(), BORROWING_ROLES)
    adult_at = np.ceil((18 - persons["age"].to_numpy()) * 12).astype(int) + cal.study_month
    busy_p = np.full(persons.shape[0], -1)
    busy_f = np.full(enterprises.shape[0], -1)
    rows: list[pd.DataFrame] = []
    for t in range(cal.study_month + 1):
        want = can_borrow & (adult_at <= t) & (busy_p < t)
        p = PERSON_MONTHLY_TAKE_UP * np.exp(-0.4 * z_person[:, t])
        take = np.flatnonzero(want & (rng.random(want.size) < p))
        term = rng.choice([12, 12, 12, 24, 36], take.size)
        busy_p[take] = t + term
        rows.append(
            _loans(
                "person",
                take,
                t,
                term,
                income[take] * rng.uniform(4, 12, take.size),
                z_person[take, t],
            )
        )
        fwant = firm_active[:, t] & (busy_f < t)
        fp = FIRM_MONTHLY_TAKE_UP * np.exp(-0.4 * z_firm[:, t])
        ftake = np.flatnonzero(fwant & (rng.random(fwant.size) < fp))
        fterm = rng.choice([12, 12, 24], ftake.size)
        busy_f[ftake] = t + fterm
        capital = enterprises["registered_capital"].to_numpy()[ftake]
        rows.append(
            _loans(
                "firm",
                ftake,
                t,
                fterm,
                capital * rng.uniform(0.1, 0.5, ftake.size),
                z_firm[ftake, t],
            )
        )
    loans = pd.concat(rows, ignore_index=True)
    return _terms(rng, cal, ref, loans, persons, enterprises, person_intercept)


def _loans(
    entity: str, idx: np.ndarray, t: int, term: np.ndarray, amount: np.ndarray, z: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": entity,
            "idx": idx,
            "start_month": t,
            "term_months": term,
            "raw_amount": amount,
            "z": z,
        }
    )


def _terms(
    rng: np.random.Generator,
    cal: Calendar,
    ref: Reference,
    loans: pd.DataFrame,
    persons: pd.DataFrame,
    ent: pd.DataFrame,
    intercept: float,
) -> pd.DataFrame:
    person = loans["entity"].to_numpy() == "person"
    idx = loans["idx"].to_numpy()
    n = loans.shape[0]
    key = np.where(
        person,
        persons["resident_id"].to_numpy()[np.where(person, idx, 0)],
        ent["uscc"].to_numpy()[np.where(person, 0, idx)],
    )
    supplier = ~person & (ent["supplier_of"].to_numpy()[np.where(person, 0, idx)] >= 0)
    product = np.where(
        person,
        "household",
        np.where(supplier & (rng.random(n) < 0.5), "supply-chain", "enterprise"),
    )
    lo, hi = np.where(person, 10_000, 50_000), np.where(person, 300_000, 3_000_000)
    amount = np.clip(np.round(loans["raw_amount"].to_numpy(), -3), lo, hi)
    lpr = np.array([ref.lpr_1y_at(cal.month_start(t)) for t in range(cal.study_month + 1)])[
        loans["start_month"].to_numpy()
    ]
    # The bank priced risk only roughly: a spread over LPR that rises with the true PD.
    spread = 0.008 + 0.25 * expit(intercept + loans["z"].to_numpy()) * 12 + rng.normal(0, 0.003, n)
    rate = np.round(np.clip(lpr + spread, lpr + 0.005, 4 * lpr), 4)
    farming = person & np.isin(
        persons["role"].to_numpy()[np.where(person, idx, 0)], ["herb_farmer", "herb_trader"]
    )
    method = np.where(
        farming & (rng.random(n) < 0.4), "seasonal", rng.choice(METHODS[:3], n, p=[0.4, 0.15, 0.45])
    )
    district = np.where(
        person,
        persons["district_code"].to_numpy()[np.where(person, idx, 0)],
        ent["district_code"].to_numpy()[np.where(person, 0, idx)],
    )
    outlet = rng.integers(1, OUTLETS_PER_DISTRICT + 1, n)
    branch = np.char.add(district.astype("U6"), np.char.zfill(outlet.astype("U3"), 3))
    order = np.lexsort((key, loans["start_month"].to_numpy()))
    out = (
        pd.DataFrame(
            {
                "entity": loans["entity"].to_numpy(),
                "idx": idx,
                "borrower_key": key,
                "product": product,
                "start_month": loans["start_month"].to_numpy(),
                "term_months": loans["term_months"].to_numpy(),
                "amount": amount,
                "rate": rate,
                "method": method,
                "branch_code": branch,
            }
        )
        .iloc[order]
        .reset_index(drop=True)
    )
    out.insert(
        0,
        "loan_id",
        [
            f"JN{cal.month_label(m).replace('-', '')}{i:08d}"
            for i, m in enumerate(out["start_month"])
        ],
    )
    return out


def schedule(loans: pd.DataFrame) -> pd.DataFrame:
    """Monthly instalments of each loan: principal and interest due (CNY, rounded to fen).

    Synthetic history only needs plausible amounts; the lending stage computes real schedules
    in Decimal fen with daily accrual."""
    term = loans["term_months"].to_numpy()
    rows = np.repeat(np.arange(loans.shape[0]), term)
    k = np.arange(rows.size) - np.repeat(np.cumsum(term) - term, term) + 1
    n = term[rows]
    amount = loans["amount"].to_numpy()[rows]
    r = loans["rate"].to_numpy()[rows] / 12
    method = loans["method"].to_numpy()[rows]
    annuity = amount * r / (1 - (1 + r) ** -n)
    balance_before = np.where(
        method == "equal_instalment",
        amount * ((1 + r) ** n - (1 + r) ** (k - 1)) / ((1 + r) ** n - 1),
        np.where(method == "equal_principal", amount * (1 - (k - 1) / n), amount),
    )
    interest = balance_before * r
    principal = np.select(
        [method == "equal_instalment", method == "equal_principal"],
        [annuity - interest, amount / n],
        np.where(k == n, amount, 0.0),
    )
    quarterly = method == "seasonal"
    interest = np.where(
        quarterly,
        np.where((k % 3 == 0) | (k == n), interest * np.where(k % 3 == 0, 3, k % 3), 0.0),
        interest,
    )
    return pd.DataFrame(
        {
            "loan_id": loans["loan_id"].to_numpy()[rows],
            "instalment": k,
            "due_month": loans["start_month"].to_numpy()[rows] + k,
            "principal_due": np.round(principal, 2),
            "interest_due": np.round(interest, 2),
            "borrower_key": loans["borrower_key"].to_numpy()[rows],
            "start_month": loans["start_month"].to_numpy()[rows],
        }
    )


def repayments(
    loans: pd.DataFrame, defaults: pd.DataFrame, lates: pd.DataFrame, last_month: int, seed: int
) -> pd.DataFrame:
    """Instalments due up to ``last_month`` with when and how much was paid."""
    sched = schedule(loans)
    sched = sched[sched["due_month"] <= last_month].reset_index(drop=True)
    paid_month, days_late = instalment_outcomes(
        keys=sched["borrower_key"].to_numpy(),
        start_month=sched["start_month"].to_numpy(),
        due_month=sched["due_month"].to_numpy(),
        defaults=defaults,
        lates=lates,
        seed=seed,
    )
    # What was not paid by the last month is unpaid as far as the delivery knows.
    unpaid = (paid_month == NEVER) | (paid_month > last_month)
    return sched.assign(
        paid=~unpaid,
        days_late=np.where(unpaid, NEVER, days_late),
    )
