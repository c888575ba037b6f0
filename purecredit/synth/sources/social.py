"""Social sources of the county: the agriculture bureau's land and planting records, the
credit-village ratings and the power company's bills.

None of them carries a resident ID: the planting records and ratings know a household by its
户号 and head's name, the power company knows an account holder by name and phone, so ingest
has to resolve them to people through the population register. As in `government`, draws do
not depend on the last month delivered, so a later delivery only adds records.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from purecredit.synth.addresses import household_addresses
from purecredit.synth.sources import SourceTable, repeated
from purecredit.synth.sources.government import days_in, month_starts
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

SURVEY_MONTH = 4  # the year's planting is recorded after spring sowing
RATING_MONTH = 3  # credit-village ratings are published each March
RATING_WINDOW = 24  # months of history a rating looks back on
GRADES = np.array(["AAA", "AA", "A", "B", "C"])
GRADE_FLOORS = (1.2, 0.4, -0.8, -1.7)  # score above which each grade but C is given
# Anhui residential tariff, first tier (CNY per kWh); tiers above it are ignored.
TARIFF = 0.5653
# Consumption by calendar month relative to the year's average: air conditioning in summer,
# heating in winter.
SEASON = np.array([1.35, 1.25, 1.0, 0.85, 0.85, 1.1, 1.5, 1.55, 1.1, 0.85, 0.9, 1.2])

LAND = SourceSpec(
    name="land_planting",
    owner="亳州市农业农村局 / Bozhou Agriculture and Rural Affairs Bureau",
    description="Contracted land and herb planting of farming households by year (remote sensing).",
    entity="household",
    fmt="csv",
    headers={
        "household_no": "户号",
        "head_name": "户主姓名",
        "village_code": "村级区划代码",
        "year": "年度",
        "contracted_area": "承包地面积(亩)",
        "variety": "种植品种",
        "planted_area": "种植面积(亩)",
        "sown_year": "栽种年份",
    },
    key_columns=("household_no", "year"),
)
CREDIT_VILLAGE = SourceSpec(
    name="credit_village",
    owner="中国人民银行亳州市分行 信用村建设办公室 / PBoC Bozhou Branch, credit-village office",
    description="Yearly credit rating of rural households and whether their village is a 信用村.",
    entity="household",
    fmt="xlsx",
    headers={
        "household_no": "户号",
        "head_name": "户主姓名",
        "head_phone": "联系电话",
        "village_code": "村级区划代码",
        "village_name": "村名称",
        "year": "评定年度",
        "credit_village": "是否信用村",
        "grade": "农户信用等级",
        "rated_on": "评定日期",
    },
    date_columns=("rated_on",),
    key_columns=("household_no", "year"),
    nullable_columns=("head_phone",),
)
UTILITY = SourceSpec(
    name="utility_payments",
    owner="国网亳州供电公司 / State Grid Bozhou Power Supply Company",
    description="Monthly household electricity bills and their payment, a file per month.",
    entity="household",
    fmt="csv",
    encoding="gbk",
    headers={
        "account_no": "用电户号",
        "holder_name": "户名",
        "holder_phone": "联系电话",
        "address": "用电地址",
        "billing_month": "电费年月",
        "kwh": "结算电量(千瓦时)",
        "amount_due": "应收电费(元)",
        "paid_on": "缴费日期",
        "days_late": "逾期天数",
    },
    date_columns=("billing_month", "paid_on"),
    key_columns=("account_no", "billing_month"),
    nullable_columns=("holder_phone", "paid_on"),
    monthly_by="billing_month",
)


def tables(
    world: World, rng: np.random.Generator, last_month: int | None = None
) -> Iterator[SourceTable]:
    """The social sources up to `last_month` (default: the study month)."""
    last = _last(world, last_month)
    yield SourceTable(LAND, _planting(world, rng, last))
    yield SourceTable(CREDIT_VILLAGE, _ratings(world, rng, last))
    yield SourceTable(UTILITY, _utility(world, rng, last))


def _last(world: World, last_month: int | None) -> int:
    """The one place where history is cut: nothing after this month is delivered."""
    return world.cal.study_month if last_month is None else last_month


def _heads(world: World) -> np.ndarray:
    """pid of each household's head, by household_id."""
    p = world.persons
    head = np.full(world.households.shape[0], -1)
    is_head = p["relation"].to_numpy() == "head"
    head[p["household_id"].to_numpy()[is_head]] = p["pid"].to_numpy()[is_head]
    return head


def _years(world: World, month: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Calendar years whose `month` falls in the simulation, and which of them are history."""
    cal = world.cal
    years = np.arange(cal.month_start(0).year, cal.month_start(cal.total - 1).year + 1)
    at = np.array([cal.month_of(date(int(y), month, 1)) for y in years])
    ok = (at >= 0) & (at < cal.total)
    return years[ok], at[ok] <= last


def _planting(world: World, rng: np.random.Generator, last: int) -> pd.DataFrame:
    """A perennial herb stays in the ground for its growth years and is re-sown after the
    harvest, so its area changes only in sowing years; an annual one is sown every year."""
    hh = world.households[world.households["farms"].to_numpy()]
    years, known = _years(world, SURVEY_MONTH, last)
    variety = hh["herb_variety"].to_numpy()
    growth = np.array([h.growth_years for h in world.ref.herbs])[variety]
    n, first = hh.shape[0], int(years[0]) if years.size else 0
    since = years[None, :] - first + rng.integers(0, growth)[:, None]
    age, cycle = since % growth[:, None], since // growth[:, None]
    factor = np.exp(rng.normal(0, 0.15, (n, int(cycle.max(initial=0)) + 1)))
    plot = hh["plot_mu"].to_numpy()
    planted = np.round(plot[:, None] * np.take_along_axis(factor, cycle, axis=1), 1)
    contracted = np.round(plot * rng.uniform(0.6, 1.5, n), 1)
    row, col = np.nonzero(np.broadcast_to(known, planted.shape))
    names = world.persons["name"].to_numpy()[_heads(world)[hh["household_id"].to_numpy()]]
    frame = pd.DataFrame(
        {
            "household_no": hh["household_no"].to_numpy()[row],
            "head_name": names[row],
            "village_code": hh["village_code"].to_numpy()[row],
            "year": years[col],
            "contracted_area": contracted[row],
            "variety": np.array([h.name for h in world.ref.herbs])[variety[row]],
            "planted_area": np.maximum(planted[row, col], 0.1),
            "sown_year": years[col] - age[row, col],
        }
    )
    return frame.sort_values(["year", "household_no"], ignore_index=True)


def _ratings(world: World, rng: np.random.Generator, last: int) -> pd.DataFrame:
    """Grades follow the head's payment habits, with noise, and drop after court actions or a
    default (90+ days overdue) in the two years before the rating; villages become 信用村
    one after another and stay so."""
    cal, p, hh = world.cal, world.persons, world.households
    rural = hh[~hh["urban"].to_numpy()]
    head = _heads(world)[rural["household_id"].to_numpy()]
    n = head.size
    row_of = np.full(p.shape[0], -1)
    row_of[head] = np.arange(n)
    income = np.log(np.maximum(world.income[head], 300) / np.median(world.income[head]))
    habit = -0.9 * world.character[head] + 0.25 * income + rng.normal(0, 0.4, n)
    ev = world.events[world.events["entity"] == "person"]
    court = ev[ev["kind"].isin(["enforcement", "dishonest", "seizure"])]
    defaults = world.defaults[world.defaults["entity"] == "person"]
    years, known = _years(world, RATING_MONTH, last)
    villages = world.pop.villages.set_index("village_code")
    first_year = years[0] if years.size else 0
    since = pd.Series(first_year + rng.geometric(0.35, len(villages)) - 1, villages.index)
    parts = []
    for year, ok in zip(years, known, strict=True):
        at = cal.month_of(date(int(year), RATING_MONTH, 1))
        score = habit + rng.normal(0, 0.3, n)
        for table, penalty in ((court, 2.0), (defaults, 1.2)):
            score -= penalty * _hit(table, row_of, at, n)
        grade = GRADES[np.searchsorted(-np.array(GRADE_FLOORS), -score, side="right")]
        rated_on = days_in(rng, cal, np.full(n, at))
        if not ok:
            continue
        village = rural["village_code"]
        parts.append(
            pd.DataFrame(
                {
                    "household_no": rural["household_no"].to_numpy(),
                    "head_name": p["name"].to_numpy()[head],
                    "head_phone": p["phone"].to_numpy()[head],
                    "village_code": village.to_numpy(),
                    "village_name": villages["village_name"].loc[village].to_numpy(),
                    "year": year,
                    "credit_village": np.where(since.loc[village] <= year, "是", "否"),
                    "grade": grade,
                    "rated_on": rated_on,
                }
            )
        )
    columns = list(CREDIT_VILLAGE.columns)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return frame.sort_values(["year", "household_no"], ignore_index=True)


def _hit(table: pd.DataFrame, row_of: np.ndarray, at: int, n: int) -> np.ndarray:
    """Whether each rated head has a row of `table` in the window before month `at`."""
    month = table["month"].to_numpy()
    rows = row_of[table["idx"].to_numpy()]
    rows = rows[(rows >= 0) & (month < at) & (month >= at - RATING_WINDOW)]
    hit = np.zeros(n, dtype=bool)
    hit[rows] = True
    return hit


def _utility(world: World, rng: np.random.Generator, last: int) -> pd.DataFrame:
    """A bill per household per month, read on the 1st for the month before and due by the
    month's end. A head late with some obligation that month pays 1-29 days late; others are
    late now and then, more often with poor habits; bills from the month before a default to
    two months after it are paid together in the third month after it."""
    cal, hh, p = world.cal, world.households, world.persons
    n = hh.shape[0]
    head = _heads(world)
    row_of = np.full(p.shape[0], -1)
    row_of[head] = np.arange(n)
    use = (45 + 30 * hh["size"].to_numpy()) * np.exp(rng.normal(0, 0.35, n))
    use = use * np.where(hh["urban"].to_numpy(), 1.3, 1.0)
    p_late = 1 / (1 + np.exp(4.2 - 0.9 * world.character[head]))
    lates = world.lates[world.lates["entity"] == "person"]
    late_row, late_month = row_of[lates["idx"].to_numpy()], lates["month"].to_numpy()
    dft = world.defaults[world.defaults["entity"] == "person"]
    dft_row, dft_month = row_of[dft["idx"].to_numpy()], dft["month"].to_numpy()
    extract = month_starts(cal, np.array([last + 1]))[0] - np.timedelta64(1, "D")
    account = rng.choice(100_000_000, n, replace=False).astype(str)
    account = np.char.add("34", np.char.zfill(account, 8))
    # Columns built once at full length, month by month (rows: every household, each month);
    # a household's account, holder and address repeat every month, so they are categorical.
    # Days held as seconds, the way pandas keeps dates, so no column is converted on the way.
    kwh_all, paid_all = np.empty((last + 1, n)), np.empty((last + 1, n), dtype="datetime64[s]")
    for t in range(last + 1):
        due = month_starts(cal, np.array([t + 1]))[0] - np.timedelta64(1, "D")
        season = SEASON[(cal.month_start(t).month - 2) % 12]
        kwh = np.round(use * season * np.exp(rng.normal(0, 0.1, n)))
        paid = days_in(rng, cal, np.full(n, t))
        late = rng.random(n) < p_late
        late[late_row[(late_month == t) & (late_row >= 0)]] = True
        paid = np.where(late, due + rng.integers(1, 30, n), paid)
        owing = (dft_row >= 0) & (dft_month >= t - 2) & (dft_month <= t + 1)
        clear = np.full(n, -1)
        np.maximum.at(clear, dft_row[owing], dft_month[owing] + 3)
        cleared = month_starts(cal, np.maximum(clear, 0)) + rng.integers(0, 28, n)
        kwh_all[t], paid_all[t] = kwh, np.where(clear >= 0, cleared, paid)
    months = np.arange(last + 1)
    billed = np.repeat(month_starts(cal, months).astype("datetime64[s]"), n)  # as pandas keeps
    due_all = np.repeat(month_starts(cal, months + 1) - np.timedelta64(1, "D"), n)
    paid_flat = paid_all.ravel()
    late_by = (np.minimum(paid_flat, extract) - due_all).astype("timedelta64[D]").astype(int)
    paid_flat[paid_flat > extract] = np.datetime64("NaT")  # not paid by the extract date
    row = np.tile(np.arange(n), last + 1)
    return pd.DataFrame(
        {
            "account_no": repeated(account, row),
            "holder_name": repeated(p["name"].array, head[row]),
            "holder_phone": repeated(p["phone"].array, head[row]),
            "address": repeated(household_addresses(world), row),
            "billing_month": billed,
            "kwh": kwh_all.ravel(),
            "amount_due": np.round(kwh_all.ravel() * TARIFF, 2),
            "paid_on": paid_flat,
            "days_late": np.maximum(late_by, 0),
        },
        copy=False,
    )
