"""One unified limit per customer (and per enterprise with its legal representative), across
products and branches, on SQLite and PostgreSQL, including 50 concurrent requests.

On PostgreSQL every test works in a schema of its own (dropped afterwards), so leftover tables
or other modules' tests on the shared server never meet this module's tables.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from purecredit.core.errors import Invalid, NotFound
from purecredit.decide import exposure as ex
from purecredit.decide import lines
from purecredit.decide.exposure import DrawResult, GrantResult, draw, exposure, grant
from purecredit.store.ledger import make_engine

PERSON = "id:" + "a1" * 16
OTHER = "id:" + "b2" * 16
ENTERPRISE = "91330521MA2B3C4D5E"  # a USCC-shaped key
D = Decimal


@pytest.fixture
def url(fresh_ledger_url: str) -> str:
    """The ledger URL with this module's tables created."""
    engine = make_engine(fresh_ledger_url)
    ex.create_tables(engine)
    engine.dispose()
    return fresh_ledger_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _grant(engine: Engine, **kw: Any) -> GrantResult:
    args: dict[str, Any] = {
        "subject": PERSON,
        "legal_rep": None,
        "product": "household",
        "branch": "B01",
        "unified_limit": D("100000"),
        "decision_id": "dec-1",
    }
    args.update(kw)
    return grant(engine, **args)


def _snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the module's tables, in a stable order."""
    with engine.connect() as conn:
        return {
            table.name: sorted(
                (tuple(str(v) for v in row) for row in conn.execute(select(table)).all()),
            )
            for table in ex.metadata.sorted_tables
        }


def test_tables_live_in_the_test_schema(url: str, engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            assert conn.execute(text("SELECT current_schema()")).scalar() != "public"
        assert conn.execute(select(ex.credit_lines)).all() == []


def test_grant_then_increase_same_product_is_one_bigger_line(engine: Engine) -> None:
    first = _grant(engine, amount=D("30000"), branch="B01")
    assert first.granted and not first.increase and first.line_limit == D("30000.00")
    assert first.group_id == f"g:{PERSON}" and first.available == D("70000.00")

    second = _grant(engine, amount=D("20000.50"), branch="B07", decision_id="dec-2")
    assert second.granted and second.increase
    assert second.line_id == first.line_id
    assert second.line_limit == D("50000.50")
    assert second.group_granted == D("50000.50") and second.available == D("49999.50")

    report = exposure(engine, PERSON)
    assert report["unified_limit"] == "100000.00"
    assert report["granted"] == "50000.50"
    assert report["drawn"] == "0.00"
    assert report["available"] == "49999.50"
    assert report["group"] == f"g:{PERSON}"
    assert report["lines"] == [
        {
            "line_id": first.line_id,
            "subject": PERSON,
            "product": "household",
            "branch": "B01",
            "limit": "50000.50",
            "drawn": "0.00",
            "status": "active",
        }
    ]
    with engine.connect() as conn:
        assert conn.execute(select(ex.credit_lines.c.decision_id)).scalar_one() == "dec-2"


def test_second_product_shares_the_unified_limit(engine: Engine) -> None:
    assert _grant(engine, product="household", amount=D("60000")).granted
    assert _grant(engine, product="supply-chain", amount=D("30000"), branch="B02").granted
    refused = _grant(engine, product="supply-chain", amount=D("20000"), branch="B03")
    assert not refused.granted and refused.reason == "exceeds_unified_limit"
    assert refused.available == D("10000.00") and refused.group_granted == D("90000.00")
    assert refused.increase and refused.line_limit == D("30000.00")
    fits = _grant(engine, product="supply-chain", amount=D("10000"), branch="B03")
    assert fits.granted and fits.available == D("0.00")
    report = exposure(engine, PERSON)
    assert report["granted"] == "100000.00" and report["available"] == "0.00"
    assert sorted(line["product"] for line in report["lines"]) == ["household", "supply-chain"]


def test_latest_assessment_sets_the_unified_limit(engine: Engine) -> None:
    assert _grant(engine, amount=D("80000"), unified_limit=D("100000")).granted
    assert not _grant(engine, product="supply-chain", amount=D("30000")).granted
    raised = _grant(engine, product="supply-chain", amount=D("30000"), unified_limit=D("120000"))
    assert raised.granted and raised.unified_limit == D("120000.00")
    assert exposure(engine, PERSON)["unified_limit"] == "120000.00"


def test_enterprise_and_legal_rep_share_a_group_limit(engine: Engine) -> None:
    person = _grant(engine, subject=PERSON, product="household", amount=D("50000"))
    firm = _grant(
        engine,
        subject=ENTERPRISE,
        legal_rep=PERSON,
        product="enterprise",
        amount=D("40000"),
        branch="B05",
    )
    assert firm.granted and firm.group_id == person.group_id == f"g:{PERSON}"
    assert firm.group_granted == D("90000.00")
    over = _grant(
        engine, subject=ENTERPRISE, legal_rep=PERSON, product="enterprise", amount=D("20000")
    )
    assert not over.granted and over.available == D("10000.00")
    # The representative alone is bounded by the enterprise's lines too.
    assert not _grant(engine, subject=PERSON, product="supply-chain", amount=D("10000.01")).granted
    assert exposure(engine, ENTERPRISE) == exposure(engine, PERSON)
    report = exposure(engine, ENTERPRISE)
    assert report["granted"] == "90000.00"
    assert {(line["subject"], line["product"]) for line in report["lines"]} == {
        (PERSON, "household"),
        (ENTERPRISE, "enterprise"),
    }


def test_enterprise_joins_its_representative_with_its_lines(engine: Engine) -> None:
    alone = _grant(engine, subject=ENTERPRISE, product="enterprise", amount=D("70000"))
    assert alone.group_id == f"g:{ENTERPRISE}"
    assert _grant(engine, subject=PERSON, product="household", amount=D("20000")).granted
    # Once the representative is known, the enterprise's line counts against the group:
    # 70,000 + 20,000 + 20,000 > 100,000, refused, and the enterprise has not moved.
    refused = _grant(
        engine, subject=ENTERPRISE, legal_rep=PERSON, product="enterprise", amount=D("20000")
    )
    assert not refused.granted and refused.available == D("10000.00")
    assert exposure(engine, ENTERPRISE)["group"] == f"g:{ENTERPRISE}"
    joined = _grant(
        engine, subject=ENTERPRISE, legal_rep=PERSON, product="enterprise", amount=D("10000")
    )
    assert joined.granted and joined.line_id == alone.line_id and joined.increase
    assert joined.group_id == f"g:{PERSON}" and joined.group_granted == D("100000.00")
    assert exposure(engine, ENTERPRISE)["group"] == f"g:{PERSON}"
    assert exposure(engine, PERSON)["granted"] == "100000.00"


def test_refused_grant_and_draw_change_nothing(engine: Engine) -> None:
    line = _grant(engine, amount=D("90000")).line_id
    assert line is not None
    assert draw(engine, line_id=line, amount=D("1000"), branch="B01").drawn
    before = _snapshot(engine)
    # A lower limit from a new assessment, a new product and an enterprise joining the
    # group: all of it must roll back with the refusal.
    refused = _grant(
        engine,
        subject=ENTERPRISE,
        legal_rep=PERSON,
        product="enterprise",
        amount=D("5000"),
        unified_limit=D("94000"),
    )
    assert not refused.granted and refused.available == D("4000.00")
    assert not _grant(engine, amount=D("10000.01")).granted
    over = draw(engine, line_id=line, amount=D("89000.01"), branch="B09")
    assert not over.drawn and over.reason == "exceeds_line_limit"
    assert over.available == D("89000.00")
    assert _snapshot(engine) == before
    assert exposure(engine, ENTERPRISE)["group"] is None


def test_draw_within_and_over_the_line_limit(engine: Engine) -> None:
    line = _grant(engine, amount=D("10000")).line_id
    assert line is not None
    first = draw(engine, line_id=line, amount=D("4000"), branch="B02")
    assert first.drawn and first.available == D("6000.00") and first.drawdown_id
    exact = draw(engine, line_id=line, amount=D("6000"), branch="B03")
    assert exact.drawn and exact.line_drawn == D("10000.00") and exact.available == D("0.00")
    over = draw(engine, line_id=line, amount=D("0.01"), branch="B04")
    assert over == DrawResult(
        drawn=False,
        line_id=line,
        drawdown_id=None,
        amount=D("0.01"),
        line_limit=D("10000.00"),
        line_drawn=D("10000.00"),
        available=D("0.00"),
        reason="exceeds_line_limit",
    )
    report = exposure(engine, PERSON)
    assert report["drawn"] == "10000.00" and report["lines"][0]["drawn"] == "10000.00"
    with engine.connect() as conn:
        rows = conn.execute(select(ex.drawdowns.c.amount, ex.drawdowns.c.branch)).all()
    assert sorted((D(str(a)), b) for a, b in rows) == [(D("4000"), "B02"), (D("6000"), "B03")]


def test_closed_line_refuses_draws_and_frees_the_limit(engine: Engine) -> None:
    line = _grant(engine, amount=D("100000")).line_id
    assert line is not None
    lines.move(engine, line, "closed", cause="officer:test")
    closed = draw(engine, line_id=line, amount=D("1"), branch="B01")
    assert not closed.drawn and closed.reason == "line_closed"
    again = _grant(engine, amount=D("100000"))
    assert again.granted and not again.increase and again.line_id != line
    report = exposure(engine, PERSON)
    assert report["granted"] == "100000.00"
    assert [line["status"] for line in report["lines"]] == ["closed", "active"]


def test_bad_input_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(NotFound):
        draw(engine, line_id="Lnope", amount=D("1"), branch="B01")
    with pytest.raises(Invalid):
        _grant(engine, amount=D("0"))
    with pytest.raises(Invalid):
        _grant(engine, amount=D("-5"))
    with pytest.raises(Invalid):
        _grant(engine, amount=D("1.001"))
    with pytest.raises(Invalid):
        _grant(engine, amount=1000.0)  # floats never
    with pytest.raises(Invalid):
        _grant(engine, amount=D("NaN"))
    with pytest.raises(Invalid):
        _grant(engine, amount=D("10"), unified_limit=D("-1"))
    with pytest.raises(Invalid):
        _grant(engine, amount=D("10"), product="")
    line = _grant(engine, amount=D("10")).line_id
    assert line is not None
    with pytest.raises(Invalid):
        draw(engine, line_id=line, amount=D("0"), branch="B01")
    assert _snapshot(engine)["drawdowns"] == []


def test_sqlite_connections_go_back_to_the_pool_unchanged(engine: Engine) -> None:
    """The IMMEDIATE transaction borrows driver autocommit for its own unit of work only."""
    _grant(engine, amount=D("10"))
    with pytest.raises(Invalid):
        _grant(engine, amount=D("0"))
    assert not _grant(engine, amount=D("1000000")).granted
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert conn.connection.dbapi_connection.isolation_level == ""  # type: ignore[union-attr]
        assert conn.get_isolation_level() != "AUTOCOMMIT"


def test_unknown_subject_has_no_exposure(engine: Engine) -> None:
    assert exposure(engine, OTHER) == {
        "unified_limit": "0.00",
        "granted": "0.00",
        "drawn": "0.00",
        "available": "0.00",
        "group": None,
        "lines": [],
    }


# ----------------------------------------------------------------------------- concurrency

UNIFIED = D("100000")
GRANT = D("5000")
DRAW = D("1000")
PRE_HOUSEHOLD = D("10000")
PRE_SUPPLY = D("5000")  # the line the drawdowns hit: exactly 5 drawdowns of 1,000 fit
GRANTS = 30  # 85,000 left after the pre-existing lines: exactly 17 grants of 5,000 fit
DRAWS = 20


@dataclass
class Storm:
    seconds: float
    results: list[GrantResult | DrawResult] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def _storm(url: str) -> Storm:
    """50 concurrent requests for one customer group (a person and the enterprise they
    represent) at 50 branches: 30 grants over three products (increases of an existing line,
    and new lines racing to be opened) and 20 drawdowns on one line. Each runs in its own
    thread on its own engine (its own connection), all released at once by a barrier."""
    setup = make_engine(url)
    _grant(setup, product="household", amount=PRE_HOUSEHOLD, unified_limit=UNIFIED)
    supply = _grant(setup, product="supply-chain", amount=PRE_SUPPLY, unified_limit=UNIFIED)
    setup.dispose()
    assert supply.line_id is not None
    requests: list[dict[str, Any]] = []
    for i in range(GRANTS):
        subject, product = [
            (PERSON, "household"),
            (ENTERPRISE, "enterprise"),
            (ENTERPRISE, "supply-chain"),
        ][i % 3]
        rep = PERSON if subject == ENTERPRISE else None
        requests.append({"kind": "grant", "subject": subject, "legal_rep": rep, "product": product})
    requests += [{"kind": "draw"} for _ in range(DRAWS)]
    barrier = threading.Barrier(len(requests))
    storm = Storm(seconds=0.0, results=[], errors=[])
    lock = threading.Lock()

    def run(index: int, request: dict[str, Any]) -> None:
        engine = make_engine(url)
        branch = f"B{index:02d}"
        try:
            barrier.wait(timeout=60)
            result: GrantResult | DrawResult
            if request["kind"] == "grant":
                result = grant(
                    engine,
                    subject=request["subject"],
                    legal_rep=request["legal_rep"],
                    product=request["product"],
                    branch=branch,
                    amount=GRANT,
                    unified_limit=UNIFIED,
                    decision_id=f"dec-{index}",
                )
            else:
                result = draw(engine, line_id=str(supply.line_id), amount=DRAW, branch=branch)
            with lock:
                storm.results.append(result)
        except BaseException as exc:  # every request must get an answer: collect, assert later
            with lock:
                storm.errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    storm.seconds = time.perf_counter() - started
    assert not any(thread.is_alive() for thread in threads), "a request never answered"
    return storm


def test_fifty_concurrent_requests_never_exceed_the_unified_limit(url: str) -> None:
    storm = _storm(url)
    print(f"\n50 concurrent requests on {url.split(':')[0]}: {storm.seconds:.2f}s")
    assert storm.errors == [], [repr(e) for e in storm.errors]  # no "database is locked"
    assert len(storm.results) == GRANTS + DRAWS
    grants = [r for r in storm.results if isinstance(r, GrantResult)]
    draws = [r for r in storm.results if isinstance(r, DrawResult)]
    outcomes = Counter(r.granted for r in grants)
    # The maximum that fits, and not one more: (100,000 - 15,000) / 5,000 = 17.
    assert outcomes == {True: 17, False: GRANTS - 17}
    assert all(r.reason == "exceeds_unified_limit" for r in grants if not r.granted)
    assert all(r.group_granted <= UNIFIED for r in grants)
    assert Counter(r.drawn for r in draws) == {True: 5, False: DRAWS - 5}
    assert all(r.reason == "exceeds_line_limit" for r in draws if not r.drawn)

    engine = make_engine(url)
    try:
        report = exposure(engine, ENTERPRISE)
        assert report == exposure(engine, PERSON)
        assert D(report["granted"]) == UNIFIED  # every cent granted, never more
        assert D(report["unified_limit"]) == UNIFIED and D(report["available"]) == 0
        pairs = [(line["subject"], line["product"]) for line in report["lines"]]
        assert len(pairs) == len(set(pairs))  # increases, never parallel lines
        assert (
            {(PERSON, "household"), (PERSON, "supply-chain")}
            <= set(pairs)
            <= {
                (PERSON, "household"),
                (PERSON, "supply-chain"),
                (ENTERPRISE, "enterprise"),
                (ENTERPRISE, "supply-chain"),
            }
        )
        assert all(line["status"] == "active" for line in report["lines"])
        for line in report["lines"]:
            assert D(line["drawn"]) <= D(line["limit"])
        with engine.connect() as conn:
            drawn = conn.execute(select(ex.drawdowns.c.line_id, ex.drawdowns.c.amount)).all()
        assert len(drawn) == 5
        assert sum(D(str(a)) for _, a in drawn) == PRE_SUPPLY
        # The lines' sizes are the pre-existing ones plus 5,000 per granted request.
        granted_to = Counter((r.line_id) for r in grants if r.granted)
        for line in report["lines"]:
            pre = {"household": PRE_HOUSEHOLD, "supply-chain": PRE_SUPPLY}
            base = pre[line["product"]] if line["subject"] == PERSON else D(0)
            assert D(line["limit"]) == base + GRANT * granted_to[line["line_id"]]
    finally:
        engine.dispose()


def test_concurrent_first_grants_open_one_line(url: str) -> None:
    """Twenty first-time requests for a new customer race to create its group and line."""
    barrier = threading.Barrier(20)
    results: list[GrantResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        engine = make_engine(url)
        try:
            barrier.wait(timeout=60)
            result = grant(
                engine,
                subject=ENTERPRISE if index % 2 else OTHER,
                legal_rep=OTHER if index % 2 else None,
                product="enterprise" if index % 2 else "household",
                branch=f"B{index:02d}",
                amount=D("10000"),
                unified_limit=D("55000"),
                decision_id=None,
            )
            with lock:
                results.append(result)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == [], [repr(e) for e in errors]
    assert Counter(r.granted for r in results) == {True: 5, False: 15}
    engine = make_engine(url)
    try:
        report = exposure(engine, OTHER)
        assert report["group"] == f"g:{OTHER}"
        assert report["granted"] == "50000.00" and report["available"] == "5000.00"
        # Which requests win the race is timing: the firm joins its representative's group
        # only with a grant of its own (a refused grant joins nothing).
        if any(line["subject"] == ENTERPRISE for line in report["lines"]):
            assert exposure(engine, ENTERPRISE) == report
        else:
            assert exposure(engine, ENTERPRISE)["group"] is None
        assert len(report["lines"]) == len({(x["subject"], x["product"]) for x in report["lines"]})
    finally:
        engine.dispose()


def _process_grant(url: str, index: int, start: float) -> tuple[bool, str]:
    """One branch office as its own process (spawned: nothing shared but the database)."""
    time.sleep(max(0.0, start - time.time()))
    engine = make_engine(url)
    try:
        result = grant(
            engine,
            subject=PERSON,
            legal_rep=None,
            product=["household", "supply-chain"][index % 2],
            branch=f"P{index:02d}",
            amount=D("30000"),
            unified_limit=UNIFIED,
            decision_id=None,
        )
        return result.granted, str(result.group_granted)
    except Exception as exc:  # reported, not raised: the parent asserts there were none
        return False, f"error: {exc!r}"
    finally:
        engine.dispose()


def _warm(_: int) -> float:
    time.sleep(0.2)  # hold the worker so that each of them gets one and imports everything
    return time.time()


@pytest.mark.slow
def test_concurrent_processes_never_exceed_the_unified_limit(url: str) -> None:
    """Six processes at once, 30,000 each against 100,000: exactly three are granted."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(6) as pool:
        pool.map(_warm, range(6), chunksize=1)
        start = time.time() + 0.5  # every worker is up: release them together
        answers = pool.starmap(_process_grant, [(url, i, start) for i in range(6)], chunksize=1)
    assert not [a for a in answers if a[1].startswith("error")], answers
    assert sum(granted for granted, _ in answers) == 3
    engine = make_engine(url)
    try:
        assert exposure(engine, PERSON)["granted"] == "90000.00"
    finally:
        engine.dispose()
