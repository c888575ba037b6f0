"""The counter under load, on SQLite and PostgreSQL: fifty concurrent applications and
drawdowns for one customer at different branches, through `Counter.apply` itself, never take
the group past its unified limit or a line past its limit, and every request gets a definite
answer; an enterprise and its legal representative applying at once share one limit; the
command line on PostgreSQL.

The county is built once (`conftest.py`). SQLite starts from a copy of its ledger as built; on
PostgreSQL the module works in a schema of its own (dropped afterwards) into which the online
profiles, the graph's edges and the branches are built from the same lake: that is all the
counter reads from the ledger besides its own tables (the resident-ID tokens come from the
home's key, the models from the home's registry).
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from purecredit.cli.main import app
from purecredit.core.errors import Invalid, NotFound, PurecreditError
from purecredit.core.settings import Settings, get_settings
from purecredit.core.subjects import subject_key
from purecredit.decide import exposure, store
from purecredit.decide.counter import Applied, Counter
from purecredit.decide.engine import Application, Decision, Standing, decide
from purecredit.decide.exposure import DrawResult
from purecredit.profile.build import build_profiles
from purecredit.profile.graph import EDGE_TABLE
from purecredit.score.sample import segment_of
from purecredit.store.ledger import make_engine
from tests.conftest import POSTGRES_URL
from tests.county import AS_OF, CountyHome, population_register

WORKERS = 3  # counters, as a server's worker processes would each hold one
TIMEOUT = 120.0  # seconds: a request still unanswered by then is a hang
D = Decimal


# ----------------------------------------------------------------------------- ledgers


@dataclass(frozen=True)
class Ledger:
    backend: str
    url: str
    settings: Settings  # the county's home, with this ledger


@pytest.fixture(scope="module")
def sqlite_ledger(county_home: CountyHome, tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    path = tmp_path_factory.mktemp("ledger") / "ledger.sqlite"
    shutil.copyfile(county_home.pristine, path)
    url = f"sqlite:///{path}"
    return Ledger("sqlite", url, Settings(home=county_home.home, database_url=url))


@pytest.fixture(scope="module")
def pg_ledger(county_home: CountyHome) -> Iterator[Ledger]:
    """A real PostgreSQL ledger: the profiles, edges and branches built into a fresh schema."""
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL is required at {POSTGRES_URL}: {exc}")
    schema = f"counter_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        build_profiles(county_home.lake, county_home.catalog, engine, AS_OF)
        store.sync_branches(engine, county_home.lake, county_home.catalog)
        engine.dispose()
        yield Ledger("postgresql", url, Settings(home=county_home.home, database_url=url))
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest) -> Ledger:
    name = "sqlite_ledger" if request.param == "sqlite" else "pg_ledger"
    found: Ledger = request.getfixturevalue(name)
    return found


# ----------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class Customers:
    """Applicants the champion policy approves on an empty ledger, found without writing."""

    persons: list[str]  # resident IDs approved for 80,000 yuan at an outlet, widest limit first
    pairs: list[tuple[str, str, str]]  # (USCC, its legal rep's resident ID, the rep's key)


def _dry(counter: Counter, identifier: str, product: str, amount: int) -> Decision | None:
    """The decision the champion would make on an empty ledger; nothing is written."""
    try:
        kind, subject, _ = subject_key(identifier, counter.settings)
    except PurecreditError:  # the register has defective IDs
        return None
    profile = counter.profiles[kind].get(subject)
    if profile is None:
        return None
    application = Application(
        application_id="A-dry", subject=subject, kind=kind, product=product, amount=amount,
        branch="341602001", branch_level="outlet", consent_id="C-dry",
        received_at="2026-01-05T09:00:00+00:00", term_months=None,
    )  # fmt: skip
    segment = segment_of(profile) if kind == "person" else "enterprise"
    model = counter.model_for(kind, segment)
    return decide(application, profile, model, counter.policy, Standing(), 0.03, arm="champion")


@pytest.fixture(scope="module")
def customers(sqlite_ledger: Ledger, county_home: CountyHome) -> Customers:
    counter = Counter(sqlite_ledger.settings, make_engine(sqlite_ledger.url))
    ids = [str(i) for i in population_register(county_home.county)["公民身份号码"]]
    persons = []
    for resident_id in ids:  # room for two 80,000 lines at least
        d = _dry(counter, resident_id, "household", 80_000)
        if d is not None and d.outcome == "approve" and d.unified_limit >= 170_000:
            persons.append((d.unified_limit, resident_id))
            if len(persons) == 6:
                break
    by_key = {}
    for resident_id in ids:
        try:
            by_key[subject_key(resident_id, counter.settings)[1]] = resident_id
        except PurecreditError:  # the register has defective IDs
            continue
    with counter.engine.connect() as connection:
        edges = connection.execute(
            text(f"SELECT src, dst FROM {EDGE_TABLE} WHERE kind = 'has_legal_rep' ORDER BY src")
        ).all()
    pairs = []
    for firm, rep in edges:
        if rep not in by_key:
            continue
        ours = _dry(counter, firm, "enterprise", 200_000)
        theirs = _dry(counter, by_key[rep], "household", 50_000)
        if ours and theirs and ours.outcome == theirs.outcome == "approve":
            pairs.append((str(firm), by_key[rep], str(rep)))
            if len(pairs) == 3:
                break
    counter.engine.dispose()
    assert len(persons) == 6 and len(pairs) >= 2, "the county has safe applicants"
    return Customers([r for _, r in sorted(persons, reverse=True)], pairs)


# ----------------------------------------------------------------------------- the run


@dataclass
class Run:
    """Requests started together; what each answered, and what a watcher saw meanwhile."""

    answers: list[Any] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)


def _concurrently(requests: list[Callable[[], Any]], watch: Callable[[], dict[str, Any]]) -> Run:
    """Run every request on its own thread, all released at once, while a watcher reads the
    group's exposure over and over. An answer is the request's result or the exception it
    raised; a request unanswered within TIMEOUT fails the test (a hang)."""
    run = Run()
    start = threading.Barrier(len(requests) + 1)
    done = threading.Event()

    def go(request: Callable[[], Any]) -> Any:
        start.wait(TIMEOUT)
        try:
            return request()
        except Exception as exc:  # judged below: only purecredit errors may pass
            return exc

    def watcher() -> None:
        start.wait(TIMEOUT)
        while not done.is_set():
            run.seen.append(watch())
            time.sleep(0.002)
        run.seen.append(watch())

    with ThreadPoolExecutor(len(requests) + 1) as pool:
        watching = pool.submit(watcher)
        futures = [pool.submit(go, request) for request in requests]
        deadline = time.monotonic() + TIMEOUT
        for future in futures:
            run.answers.append(future.result(timeout=max(1.0, deadline - time.monotonic())))
        done.set()
        watching.result(timeout=TIMEOUT)
    return run


def _counters(ledger: Ledger) -> list[Counter]:
    return [Counter(ledger.settings, make_engine(ledger.url)) for _ in range(WORKERS)]


def _dispose(counters: list[Counter]) -> None:
    for counter in counters:
        counter.engine.dispose()


def _key(counter: Counter, identifier: str) -> str:
    return subject_key(identifier, counter.settings)[1]


def _check_report(report: dict[str, Any]) -> list[str]:
    """What is wrong with one exposure report: granted beyond the unified limit, drawn beyond
    a line, two active lines for one subject and product."""
    wrong = []
    active = [x for x in report["lines"] if x["status"] == "active"]
    if D(report["granted"]) > D(report["unified_limit"]):
        wrong.append(f"granted {report['granted']} > unified {report['unified_limit']}")
    if D(report["granted"]) != sum((D(x["limit"]) for x in active), D(0)):
        wrong.append("granted is not the sum of the active lines")
    wrong += [f"line {x['line_id']} drawn beyond its limit" for x in active
              if D(x["drawn"]) > D(x["limit"])]  # fmt: skip
    pairs = [(x["subject"], x["product"]) for x in active]
    if len(pairs) != len(set(pairs)):
        wrong.append(f"parallel active lines {pairs}")
    return wrong


def _definite(answer: Any) -> bool:
    """An Applied with a decision, a DrawResult, or a purecredit error naming the problem."""
    if isinstance(answer, Applied):
        return answer.decision.outcome in ("approve", "refer", "decline")
    if isinstance(answer, DrawResult):
        return answer.drawn or answer.reason in ("exceeds_line_limit", "line_closed")
    return isinstance(answer, PurecreditError) and bool(str(answer))


def _stored(engine: Engine, subject: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(store.DECISIONS).where(store.DECISIONS.c.subject == subject)
        ).mappings()
        return [dict(r) for r in rows]


# ----------------------------------------------------------------------------- tests


def test_fifty_applications_and_drawdowns_at_different_branches_stay_within_the_limit(
    ledger: Ledger, customers: Customers
) -> None:
    resident_id = customers.persons[0 if ledger.backend == "sqlite" else 1]
    counters = _counters(ledger)
    engine = counters[0].engine
    subject = _key(counters[0], resident_id)
    branches = [b.code for b in store.branches(engine)]
    assert len(branches) >= 20
    rng = random.Random(6)
    amounts = [20_000, 50_000, 80_000, 120_000, 150_000, 200_000, 300_000]

    def application(i: int) -> Callable[[], Any]:
        amount = 5_000 if i % 15 == 7 else rng.choice(amounts)  # a few below the minimum
        counter, branch = counters[i % WORKERS], branches[i % len(branches)]
        return lambda: counter.apply(resident_id, product="household", amount=amount,
                                     branch=branch)  # fmt: skip

    def drawdown(i: int) -> Callable[[], Any]:
        amount, branch = D(rng.randrange(5_000, 60_000, 500)), branches[-1 - i % len(branches)]
        engine = counters[i % WORKERS].engine

        def go() -> Any:  # on the customer's line, once one exists
            deadline = time.monotonic() + TIMEOUT / 2
            while time.monotonic() < deadline:
                lines = exposure.exposure(engine, subject)["lines"]
                if lines:
                    return exposure.draw(engine, line_id=lines[0]["line_id"], amount=amount,
                                         branch=branch)  # fmt: skip
                time.sleep(0.01)
            raise AssertionError("no line was ever granted to draw on")

        return go

    requests = [application(i) if i % 5 < 3 else drawdown(i) for i in range(50)]
    try:
        run = _concurrently(requests, lambda: exposure.exposure(engine, subject))
    finally:
        _dispose(counters[1:])

    undefined = [a for a in run.answers if not _definite(a)]
    assert not undefined, f"requests without a definite answer: {undefined!r}"
    errors = [a for a in run.answers if isinstance(a, PurecreditError)]
    assert len(errors) == 3 and all(
        isinstance(e, Invalid) and e.field == "amount" for e in errors
    ), f"the only errors are the three amounts below the product's minimum: {errors!r}"
    # Never, at any moment a reader looked, past the unified limit or a line's limit.
    assert run.seen and all(not _check_report(r) for r in run.seen), [
        _check_report(r) for r in run.seen if _check_report(r)
    ]
    final = exposure.exposure(engine, subject)
    assert not _check_report(final)
    active = [x for x in final["lines"] if x["status"] == "active"]
    assert len(final["lines"]) == len(active) == 1, "one line: the rest were increases"
    line = active[0]
    assert line["product"] == "household" and line["subject"] == subject
    applied = [a for a in run.answers if isinstance(a, Applied)]
    assert any(a.granted for a in applied), "the customer is approved"
    # No lost update: the line is exactly what the grants added, drawn what the draws took.
    stored = {r["decision_id"]: r for r in _stored(engine, subject)}
    assert set(stored) == {a.decision_id for a in applied}, "every decision stored, once"
    added = sum((D(r["record"]["grant"]["amount"]) for r in stored.values()
                 if r["record"]["granted"]), D(0))  # fmt: skip
    assert D(line["limit"]) == added
    draws = [a for a in run.answers if isinstance(a, DrawResult)]
    assert len(draws) == 20 and any(d.drawn for d in draws)
    assert D(line["drawn"]) == sum((d.amount for d in draws if d.drawn), D(0))
    assert D(final["drawn"]) <= D(final["granted"]) <= D(final["unified_limit"])
    for a in applied:  # a grant the ledger refused is a decline, as stored
        assert (a.summary()["decision"] == "decline") == (
            a.decision.outcome == "decline" or a.granted is False
        )
    engine.dispose()


def test_an_enterprise_and_its_legal_rep_applying_at_once_share_one_limit(
    ledger: Ledger, customers: Customers
) -> None:
    firm, rep_id, rep = customers.pairs[0 if ledger.backend == "sqlite" else 1]
    counters = _counters(ledger)
    engine = counters[0].engine
    assert counters[0].legal_rep(firm) == rep
    branches = [b.code for b in store.branches(engine)]

    def application(i: int) -> Callable[[], Applied]:
        counter, branch = counters[i % WORKERS], branches[i % len(branches)]
        if i % 2:
            amount = [50_000, 60_000, 200_000][i % 3]
            return partial(counter.apply, firm, product="enterprise", amount=amount, branch=branch)
        amount = [20_000, 30_000][i % 2]
        return partial(counter.apply, rep_id, product="household", amount=amount, branch=branch)

    requests = [application(i) for i in range(24)]
    try:
        run = _concurrently(requests, lambda: exposure.exposure(engine, rep))
    finally:
        _dispose(counters[1:])
    assert all(isinstance(a, Applied) for a in run.answers), run.answers
    assert all(not _check_report(r) for r in run.seen)
    group = f"g:{rep}"  # the representative's: the firm joins it
    ours, theirs = exposure.exposure(engine, firm), exposure.exposure(engine, rep)
    assert theirs["group"] == group and not _check_report(theirs)
    assert D(theirs["granted"]) > 0
    granted = {a.decision.product for a in run.answers if a.granted}
    holder = {"household": rep, "enterprise": firm}
    assert {x["subject"] for x in theirs["lines"]} == {holder[p] for p in granted}
    if "enterprise" in granted:  # the firm is a member: one group, one report
        assert ours == theirs
    else:  # its grants were all refused, for want of room the representative's lines took
        assert ours["group"] is None
    # Every grant for either was decided in the one group, against its whole limit: the
    # firm's refusals came from the representative's lines, and no grant went past it.
    grants = [r["record"]["grant"] for r in _stored(engine, firm) + _stored(engine, rep)]
    assert {g["group"] for g in grants if g is not None} == {group}
    for g in grants:
        if g is not None:
            over = D(g["group_granted"]) + (0 if g["granted"] else D(g["amount"]))
            assert (over <= D(g["unified_limit"])) == g["granted"], g
    engine.dispose()


def test_concurrent_grants_up_to_a_decided_line_raise_it_once(ledger: Ledger) -> None:
    """`exposure.grant(up_to=...)` (what the counter and the review use to grant the line a
    decision approved): eight applications that all decided on "no line yet" leave one line
    of the amount decided, not eight increases stacked on one line."""
    subject = f"id:{uuid.uuid4().hex}"
    engine = make_engine(ledger.url)
    exposure.create_tables(engine)

    def one(i: int) -> Callable[[], Any]:
        return lambda: exposure.grant(
            engine, subject=subject, legal_rep=None, product="household", branch=f"B{i:02d}",
            amount=D(80_000), unified_limit=D(300_000), decision_id=f"D{i}", up_to=D(80_000),
        )  # fmt: skip

    run = _concurrently([one(i) for i in range(8)], lambda: exposure.exposure(engine, subject))
    assert all(a.granted for a in run.answers), run.answers
    assert sorted(a.amount for a in run.answers) == [D(0)] * 7 + [D(80_000)]
    report = exposure.exposure(engine, subject)
    assert [x["limit"] for x in report["lines"]] == ["80000.00"]
    assert all(not _check_report(r) for r in run.seen)
    engine.dispose()


def test_concurrent_applications_never_raise_a_line_beyond_what_was_decided(
    ledger: Ledger, customers: Customers, monkeypatch: pytest.MonkeyPatch
) -> None:
    resident_id = customers.persons[2 if ledger.backend == "sqlite" else 3]
    counter = Counter(ledger.settings, make_engine(ledger.url))
    real = exposure.grant_on
    decided = threading.Barrier(4)

    def grant_after_all_decided(*args: Any, **kwargs: Any) -> Any:
        # Every application has read its standing and decided before any grant commits: the
        # interleaving fifty requests at a busy counter run into by chance, made certain. On
        # SQLite an application holds the write lock from its first read (one BEGIN IMMEDIATE
        # transaction), so none can interleave and there is nothing to wait for.
        if ledger.backend != "sqlite":
            with contextlib.suppress(threading.BrokenBarrierError):  # one was not approved
                decided.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(exposure, "grant_on", grant_after_all_decided)
    outlets = [b.code for b in store.branches(counter.engine) if b.level == "outlet"]
    run = _concurrently(
        [partial(counter.apply, resident_id, product="household", amount=80_000, branch=o)
         for o in outlets[:4]],
        lambda: {"lines": []},
    )  # fmt: skip
    assert all(isinstance(a, Applied) for a in run.answers), run.answers
    widest = max(a.decision.line for a in run.answers if a.granted)
    line = exposure.exposure(counter.engine, _key(counter, resident_id))["lines"][0]
    counter.engine.dispose()
    assert D(line["limit"]) <= widest, f"line {line['limit']}, no decision approved over {widest}"


def _rows(engine: Engine) -> dict[str, int]:
    """How many rows each decision and ledger table holds."""
    tables = [store.DECISIONS, store.CONSENTS, store.REVIEWS, *exposure.metadata.sorted_tables]
    with engine.connect() as connection:
        return {t.name: len(connection.execute(select(t)).all()) for t in tables}


@pytest.mark.postgres
def test_the_command_line_on_postgresql(
    pg_ledger: Ledger, customers: Customers, county_home: CountyHome,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("PURECREDIT_HOME", str(county_home.home))
    monkeypatch.setenv("PURECREDIT_DATABASE_URL", pg_ledger.url)
    get_settings.cache_clear()
    try:
        _command_line(pg_ledger, customers, county_home.home)
    finally:
        get_settings.cache_clear()


def _command_line(pg: Ledger, customers: Customers, home: Path) -> None:
    runner = CliRunner()
    engine = make_engine(pg.url)
    resident_id = customers.persons[-1]
    listed = runner.invoke(app, ["branches", "--json"])
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.output)) >= 20
    args = ["apply", "--id", resident_id, "--product", "household"]
    done = runner.invoke(app, [*args, "--amount", "50000", "--branch", "341602001", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    approved = summary["decision"] == "approve"
    # Stored on PostgreSQL, not in the home's SQLite ledger.
    assert store.decision(engine, summary["decision_id"])["outcome"] == summary["decision"]
    home_ledger = make_engine(f"sqlite:///{home / 'ledger.sqlite'}")
    with pytest.raises(NotFound):
        store.decision(home_ledger, summary["decision_id"])
    home_ledger.dispose()
    shown = runner.invoke(app, ["exposure", resident_id, "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert report["unified_limit"] == f"{summary['unified_limit']}.00"
    lines = [(x["product"], x["limit"], x["branch"]) for x in report["lines"]]
    assert lines == ([("household", f"{summary['limit']}.00", "341602001")] if approved else [])
    before = _rows(engine)
    for wrong, says in [
        (["--amount", "50000", "--branch", "999999999"], "no branch"),
        (["--amount", str(10**9), "--branch", "341602001"], "amount"),
        (["--amount", "5000", "--branch", "341602001"], "amount"),
    ]:
        refused = runner.invoke(app, [*args, *wrong, "--json"])
        assert refused.exit_code == 1 and says in refused.output, refused.output
    assert _rows(engine) == before, "a bad request changes nothing"
    assert json.loads(runner.invoke(app, ["exposure", resident_id, "--json"]).output) == report
    engine.dispose()
