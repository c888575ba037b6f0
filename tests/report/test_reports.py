"""Reports (`purecredit.report`) on the session county: a ledger of this module's own (a
copy of the county's pristine ledger beside the county's lake, keys and models), with an
approved, a referred and a declined decision, a loan drawn on the approved line, a missed
instalment, a warning case confirmed (the inspection), and rescored PDs."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.errors import NotFound
from purecredit.core.settings import Settings, get_settings
from purecredit.decide.counter import Counter
from purecredit.lend import book
from purecredit.lend.eod import run_eod
from purecredit.lend.schedule import RepaymentMethod
from purecredit.monitor.cases import Update, update_case
from purecredit.monitor.tables import create_tables as create_monitor_tables
from purecredit.monitor.tables import monitor_scores
from purecredit.report import make_pending, pending, render
from purecredit.report.labels import EN, ZH
from purecredit.report.render import html_of
from purecredit.report.stored import ensure_tables, stored
from purecredit.report.tables import reports
from purecredit.store.ledger import ledger_engine, run_locked
from tests.county import CountyHome, population_register
from tests.monitor.test_cases import open_case

DRAWN_ON = date(2026, 1, 10)
INSPECTED = date(2026, 3, 20)  # two instalments due and unpaid by then
BRANCH = "341602001"


@dataclass(frozen=True)
class World:
    settings: Settings
    engine: Engine
    decisions: dict[str, str]  # outcome -> decision id
    loan_id: str
    raw: list[tuple[str, str, str]]  # (resident id, name, phone) of each applicant


@pytest.fixture(scope="module")
def world(county_home: CountyHome, tmp_path_factory: pytest.TempPathFactory) -> World:
    home = tmp_path_factory.mktemp("report-home")
    for entry in county_home.home.iterdir():
        if not entry.name.startswith("ledger.sqlite"):
            (home / entry.name).symlink_to(entry)
    shutil.copy(county_home.pristine, home / "ledger.sqlite")
    settings = Settings(home=home, report_interval_s=0)
    engine = ledger_engine(settings)
    counter = Counter(settings, engine)
    register = population_register(county_home.county)
    decisions: dict[str, str] = {}
    raw = []
    for resident_id, name, phone in register[["公民身份号码", "姓名", "联系电话"]].itertuples(
        index=False
    ):
        try:
            applied = counter.apply(str(resident_id), product="household", amount=50000,
                                    branch=BRANCH)  # fmt: skip
        except Exception:  # the register has defects: an ID that does not read, no profile
            continue
        outcome = applied.summary()["decision"]
        if outcome not in decisions and (outcome != "approve" or applied.grant):
            decisions[outcome] = applied.decision_id
            raw.append((str(resident_id), str(name), str(phone)))
            if outcome == "approve":
                line_id, limit = applied.grant["line_id"], Decimal(applied.grant["line_limit"])
        if len(decisions) == 3:
            break
    assert set(decisions) == {"approve", "refer", "decline"}
    create_monitor_tables(engine)
    opened = run_locked(engine, lambda c: book.draw(
        c, line_id=line_id, amount=limit, branch=BRANCH, term_months=12,
        method=RepaymentMethod.EQUAL_INSTALMENTS, annual_rate=Decimal("0.045"), on=DRAWN_ON,
    ))  # fmt: skip
    assert opened.loan_id is not None
    run_eod(engine, INSPECTED)
    with engine.connect() as connection:
        from purecredit.lend.tables import loans

        borrower = connection.execute(
            select(loans.c.subject).where(loans.c.loan_id == opened.loan_id)
        ).scalar_one()
    with engine.begin() as connection:
        for day, pd_, grade in ((date(2026, 2, 5), 0.02, "6"), (INSPECTED, 0.09, "9")):
            connection.execute(insert(monitor_scores).values(
                subject=borrower, day=day, profile_as_of=day, model="person v2", pd=pd_,
                grade=grade, decision_grade="6"))  # fmt: skip
    case_id = open_case(engine, borrower, "court_enforcement", branch=BRANCH, day=INSPECTED)
    for step in ("verify", "confirm"):
        update_case(engine, case_id, Update(step=step, actor="officer:wang", day=INSPECTED))
    return World(settings, engine, decisions, opened.loan_id, raw)


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def _no_raw(text: str, world: World) -> None:
    for resident_id, name, phone in world.raw:
        assert resident_id not in text and phone not in text
        assert len(name) < 2 or name not in text


def test_labels_are_the_same_in_both_languages() -> None:
    assert set(ZH) == set(EN)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_each_kind_renders_as_html(world: World, lang: str) -> None:
    approved = world.decisions["approve"]
    pre = render(world.engine, world.settings, "pre-loan", approved, lang, "html").decode()
    labels = ZH if lang == "zh" else EN
    assert labels["pre-loan"] in pre and labels["profile"] in pre and "<svg" in pre
    assert approved in pre and "341602001" in pre
    review = render(world.engine, world.settings, "review", world.decisions["refer"], lang,
                    "html").decode()  # fmt: skip
    assert labels["review"] in review and labels["compliance"] in review
    assert labels["consent_ok"] in review
    post = render(world.engine, world.settings, "post-loan", world.loan_id, lang, "html").decode()
    assert labels["post-loan"] in post and post.count("<svg") == 2  # repayments, PD trend
    # two instalments unpaid and a red warning: special mention, so restrict
    assert labels["restrict"] in post and ("关注" if lang == "zh" else "special mention") in post
    for text in (pre, review, post):
        _no_raw(text, world)


def test_a_pdf_carries_the_chinese_headings_and_no_raw_identity(
    world: World, tmp_path: Path
) -> None:
    for kind, ref in (("pre-loan", world.decisions["approve"]), ("post-loan", world.loan_id)):
        pdf = render(world.engine, world.settings, kind, ref, "zh", "pdf")
        assert pdf.startswith(b"%PDF")
        text = _pdf_text(pdf, tmp_path)
        assert ZH[kind] in text
        _no_raw(text, world)
    fonts = subprocess.run(["pdffonts", str(tmp_path / "r.pdf")], capture_output=True, text=True)
    assert "Noto-Sans-CJK-SC" in fonts.stdout  # the CSS's font, not a fallback's boxes


def test_the_identity_is_shown_masked(world: World) -> None:
    resident_id = world.raw[0][0]
    html = render(world.engine, world.settings, "pre-loan", world.decisions["approve"], "zh",
                  "html").decode()  # fmt: skip
    # whichever applicant it was, their ID is printed as region ******** last four
    assert any(f"{r[:6]}********{r[-4:]}" in html for r, _, _ in world.raw) and resident_id


def test_regenerating_gives_the_same_sha256(world: World) -> None:
    for kind, ref in (("pre-loan", world.decisions["decline"]), ("review",
                      world.decisions["approve"]), ("post-loan", world.loan_id)):  # fmt: skip
        first, _ = html_of(world.engine, world.settings, kind, ref, "zh", INSPECTED)
        again, _ = html_of(world.engine, world.settings, kind, ref, "zh", INSPECTED)
        assert hashlib.sha256(first.encode()).digest() == hashlib.sha256(again.encode()).digest()


def _stored_keys(world: World) -> list[tuple[str, str, str]]:
    ensure_tables(world.engine)
    with world.engine.connect() as connection:
        rows = connection.execute(select(reports.c.kind, reports.c.ref, reports.c.lang)).all()
    return [(k, r, lang) for k, r, lang in rows]


def test_make_pending_stores_each_report_once(world: World) -> None:
    before = set(_stored_keys(world))  # pre-loan reports that `render` stored when viewed
    todo = pending(world.engine)
    assert not {(p.kind, p.ref, p.lang) for p in todo} & before
    kinds = {(p.kind, p.ref) for p in todo}
    approved, referred = world.decisions["approve"], world.decisions["refer"]
    assert ("pre-loan", referred) in kinds and ("review", approved) in kinds
    assert ("review", referred) not in kinds  # its review is still open
    assert ("post-loan", world.loan_id) in kinds
    assert make_pending(world.engine, world.settings) == len(todo)
    assert pending(world.engine) == [] and make_pending(world.engine, world.settings) == 0
    row = stored(world.engine, "post-loan", world.loan_id, "zh")
    assert row is not None
    html = str(row["html"])
    assert row["sha256"] == hashlib.sha256(html.encode()).hexdigest()
    made, _ = html_of(world.engine, world.settings, "post-loan", world.loan_id, "zh", INSPECTED)
    assert made == html  # reproducible from the ledger
    keys = _stored_keys(world)
    assert len(keys) == len(set(keys))
    assert set(keys) - before == {(p.kind, p.ref, p.lang) for p in todo}


def test_a_viewed_pre_loan_report_is_stored_and_served_again(world: World) -> None:
    decision = world.decisions["approve"]
    first = render(world.engine, world.settings, "pre-loan", decision, "en", "html")
    row = stored(world.engine, "pre-loan", decision, "en")
    assert row is not None and str(row["html"]).encode() == first
    key = (reports.c.kind == "pre-loan", reports.c.ref == decision, reports.c.lang == "en")
    with world.engine.begin() as connection:  # what is stored is what is served
        connection.execute(reports.update().where(*key).values(html="<p>stored</p>"))
    assert render(world.engine, world.settings, "pre-loan", decision, "en", "html") == (
        b"<p>stored</p>"
    )
    with world.engine.begin() as connection:
        connection.execute(reports.update().where(*key).values(html=first.decode()))


def test_an_unknown_id_is_not_found_naming_it(world: World) -> None:
    with pytest.raises(NotFound) as caught:
        render(world.engine, world.settings, "pre-loan", "Dnope", "zh", "html")
    assert caught.value.field == "decision_id" and "Dnope" in str(caught.value)
    with pytest.raises(NotFound) as lost:
        render(world.engine, world.settings, "post-loan", "Lnope", "en", "pdf")
    assert lost.value.field == "loan_id" and "Lnope" in str(lost.value)


def test_the_cli_writes_the_file_and_fails_clearly(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURECREDIT_HOME", str(world.settings.home))
    get_settings.cache_clear()
    try:
        out = tmp_path / "review.html"
        runner = CliRunner()
        done = runner.invoke(app, ["report", "review", world.decisions["decline"], "--format",
                                   "html", "--lang", "en", "--out", str(out)])  # fmt: skip
        assert done.exit_code == 0, done.output
        assert EN["review"] in out.read_text(encoding="utf-8")
        bad = runner.invoke(app, ["report", "pre-loan", "Dnope", "--out", str(tmp_path / "x")])
        assert bad.exit_code == 1 and "Dnope" in bad.output and "decision_id" in bad.output
        assert not (tmp_path / "x").exists()
    finally:
        get_settings.cache_clear()
