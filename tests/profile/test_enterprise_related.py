"""The related-parties module against related firms and buyer shares worked out in pandas from
the delivered registry, shareholder, tax and court files (read and cleaned by `raw` as in
test_enterprise)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pandas as pd
import pytest

from purecredit.profile.features import enterprise_related
from tests.profile.conftest import AS_OF, BEFORE, Profiled, same
from tests.profile.raw import clean, known_on, read_monthly, read_text, registry, uscc_ok

WORST = {"D": 5, "C": 4, "M": 3, "B": 2, "A": 1}


def text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def features(profiled: Profiled, subjects: list[str], as_of: date = AS_OF) -> pd.DataFrame:
    table = profiled.features([enterprise_related.MODULE], subjects, as_of)
    return table.to_pandas().set_index("subject")


def known_registry(profiled: Profiled, as_of: date) -> pd.DataFrame:
    """The registry entries known by `as_of`: the first copy's entries from their date of
    establishment plus 30 days (never after its delivery)."""
    reg = registry(profiled.county)
    return reg[(known_on("enterprise_registry", reg) <= as_of) & (reg.registered_on <= str(as_of))]


def raw_related(profiled: Profiled, as_of: date) -> dict[str, set[str]]:
    """Firms sharing a legal rep or shareholder, or holding shares one in the other, as known
    by `as_of` (the shareholder list, without a history rule, from its delivery)."""
    reg = known_registry(profiled, as_of)
    holders = read_text(profiled.county, "enterprise_shareholders")
    holders = holders[holders.uscc.isin(registry(profiled.county).index)]  # registered firms
    holders = holders[holders.holder_uscc.map(lambda v: v == "" or uscc_ok(v))]
    holders = clean(holders, ["uscc", "holder_name"], [], [], ids=("holder_id",))
    holders = holders[known_on("enterprise_shareholders", holders) <= as_of]
    parties: dict[str, set[str]] = defaultdict(set)
    for uscc, rep in reg.legal_rep_id.items():
        parties[uscc] |= {uscc} | ({rep} if rep else set())
    for row in holders.itertuples():
        parties[row.uscc].add(row.holder_id or row.holder_uscc)
    related: dict[str, set[str]] = defaultdict(set)
    for a, pa_ in parties.items():
        for b, pb in parties.items():
            if a != b and pa_ & pb:
                related[a].add(b)
    return related


@pytest.mark.parametrize("as_of", [AS_OF, BEFORE])
def test_related_firms(profiled: Profiled, as_of: date) -> None:
    firms = sorted(registry(profiled.county).index)
    known = set(known_registry(profiled, as_of).index)
    related = raw_related(profiled, as_of)
    assert any(related.get(f) for f in firms)
    if as_of == BEFORE:  # firms established in the 30 days to the date are not yet known
        assert len(known) > 20 and set(firms) - known
        assert raw_related(profiled, AS_OF) != related
    else:
        assert known == set(firms)
    grades = clean(read_text(profiled.county, "tax_credit_grade"), ["uscc", "year"], ["uscc"], [])
    grades = grades[known_on("tax_credit_grade", grades) <= as_of]
    grades = grades.assign(year=grades.year.astype(int)).sort_values("year")
    last_grade = grades.groupby("uscc").grade.last()
    cases = read_text(profiled.county, "court_enforcement")
    cases = clean(cases[cases.debtor_uscc != ""], ["case_no"], ["debtor_uscc"], ["filed_on"],
                  optional_dates=("closed_on",))  # fmt: skip
    cases = cases[known_on("court_enforcement", cases) <= as_of]
    assert cases.filed_on.max() <= as_of.isoformat()
    open_ = cases[(cases.closed_on > as_of.isoformat())
                  | ((cases.closed_on == "") & (cases.status == "执行中"))]  # fmt: skip
    open_amount = open_.groupby("debtor_uscc").amount.apply(lambda a: a.astype(float).sum())
    got = features(profiled, firms, as_of)
    for uscc in firms:
        out, others = got.loc[uscc], related.get(uscc, set())
        if uscc not in known:  # not yet in the registry as the bank knew it
            assert pd.isna(out.related_firms) and not others, uscc
            assert text(out.related_worst_tax_grade) is None, uscc
            assert pd.isna(out.related_open_enforcement), uscc
            continue
        assert out.related_firms == len(others), uscc
        ranks = [WORST[last_grade[o]] for o in others if o in last_grade]
        worst = {v: k for k, v in WORST.items()}[max(ranks)] if ranks else None
        assert text(out.related_worst_tax_grade) == worst, uscc
        if not others:  # nothing to say about related firms: NULL
            assert pd.isna(out.related_open_enforcement), uscc
            continue
        assert out.related_open_enforcement == any(o in open_amount for o in others), uscc
        amount = sum(open_amount.get(o, 0.0) for o in others)
        assert out.related_open_enforcement_amount == pytest.approx(amount), uscc
    # Before the oldest firm was established no relation is known.
    oldest = min(date.fromisoformat(d) for d in registry(profiled.county).registered_on)
    early = features(profiled, firms, oldest - timedelta(days=1))
    assert early.related_firms.isna().all() and early.related_open_enforcement.isna().all()


@pytest.mark.parametrize("as_of", [BEFORE, AS_OF])
def test_top_buyer_share(profiled: Profiled, as_of: date) -> None:
    a = as_of.year * 12 + as_of.month

    def window(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        day = pd.to_datetime(frame[column])
        m = day.dt.year * 12 + day.dt.month
        return frame[(m >= a - 12) & (m <= a - 1)]

    inv = read_monthly(profiled.county, "tax_invoices", as_of)
    inv = window(clean(inv, ["seller_uscc", "buyer_uscc", "period"],
                       ["seller_uscc", "buyer_uscc"], ["period"]), "period")  # fmt: skip
    ret = read_monthly(profiled.county, "tax_returns", as_of)
    ret = window(clean(ret, ["uscc", "period"], ["uscc"], ["period"],
                       optional_dates=("filed_on",)), "period")  # fmt: skip
    monthly = (
        inv.groupby(["seller_uscc", "period"]).amount.sum().rename("inv").to_frame()
        .join(ret.set_index(["uscc", "period"]).sales.rename_axis(["seller_uscc", "period"]),
              how="outer").fillna(0.0)
    )  # fmt: skip
    turnover = monthly.max(axis=1).groupby(level=0).sum()
    by_buyer = inv.groupby(["seller_uscc", "buyer_uscc"]).amount.sum().reset_index()
    top = by_buyer.sort_values(["amount", "buyer_uscc"], ascending=[False, True])
    top = top.drop_duplicates("seller_uscc").set_index("seller_uscc")
    sellers = sorted(set(top.index) & set(registry(profiled.county).index))
    quiet = sorted(set(turnover.index) - set(top.index))[:20]
    assert sellers and quiet
    got = features(profiled, sellers + quiet, as_of)
    for uscc in sellers + quiet:
        out = got.loc[uscc]
        share = top.amount.get(uscc, 0.0) / turnover[uscc] if turnover.get(uscc) else None
        assert same(out.top_buyer_share_12m, share), uscc
        assert text(out.top_buyer_uscc) == top.buyer_uscc.get(uscc), uscc
