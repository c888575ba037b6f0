"""The credit bureau's report extracts (征信报告), as its interface delivers them to a lender:
JSON lines of accounts with their 60-month repayment strings, query records and public
records, for people (resident ID) and firms (USCC, the enterprise credit report). The
county's own bank is among the lenders, so its loans come back from the bureau too.

Accounts and queries are simulated by `synth.bureau`; public records are the world's court
events and a few firms' tax arrears. Only facts up to the report month are delivered.

The bank keeps the reports it pulled: the extracts hold one report per subject at each month
of `bureau.report_months` (by default the study month and every six months back three years),
each file one report month (``NAME_YYYY-MM.jsonl``). Every report is a cut of one simulated
history, so a later report continues an earlier one; a subject with nothing to report at a
date is absent from that report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from purecredit.synth import bureau
from purecredit.synth.sources import SourceTable
from purecredit.synth.sourcespec import SourceSpec

if TYPE_CHECKING:
    from purecredit.synth.world import World

OWNER = "中国人民银行征信中心 / PBOC Credit Reference Center"
TAX_ARREARS_RATE = 0.0002  # monthly at z = 0, rising as exp(1.2 z): a few firms in distress
SUBJECT = {
    "report_no": "报告编号",
    "report_date": "报告日期",
    "subject_type": "主体类型",
    "subject_name": "姓名/名称",
    "subject_resident_id": "身份证号码",
    "subject_uscc": "统一社会信用代码",
}
ACCOUNT_STATES = ("正常", "逾期", "呆账", "结清", "销户")
FIVE_CATEGORIES = ("正常", "关注", "次级", "可疑", "损失")
SUBJECT_SPEC = {
    "id_columns": ("subject_resident_id",),
    "uscc_columns": ("subject_uscc",),
    "nullable_columns": ("subject_resident_id", "subject_uscc"),
}

ACCOUNTS = SourceSpec(
    name="credit_bureau_accounts",
    owner=OWNER,
    description="Credit report accounts at every lender, with the 60-month repayment record.",
    entity="account",
    fmt="jsonl",
    monthly_by="report_date",
    headers={
        **SUBJECT,
        "account_no": "账户编号",
        "institution_code": "业务管理机构代码",
        "institution_name": "业务管理机构",
        "institution_type": "机构类型",
        "account_type": "业务种类",
        "guarantee_type": "担保方式",
        "repayment_method": "还款方式",
        "open_date": "开立日期",
        "maturity_date": "到期日期",
        "closed_date": "关闭日期",
        "loan_amount": "借款金额",
        "credit_limit": "授信额度",
        "term_months": "还款期数",
        "account_state": "账户状态",
        "five_category": "五级分类",
        "balance": "余额",
        "overdue_periods": "当前逾期期数",
        "overdue_amount": "当前逾期总额",
        "overdue_1_30": "逾期1-30天未还金额",
        "overdue_31_60": "逾期31-60天未还金额",
        "overdue_61_90": "逾期61-90天未还金额",
        "overdue_91_180": "逾期91-180天未还金额",
        "overdue_over_180": "逾期180天以上未还金额",
        "status_from": "还款记录起始月份",
        "repayment_status": "最近5年还款记录",
    },
    id_columns=SUBJECT_SPEC["id_columns"],
    uscc_columns=SUBJECT_SPEC["uscc_columns"],
    date_columns=("report_date", "open_date", "maturity_date", "closed_date", "status_from"),
    key_columns=("report_no", "account_no"),
    nullable_columns=(
        *SUBJECT_SPEC["nullable_columns"],
        "maturity_date",
        "closed_date",
        "loan_amount",
        "credit_limit",
        "term_months",
        "five_category",
    ),
)
QUERIES = SourceSpec(
    name="credit_bureau_queries",
    owner=OWNER,
    description="Credit report query records of the last two years: who asked, when and why.",
    entity="party",
    fmt="jsonl",
    monthly_by="report_date",
    headers={
        **SUBJECT,
        "query_seq": "编号",
        "query_date": "查询日期",
        "institution_code": "查询机构代码",
        "institution_name": "查询机构",
        "institution_type": "查询机构类型",
        "reason_code": "查询原因代码",
        "reason": "查询原因",
    },
    id_columns=SUBJECT_SPEC["id_columns"],
    uscc_columns=SUBJECT_SPEC["uscc_columns"],
    date_columns=("report_date", "query_date"),
    key_columns=("report_no", "query_seq"),
    nullable_columns=SUBJECT_SPEC["nullable_columns"],
)
PUBLIC_RECORDS = SourceSpec(
    name="credit_bureau_public_records",
    owner=OWNER,
    description="Credit report public records: court enforcement, dishonest listings, tax arrears.",
    entity="party",
    fmt="jsonl",
    monthly_by="report_date",
    headers={
        **SUBJECT,
        "record_type": "记录类型",
        "authority": "机构名称",
        "record_no": "案号/文书编号",
        "record_date": "立案/统计日期",
        "amount": "金额",
        "status": "状态",
    },
    id_columns=SUBJECT_SPEC["id_columns"],
    uscc_columns=SUBJECT_SPEC["uscc_columns"],
    date_columns=("report_date", "record_date"),
    key_columns=("report_no", "record_type", "record_no"),
    nullable_columns=SUBJECT_SPEC["nullable_columns"],
)


def tables(
    world: World, rng: np.random.Generator, last_month: int | Sequence[int] | None = None
) -> Iterator[SourceTable]:
    """The three report extracts of every report in the archive: one report per subject at
    the end of each month of ``last_month`` (default: `bureau.report_months`, the study month
    and every few months before it), oldest first. Each extract is one table of all reports;
    its files are monthly by report date."""
    if last_month is None:
        months = bureau.report_months(world)
    elif isinstance(last_month, int):
        months = [last_month]
    else:
        months = sorted(last_month)
    hist = bureau.history(world, rng)
    records = _public_records(world, rng)
    people = _People(world)
    # Report numbers are drawn for the archive's dates first, then for any other date in
    # order, so a report's numbers do not depend on which other reports are cut with it
    # (a later month's report keeps its numbers however many months are delivered).
    archive = bureau.report_months(world)
    drawn = {
        last: _Subjects(world, rng, last, people)
        for last in [*archive, *sorted(set(months) - set(archive))]
    }
    subjects = [drawn[last] for last in months]
    # Each extract is built when its turn comes and handed over without a reference kept
    # here, so the deliverer can drop it once rendered.
    pending = [
        _concat(
            _accounts(world, bureau.report(world, hist, s.last, queries=False), s) for s in subjects
        )
    ]
    hist = replace(hist, accounts=hist.accounts.iloc[:0])  # only the queries are needed now
    yield SourceTable(ACCOUNTS, pending.pop())
    pending.append(_concat(_queries(bureau.report(world, hist, s.last), s) for s in subjects))
    del hist
    yield SourceTable(QUERIES, pending.pop())
    pending.append(_concat(_records(_records_at(records, s.last), s) for s in subjects))
    del records
    yield SourceTable(PUBLIC_RECORDS, pending.pop())


def _concat(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Reports one after another; categorical columns share their categories, so they stay
    categorical."""
    return pd.concat(list(frames), ignore_index=True)


class _People:
    """Name and key (resident ID or USCC) of each subject row (people first, then firms),
    shared by every report."""

    def __init__(self, world: World) -> None:
        p, ent = world.persons, world.enterprises
        self.people = p.shape[0]
        self.name = np.concatenate([p["name"].to_numpy(), ent["name"].to_numpy()])
        self.key = np.concatenate([p["resident_id"].to_numpy(), ent["uscc"].to_numpy()])


class _Subjects:
    """Report header columns of each subject row (people first, then firms) in the report at
    the end of month ``last``: one report number per subject and report date, shared by the
    three extracts. The number is the report date (YYYYMMDD) and a 10-digit serial."""

    def __init__(self, world: World, rng: np.random.Generator, last: int, who: _People) -> None:
        self.last = last
        self.people = who.people
        self.report_date = world.cal.month_end(last)
        self.stamp = int(self.report_date.strftime("%Y%m%d")) * 10**10
        self.serial = rng.permutation(len(who.key)) + 1
        self.name, self.key = who.name, who.key

    def report_no(self, row: np.ndarray) -> pd.Series:
        numbers = pa.array(self.stamp + self.serial[row].astype(np.int64), pa.int64())
        return pd.Series(numbers.cast(pa.string()).to_pandas(), dtype="str")

    def rows(self, frame: pd.DataFrame) -> np.ndarray:
        """Subject row of each record of a frame keyed by (entity, idx)."""
        person = (frame["entity"] == "person").to_numpy()
        return np.asarray(frame["idx"].to_numpy() + np.where(person, 0, self.people))

    def order(self, frame: pd.DataFrame, *keys: np.ndarray) -> pd.DataFrame:
        """The frame by report number, then by ``keys`` (numeric, most significant first);
        sorting numbers rather than report-number strings keeps millions of rows cheap."""
        order = np.lexsort((*keys[::-1], self.serial[self.rows(frame)]))
        return frame.iloc[order].reset_index(drop=True)

    def columns(self, frame: pd.DataFrame) -> dict[str, object]:
        """Header columns for the rows of a frame keyed by (entity, idx)."""
        row = self.rows(frame)
        person = row < self.people
        key = pd.Series(self.key[row], dtype="str")
        return {
            "report_no": self.report_no(row),
            "report_date": np.datetime64(self.report_date, "D"),
            "subject_type": pd.Categorical.from_codes(
                person.astype(int), pd.Index(["企业", "个人"])
            ),
            "subject_name": self.name[row],
            "subject_resident_id": key.where(person),
            "subject_uscc": key.where(~person),
        }


def _institutions(sim: bureau.Bureau, inst: np.ndarray, prefix: str) -> dict[str, object]:
    table = sim.institutions
    types = pd.Index(sorted(set(table["type"])))  # the same categories in every report
    return {
        f"{prefix}code": pd.Categorical.from_codes(inst, pd.Index(table["code"])),
        f"{prefix}name": pd.Categorical.from_codes(inst, pd.Index(table["name"])),
        f"{prefix}type": pd.Categorical.from_codes(
            types.get_indexer(table["type"].to_numpy()[inst]), types
        ),
    }


def _accounts(world: World, sim: bureau.Bureau, subjects: _Subjects) -> pd.DataFrame:
    acc = sim.accounts  # already in opening order
    acc = subjects.order(acc, acc["open_month"].to_numpy() * 32 + acc["open_day"].to_numpy())
    card = (acc["account_type"] == bureau.CARD).to_numpy()
    open_month, day = acc["open_month"].to_numpy(), acc["open_day"].to_numpy()
    closed = acc["closed_month"].to_numpy() < bureau.NEVER
    frame = pd.DataFrame(
        {
            **subjects.columns(acc),
            "account_no": acc["account_no"].array,
            **_institutions(sim, acc["inst"].to_numpy(), "institution_"),
            "account_type": acc["account_type"],
            "guarantee_type": acc["guarantee"],
            "repayment_method": pd.Categorical.from_codes(
                acc["method"].to_numpy(), pd.Index(bureau.METHODS)
            ),
            "open_date": _dates(world, open_month, day),
            "maturity_date": _dates(world, acc["end_month"].to_numpy(), day, ~card),
            "closed_date": _dates(world, acc["closed_month"].to_numpy(), day, closed),
            "loan_amount": acc["amount"].where(~card),
            "credit_limit": acc["amount"].where(card),
            "term_months": acc["term"].astype("Int64").where(~card),
            "account_state": pd.Categorical(acc["account_state"], categories=ACCOUNT_STATES),
            "five_category": pd.Categorical(acc["five_category"], categories=FIVE_CATEGORIES),
            **{c: acc[c].to_numpy() for c in ("balance", "overdue_periods", "overdue_amount")},
            **{c: acc[c].to_numpy() for c in ACCOUNTS.columns if c.startswith("overdue_")},
            "status_from": np.datetime64(world.cal.month_start(sim.last_month - bureau.WINDOW + 1)),
            "repayment_status": acc["status"].array,
        },
        copy=False,  # a million accounts' columns are not copied once more
    )
    return frame


def _queries(sim: bureau.Bureau, subjects: _Subjects) -> pd.DataFrame:
    q = sim.queries
    # The report lists the latest query first, numbered from 1.
    latest = -q["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    q = subjects.order(q, latest, q["inst"].to_numpy(), q["reason"].cat.codes.to_numpy())
    frame = pd.DataFrame(
        {
            **subjects.columns(q),
            "query_date": q["date"].to_numpy(),
            **_institutions(sim, q["inst"].to_numpy(), "institution_"),
            "reason_code": q["reason"],
            "reason": q["reason"].cat.rename_categories(bureau.REASONS),
        },
        copy=False,
    )
    frame.insert(6, "query_seq", frame.groupby("report_no").cumcount() + 1)
    return frame


def _records(records: pd.DataFrame, subjects: _Subjects) -> pd.DataFrame:
    records = subjects.order(records, records["date"].to_numpy().astype(np.int64))
    frame = pd.DataFrame(
        {
            **subjects.columns(records),
            "record_type": records["record_type"].to_numpy(),
            "authority": records["authority"].to_numpy(),
            "record_no": records["case_no"].to_numpy(),
            "record_date": records["date"].to_numpy(),
            "amount": records["amount"].to_numpy(dtype=float),
            "status": records["status"].to_numpy(),
        }
    )
    # A debtor listed twice under one case is one record in the report.
    return frame.drop_duplicates(["report_no", "record_type", "record_no"], ignore_index=True)


def _dates(
    world: World, month: np.ndarray, day: np.ndarray, present: np.ndarray | None = None
) -> pd.Series:
    """Day ``day`` of each month index; missing where ``present`` is false."""
    ok = np.ones(month.size, dtype=bool) if present is None else present
    start = np.datetime64(world.cal.month_start(0), "M") + np.where(ok, month, 0)
    days = start.astype("datetime64[D]") + (day - 1)
    return pd.Series(days).where(ok)


# --- public records -----------------------------------------------------------------------------


def public_records(world: World, rng: np.random.Generator, last: int) -> pd.DataFrame:
    """Court enforcement and dishonest listings (the world's events) and tax arrears, filed up
    to ``last``, with their status then: entity, idx, month, date, record_type, authority,
    case_no, amount, status."""
    return _records_at(_public_records(world, rng), last)


def _public_records(world: World, rng: np.random.Generator) -> pd.DataFrame:
    """Every public record the bureau will hold, with its filing date and the uniform ``u``
    its status at a report date follows from."""
    out = pd.concat([_court_records(world, rng), _tax_arrears(world, rng)], ignore_index=True)
    start = np.datetime64(world.cal.month_start(0), "M") + out["month"].to_numpy()
    out["date"] = start.astype("datetime64[D]") + rng.integers(0, 28, out.shape[0])
    return out


def _records_at(records: pd.DataFrame, last: int) -> pd.DataFrame:
    """The records filed by the end of ``last``, with their status then."""
    out = records[records["month"] <= last].copy()
    age, u, kind = last - out["month"].to_numpy(), out["u"].to_numpy(), out["record_type"]
    out["status"] = np.select(
        [kind == "强制执行", kind == "失信被执行人", (age < 6) | (u < 0.6)],
        [
            np.where(
                (age < 6) | (u < 0.4), "执行中", np.where(u < 0.75, "终结本次执行", "执行完毕")
            ),
            np.where(u < 0.8, "全部未履行", "部分未履行"),
            "欠缴",
        ],
        "已缴清",
    )
    return out.drop(columns="u").sort_values(["entity", "idx", "date"], ignore_index=True)


def _court_records(world: World, rng: np.random.Generator) -> pd.DataFrame:
    """Enforcement cases in the debtor's district court (large ones at the intermediate
    court), numbered per court and year; a dishonest listing cites the latest enforcement
    case against the same debtor when there is one."""
    ev = world.events[world.events["kind"].isin(["enforcement", "dishonest"])]
    ev = ev.sort_values(["month", "entity", "idx", "kind"], ignore_index=True)
    n, person, idx = ev.shape[0], ev["entity"].to_numpy() == "person", ev["idx"].to_numpy()
    pid, eid = np.where(person, idx, 0), np.where(person, 0, idx)
    p, ent = world.persons, world.enterprises
    district = pd.Series(
        np.where(person, p["district_code"].to_numpy()[pid], ent["district_code"].to_numpy()[eid])
    )
    courts = {
        d.code: d.name if d.name.endswith("县") else "亳州市" + d.name for d in world.ref.districts
    }
    high = rng.random(n) < 0.15
    capital = ent["registered_capital"].to_numpy(dtype=float)[eid]
    claim = np.where(
        person, world.income[pid] * rng.uniform(6, 36, n), capital * rng.uniform(0.05, 0.5, n)
    )
    rec = ev.assign(
        authority=np.where(
            high, "亳州市中级人民法院", (district.map(courts) + "人民法院").to_numpy()
        ),
        court=np.where(high, "16", district.str[2:6].to_numpy()),
        amount=np.round(np.maximum(claim, 5_000), -2),
        year=_years(world, ev["month"].to_numpy()).astype(str),
        row=np.where(person, idx, idx + p.shape[0]),
    )
    seq = (rec.groupby(["court", "year"]).cumcount() + 101).astype(str)
    rec["case_no"] = "(" + rec["year"] + ")皖" + rec["court"] + "执" + seq + "号"
    cited = ["authority", "case_no", "amount"]
    enf = rec.loc[rec["kind"] == "enforcement", ["row", "month", *cited]]
    listed = rec.loc[rec["kind"] == "dishonest", ["row", "month"]].reset_index()
    linked = pd.merge_asof(listed, enf, on="month", by="row").dropna(subset=["case_no"])
    rec.loc[linked["index"].to_numpy(), cited] = linked[cited].to_numpy()
    rec["record_type"] = np.where(rec["kind"] == "enforcement", "强制执行", "失信被执行人")
    rec["u"] = rng.random(n)
    return rec[["entity", "idx", "month", "record_type", "authority", "case_no", "amount", "u"]]


def _tax_arrears(world: World, rng: np.random.Generator) -> pd.DataFrame:
    """欠税: a few firms in distress fall behind with tax, at most once each."""
    ent = world.enterprises
    taxed = ent["kind"].isin(["sole_trader", "company", "cooperative"]).to_numpy()
    month = np.full(ent.shape[0], bureau.NEVER)
    for t in range(world.cal.total):
        p = np.minimum(TAX_ARREARS_RATE * np.exp(1.2 * world.paths.z_firm[:, t]), 0.05)
        hit = taxed & world.paths.firm_active[:, t] & (month == bureau.NEVER)
        month[hit & (rng.random(p.size) < p)] = t
    eid = np.flatnonzero(month < bureau.NEVER)
    eid = eid[np.lexsort((eid, month[eid]))]
    years = _years(world, month[eid]).astype(str)
    seq = pd.Series(years).groupby(years).cumcount().to_numpy() + 1
    names = {d.code: d.name for d in world.ref.districts}
    district = pd.Series(ent["district_code"].to_numpy()[eid]).map(names)
    return pd.DataFrame(
        {
            "entity": "firm",
            "idx": eid,
            "month": month[eid],
            "record_type": "欠税",
            "authority": ("国家税务总局亳州市" + district + "税务局").to_numpy(),
            "case_no": "亳税欠〔" + pd.Series(years) + "〕" + pd.Series(seq).astype(str) + "号",
            "amount": np.round(rng.lognormal(np.log(20_000), 1.0, eid.size), -1),
            "u": rng.random(eid.size),
        }
    )


def _years(world: World, month: np.ndarray) -> np.ndarray:
    start = np.datetime64(world.cal.month_start(0), "M") + month
    return np.asarray(start.astype("datetime64[Y]").astype(int) + 1970)
