"""The tax bureau (税务局): taxpayer registration, the annual taxpayer credit grade (A-D, M for
new taxpayers), monthly returns with invoiced sales and tax paid, and invoices between firms,
which reveal supply chains around core firms. In the pilot, the A-grade list and tax records
were how the bank read a firm's real operations ("税信通").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.sources import Conflict, SourceTable, month_rng
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

OWNER = "国家税务总局亳州市税务局 / Bozhou Tax Bureau"
GRADES = np.array(["A", "B", "M", "C", "D"])
TAXED_KINDS = ("sole_trader", "company", "cooperative")

REGISTRATION = SourceSpec(
    name="tax_registration",
    owner=OWNER,
    description="Taxpayer registration of firms and sole traders.",
    entity="enterprise",
    fmt="csv",
    headers={
        "uscc": "纳税人识别号",
        "name": "纳税人名称",
        "taxpayer_type": "纳税人类型",
        "registered_capital": "注册资本(元)",
        "registered_on": "登记日期",
        "authority": "主管税务机关",
    },
    uscc_columns=("uscc",),
    date_columns=("registered_on",),
    key_columns=("uscc",),
    nullable_columns=("registered_capital",),
)
GRADE = SourceSpec(
    name="tax_credit_grade",
    owner=OWNER,
    description="Annual taxpayer credit grade (纳税信用等级), published each April.",
    entity="enterprise",
    fmt="csv",
    headers={
        "uscc": "纳税人识别号",
        "name": "纳税人名称",
        "year": "评价年度",
        "grade": "纳税信用级别",
    },
    uscc_columns=("uscc",),
    key_columns=("uscc", "year"),
)
RETURNS = SourceSpec(
    name="tax_returns",
    owner=OWNER,
    description="Monthly VAT returns: invoiced sales, tax due and paid.",
    entity="enterprise",
    fmt="parquet",
    headers={
        "uscc": "纳税人识别号",
        "period": "所属期",
        "sales": "开票销售额",
        "tax_due": "应纳税额",
        "tax_paid": "已缴税额",
        "filed_on": "申报日期",
    },
    uscc_columns=("uscc",),
    date_columns=("period", "filed_on"),
    key_columns=("uscc", "period"),
    nullable_columns=("tax_paid", "filed_on"),
    monthly_by="period",
)
INVOICES = SourceSpec(
    name="tax_invoices",
    owner=OWNER,
    description="Monthly totals of VAT invoices from each seller to each buyer.",
    entity="enterprise",
    fmt="parquet",
    headers={
        "seller_uscc": "销方识别号",
        "buyer_uscc": "购方识别号",
        "period": "开票月份",
        "invoices": "发票份数",
        "amount": "价税合计",
    },
    uscc_columns=("seller_uscc", "buyer_uscc"),
    date_columns=("period",),
    key_columns=("seller_uscc", "buyer_uscc", "period"),
    monthly_by="period",
)


def tables(
    world: World, rng: np.random.Generator, last_month: int | None = None
) -> Iterator[SourceTable]:
    last = world.cal.study_month if last_month is None else last_month
    ent = world.enterprises
    taxed = ent[ent["kind"].isin(TAXED_KINDS) & (ent["registered_month"] <= last)]
    yield _registration(world, rng, taxed)
    yield SourceTable(GRADE, _grades(world, rng, taxed, last))
    sales = _sales(world, rng, taxed, last)
    yield SourceTable(RETURNS, _returns(world, rng, taxed, sales, last))
    yield SourceTable(INVOICES, _invoices(world, rng, taxed, sales, last))


def _registration(world: World, rng: np.random.Generator, taxed: pd.DataFrame) -> SourceTable:
    n = taxed.shape[0]
    capital = taxed["registered_capital"].to_numpy().astype(float).copy()
    wrong = rng.choice(n, round(world.config.conflict_rate * n), replace=False)
    capital[wrong] = np.round(capital[wrong] * rng.choice([0.1, 0.5, 2.0, 10.0], wrong.size), -3)
    months = np.maximum(taxed["registered_month"].to_numpy(), -600) + rng.integers(0, 2, n)
    frame = pd.DataFrame(
        {
            "uscc": taxed["uscc"].to_numpy(),
            "name": taxed["name"].to_numpy(),
            "taxpayer_type": np.where(
                taxed["employees"].to_numpy() > 20, "一般纳税人", "小规模纳税人"
            ),
            "registered_capital": capital,
            "registered_on": [world.cal.month_start(int(m)) for m in months],
            "authority": "国家税务总局亳州市"
            + taxed["district_code"].map(_district_names(world)).to_numpy()
            + "税务局",
        }
    ).sort_values("uscc", ignore_index=True)
    conflict = Conflict(
        "registered_capital", "enterprise_registry", "tax_registration", int(wrong.size)
    )
    return SourceTable(REGISTRATION, frame, (conflict,))


def _district_names(world: World) -> dict[str, str]:
    return {d.code: d.name for d in world.ref.districts}


def _grades(world: World, rng: np.random.Generator, taxed: pd.DataFrame, last: int) -> pd.DataFrame:
    """Grades for each year whose April publication falls within history: worse with the
    firm's average latent risk over the year, M for firms younger than a year."""
    rows: list[pd.DataFrame] = []
    eid = taxed["eid"].to_numpy()
    for t in range(last + 1):
        if world.cal.month_start(t).month != 4 or t < 12:
            continue
        year = world.cal.month_start(t).year - 1
        draws = rng if t <= world.cal.study_month else month_rng(world, GRADE.name, t)
        z = world.paths.z_firm[eid, t - 12 : t].mean(axis=1) + draws.normal(0, 0.4, eid.size)
        idx = np.digitize(z, [-0.9, 0.3, 1.4, 2.2])
        idx = np.where(idx >= 2, idx + 1, idx)  # M is for new taxpayers, not a risk level
        idx = np.minimum(idx, 4)
        new = taxed["registered_month"].to_numpy() > t - 12
        alive = world.paths.firm_active[eid, t - 1]
        grade = np.where(new, "M", GRADES[idx])
        rows.append(
            pd.DataFrame(
                {
                    "uscc": taxed["uscc"].to_numpy(),
                    "name": taxed["name"].to_numpy(),
                    "year": year,
                    "grade": grade,
                }
            )[alive]
        )
    grades: pd.DataFrame = pd.concat(rows, ignore_index=True)
    return grades.sort_values(["year", "uscc"], ignore_index=True)


def _sales(world: World, rng: np.random.Generator, taxed: pd.DataFrame, last: int) -> np.ndarray:
    """Monthly invoiced sales per firm (firms x months): size, season, herb prices and strain."""
    eid = taxed["eid"].to_numpy()
    base = taxed["employees"].to_numpy() * 12_000.0 * np.exp(rng.normal(0, 0.5, eid.size))
    variety = taxed["herb_variety"].to_numpy().astype(int)
    price = np.ones((eid.size, last + 1))
    has = variety >= 0
    rel = world.prices[:, : last + 1] / world.prices.mean(axis=1, keepdims=True)
    price[has] = rel[variety[has]]
    # Strain against the firm's own history (up to the study month at most, so a month's
    # sales do not change when later months are delivered).
    head = min(last, world.cal.study_month)
    z = world.paths.z_firm[eid, : last + 1]
    strain = z - z[:, : head + 1].mean(axis=1, keepdims=True)
    later = [
        month_rng(world, RETURNS.name, t).lognormal(0, 0.2, eid.size)
        for t in range(head + 1, last + 1)
    ]
    noise = np.column_stack([rng.lognormal(0, 0.2, (eid.size, head + 1)), *later])
    sales = base[:, None] * price * np.exp(-0.35 * strain) * noise
    return np.where(world.paths.firm_active[eid, : last + 1], np.round(sales, 2), 0.0)


def _returns(
    world: World, rng: np.random.Generator, taxed: pd.DataFrame, sales: np.ndarray, last: int
) -> pd.DataFrame:
    eid = taxed["eid"].to_numpy()
    rate = np.where(taxed["employees"].to_numpy() > 20, 0.13, 0.01)  # general vs small-scale VAT
    rows: list[pd.DataFrame] = []
    for t in range(last + 1):
        live = world.paths.firm_active[eid, t]
        due = np.round(sales[:, t] * rate, 2)
        # Firms under strain file late and pay part; some stop paying.
        strain = world.paths.z_firm[eid, t]
        draws = rng if t <= world.cal.study_month else month_rng(world, "tax_returns.filed", t)
        unpaid = draws.random(eid.size) < 0.02 * np.exp(strain)
        late = draws.integers(1, 16, eid.size) + np.where(
            strain > 1.5, draws.integers(0, 40, eid.size), 0
        )
        filed = np.datetime64(world.cal.month_end(t)) + late.astype("timedelta64[D]")
        rows.append(
            pd.DataFrame(
                {
                    "uscc": taxed["uscc"].to_numpy(),
                    "period": world.cal.month_start(t),
                    "sales": sales[:, t],
                    "tax_due": due,
                    "tax_paid": np.where(unpaid, 0.0, due),
                    "filed_on": filed,
                }
            )[live]
        )
    return pd.concat(rows, ignore_index=True)


def _invoices(
    world: World, rng: np.random.Generator, taxed: pd.DataFrame, sales: np.ndarray, last: int
) -> pd.DataFrame:
    """Suppliers sell most of their output to their core firm; the rest to other local firms."""
    supplier = taxed["supplier_of"].to_numpy() >= 0
    uscc_of = world.enterprises["uscc"].to_numpy()
    seller = taxed["uscc"].to_numpy()[supplier]
    buyer = uscc_of[taxed["supplier_of"].to_numpy()[supplier]]
    share = rng.uniform(0.5, 0.9, seller.size)
    rows: list[pd.DataFrame] = []
    for t in range(last + 1):
        amount = np.round(sales[supplier, t] * share, 2)
        sold = amount > 0
        rows.append(
            pd.DataFrame(
                {
                    "seller_uscc": seller[sold],
                    "buyer_uscc": buyer[sold],
                    "period": world.cal.month_start(t),
                    "invoices": np.maximum(1, (amount[sold] / 20_000).astype(int)),
                    "amount": amount[sold],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)
