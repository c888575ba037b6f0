"""The credit bureau (征信) as the PBOC report shows the county's people and firms: accounts at
every lender with their 60-month repayment strings, and the query records.

Why it is built this way:

- Accounts open month by month at a rate that rises with the latent risk ``z`` (people in
  trouble borrow from more lenders: the multi-head signal), never after an uncured default.
- An account follows the world's ground truth by the rule the county bank's own loans follow
  (`synth.behaviour`): the first default after it opened, while something is due, makes it
  overdue from that month, periods counting 1, 2, 3... until the cure month or, never cured,
  until the lender writes it off ("B"), a guarantor pays ("D") or the collateral is taken
  ("Z"); a lateness event shows "1" for that month only.
- Hard queries come from applications whose monthly rate rises steeply with ``z`` in that
  month, so query counts foretell defaults the way real ones do, without reading the future.
- Accounts and queries are simulated once, from the first month the oldest report of the
  archive shows (`report_months`: every ``bureau_report_every`` months back
  ``bureau_report_history`` months from the study month) to the horizon, and each report is
  a cut at its month (`report`), so a later report continues an earlier one. A report
  lists the accounts opened in the 60 months its strings cover, so reports at different
  dates look alike. Before the first month of history, risk is read at month 0 and nothing
  goes late or defaults: with the default 48 months of history, an old report's strings are
  mostly clean pre-history (build with more ``months`` for full windows). Loops run over
  months only.

Public records (court enforcement, dishonest listings, tax arrears) are views of the world's
events and live with the extractor, `synth.sources.bureau`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from purecredit.synth.world import World

NEVER = 1_000_000  # a month index that never comes
WINDOW = 60  # months in the repayment string (PBOC: the last five years)
QUERY_MONTHS = 24  # months of query records the report lists
STATUS_ALPHABET = "/N1234567CBDZ"
OWN_BANK = ("B34160000H", "药都农村商业银行", "农村商业银行")
KINDS = ("个人经营性贷款", "个人消费贷款", "贷记卡", "个人住房贷款", "企业贷款")
BUSINESS, CONSUMER, CARD, HOUSING, FIRM = KINDS
ENTITIES = ("person", "firm")
GUARANTEES = ("信用", "保证", "抵押")
REASONS = {
    "01": "贷后管理",
    "02": "贷款审批",
    "03": "信用卡审批",
    "08": "担保资格审查",
    "24": "融资审批",
    "26": "额度审批",
}
HARD_REASONS = ("02", "03", "24", "26")
# Repayment methods: 0 annuity, 1 equal principal, 2 interest monthly with principal at
# maturity (the bank's "seasonal" loans are treated alike), 3 revolving (cards).
METHODS = ("等额本息", "等额本金", "按月付息到期还本", "循环额度")
BANK_METHOD = {"equal_instalment": 0, "equal_principal": 1, "interest_monthly": 2, "seasonal": 2}
# Institution types: annual rate, weights of the account kinds they grant (KINDS order), and
# of the query reasons of their applications (02, 03, 24, 26).
INSTITUTION_TYPES = {
    "商业银行": (0.045, (1.0, 1.0, 3.0, 3.0, 2.0), (0.5, 0.35, 0.0, 0.15)),
    "农村商业银行": (0.055, (3.0, 1.0, 0.5, 1.0, 2.0), (0.85, 0.05, 0.0, 0.1)),
    "村镇银行": (0.07, (2.0, 0.5, 0.0, 0.2, 1.0), (1.0, 0.0, 0.0, 0.0)),
    "消费金融公司": (0.16, (0.0, 3.0, 0.0, 0.0, 0.0), (0.8, 0.0, 0.0, 0.2)),
    "小额贷款公司": (0.18, (1.5, 1.5, 0.0, 0.0, 0.5), (1.0, 0.0, 0.0, 0.0)),
    "融资租赁公司": (0.09, (0.5, 0.0, 0.0, 0.0, 0.8), (0.0, 0.0, 1.0, 0.0)),
    "汽车金融公司": (0.08, (0.0, 0.8, 0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0)),
    "融资担保公司": (0.0, (0.0, 0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)),
}
SUBPRIME = ("消费金融公司", "小额贷款公司")  # where borrowers in trouble turn (z > 1)
# Synthetic institutions (PBOC financial institution codes: B, region, serial, H).
INSTITUTIONS = (
    ("B34160101H", "淮海银行亳州分行", "商业银行"),
    ("B34160102H", "皖通银行亳州分行", "商业银行"),
    ("B34160103H", "长淮银行亳州分行", "商业银行"),
    ("B34160104H", "中州汇通银行亳州分行", "商业银行"),
    ("B34160105H", "东岳银行亳州分行", "商业银行"),
    ("B34160106H", "江淮商业银行亳州分行", "商业银行"),
    ("B34160107H", "华中实业银行亳州分行", "商业银行"),
    ("B34160108H", "安泰银行亳州分行", "商业银行"),
    ("B34160201H", "涡北农村商业银行", "农村商业银行"),
    ("B34160202H", "漆园农村商业银行", "农村商业银行"),
    ("B34160203H", "芍花农村商业银行", "农村商业银行"),
    ("B34120204H", "颍淮农村商业银行", "农村商业银行"),
    ("B34160301H", "谯城汇民村镇银行", "村镇银行"),
    ("B34160302H", "利辛惠农村镇银行", "村镇银行"),
    ("B31000401H", "安信消费金融有限公司", "消费金融公司"),
    ("B11000402H", "易达消费金融有限公司", "消费金融公司"),
    ("B41010403H", "中原佳信消费金融有限公司", "消费金融公司"),
    ("B34010404H", "汇诚消费金融有限公司", "消费金融公司"),
    ("B34160501H", "亳州市百草小额贷款有限公司", "小额贷款公司"),
    ("B34160502H", "亳州市药都通小额贷款有限公司", "小额贷款公司"),
    ("B34010503H", "安徽快捷网络小额贷款有限公司", "小额贷款公司"),
    ("B34160504H", "谯城区众信小额贷款有限公司", "小额贷款公司"),
    ("B34010601H", "华药融资租赁有限公司", "融资租赁公司"),
    ("B34160602H", "皖北农机融资租赁有限公司", "融资租赁公司"),
    ("B31000701H", "安驰汽车金融有限公司", "汽车金融公司"),
    ("B34160801H", "亳州市中药材产业融资担保有限公司", "融资担保公司"),
)
OWN = len(INSTITUTIONS)  # institution index of the county's own bank
# Per role: accounts opened per five years and applications (hard queries) per month at
# z = 0, and the shares of business loans, consumer loans and cards among its accounts.
ROLES = {
    "herb_farmer": (0.9, 0.035, (0.55, 0.2, 0.25)),
    "herb_trader": (2.2, 0.055, (0.55, 0.15, 0.3)),
    "sole_trader": (1.9, 0.045, (0.5, 0.2, 0.3)),
    "firm_owner": (2.6, 0.055, (0.45, 0.15, 0.4)),
    "salaried": (1.5, 0.03, (0.05, 0.4, 0.55)),
    "other": (0.7, 0.03, (0.15, 0.5, 0.35)),
    "retired": (0.3, 0.01, (0.1, 0.5, 0.4)),
    "minor": (0.0, 0.0, (0.0, 0.5, 0.5)),
}
FIRM_ACCOUNTS = {"company": 2.5, "cooperative": 1.5, "collective": 0.3, "sole_trader": 0.0}
ACCOUNT_SLOPE = 0.8  # accounts open at exp(0.8 z) times the base rate: multi-head borrowing
MORTGAGE_P = 0.35  # property owners with a mortgage opened in the last five years
FIRM_QUERY_RATE = 0.03
QUERY_SLOPE = 1.0  # applications rise as exp(z): people in trouble apply everywhere
QUERY_CAP = 3.0  # applications per month at most
POST_LOAN_P = (0.04, 0.4)  # monthly chance of a post-loan query: current, overdue
_CODE = {c: np.uint8(ord(c)) for c in STATUS_ALPHABET}
_BDZ = np.frombuffer(b"BDZ", dtype=np.uint8)


@dataclass(frozen=True)
class Bureau:
    """What the bureau knows at the end of ``last_month``, keyed by (entity, idx).

    ``institutions`` (code, name, type) is indexed by the ``inst`` column of the other frames,
    the county's own bank last. Months are the world calendar's indices, amounts CNY.
    ``accounts`` holds the terms (account_no, account_type, guarantee, method, open_month,
    open_day, term, amount, end_month...), the simulated path (default, cure and resolution
    months: never to leave the simulation) and what the report shows: status (the 60-month
    string), balance, overdue_periods, overdue_amount, the overdue_* day bands, five_category,
    account_state and closed_month. ``queries`` has month, date, inst and reason (code)."""

    last_month: int
    institutions: pd.DataFrame
    accounts: pd.DataFrame
    queries: pd.DataFrame


@dataclass(frozen=True)
class History:
    """Every account (terms and path) and query record the bureau will ever hold, from the
    first month the oldest report of the archive shows (`report_months`) to the horizon.
    Reports are cuts of it (`report`), so every report shows the same world."""

    institutions: pd.DataFrame
    accounts: pd.DataFrame
    queries: pd.DataFrame


def report_months(world: World) -> list[int]:
    """Months whose end the bank pulled a report at (ascending, the study month last): every
    ``bureau_report_every`` months back ``bureau_report_history`` months from the study month,
    none before the first month of history."""
    s, cfg = world.cal.study_month, world.config
    every, back = cfg.bureau_report_every, cfg.bureau_report_history
    return sorted(s - k * every for k in range(back // every + 1) if s - k * every >= 0)


def simulate(world: World, rng: np.random.Generator, last_month: int | None = None) -> Bureau:
    """Simulate the bureau's records and report them as of the end of ``last_month``."""
    last = world.cal.study_month if last_month is None else last_month
    return report(world, history(world, rng), last)


def history(world: World, rng: np.random.Generator) -> History:
    """Simulate every account and query record; draws the same whatever report is cut."""
    acc = _accounts(world, rng)
    queries = _queries(world, rng, acc)
    return History(
        institutions=pd.DataFrame((*INSTITUTIONS, OWN_BANK), columns=["code", "name", "type"]),
        accounts=acc,
        queries=queries,
    )


def report(world: World, hist: History, last: int, *, queries: bool = True) -> Bureau:
    """The report as of the end of ``last``: the accounts opened in the 60 months its
    repayment strings cover, and the queries of the last 24 months (none when ``queries`` is
    false; post-loan checks only on listed accounts). Every report lists by the same rule, so
    reports at different dates are alike."""
    first = last - WINDOW + 1
    opened = hist.accounts["open_month"].to_numpy()
    live = hist.accounts[(opened >= first) & (opened <= last)].reset_index(drop=True)
    q = hist.queries.iloc[:0]
    if queries:
        month = hist.queries["month"].to_numpy()
        listed = hist.queries["opened"].to_numpy() >= first
        q = hist.queries[(month > last - QUERY_MONTHS) & (month <= last) & listed]
    return Bureau(
        last_month=last,
        institutions=hist.institutions,
        accounts=pd.concat([live, _report(world, live, last)], axis=1),
        queries=q.reset_index(drop=True),
    )


def _start(world: World) -> int:
    """First month an account may open in: the first the oldest report's window shows."""
    return min(report_months(world) or [world.cal.study_month]) - WINDOW + 1


# --- accounts -------------------------------------------------------------------------------


def _accounts(world: World, rng: np.random.Generator) -> pd.DataFrame:
    """Every account the bureau will ever know, with the path its repayment takes."""
    frames = [_person_accounts(world, rng), _firm_accounts(world, rng), _own_bank(world)]
    acc = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    acc = acc.sort_values(["open_month", "entity", "idx", "inst"], kind="stable", ignore_index=True)
    # Other lenders' account numbers: institution code and a serial; the bank keeps its own.
    codes = pd.Series([c for c, _, _ in (*INSTITUTIONS, OWN_BANK)], dtype="str")
    serial = pd.Series(np.arange(acc.shape[0]), dtype="str").str.zfill(10)
    numbered = codes.iloc[acc["inst"].to_numpy()].reset_index(drop=True) + serial
    acc["account_no"] = acc["account_no"].where(acc["inst"] == OWN, numbered)
    return _paths(world, rng, acc)


def _openings(
    rng: np.random.Generator,
    first: int,
    total: int,
    z: np.ndarray,
    rate: np.ndarray,
    allowed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(entity, month) of accounts opened at ``rate`` per five years, rising with ``z``;
    ``allowed`` is the first month each entity may borrow, or a (entities, months) mask."""
    idx, months = [], []
    for t in range(first, total):
        zt = z[:, max(t, 0)].astype(float)
        ok = allowed[:, max(t, 0)] if allowed.ndim == 2 else allowed <= t
        lam = np.where(ok, rate / WINDOW * np.exp(ACCOUNT_SLOPE * zt), 0.0)
        hit = rng.poisson(lam)
        who = np.repeat(np.arange(hit.size), hit)
        idx.append(who)
        months.append(np.full(who.size, t))
    return np.concatenate(idx), np.concatenate(months)


def _bad_from(world: World, entity: str, n: int) -> np.ndarray:
    """First month of an uncured default per entity (no lender opens an account after it)."""
    d = world.defaults[(world.defaults["entity"] == entity) & (world.defaults["cure_after"] < 0)]
    out = np.full(n, NEVER)
    np.minimum.at(out, d["idx"].to_numpy(), d["month"].to_numpy())
    return out


def _person_accounts(world: World, rng: np.random.Generator) -> pd.DataFrame:
    p, s, total = world.persons, world.cal.study_month, world.cal.total
    n = p.shape[0]
    role = pd.Categorical(p["role"], categories=list(ROLES)).codes
    adult_from = s + np.ceil((18 - p["age"].to_numpy()) * 12).astype(int)
    bad = _bad_from(world, "person", n)
    rate = np.array([v[0] for v in ROLES.values()])[role]
    z = world.paths.z_person
    start = _start(world)
    idx, month = _openings(rng, start, total, z, rate, adult_from)
    keep = month < bad[idx]
    idx, month = idx[keep], month[keep]
    cum = np.cumsum(np.array([v[2] for v in ROLES.values()]), axis=1)[role[idx]]
    kind = np.array(KINDS)[(rng.random(idx.size)[:, None] > cum).sum(axis=1)]
    # Mortgages: owners aged 25 to 60 when they borrowed, at most once each, MORTGAGE_P of
    # owners in any five years.
    share = min(MORTGAGE_P * (s + 1 - start) / WINDOW, 0.9)
    owners = np.flatnonzero(world.owns_property & (rng.random(n) < share))
    m_month = rng.integers(start, s + 1, owners.size)
    age_then = p["age"].to_numpy()[owners] - (s - m_month) / 12
    ok = (age_then >= 25) & (age_then <= 60) & (m_month < bad[owners])
    idx = np.concatenate([idx, owners[ok]])
    month = np.concatenate([month, m_month[ok]])
    kind = np.concatenate([kind, np.full(int(ok.sum()), HOUSING)])
    zt = z[idx, np.maximum(month, 0)].astype(float)
    return _terms(rng, "person", idx, month, kind, zt, world.income[idx] * 12)


def _firm_accounts(world: World, rng: np.random.Generator) -> pd.DataFrame:
    ent, total = world.enterprises, world.cal.total
    rate = ent["kind"].map(FIRM_ACCOUNTS).to_numpy(dtype=float)
    active = world.paths.firm_active.copy()
    bad = _bad_from(world, "firm", ent.shape[0])
    active &= np.arange(total)[None, :] < bad[:, None]
    z = world.paths.z_firm
    idx, month = _openings(rng, _start(world), total, z, rate, active)
    # Before history the mask reads month 0: keep only firms registered by then.
    keep = month >= ent["registered_month"].to_numpy()[idx]
    idx, month = idx[keep], month[keep]
    zt = z[idx, np.maximum(month, 0)].astype(float)
    scale = ent["registered_capital"].to_numpy(dtype=float)[idx] * 0.6
    return _terms(rng, "firm", idx, month, np.full(idx.size, FIRM), zt, scale)


def _terms(
    rng: np.random.Generator,
    entity: str,
    idx: np.ndarray,
    month: np.ndarray,
    kind: np.ndarray,
    z: np.ndarray,
    scale: np.ndarray,
) -> pd.DataFrame:
    """Institution, amount, term, method and guarantee of new accounts of one kind of entity.

    ``scale`` is the borrower's yearly income (people) or lending capacity (firms), CNY."""
    n = idx.size
    inst = _pick_institutions(rng, kind, z)
    itype = np.array([t for _, _, t in INSTITUTIONS])[inst]
    u = rng.random(n)
    term = np.select(
        [kind == CARD, kind == HOUSING, itype == "融资租赁公司", itype == "汽车金融公司"],
        [0, rng.choice([120, 180, 240, 300, 360], n), rng.choice([24, 36], n), 36],
        rng.choice([6, 12, 12, 12, 24, 36], n),
    )
    noise = rng.lognormal(0.0, 0.5, n)
    amount = np.select(
        [kind == CARD, kind == HOUSING, kind == CONSUMER, kind == BUSINESS],
        [
            np.clip(scale * 0.4 * noise, 5_000, 100_000),
            np.clip(scale * 6 * noise, 150_000, 1_200_000),
            np.clip(scale * 0.5 * noise, 3_000, 300_000),
            np.clip(scale * 1.5 * noise, 10_000, 1_000_000),
        ],
        np.clip(scale * noise, 50_000, 10_000_000),
    )
    method = np.select(
        [kind == CARD, np.isin(kind, [BUSINESS, FIRM]) & (u < 0.6), (kind == HOUSING) & (u < 0.3)],
        [3, 2, 1],
        0,
    )
    guarantee = np.select(
        [kind == HOUSING, itype == "汽车金融公司", kind == CARD, u < 0.55, u < 0.85],
        ["抵押", "抵押", "信用", "信用", "保证"],
        "抵押",
    )
    guarantee = np.where((kind == CONSUMER) & (u < 0.92), "信用", guarantee)
    rate = np.array([INSTITUTION_TYPES[t][0] for t in itype]) + 0.01 * np.clip(z, -2, 4)
    # Cards: a share is cancelled after a while; the used share of the limit rises with z.
    cancel = np.where(rng.random(n) < 0.12, month + rng.integers(6, 60, n), NEVER)
    used = np.where(
        kind == CARD, amount * (1 / (1 + np.exp(1.0 - 0.6 * z + rng.normal(0, 0.5, n)))), 0.0
    )
    return pd.DataFrame(
        {
            "entity": _cat(np.full(n, entity), ENTITIES),
            "idx": idx,
            "account_no": "",
            "inst": inst,
            "account_type": _cat(kind, KINDS),
            "guarantee": _cat(guarantee, GUARANTEES),
            "method": method,
            "open_month": month,
            "open_day": rng.integers(1, 29, n),
            "term": term,
            "amount": np.round(amount, -2),
            "rate": np.clip(rate, 0.03, 0.24),
            "end_month": np.where(kind == CARD, cancel, month + term),
            "used": np.round(used, 2),
        }
    )


def _pick_institutions(rng: np.random.Generator, kind: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Institution of each account: by what each grants, tilted to subprime lenders when z > 1."""
    types = [t for _, _, t in INSTITUTIONS]
    weights = np.array([INSTITUTION_TYPES[t][1] for t in types]).T  # (kinds, institutions)
    tilt = np.where(np.isin(types, SUBPRIME), 4.0, 1.0)
    out = np.zeros(kind.size, dtype=int)
    for k, name in enumerate(KINDS):
        for sub in (False, True):
            rows = np.flatnonzero((kind == name) & ((z > 1) == sub))
            w = weights[k] * (tilt if sub else 1.0)
            out[rows] = rng.choice(w.size, rows.size, p=w / w.sum())
    return out


def _own_bank(world: World) -> pd.DataFrame:
    """The county bank's own loans as the bureau has them (none in a world without them)."""
    loans = getattr(world, "bank_loans", None)
    if loans is None or loans.empty:
        return pd.DataFrame()
    person = loans["entity"].to_numpy() == "person"
    start = loans["start_month"].to_numpy()
    return pd.DataFrame(
        {
            "entity": _cat(loans["entity"].to_numpy(), ENTITIES),
            "idx": loans["idx"].to_numpy(),
            "account_no": loans["loan_id"].to_numpy(),
            "inst": OWN,
            "account_type": _cat(np.where(person, BUSINESS, FIRM), KINDS),
            "guarantee": _cat(np.full(person.size, "信用"), GUARANTEES),
            "method": loans["method"].map(BANK_METHOD).fillna(0).to_numpy(dtype=int),
            "open_month": start,
            "open_day": (1 + pd.util.hash_array(loans["loan_id"].to_numpy()) % 28).astype(np.int64),
            "term": loans["term_months"].to_numpy(),
            "amount": loans["amount"].to_numpy(dtype=float),
            "rate": loans["rate"].to_numpy(dtype=float),
            "end_month": start + loans["term_months"].to_numpy(),
            "used": 0.0,
        }
    )


def _paths(world: World, rng: np.random.Generator, acc: pd.DataFrame) -> pd.DataFrame:
    """Default, cure and resolution month of each account (NEVER when it does not happen).

    The first default after opening while the account runs counts (`synth.behaviour`).
    Unless cured first, a lender resolves the account after 9-18 overdue periods: a
    guarantor pays for some guaranteed loans (D), collateral settles some secured ones (Z),
    the rest is written off (B)."""
    row = _rows(world, acc)
    d = world.defaults
    drow = np.where(d["entity"] == "person", d["idx"], d["idx"] + world.persons.shape[0])
    hits = pd.DataFrame({"a": np.arange(acc.shape[0]), "row": row}).merge(
        pd.DataFrame({"row": drow, "d": d["month"].to_numpy(), "c": d["cure_after"].to_numpy()}),
        on="row",
    )
    o, end = acc["open_month"].to_numpy(), acc["end_month"].to_numpy()
    hits = hits[(hits["d"] > o[hits["a"]]) & (hits["d"] <= end[hits["a"]])]
    first = hits.sort_values(["a", "d"]).drop_duplicates("a")
    n = acc.shape[0]
    dm, cure = np.full(n, NEVER), np.full(n, NEVER)
    dm[first["a"]] = first["d"]
    cure[first["a"]] = np.where(first["c"] >= 0, first["d"] + first["c"], NEVER)
    periods = rng.integers(9, 19, n)
    resolve = np.where((dm < NEVER) & (cure == NEVER), dm + periods - 1, NEVER)
    u = rng.random(n)
    guarantee = acc["guarantee"]
    how = np.select(
        [
            (guarantee == "保证").to_numpy() & (u < 0.4),
            (guarantee == "抵押").to_numpy() & (u < 0.5),
        ],
        ["D", "Z"],
        "B",
    )
    return acc.assign(
        row=row,
        default_month=dm,
        cure_month=cure,
        resolve_month=resolve,
        resolve_as=_cat(how, "BDZ"),
    )


def _rows(world: World, frame: pd.DataFrame) -> np.ndarray:
    """Subject row: the pid for people, the number of people plus the eid for firms."""
    firm = (frame["entity"] == "firm").to_numpy()
    return np.asarray(frame["idx"].to_numpy() + firm * world.persons.shape[0], dtype=np.int64)


# --- the report: repayment strings and the state at the report date -----------------------


def status_codes(acc: pd.DataFrame, late: np.ndarray, first: int) -> np.ndarray:
    """(accounts, WINDOW) uint8 array of the PBOC repayment status, months ``first`` onward.

    ``late`` is a bool (subject rows, WINDOW) mask of lateness events. Comparisons broadcast
    to bool arrays only; month arithmetic runs on the few accounts that ever defaulted."""
    t = first + np.arange(WINDOW, dtype=np.int64)[None, :]
    o, end, d, cure, res = (
        acc[c].to_numpy()[:, None]
        for c in ("open_month", "end_month", "default_month", "cure_month", "resolve_month")
    )
    out = np.where(t > end, _CODE["C"], _CODE["N"])
    out[late[acc["row"].to_numpy()] & (t > o) & (t <= end)] = _CODE["1"]
    bad = np.flatnonzero(d[:, 0] < first + WINDOW)
    sub, db, how = out[bad], d[bad], _BDZ[acc["resolve_as"].cat.codes]
    overdue = (t >= db) & (t < cure[bad])
    sub[overdue] = np.broadcast_to(ord("0") + np.minimum(t - db + 1, 7), sub.shape)[overdue]
    after = np.broadcast_to(
        np.where(how[bad] == ord("B"), _CODE["B"], _CODE["C"])[:, None], sub.shape
    )
    sub[t > res[bad]] = after[t > res[bad]]
    sub[t == res[bad]] = np.broadcast_to(how[bad][:, None], sub.shape)[t == res[bad]]
    out[bad] = sub
    out[t < o] = _CODE["/"]
    return out


def _late_mask(world: World, first: int) -> np.ndarray:
    """Lateness events per subject row and month of the window."""
    rows = world.persons.shape[0] + world.enterprises.shape[0]
    lates = world.lates[(world.lates["month"] >= first) & (world.lates["month"] < first + WINDOW)]
    mask = np.zeros((rows, WINDOW), dtype=bool)
    mask[_rows(world, lates), lates["month"].to_numpy() - first] = True
    return mask


def _report(world: World, acc: pd.DataFrame, last: int) -> pd.DataFrame:
    """Repayment string, balance, overdue periods and amounts, grade and state at ``last``."""
    codes = status_codes(acc, _late_mask(world, last - WINDOW + 1), last - WINDOW + 1)
    now = codes[:, -1]
    o, term, d = (acc[c].to_numpy() for c in ("open_month", "term", "default_month"))
    delinquent = (d <= last) & (last < acc["cure_month"].to_numpy()) & (now != ord("C"))
    in_arrears = ((now >= ord("1")) & (now <= ord("7"))) | (now == ord("B"))
    late_now = in_arrears & ~delinquent
    periods = np.where(late_now, 1, np.where(in_arrears, last - d + 1, 0))
    since = np.where(late_now, last, d)  # first unpaid month
    paid = np.clip(np.where(in_arrears, since - 1, last) - o, 0, term)
    closed = np.isin(now, [ord("C"), ord("D"), ord("Z")])
    balance = np.where(closed, 0.0, _balance(acc, paid))
    due = [np.where(in_arrears, _due(acc, since, periods - k), 0.0) for k in (0, 1, 2, 3, 6)]
    bands = {  # by age of each unpaid instalment: k periods overdue is k x 30 days
        "overdue_1_30": due[0] - due[1],
        "overdue_31_60": due[1] - due[2],
        "overdue_61_90": due[2] - due[3],
        "overdue_91_180": due[3] - due[4],
        "overdue_over_180": due[4],
    }
    grade = five_category(periods * 30, world.ref.five_category_dpd)
    grade = np.where(now == ord("B"), "损失", grade)  # written off is a loss whatever the days
    card = (acc["account_type"] == CARD).to_numpy()
    state = np.select(
        [closed & card, closed, now == ord("B"), in_arrears],
        ["销户", "结清", "呆账", "逾期"],
        "正常",
    )
    return pd.DataFrame(
        {
            "status": _strings(codes),
            "balance": np.round(balance, 2),
            "overdue_periods": periods,
            "overdue_amount": np.round(due[0], 2),
            **{k: np.round(v, 2) for k, v in bands.items()},
            "five_category": pd.Series(grade, dtype="str").where(~closed),
            "account_state": state,
            "closed_month": np.where(closed, _closed_month(acc), NEVER),
        }
    )


def five_category(days: np.ndarray, dpd: dict[str, int]) -> np.ndarray:
    """Five-category grade by days past due (2023 risk classification rules: special mention
    from 1 day, substandard over 90, doubtful over 270, loss over 360; ``dpd`` holds the first
    day of each, from the reference facts)."""
    return np.asarray(
        np.select(
            [days >= dpd["loss"], days >= dpd["doubtful"], days >= dpd["substandard"]],
            ["损失", "可疑", "次级"],
            np.where(days >= dpd["special_mention"], "关注", "正常"),
        )
    )


def _closed_month(acc: pd.DataFrame) -> np.ndarray:
    """Month an account was settled: maturity (or cancellation), the cure after it, or the
    month the guarantor or the collateral paid."""
    end, cure, res = (acc[c].to_numpy() for c in ("end_month", "cure_month", "resolve_month"))
    after = (acc["default_month"].to_numpy() <= end) & (cure > end)
    return np.where(res < NEVER, res, np.where(after, cure, end))


def _balance(acc: pd.DataFrame, paid: np.ndarray) -> np.ndarray:
    """Principal outstanding after ``paid`` instalments (card: the used amount)."""
    p, r, method = acc["amount"].to_numpy(), acc["rate"].to_numpy() / 12, acc["method"].to_numpy()
    n = np.maximum(acc["term"].to_numpy(), 1)
    growth = (1 + r) ** n
    return np.select(
        [method == 0, method == 1, method == 2],
        [
            p * (growth - (1 + r) ** paid) / (growth - 1),
            p * (1 - paid / n),
            np.where(paid < n, p, 0.0),
        ],
        acc["used"].to_numpy(),
    )


def _due(acc: pd.DataFrame, start: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Amount falling due in the ``months`` months from ``start`` (instalments past maturity
    do not exist; a card's minimum payment is a tenth of the used amount)."""
    p, r, t = acc["amount"].to_numpy(), acc["rate"].to_numpy() / 12, acc["term"].to_numpy()
    o, method = acc["open_month"].to_numpy(), acc["method"].to_numpy()
    months = np.maximum(months, 0)
    j1 = start - o  # instalment number of the first month
    j2 = np.minimum(start + months - 1, o + t) - o
    count = np.maximum(j2 - j1 + 1, 0)
    annuity = p * r / (1 - (1 + r) ** -np.maximum(t, 1))
    principal_part = count * (p / np.maximum(t, 1) + r * p) - r * p / np.maximum(t, 1) * (
        (j1 - 1 + j2 - 1) * count / 2
    )
    bullet = r * p * count + p * ((j2 == t) & (count > 0))
    card = np.minimum(months, 10) * 0.1 * acc["used"].to_numpy()
    return np.asarray(
        np.select(
            [method == 0, method == 1, method == 2], [annuity * count, principal_part, bullet], card
        )
    )


def _strings(codes: np.ndarray) -> pd.Series:
    """One str per row of an ASCII code array, without a Python loop."""
    flat = np.ascontiguousarray(codes).view(f"S{codes.shape[1]}").ravel()
    return pd.Series(pa.array(flat).cast(pa.string()).to_pandas(), dtype="str")


# --- queries ----------------------------------------------------------------------------------


def _queries(world: World, rng: np.random.Generator, acc: pd.DataFrame) -> pd.DataFrame:
    """Every query record from the first month any report may list to the horizon."""
    first = min(report_months(world) or [world.cal.study_month]) - QUERY_MONTHS + 1
    parts = [
        _applications(world, rng, first, "person"),
        _applications(world, rng, first, "firm"),
        _opening_queries(rng, acc, first),
        _post_loan(rng, acc, first, world.cal.total),
        _guarantee_reviews(world, rng, acc, first),
    ]
    q = pd.concat(parts, ignore_index=True)
    q = q[(q["month"] >= first) & (q["month"] < world.cal.total)]
    starts = np.datetime64(world.cal.month_start(0), "M") + q["month"].to_numpy()
    length = (starts + 1).astype("datetime64[D]") - starts.astype("datetime64[D]")
    day = 1 + (rng.random(q.shape[0]) * length.astype(int)).astype(int)
    q = q.assign(day=day, date=starts.astype("datetime64[D]") + (day - 1))
    return q.sort_values(["entity", "idx", "date", "inst", "reason"], ignore_index=True)


def _query_frame(
    entity: object,
    idx: np.ndarray,
    month: object,
    inst: object,
    reason: object,
    opened: object = NEVER,
) -> pd.DataFrame:
    """Query records; ``opened`` is the opening month of the account a post-loan check is
    about (NEVER for other queries): a report lists such a check only while it lists the
    account."""
    n = idx.size
    return pd.DataFrame(
        {
            "entity": _cat(entity if not isinstance(entity, str) else np.full(n, entity), ENTITIES),
            "idx": idx,
            "month": month,
            "inst": inst,
            "reason": _cat(
                reason if not isinstance(reason, str) else np.full(n, reason), tuple(REASONS)
            ),
            "opened": opened,
        }
    )


def _cat(values: object, categories: Sequence[str]) -> pd.Categorical[str]:
    """Low-cardinality text as a categorical, so that millions of rows do not each hold a
    str; ``values`` is a str, an array of str or a categorical with these categories."""
    cats = list(categories)
    if isinstance(values, pd.Series | pd.Categorical):
        codes = np.asarray(pd.Categorical(values, categories=cats).codes)
    else:
        uniq, inverse = np.unique(np.asarray(values), return_inverse=True)
        codes = np.array([cats.index(u) for u in uniq.tolist()], dtype=np.int8)[inverse]
    return pd.Categorical.from_codes(codes.reshape(-1), categories=pd.Index(cats))


def _applications(world: World, rng: np.random.Generator, first: int, entity: str) -> pd.DataFrame:
    """Hard queries of applications: at a monthly rate that rises steeply with z that month,
    from lenders of the kind the applicant needs, more and more subprime as z rises."""
    total = world.cal.total
    if entity == "person":
        z = world.paths.z_person
        role = pd.Categorical(world.persons["role"], categories=list(ROLES)).codes
        rate = np.array([v[1] for v in ROLES.values()])[role]
        adult = world.cal.study_month + np.ceil((18 - world.persons["age"].to_numpy()) * 12)
        kinds = [0, 1, 2]

        def allowed(t: int) -> np.ndarray:
            return np.asarray(adult <= t)

    else:
        z = world.paths.z_firm
        rate = np.full(world.enterprises.shape[0], FIRM_QUERY_RATE)
        registered = world.enterprises["registered_month"].to_numpy()
        kinds = [4]

        def allowed(t: int) -> np.ndarray:
            # Before history, firms registered by then, with month 0's state.
            return np.asarray(world.paths.firm_active[:, max(t, 0)] & (registered <= t))

    idx, months, zs = [], [], []
    for t in range(first, total):
        zt = z[:, max(t, 0)]  # before history, risk as in month 0 (as accounts open)
        lam = np.where(allowed(t), np.minimum(rate * np.exp(QUERY_SLOPE * zt), QUERY_CAP), 0.0)
        hit = rng.poisson(lam)
        who = np.repeat(np.arange(hit.size), hit)
        idx.append(who)
        months.append(np.full(who.size, t))
        zs.append(zt[who])
    i, m, zz = np.concatenate(idx), np.concatenate(months), np.concatenate(zs)
    types = [t for _, _, t in INSTITUTIONS]
    w = np.array([sum(INSTITUTION_TYPES[t][1][k] for k in kinds) for t in types])
    tilt = np.where(np.isin(types, SUBPRIME), 4.0, 1.0)
    inst = np.where(
        zz > 1,
        rng.choice(w.size, i.size, p=w * tilt / (w * tilt).sum()),
        rng.choice(w.size, i.size, p=w / w.sum()),
    )
    itype = np.array(types)[inst]
    if entity == "firm":
        reason = np.where(itype == "融资租赁公司", "24", "02")
    else:
        cum = np.cumsum(np.array([INSTITUTION_TYPES[t][2] for t in types]), axis=1)[inst]
        reason = np.array(HARD_REASONS)[(rng.random(i.size)[:, None] > cum).sum(axis=1).clip(0, 3)]
    return _query_frame(entity, i, m, inst, reason)


def _opening_queries(rng: np.random.Generator, acc: pd.DataFrame, first: int) -> pd.DataFrame:
    """The approval query behind every account, in its opening month or the month before."""
    new = acc[acc["open_month"] >= first - 1]
    itype = np.array([t for _, _, t in INSTITUTIONS] + [OWN_BANK[2]])[new["inst"].to_numpy()]
    kind = new["account_type"].to_numpy()  # a few rows: the object array is cheap
    reason = np.select([kind == CARD, itype == "融资租赁公司"], ["03", "24"], "02")
    month = new["open_month"].to_numpy() - (rng.random(new.shape[0]) < 0.3)
    return _query_frame(
        new["entity"].array, new["idx"].to_numpy(), month, new["inst"].to_numpy(), reason
    )


def _post_loan(rng: np.random.Generator, acc: pd.DataFrame, first: int, total: int) -> pd.DataFrame:
    """Post-loan checks (01) by the lender while an account runs, far likelier when overdue."""
    o, d = acc["open_month"].to_numpy(), acc["default_month"].to_numpy()
    live_end = np.minimum(_closed_month(acc), total - 1)
    od_end = np.minimum(
        np.minimum(acc["cure_month"].to_numpy() - 1, acc["resolve_month"].to_numpy()), total - 1
    )
    rows, months = [], []
    for a, b, p in (
        (np.maximum(o, first), live_end, POST_LOAN_P[0]),
        (np.maximum(d, first), od_end, POST_LOAN_P[1]),
    ):
        span = np.clip(b - a + 1, 0, None)
        k = rng.binomial(span, p)
        r = np.repeat(np.arange(acc.shape[0]), k)
        rows.append(r)
        months.append(a[r] + (rng.random(r.size) * span[r]).astype(int))
    r = np.concatenate(rows)
    return _query_frame(
        acc["entity"].array.take(r),
        acc["idx"].to_numpy()[r],
        np.concatenate(months),
        acc["inst"].to_numpy()[r],
        "01",
        o[r],
    )


def _guarantee_reviews(
    world: World, rng: np.random.Generator, acc: pd.DataFrame, first: int
) -> pd.DataFrame:
    """Guarantee reviews (08): the lender checks the guarantor of a guaranteed loan (a firm's
    legal representative, or an adult of the borrower's village), and a guarantee company
    checks some borrowers it stands behind."""
    g = acc[(acc["guarantee"] == "保证") & (acc["open_month"] >= first)]
    firm = (g["entity"] == "firm").to_numpy()
    p = world.persons
    adults = np.flatnonzero(p["age"].to_numpy() >= 18)
    village = pd.factorize(p["village_code"].to_numpy())[0]
    order = adults[np.argsort(village[adults], kind="stable")]
    start = np.searchsorted(village[order], np.arange(village.max() + 2))
    borrower = np.where(firm, 0, g["idx"].to_numpy())
    v = village[borrower]
    size = start[v + 1] - start[v]
    pick = (rng.random(g.shape[0]) * size).astype(int)
    guarantor = order[np.minimum(start[v] + pick, order.size - 1)]
    guarantor = np.where(
        guarantor == borrower,
        order[np.minimum(start[v] + (pick + 1) % np.maximum(size, 1), order.size - 1)],
        guarantor,
    )
    rep = world.enterprises["legal_rep_pid"].to_numpy()[np.where(firm, g["idx"].to_numpy(), 0)]
    who = np.where(firm, rep, guarantor)
    ok = firm | ((size > 1) & (who != borrower))
    by_company = rng.random(g.shape[0]) < 0.2
    company = next(i for i, (_, _, t) in enumerate(INSTITUTIONS) if t == "融资担保公司")
    month = g["open_month"].to_numpy()
    return pd.concat(
        [
            _query_frame("person", who[ok], month[ok], g["inst"].to_numpy()[ok], "08"),
            _query_frame(
                g["entity"].array[by_company],
                g["idx"].to_numpy()[by_company],
                month[by_company] - 1,
                company,
                "08",
            ),
        ],
        ignore_index=True,
    )
