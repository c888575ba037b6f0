"""The officers' console in a real browser: Debian's Chromium driven by Playwright, against
`purecredit serve` in a subprocess on a copy of the session county's ledger, with a month of
walk-in applications decided and a warning case opened on it.

One server and one browser per module (and xdist worker); each test has its own browser
context (its own cookies, so its own session) and leaves a screenshot in
$PURECREDIT_ARTIFACTS (default `artifacts/screens/` under the repository).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine, select

from purecredit.api.auth import create_tables
from purecredit.core.settings import Settings
from purecredit.decide import exposure, review, store
from purecredit.decide.applications import month_of_walk_ins, outlets_of, run_asks
from purecredit.decide.authority import can_approve
from purecredit.decide.counter import Counter
from purecredit.decide.policy import LEVELS
from purecredit.monitor.tables import cases
from purecredit.store.ledger import make_engine
from purecredit.ui import accounts
from tests.county import AS_OF, CountyHome
from tests.monitor.test_cases import borrower, open_case

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
PASSWORD = "correct horse battery"
START_TIMEOUT = 120.0
ARTIFACTS = Path(
    os.environ.get(
        "PURECREDIT_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts" / "screens"
    )
)


@dataclass
class World:
    base: str
    engine: Engine
    browser: Browser
    referred: str  # a referred decision the low reviewer may not approve, the high one may
    other_branch: str  # a decision of a branch outside the staff's scope
    case_id: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _decide_a_month(settings: Settings, engine: Engine, county: Path) -> Counter:
    counter = Counter(settings, engine)
    run_asks(counter, month_of_walk_ins(county, outlets_of(counter), "2026-01", from_day=AS_OF))
    return counter


def _pick(counter: Counter) -> tuple[str, str, str]:
    """A decision referred beyond the outlet, with a line to grant; its branch; a decision
    of another branch."""
    for r in review.open_reviews(counter.engine):
        if r["kind"] == "refer" and r["needs_level"] != "outlet" and r["line"] > 0:
            branch = r["branch"]
            with counter.engine.connect() as c:
                d = store.DECISIONS
                other = c.execute(select(d.c.decision_id).where(d.c.branch != branch)).scalar()
            assert other is not None
            return r["decision_id"], branch, str(other)
    pytest.fail("a month of walk-ins referred nothing with a line to grant")


def _narrow_policy(where: Path) -> Path:
    """The packaged policy with an outlet's household authority narrowed (automatic up to
    10,000, manual up to 20,000) and no challenger arm: a walk-in asking more at an outlet is
    referred to the sub-branch, beyond what an outlet reviewer may approve."""
    text = (files("purecredit.decide") / "policies" / "default.yaml").read_text(encoding="utf-8")
    wide = "outlet: {auto_max_amount: 100000, auto_max_grade: 7, manual_max_amount: 150000,"
    narrow = "outlet: {auto_max_amount: 10000, auto_max_grade: 7, manual_max_amount: 20000,"
    assert text.count(wide) == 1 and text.count("challenger_share: 0.10") == 1
    path = where / "narrow.yaml"
    text = text.replace(wide, narrow).replace("challenger_share: 0.10", "challenger_share: 0.0")
    path.write_text(text, encoding="utf-8")
    return path


def _weakest(counter: Counter, decision_id: str) -> str | None:
    """The lowest level whose manual authority does not cover the decision, if any."""
    record = store.decision(counter.engine, decision_id)["record"]
    return next(
        (
            level
            for level in LEVELS
            if not can_approve(
                counter.policy, record["product"], level, record["line"], record["grade"]
            )
        ),
        None,
    )


@pytest.fixture(scope="module")
def world(county_home: CountyHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Debian's Chromium is required at {CHROMIUM} (apt-get install chromium)")
    path = tmp_path_factory.mktemp("console") / "ledger.sqlite"
    shutil.copyfile(county_home.pristine, path)
    url = f"sqlite:///{path}"
    policy = _narrow_policy(path.parent)
    settings = Settings(home=county_home.home, database_url=url, policy=str(policy))
    engine = make_engine(url)
    create_tables(engine)
    counter = _decide_a_month(settings, engine, county_home.county)
    referred, branch, other = _pick(counter)
    weakest = _weakest(counter, referred)
    assert weakest is not None, "the narrow policy refers lines an outlet may not approve"
    for name, role, level in (("officer", "officer", None), ("low", "reviewer", weakest),
                              ("high", "reviewer", "head")):  # fmt: skip
        accounts.add_staff(engine, name, PASSWORD, role=role, branches=[branch], level=level)
    accounts.add_staff(engine, "risk", PASSWORD, role="risk_manager")  # every branch
    accounts.add_staff(engine, "admin", PASSWORD, role="admin")
    subject, _ = borrower(engine, branch=branch)
    case_id = open_case(engine, subject, "pd_downgrade", branch=branch)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PURECREDIT_")}
    env |= {"PURECREDIT_HOME": str(_serving_home(county_home, path.parent)),
            "PURECREDIT_DATABASE_URL": url,
            "PURECREDIT_POLICY": str(policy)}  # fmt: skip
    log = path.with_name("server.log")
    command = [str(Path(sys.executable).with_name("purecredit")), "serve", "--port", str(port)]
    with log.open("ab") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(server, base, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield World(base, engine, browser, referred, other, case_id)
            finally:
                browser.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)  # a loaded machine (2 shared cores) can take more than 15 s
        engine.dispose()


def _serving_home(county_home: CountyHome, where: Path) -> Path:
    """The session's home seen through links, with its county where `purecredit demo` keeps
    one (`<home>/county`), so the console's simulation can draw applications from it; the
    shared home itself is left as it was."""
    home = where / "home"
    home.mkdir()
    for entry in county_home.home.iterdir():
        if not entry.name.startswith("ledger.sqlite"):
            (home / entry.name).symlink_to(entry)
    (home / "county").symlink_to(county_home.county)
    return home


def _wait_ready(server: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert server.poll() is None, f"server exited: {log.read_text()[-3000:]}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"server not ready in {START_TIMEOUT} s: {log.read_text()[-3000:]}")


@pytest.fixture
def browser_page(world: World, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = world.browser.new_context(base_url=world.base, locale="zh-CN")
    page = context.new_page()
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()


def _login(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def _review_status(engine: Engine, decision_id: str) -> str:
    with engine.connect() as c:
        r = store.REVIEWS
        return str(c.execute(select(r.c.status).where(r.c.decision_id == decision_id)).scalar())


# ----------------------------------------------------------------------------- the tests


def test_a_wrong_password_is_refused_and_the_right_one_logs_in(browser_page: Page) -> None:
    page = browser_page
    page.goto("/")
    assert page.locator("#password").is_visible()  # no session: the login form
    _login(page, "officer", "wrong password!")
    assert page.locator("#login-error").inner_text() == accounts.BAD_LOGIN
    _login(page, "nobody", PASSWORD)  # an unknown user reads the same
    assert page.locator("#login-error").inner_text() == accounts.BAD_LOGIN
    _login(page, "officer")
    assert page.url.rstrip("/").endswith(page.url.split("/")[2])  # the dashboard at /
    assert page.locator("#applications-today").is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "pc_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.goto("/?lang=en")
    assert "Dashboard" in page.content()


def test_a_reviewer_approves_within_authority_and_is_refused_beyond(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    decision_id = world.referred
    row = store.decision(world.engine, decision_id)
    subject = row["inputs"]["application"]["subject"]
    before = exposure.exposure(world.engine, subject)
    _login(page, "low")
    page.goto("/applications?outcome=refer")
    page.click(f"a[href='/applications/{decision_id}']")
    page.click("#approve")  # an outlet reviewer; the line needs the sub-branch
    assert "may not approve" in page.locator("#error").inner_text()
    assert _review_status(world.engine, decision_id) == "open"  # nothing changed
    assert exposure.exposure(world.engine, subject) == before
    page.context.clear_cookies()
    _login(page, "high")
    page.goto(f"/applications/{decision_id}")
    page.fill("input[name=note]", "visited the farm")
    page.click("#approve")
    assert page.locator("#review-status").inner_text().startswith("approved")
    assert _review_status(world.engine, decision_id) == "approved"


def test_an_officer_works_a_warning_case_to_its_close(world: World, browser_page: Page) -> None:
    page = browser_page
    _login(page, "officer")
    page.goto("/cases")
    page.click(f"a[href='/cases/{world.case_id}']")
    for step in ("assign", "verify", "confirm"):
        page.click(f"#step-{step} button")
    page.select_option("#step-act select[name=action]", "none")
    page.fill("#step-act input[name=note]", "borrower restructured privately")
    page.click("#step-act button")
    page.click("#step-close button")
    assert page.locator("#case-status").inner_text() == "closed"
    with world.engine.connect() as c:
        found = c.execute(select(cases).where(cases.c.case_id == world.case_id)).one()
    assert (found.status, found.finding, found.action, found.assignee) == (
        "closed", "confirmed", "none", "officer")  # fmt: skip


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    _login(page, "high")
    page.goto("/reviews")
    open_ids = [r["decision_id"] for r in review.open_reviews(world.engine)]
    target = next(i for i in open_ids if i != world.referred)
    statuses = []
    for token in (None, "forged"):
        body = "action=decline" + ("" if token is None else f"&csrf={token}")
        statuses.append(page.evaluate(
            """async ([url, body]) => (await fetch(url, {method: "POST", body,
                headers: {"Content-Type": "application/x-www-form-urlencoded"}})).status""",
            [f"/reviews/{target}", body],
        ))  # fmt: skip
    assert statuses == [403, 403]
    assert _review_status(world.engine, target) == "open"
    page.goto(f"/applications/{target}")  # for the screenshot: still open


def test_another_branchs_application_is_not_found(world: World, browser_page: Page) -> None:
    page = browser_page
    _login(page, "officer")
    page.goto("/applications")
    assert world.other_branch not in page.content()
    assert world.referred in page.content() or page.locator("#applications tr").count() > 1
    answer = page.goto(f"/applications/{world.other_branch}")
    assert answer is not None and answer.status == 404
    answer = page.goto(f"/reports/pre-loan/{world.other_branch}.pdf?lang=zh")
    assert answer is not None and answer.status == 404


def test_an_officer_downloads_a_pdf_report(world: World, browser_page: Page) -> None:
    page = browser_page
    _login(page, "officer")
    page.goto(f"/applications/{world.referred}")
    url = page.locator("#report-pre-loan-zh-pdf").get_attribute("href")
    assert url == f"/reports/pre-loan/{world.referred}.pdf?lang=zh"
    answer = page.request.get(url)
    assert answer.status == 200, answer.text()[:500]
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.body().startswith(b"%PDF")


def test_the_portfolio_report_is_for_all_branch_risk_staff(browser_page: Page) -> None:
    page = browser_page
    _login(page, "officer")
    answer = page.goto("/portfolio")
    assert answer is not None and answer.status == 403
    page.context.clear_cookies()
    _login(page, "risk")
    page.click("a[href='/portfolio']")
    assert page.url.endswith("/portfolio") and page.locator("h1").inner_text() == "Portfolio drift"


_RAW_ID = re.compile(r"\d{17}[\dXx]")


def test_a_risk_manager_reads_the_models_and_a_validation_report(browser_page: Page) -> None:
    page = browser_page
    _login(page, "risk")
    page.click("a[href='/models']")
    assert page.locator("table.models tr[id^=model-]").count() >= 2
    champions = page.locator("table.models td:nth-child(3)").all_inner_texts()
    assert "是" in champions  # each segment marks its champion
    report = page.locator("a.report").first
    href = report.get_attribute("href")
    assert href is not None and href.endswith("/validation")
    answer = page.goto(href)
    assert answer is not None and answer.status == 200
    assert page.title().startswith("Validation:")


def test_a_risk_manager_simulates_one_policy_against_another(browser_page: Page) -> None:
    page = browser_page
    _login(page, "risk")
    page.goto("/policies?lang=en")
    assert page.locator("#policy-default").is_visible()
    assert page.locator("#policy-in-use .tag").inner_text() == "in use"
    assert page.locator("table.authority").count() >= 3  # in use, default, challenger
    page.select_option("#simulate-a", "default")
    page.select_option("#simulate-b", "challenger")
    page.fill("#simulate-month", "2026-01")
    page.fill("#simulate-count", "60")
    page.click("#simulate button[type=submit]")
    assert page.locator("#sim-policy-0").inner_text().startswith("2026.1 ")
    assert page.locator("#sim-policy-1").inner_text().startswith("2026.1-c ")
    applications = page.locator("#sim-applications td").all_inner_texts()
    assert len(applications) == 2 and all(int(n) > 0 for n in applications)
    rates = page.locator("#sim-approval_rate td").all_inner_texts()
    assert len(rates) == 2 and all(r.endswith("%") for r in rates)
    answer = page.request.post(
        "/policies/simulate",
        form={"a": "default", "b": "challenger", "month": "2026-01", "count": "60"},
    )
    assert answer.status == 403  # no CSRF token


def test_the_data_page_shows_counts_and_reasons_never_raw_values(browser_page: Page) -> None:
    page = browser_page
    _login(page, "risk")
    page.click("a[href='/data']")
    assert page.locator("#catalogue tr[id^=source-]").count() >= 5
    landed = page.locator("#source-population_register td:nth-child(9)").inner_text()
    assert int(landed.replace(",", "")) > 0
    assert int(page.locator("#quarantined").inner_text().replace(",", "")) > 0
    assert page.locator("#quarantine tr").count() > 1
    assert not _RAW_ID.search(page.content())


def test_an_admin_verifies_the_audit_chain(browser_page: Page) -> None:
    page = browser_page
    _login(page, "admin")
    page.click("a[href='/audit']")
    assert int(page.locator("#audit-entries").inner_text().replace(",", "")) > 0
    page.click("#verify")
    assert page.locator("#audit-result").get_attribute("class") == "ok"
    assert len(page.locator("#audit-head").inner_text()) == 64


def test_an_officer_is_refused_the_bank_wide_pages(browser_page: Page) -> None:
    page = browser_page
    _login(page, "officer")
    for path in ("/models", "/policies", "/data", "/audit"):
        assert page.locator(f"header a[href='{path}']").count() == 0
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
    page.context.clear_cookies()
    _login(page, "risk")  # a risk manager sees the risk pages, not the audit log
    assert page.locator("header a[href='/models']").count() == 1
    assert page.locator("header a[href='/audit']").count() == 0
    answer = page.goto("/audit")
    assert answer is not None and answer.status == 403
