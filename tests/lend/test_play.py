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
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from purecredit.cli.lend import app  # `book` is registered in main by the maintainers
from purecredit.core.settings import Settings, get_settings
from purecredit.decide import counter as counter_module
from purecredit.decide.counter import Counter
from purecredit.lend import book, journal
from purecredit.lend.classify import Category, classify_loan
from purecredit.lend.play import Play, PlayConfig
from purecredit.lend.records import category_name
from purecredit.lend.state import dpd
from purecredit.lend.tables import ACTIVE, loans, repayments
from purecredit.store.ledger import ledger_engine
from tests.decide.conftest import CountyHome, county_home  # noqa: F401 - the session fixture

MONTHS = 3
PER_MONTH = 150
SEED = 7


@dataclass
class Played:
    play: Play
    report: dict[str, Any]
    ledger: Path


def _ledger(county_home: CountyHome, where: Path) -> Settings:  # noqa: F811
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
    county_home: CountyHome,  # noqa: F811
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
        days = connection.execute(select(func.count()).select_from(book.book_days)).scalar_one()
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
        late = connection.execute(
            select(func.count()).where(repayments.c.overdue_principal > 0)
        ).scalar_one()
    assert arrears == played.play.behind(end)
    assert late > 0  # some borrowers paid late during the play, as the world had them


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
    county_home: CountyHome,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    again = _play(_ledger(county_home, tmp_path), monkeypatch, county_home.county)
    assert again.report == played.report


def test_the_command_line(
    played: Played,
    county_home: CountyHome,  # noqa: F811
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
