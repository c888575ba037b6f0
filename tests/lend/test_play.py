"""The book played forward on the small county (`tests/decide/conftest.py`): three months of
walk-ins through the counter, drawdowns, repayments as the county's world has them and the
end of day every day, on a copy of the county's ledger. The journal balances, every loan's
DPD and category follow from its payments, the loans in arrears are those the world has
behind, the figures add up, the same seed plays the same book; and the command line."""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Connection, func, select
from typer.testing import CliRunner

from purecredit.cli.lend import app  # `book` is registered in main by the maintainers
from purecredit.core.errors import Conflict, Invalid
from purecredit.core.settings import Settings, get_settings
from purecredit.core.subjects import subject_key
from purecredit.decide import counter as counter_module
from purecredit.decide import exposure
from purecredit.decide.counter import Counter
from purecredit.lend import book, journal
from purecredit.lend.classify import Category, classify_loan
from purecredit.lend.drawdown import RepaymentMethod
from purecredit.lend.eod import run_eod
from purecredit.lend.play import Play, PlayConfig
from purecredit.lend.play_borrowers import Terms
from purecredit.lend.records import category_name
from purecredit.lend.state import dpd
from purecredit.lend.tables import ACTIVE, book_days, create_tables, loans, repayments
from purecredit.score.sample import segment_of
from purecredit.store.ledger import ledger_engine, run_locked
from purecredit.synth.manifest import read_manifest
from tests.county import CountyHome, population_register

MONTHS = 3
PER_MONTH = 150
SEED = 7
AMOUNT = Decimal(50_000)


@dataclass
class Played:
    play: Play
    report: dict[str, Any]
    ledger: Path


def _ledger(county_home: CountyHome, where: Path) -> Settings:
    """Settings on the county's home with a ledger of its own, copied from the pristine one."""
    copy = where / "ledger.sqlite"
    source, target = sqlite3.connect(county_home.pristine), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return Settings(home=county_home.home, database_url=f"sqlite:///{copy}")


def _play(settings: Settings, monkeypatch: pytest.MonkeyPatch, county: Path) -> Played:
    """A play whose application ids are drawn from a seeded generator: the counter draws them
    at random, and the champion/challenger arm is a hash of the id."""
    ids = random.Random(SEED)
    monkeypatch.setattr(counter_module, "uuid", _SeededUuid(ids))
    counter = Counter(settings, ledger_engine(settings))
    game = Play(counter, county, PlayConfig(MONTHS, PER_MONTH, SEED, fresh=True))
    report = game.run()
    monkeypatch.undo()
    return Played(game, report, Path(settings.ledger_url.removeprefix("sqlite:///")))


class _SeededUuid:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)


@pytest.fixture(scope="module")
def played(
    county_home: CountyHome,
    tmp_path_factory: pytest.TempPathFactory,
) -> Played:
    with pytest.MonkeyPatch.context() as monkeypatch:
        settings = _ledger(county_home, tmp_path_factory.mktemp("play"))
        return _play(settings, monkeypatch, county_home.county)


def test_the_book_is_played_and_the_journal_balances(played: Played) -> None:
    report = played.report
    assert report["start"] == "2026-01-05" and report["end"] == "2026-03-31"
    assert sum(report["applications"].values()) == MONTHS * PER_MONTH
    assert report["applications"]["approve"] > 20
    assert report["drawdowns"]["count"] > 20 and report["repayments"]["count"] > 20
    assert set(report["drawdowns"]["by_method"]) >= {"等额本息", "按季付息收获后还本"}
    assert report["world"]["loans_outside_county"] == 0
    engine = played.play.engine
    with engine.connect() as connection:
        days = connection.execute(select(func.count()).select_from(book_days)).scalar_one()
    assert days == (date(2026, 3, 31) - date(2026, 1, 5)).days + 1  # every day closed
    check = journal.check(engine)
    assert check.balanced, check.first_break


def test_every_loan_s_dpd_and_category_follow_from_its_payments(played: Played) -> None:
    engine = played.play.engine
    with engine.connect() as connection:
        ids = connection.execute(select(loans.c.loan_id, loans.c.subject)).all()
        paid: dict[str, Decimal] = {}
        for loan_id, amount in connection.execute(
            select(repayments.c.loan_id, repayments.c.amount)
        ):
            paid[loan_id] = paid.get(loan_id, Decimal(0)) + Decimal(str(amount))
    assert ids
    own: dict[str, list[tuple[int, int]]] = {}  # per debtor: (own rank, stored rank)
    ranks = {category_name(c): c.value for c in Category}
    for loan_id, subject in ids:
        view = book.loan(engine, loan_id)
        state, fields = view.state, view.fields
        assert fields["principal_outstanding"] == state.outstanding_principal
        repaid = sum(state.principal_paid) + sum(state.interest_paid) + state.penalty_paid
        assert paid.get(loan_id, Decimal(0)) == repaid  # nothing was left unapplied
        if fields["status"] != ACTIVE:
            assert state.outstanding_principal == 0
            continue
        late = dpd(state, state.as_of)
        assert fields["dpd"] == late
        own.setdefault(subject, []).append((classify_loan(late).value, ranks[fields["category"]]))
    for pairs in own.values():
        # The category is the debtor's (the 10% rule): never better than the loan's own DPD
        # makes it, and a debtor with one loan has that loan's own.
        assert all(stored >= mine for mine, stored in pairs)
        if len(pairs) == 1:
            assert pairs[0][0] == pairs[0][1]


def test_the_loans_in_arrears_are_those_the_world_has_behind(played: Played) -> None:
    """Every loan is behind in the book exactly when the county's hidden truth (its default,
    cure and lateness events, through `Forward`) has an instalment unpaid at the end."""
    end = date.fromisoformat(played.report["end"])
    with played.play.engine.connect() as connection:
        arrears = set(
            connection.execute(
                select(loans.c.loan_id).where(loans.c.status == ACTIVE, loans.c.dpd > 0)
            ).scalars()
        )
    assert arrears == played.play.behind(end)


def test_borrowers_the_world_has_default_are_the_ones_in_arrears(
    county_home: CountyHome,
    fresh_ledger_url: str,
) -> None:
    """Loans to residents the county's truth has default in February 2026 (and never cure)
    fall 30+ days behind by the end of March; loans to residents with no default or
    lateness event in the world are paid on their due dates. A play continues a book it
    finds (the day after its last end of day) and plays its loans in the world. On SQLite
    and PostgreSQL."""
    settings = Settings(home=county_home.home, database_url=fresh_ledger_url)
    engine = ledger_engine(settings)
    create_tables(engine)
    run_eod(engine, date(2026, 1, 4))  # an empty book's first day: the play goes on from it
    manifest = read_manifest(county_home.county / "manifest.json")
    events = {
        name: pd.read_parquet(county_home.county / manifest.truth[name])
        for name in ("default_events", "late_events")
    }
    defaults = events["default_events"]
    registered = set(population_register(county_home.county)["公民身份号码"].astype(str))
    february = defaults[
        (pd.to_datetime(defaults["month"]) == pd.Timestamp("2026-02-01"))
        & (defaults["cure_after"] < 0)
        & (defaults["entity_type"] == "person")
    ]
    bad = sorted(set(february["entity_key"]) & registered)[:8]
    troubled = set(defaults["entity_key"]) | set(events["late_events"]["entity_key"])
    good = sorted(i for i in registered - troubled if i[6:10] < "2000")[:8]
    assert len(bad) >= 3 and len(good) == 8
    branch = "341602001"
    loan_of: dict[str, str] = {}
    for identifier in bad + good:
        _, subject, _ = subject_key(identifier, settings)
        granted = exposure.grant(engine, subject=subject, legal_rep=None, product="household",
                                 branch=branch, amount=AMOUNT, unified_limit=AMOUNT,
                                 decision_id="test")  # fmt: skip
        assert granted.line_id is not None
        line_id = granted.line_id
        opened = run_locked(engine, partial(_draw, line_id=line_id, branch=branch))
        assert opened.loan_id is not None
        loan_of[identifier] = opened.loan_id
    game = Play(Counter(settings, engine), county_home.county, PlayConfig(MONTHS, 0, SEED))
    report = game.run()
    assert report["start"] == "2026-01-05" and report["world"]["loans_outside_county"] == 0
    with engine.connect() as connection:
        late = dict(connection.execute(select(loans.c.loan_id, loans.c.dpd)).all())
    checked = journal.check(engine)
    engine.dispose()
    assert all(late[loan_of[i]] >= 30 for i in bad)  # nothing paid from February 5th
    assert all(late[loan_of[i]] == 0 for i in good)
    assert {k for k, v in late.items() if v > 0} == game.behind(date(2026, 3, 31))
    # 54 days past due on March 31st, nothing repaid: special mention, the whole amount.
    assert Decimal(report["by_category"]["special_mention"]) == len(bad) * AMOUNT
    assert checked.balanced, checked.first_break
    # 23 days behind at the end of February, 54 at the end of March: the January vintage is
    # 30+ on the defaulters' share of its amount from its third month end, never 90+.
    vintage = report["vintages"]["2026-01"]
    share = round(len(bad) / (len(bad) + len(good)), 6)
    assert [p["share"] for p in vintage["dpd30"]] == [0.0, 0.0, share]
    assert [p["share"] for p in vintage["dpd90"]] == [0.0, 0.0, 0.0]
    rolls = report["roll_rates"]["counts"]
    assert rolls["0"]["0"] == 2 * len(good) and rolls["0"]["1-30"] == len(bad)
    assert rolls["1-30"]["31-90"] == len(bad)


def _draw(connection: Connection, *, line_id: str, branch: str) -> book.Opened:
    return book.draw(connection, line_id=line_id, amount=AMOUNT, branch=branch, term_months=12,
                     method=RepaymentMethod.EQUAL_INSTALMENTS, annual_rate=Decimal("0.045"),
                     on=date(2026, 1, 5))  # fmt: skip


def test_the_figures_add_up(played: Played) -> None:
    report = played.report
    outstanding = Decimal(report["outstanding"])
    categories = {k: Decimal(v) for k, v in report["by_category"].items()}
    assert sum(categories.values()) == outstanding > 0
    buckets = report["dpd_buckets"]
    assert sum(Decimal(b["outstanding"]) for b in buckets.values()) == outstanding
    assert sum(b["loans"] for b in buckets.values()) == report["loans"]
    npl = categories["substandard"] + categories["doubtful"] + categories["loss"]
    assert abs(Decimal(report["npl_ratio"]) - npl / outstanding) < Decimal("1e-9")
    assert report["reference_npl_ratio"] == {"pilot": 0.016, "national_rural_banks": 0.0322}
    vintages = report["vintages"]
    assert list(vintages) == ["2026-01", "2026-02", "2026-03"]
    assert [p["months_on_book"] for p in vintages["2026-01"]["dpd30"]] == [0, 1, 2]
    for v in vintages.values():
        shares = [p["share"] for p in v["dpd30"]]
        assert shares == sorted(shares)  # ever 30+: never falls
    counts = report["roll_rates"]["counts"]
    frames = [frame for _, frame in played.play.snapshots.frames]
    followed = sum(int(frame["active"].sum()) for frame in frames[:-1])
    assert sum(sum(row.values()) for row in counts.values()) == followed > 0


def test_the_same_seed_plays_the_same_book(
    played: Played,
    county_home: CountyHome,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    again = _play(_ledger(county_home, tmp_path), monkeypatch, county_home.county)
    assert again.report == played.report


def test_the_command_line(
    played: Played,
    county_home: CountyHome,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`book play` continues a book the day after its last end of day; `--fresh` refuses a
    book that is not empty."""
    copy = tmp_path / "ledger.sqlite"
    source, target = sqlite3.connect(played.ledger), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    monkeypatch.setenv("PURECREDIT_HOME", str(county_home.home))
    monkeypatch.setenv("PURECREDIT_DATABASE_URL", f"sqlite:///{copy}")
    get_settings.cache_clear()
    runner = CliRunner()
    args = ["book", "play", "--months", "1", "--applicants-per-month", "40",
            "--county", str(county_home.county)]  # fmt: skip
    refused = runner.invoke(app, [*args, "--fresh"])
    assert refused.exit_code == 1 and "not empty" in refused.output
    done = runner.invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["start"] == "2026-04-01" and result["end"] == "2026-04-30"
    for key in ("npl_ratio", "outstanding", "loans", "by_category", "dpd_buckets",
                "vintages", "roll_rates", "lines", "drawdowns", "reference_npl_ratio"):  # fmt: skip
        assert key in result
    assert set(result["by_category"]) == {
        "normal", "special_mention", "substandard", "doubtful", "loss"
    }  # fmt: skip
    assert result["world"]["loans_outside_county"] == 0  # the book's loans are played on
    checked = runner.invoke(app, ["ledger", "check", "--json"])
    assert checked.exit_code == 0 and json.loads(checked.stdout)["balanced"]
    shown = runner.invoke(app, args)  # and on to May, shown as tables
    assert shown.exit_code == 0 and "NPL ratio" in shown.output
    assert "2026-05-01 to 2026-05-31" in shown.output
    get_settings.cache_clear()


def test_drawdown_terms_follow_the_product_and_the_borrower(played: Played) -> None:
    """The decision's term and rate; the seasonal plan with the crop's harvest months for a
    herb farmer or trader whose household plants a variety, equal instalments for other
    households, monthly interest for firms; no drawdown on a line without a decision."""
    borrowers, engine = played.play.borrowers, played.play.engine
    with engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(select(borrowers.profiles.table)).mappings()]
    growers = [r for r in rows if segment_of(r) in ("farmer", "trader")]
    grower = next(r for r in growers if r["planting_main_variety"] in borrowers.harvests)
    other = next(r for r in rows if r["planting_main_variety"] is None)
    record = {"rate": 0.0512, "term_months": 24}

    def terms(subject: str, product: str, decision_id: str | None = None) -> Terms | None:
        line = SimpleNamespace(line_id=f"{subject}/{product}/{decision_id}", subject=subject,
                               product=product, decision_id=decision_id)  # fmt: skip
        if decision_id is None:
            borrowers.decided(line.line_id, record)
        with engine.connect() as connection:
            return borrowers.terms(connection, line)

    seasonal = terms(grower["subject"], "household")
    variety = grower["planting_main_variety"]
    assert seasonal == Terms(24, Decimal("0.0512"), RepaymentMethod.SEASONAL,
                             borrowers.harvests[variety])  # fmt: skip
    assert terms(other["subject"], "household") == Terms(
        24, Decimal("0.0512"), RepaymentMethod.EQUAL_INSTALMENTS
    )
    firm = terms("91341600MA2TEST00X", "enterprise")
    assert firm is not None and firm.method is RepaymentMethod.INTEREST_ONLY
    assert terms(other["subject"], "household", decision_id="granted-elsewhere") is None


def test_a_play_the_book_or_the_world_cannot_hold_is_refused(played: Played) -> None:
    too_long = replace(played.play, config=PlayConfig(60, 0, SEED))
    with pytest.raises(Invalid, match="after the county's world ends"):
        too_long.span()
    not_fresh = replace(played.play, config=PlayConfig(1, 0, SEED, fresh=True))
    with pytest.raises(Conflict, match="not empty"):
        not_fresh.span()
    with pytest.raises(Invalid):
        PlayConfig(0)
