"""The county bank's own systems: its organisation, customer master (KYC), deposit accounts,
loans and repayments since 2013-style core banking. The KYC record is captured at account
opening and updated now and then, so it drifts from the authoritative registers: some of that
drift is real staleness, some is deliberate disagreement counted in the manifest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth import banking, lifecourse
from purecredit.synth.addresses import household_addresses
from purecredit.synth.sources import Conflict, SourceTable, month_rng, repeated
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

OWNER = "药都农村商业银行 / Yaodu Rural Commercial Bank"
PRODUCT_ZH = {"household": "金农易贷", "enterprise": "金农企e贷", "supply-chain": "金农信e链"}
METHOD_ZH = {
    "equal_instalment": "等额本息",
    "equal_principal": "等额本金",
    "interest_monthly": "按月付息到期还本",
    "seasonal": "按季付息收获后还本",
}
ROLE_ZH = {
    "herb_farmer": "药材种植户",
    "herb_trader": "药材经营户",
    "sole_trader": "个体工商户",
    "firm_owner": "企业主",
    "salaried": "职员",
    "other": "其他",
    "retired": "离退休",
}

BRANCHES = SourceSpec(
    name="bank_branches",
    owner=OWNER,
    description="The bank's organisation: head office, sub-branches and outlets.",
    entity="branch",
    fmt="csv",
    headers={"code": "机构号", "name": "机构名称", "level": "机构层级", "parent": "上级机构号"},
    key_columns=("code",),
)
CUSTOMERS = SourceSpec(
    name="bank_customers",
    owner=OWNER,
    description="Customer master (KYC) of individual customers.",
    entity="person",
    fmt="parquet",
    headers={
        "customer_no": "客户号",
        "resident_id": "证件号码",
        "name": "客户姓名",
        "phone": "手机号码",
        "address": "联系地址",
        "marital_status": "婚姻状况",
        "occupation": "职业",
        "opened": "开户日期",
        "updated": "信息更新日期",
    },
    id_columns=("resident_id",),
    date_columns=("opened", "updated"),
    key_columns=("customer_no",),
    nullable_columns=("phone", "address", "marital_status", "occupation"),
)
DEPOSITS = SourceSpec(
    name="bank_deposits",
    owner=OWNER,
    description="Month-end balance and monthly inflow and outflow of each customer's accounts.",
    entity="account",
    fmt="parquet",
    headers={
        "customer_no": "客户号",
        "uscc": "统一社会信用代码",
        "month": "账期",
        "balance": "月末余额",
        "inflow": "本月流入",
        "outflow": "本月流出",
    },
    uscc_columns=("uscc",),
    date_columns=("month",),
    key_columns=("customer_no", "month"),
    nullable_columns=("inflow", "outflow"),
    monthly_by="month",
)
LOANS = SourceSpec(
    name="bank_loans",
    owner=OWNER,
    description="Loans (借据) the bank granted, with their terms.",
    entity="loan",
    fmt="csv",
    headers={
        "loan_id": "借据号",
        "resident_id": "借款人证件号码",
        "uscc": "借款企业统一社会信用代码",
        "product": "产品名称",
        "branch_code": "经办机构",
        "start_date": "发放日期",
        "maturity_date": "到期日期",
        "amount": "借款金额(元)",
        "rate": "执行年利率",
        "method": "还款方式",
        "term_months": "期限(月)",
    },
    id_columns=("resident_id",),
    uscc_columns=("uscc",),
    date_columns=("start_date", "maturity_date"),
    key_columns=("loan_id",),
)
REPAYMENTS = SourceSpec(
    name="bank_repayments",
    owner=OWNER,
    description="Each instalment due, and when and how much was paid.",
    entity="loan",
    fmt="parquet",
    headers={
        "loan_id": "借据号",
        "instalment": "期次",
        "due_date": "应还日期",
        "principal_due": "应还本金",
        "interest_due": "应还利息",
        "paid_date": "实还日期",
        "paid_amount": "实还金额",
    },
    date_columns=("due_date", "paid_date"),
    key_columns=("loan_id", "instalment"),
    monthly_by="due_date",
)


def tables(
    world: World, rng: np.random.Generator, last_month: int | None = None
) -> Iterator[SourceTable]:
    last = world.cal.study_month if last_month is None else last_month
    yield SourceTable(BRANCHES, world.branches.replace("", None))
    customers, conflicts = _customers(world, rng, last)
    yield SourceTable(CUSTOMERS, customers.drop(columns="pid"), conflicts)
    yield SourceTable(DEPOSITS, _deposits(world, rng, customers, last))
    loans = world.bank_loans[world.bank_loans["start_month"] <= last]
    yield SourceTable(LOANS, _loans(world, loans))
    yield SourceTable(REPAYMENTS, _repayments(world, loans, last))


def _day(world: World, month: np.ndarray, salt: np.ndarray) -> np.ndarray:
    """A date within each month, stable for the same salt."""
    starts = np.array(
        [world.cal.month_start(int(m)) for m in np.unique(month)], dtype="datetime64[D]"
    )
    first = starts[np.searchsorted(np.unique(month), month)]
    days: np.ndarray = first + (salt % 28).astype("timedelta64[D]")
    return days


def _customers(
    world: World, rng: np.random.Generator, last: int
) -> tuple[pd.DataFrame, tuple[Conflict, ...]]:
    p = world.persons
    borrowers = world.bank_loans.loc[world.bank_loans["entity"] == "person", "idx"].unique()
    adult = p["role"].to_numpy() != "minor"
    chosen = adult & (rng.random(p.shape[0]) < 0.75)
    chosen[borrowers] = True
    pid = np.flatnonzero(chosen)
    n = pid.size
    # The master as of `last`: no customer opens after the study month, and an update due
    # after it shows as the study month's refresh until its own month is delivered, so a
    # later copy changes only the records updated in its months.
    cap = min(last, world.cal.study_month)
    opened = np.minimum(rng.integers(-120, cap + 1, n), last)
    due = opened + rng.integers(0, 60, n)
    updated = np.where(due <= last, due, np.minimum(due, cap))
    status = np.empty(n, dtype=np.int64)
    for m in np.unique(updated):
        at = updated == m
        status[at] = lifecourse.marital_status(world, int(m))[pid[at]]
    true_address = household_addresses(world)[world.persons["household_id"].to_numpy()[pid]]
    address = true_address.copy()
    n_conflicts = round(world.config.conflict_rate * n)
    wrong_address = rng.choice(n, n_conflicts, replace=False)
    address[wrong_address] = (
        address[rng.permutation(wrong_address)] if n_conflicts > 1 else address[wrong_address]
    )
    same = address[wrong_address] == true_address[wrong_address]
    address[wrong_address[same]] = (
        "安徽省亳州市谯城区" + pd.Series(wrong_address[same]).astype(str).to_numpy() + "号"
    )
    wrong_status = rng.choice(n, n_conflicts, replace=False)
    status[wrong_status] = (status[wrong_status] + rng.integers(1, 3, n_conflicts)) % 3
    frame = pd.DataFrame(
        {
            "pid": pid,
            "customer_no": np.char.add("C", np.char.zfill((pid * 7 + 1_000_003).astype("U10"), 10)),
            "resident_id": p["resident_id"].to_numpy()[pid],
            "name": p["name"].to_numpy()[pid],
            "phone": p["phone"].to_numpy()[pid],
            "address": address,
            "marital_status": lifecourse.MARITAL_ZH[status],
            "occupation": p["role"].map(ROLE_ZH).to_numpy()[pid],
            "opened": _day(world, opened, pid),
            "updated": _day(world, updated, pid + 11),
        }
    )
    conflicts = (
        Conflict("address", "population_register", "bank_customers", n_conflicts),
        Conflict("marital_status", "marriage_registry", "bank_customers", n_conflicts),
    )
    return frame.sort_values("customer_no", ignore_index=True), conflicts


def _deposits(
    world: World, rng: np.random.Generator, customers: pd.DataFrame, last: int
) -> pd.DataFrame:
    """Balances follow income (harvest months bring the crop's sales for growers) less spending,
    which rises when a customer is under strain: outflows run ahead of inflows before trouble.

    Rows run month by month over the customers, then month by month over the firms' accounts.
    Each column is built once at its full length (tens of millions of rows for a large county):
    figures month by month into one array, account numbers and USCCs as categoricals.
    """
    pid = customers["pid"].to_numpy()
    months = world.cal.calendar_months()
    hh = world.households.iloc[world.persons["household_id"].to_numpy()[pid]]
    variety = hh["herb_variety"].to_numpy()
    farms = world.persons["role"].to_numpy()[pid] == "herb_farmer"
    base = world.income[pid]
    balance = base * rng.uniform(0.5, 6, pid.size)
    z = world.paths.z_person
    # Balance, inflow and outflow: customers' rows by month, then room for the firms' rows
    # (at most one per firm and month), so no column is copied to join the two.
    people = (last + 1) * pid.size
    figures = [np.empty(people + (last + 1) * world.enterprises.shape[0]) for _ in range(3)]
    by_month = [column[:people].reshape(last + 1, pid.size) for column in figures]
    head = min(last, world.cal.study_month)  # history: customers, then firms, as always
    for t in range(last + 1):
        draws = rng if t <= head else month_rng(world, DEPOSITS.name, t)
        harvest = np.zeros(pid.size, dtype=bool)
        for v, herb in enumerate(world.ref.herbs):
            if months[t] in herb.harvest:
                harvest |= farms & (variety == v)
        price = np.where(variety >= 0, world.prices[np.maximum(variety, 0), t], 0.0)
        crop = np.where(
            harvest, hh["plot_mu"].to_numpy() * 250 * price / len(world.ref.herbs[0].harvest), 0.0
        )
        inflow = np.maximum(0, base * draws.lognormal(0, 0.3, pid.size) + crop)
        strain = 1 / (1 + np.exp(-(z[pid, t] - 1.0)))
        outflow = np.minimum(
            balance + inflow, inflow * draws.uniform(0.75, 1.0, pid.size) * (1 + 0.6 * strain)
        )
        balance = balance + inflow - outflow
        for values, column in zip((balance, inflow, outflow), by_month, strict=True):
            column[t] = np.round(values, 2)
    # The firms' history draws follow the customers' history draws; a later month draws from
    # its own generator (the firm's draws kept apart from the customers').
    firms = _firm_deposits(world, rng, last)
    month_ends = np.array([world.cal.month_end(t) for t in range(last + 1)], "datetime64[s]")
    per_month = np.array([rows.size for rows in firms.rows], dtype=np.int64)
    # Account rows: customers 0..n-1 every month, then firm accounts n + (their position).
    account = np.concatenate(
        [np.tile(np.arange(pid.size, dtype=np.int32), last + 1)]
        + [(pid.size + rows).astype(np.int32) for rows in firms.rows]
    )
    numbers = np.concatenate([customers["customer_no"].to_numpy(dtype=object), firms.customer_no])
    firm = np.where(account >= pid.size, account - pid.size, -1)  # customers have no USCC
    uscc = repeated(firms.uscc, firm, fill=True)
    columns = {
        "customer_no": repeated(numbers, account),
        "uscc": uscc,
        "month": np.concatenate(  # seconds, as pandas keeps dates: no conversion copy
            [np.repeat(month_ends, pid.size), np.repeat(month_ends, per_month)]
        ),
    }
    del account, numbers, firm, uscc
    for name, figure, parts in zip(
        ("balance", "inflow", "outflow"), figures, firms.figures, strict=True
    ):
        end = people + sum(part.size for part in parts)
        figure[people:end] = np.concatenate([np.empty(0), *parts])
        columns[name] = figure[:end]
    return pd.DataFrame(columns, copy=False)


@dataclass(frozen=True)
class _FirmDeposits:
    """Business accounts: number and USCC of each, and by month the accounts with a row and
    their balance, inflow and outflow."""

    customer_no: np.ndarray
    uscc: np.ndarray
    rows: list[np.ndarray]
    figures: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]


def _firm_deposits(world: World, rng: np.random.Generator, last: int) -> _FirmDeposits:
    """Business accounts of firms that bank here (all its borrowers and about half the rest)."""
    ent = world.enterprises
    eid = np.flatnonzero(
        np.isin(
            ent["eid"].to_numpy(), world.bank_loans.loc[world.bank_loans["entity"] == "firm", "idx"]
        )
        | (rng.random(ent.shape[0]) < 0.5)
    )
    base = ent["employees"].to_numpy()[eid] * 9000.0 * rng.lognormal(0, 0.4, eid.size)
    balance = base * rng.uniform(0.5, 3, eid.size)
    out = _FirmDeposits(
        customer_no=np.char.add("E", np.char.zfill((eid * 7 + 3).astype("U10"), 10)),
        uscc=ent["uscc"].to_numpy()[eid],
        rows=[],
        figures=([], [], []),
    )
    for t in range(last + 1):
        draws = rng if t <= world.cal.study_month else month_rng(world, "bank_deposits.firm", t)
        live = world.paths.firm_active[eid, t]
        strain = 1 / (1 + np.exp(-(world.paths.z_firm[eid, t] - 1.0)))
        inflow = np.where(live, base * draws.lognormal(0, 0.35, eid.size), 0.0)
        outflow = np.minimum(
            balance + inflow, inflow * draws.uniform(0.8, 1.0, eid.size) * (1 + 0.5 * strain)
        )
        balance = balance + inflow - outflow
        kept = np.flatnonzero(live | (balance > 0))
        out.rows.append(kept)
        for figures, values in zip(out.figures, (balance, inflow, outflow), strict=True):
            figures.append(np.round(values, 2)[kept])
    return out


def _loans(world: World, loans: pd.DataFrame) -> pd.DataFrame:
    person = loans["entity"].to_numpy() == "person"
    start = _day(world, loans["start_month"].to_numpy(), loans.index.to_numpy())
    return pd.DataFrame(
        {
            "loan_id": loans["loan_id"].to_numpy(),
            "resident_id": loans["borrower_key"].where(person).to_numpy(),
            "uscc": loans["borrower_key"].where(~person).to_numpy(),
            "product": loans["product"].map(PRODUCT_ZH).to_numpy(),
            "branch_code": loans["branch_code"].to_numpy(),
            "start_date": start,
            "maturity_date": _add_months(start, loans["term_months"].to_numpy()),
            "amount": loans["amount"].to_numpy(),
            "rate": loans["rate"].to_numpy(),
            "method": loans["method"].map(METHOD_ZH).to_numpy(),
            "term_months": loans["term_months"].to_numpy(),
        }
    )


def _add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    stamps = pd.to_datetime(days)
    shifted = [s + pd.DateOffset(months=int(m)) for s, m in zip(stamps, months, strict=True)]
    return np.array(shifted, dtype="datetime64[D]")


def _repayments(world: World, loans: pd.DataFrame, last: int) -> pd.DataFrame:
    rep = banking.repayments(
        loans, world.keyed(world.defaults), world.keyed(world.lates), last, world.config.seed
    )
    start_day = pd.Series(
        (
            pd.to_datetime(_day(world, loans["start_month"].to_numpy(), loans.index.to_numpy())).day
        ).to_numpy(),
        index=loans["loan_id"].to_numpy(),
    )
    due_first = np.array(
        [world.cal.month_start(int(m)) for m in range(last + 2)], dtype="datetime64[D]"
    )
    day = np.minimum(start_day.loc[rep["loan_id"].to_numpy()].to_numpy(), 28) - 1
    due = due_first[rep["due_month"].to_numpy()] + day.astype("timedelta64[D]")
    paid_date = np.where(
        rep["paid"].to_numpy(),
        due + rep["days_late"].clip(lower=0).to_numpy().astype("timedelta64[D]"),
        np.datetime64("NaT"),
    )
    owed = rep["principal_due"].to_numpy() + rep["interest_due"].to_numpy()
    return pd.DataFrame(
        {
            "loan_id": rep["loan_id"].to_numpy(),
            "instalment": rep["instalment"].to_numpy(),
            "due_date": due,
            "principal_due": rep["principal_due"].to_numpy(),
            "interest_due": rep["interest_due"].to_numpy(),
            "paid_date": paid_date,
            "paid_amount": np.where(rep["paid"].to_numpy(), np.round(owed, 2), 0.0),
        }
    )
