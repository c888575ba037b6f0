"""The officers' console over HTTP: how long each page takes to answer (issue 10: under
200 ms at p95 on a 100,000-person county).

`purecredit serve` runs as a subprocess on 127.0.0.1 (a free port) over HOME and its ledger;
the benchmark logs in through the real login form (GET /login, POST the username and
password, keep the `pc_session` cookie) and then asks each page `--requests` times from
`--concurrency` threads (one httpx client each), page after page, timing each request from
send to the last byte of the body. Every answer must be 200: any other status (a redirect to
/login included) is counted as a failure, and a failing page fails the benchmark (exit 1).

    python benchmarks/bench_console.py --home HOME --county DIR [--walk-ins 2026-01] \
        [--workers 1] [--requests 200] [--concurrency 4] [--json FILE]

Pages, as the all-branch risk manager (`bench.risk`, level head): the dashboard, the
applications list (all, then `outcome=refer`), an application (a random decision each time),
the review queue, the warning cases, a case (random), the portfolio, and the pre-loan report
in HTML (`?lang=zh`); as a branch officer (`bench.officer`, the sub-branch with the most
decisions) the dashboard, the applications list, an application and the cases, to see the
scoped queries.
The report's PDF is measured too (`--pdf-requests`) but shown apart: it is a download, not a
page. `GET /healthz` is the same run's floor: the HTTP stack and the client, nothing else.

HOME is changed in place (run it on a copy): the two staff accounts are created (or their
passwords reset); the branch table is synced from the lake if the ledger has none; with
`--walk-ins MONTH` a month of the county's walk-in applications is decided through the
counter first (`decide.applications`, as `purecredit demo` does) if the ledger has no
decision yet; and if the ledger has no warning case, `--cases` of them are opened for
approved borrowers exactly as the daily batch opens them (`monitor.run`), one
event each of a kind that freezes nothing (a rescored PD two grades worse, a burst of bureau
queries), so /cases and /cases/{id} have rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
from bench_gateway import Server, free_port  # the same subprocess and readiness wait
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Engine, func, select

from purecredit.core.settings import Settings

BAR_MS = 200.0
OFFICER_KINDS = ("pd_downgrade", "query_burst")  # W04 and W05: warnings that freeze nothing
console = Console(width=150)  # the table stays readable when piped to a log


# ----------------------------------------------------------------------------- the ledger


def ensure_branches(engine: Engine, home: Path) -> None:
    """The bank's branch table in the ledger (accounts and the counter check branches)."""
    from purecredit.decide import store
    from purecredit.ingest.catalog import load_catalog
    from purecredit.store.lake import Lake

    store.create_tables(engine)
    if not store.branches(engine):
        store.sync_branches(engine, Lake(home / "lake"), load_catalog())


def decisions_in(engine: Engine) -> int:
    from purecredit.decide.store import DECISIONS

    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(DECISIONS)).scalar_one())


def walk_ins(settings: Settings, engine: Engine, county: Path, month: str) -> dict[str, Any]:
    """A month of the county's walk-ins through the counter, from the day the deliveries
    reach the bank (the study date + 5 days, as `purecredit demo`)."""
    from purecredit.cli.progress import steps
    from purecredit.decide.applications import month_of_walk_ins, outlets_of, run_asks
    from purecredit.decide.counter import Counter
    from purecredit.synth.manifest import read_manifest

    delivered = read_manifest(county / "manifest.json").study_date + timedelta(days=5)
    counter = Counter(settings, engine)
    asks = month_of_walk_ins(county, outlets_of(counter), month, from_day=delivered)
    t0 = time.perf_counter()
    with steps(f"walk-ins of {month}", len(asks)) as advance:
        counts = run_asks(counter, asks, advance)
    seconds = time.perf_counter() - t0
    console.print(f"walk-ins: {len(asks)} in {seconds:.0f} s: {counts}")
    return {"month": month, "asked": len(asks), "outcomes": counts, "seconds": round(seconds, 1)}


def open_cases(engine: Engine, n: int) -> int:
    """`n` warning cases for approved borrowers with a live line, raised as the daily batch
    raises them (`monitor.run._new_events` and `_raise`, as tests/monitor/test_cases.py does),
    dated the day of the latest line; none if the ledger already has cases."""
    from purecredit.decide import exposure
    from purecredit.monitor import run
    from purecredit.monitor.cases import list_cases
    from purecredit.monitor.rules import load_rules
    from purecredit.monitor.tables import create_tables
    from purecredit.store.ledger import run_locked

    create_tables(engine)
    exposure.create_tables(engine)
    if list_cases(engine, branches=None, status=None):
        return 0
    lines = exposure.credit_lines
    with engine.connect() as connection:
        rows = connection.execute(
            select(lines.c.subject, lines.c.branch, lines.c.created_at)
            .where(lines.c.status.in_(exposure.LIVE))
            .order_by(lines.c.created_at.desc())
            .limit(n)
        ).all()
    if not rows:
        return 0
    day = max(r.created_at for r in rows).date()
    found = [
        {"subject": r.subject, "party": r.subject, "hops": 0, "relation": "self",
         "kind": OFFICER_KINDS[i % 2], "fact": f"bench:{uuid.uuid4().hex}",
         "valid_from": day, "known_at": day, "amount": None}
        for i, r in enumerate(rows)
    ]  # fmt: skip
    watched = {r.subject: (r.branch, r.created_at.date()) for r in rows}
    rules = load_rules()
    raised: list[int] = []

    def work(connection: Any) -> None:
        fresh = run._new_events(connection, found, day)
        at = datetime.combine(day, clock(9), tzinfo=UTC)
        raised.append(run._raise(connection, fresh, watched, rules, day, at)[0])

    run_locked(engine, work)
    return raised[0]


def staff_accounts(engine: Engine) -> dict[str, tuple[str, str, str | None]]:
    """(username -> password, role, branch) for the all-branch risk manager and an officer of
    the sub-branch with the most decisions (its outlets' decisions are in its scope)."""
    from purecredit.decide import store
    from purecredit.ui import accounts

    subs = {b.code for b in store.branches(engine) if b.level == "sub_branch"}
    parents = {b.code: b.parent for b in store.branches(engine)}
    with engine.connect() as connection:
        by_branch = connection.execute(
            select(store.DECISIONS.c.branch, func.count()).group_by(store.DECISIONS.c.branch)
        ).all()
    counts: dict[str, int] = dict.fromkeys(subs, 0)
    for branch, count in by_branch:
        code: str | None = branch
        while code is not None and code not in subs:
            code = parents.get(code)
        if code is not None:
            counts[code] += count
    branch = max(sorted(counts), key=counts.__getitem__)
    wanted = {
        "bench.risk": ("risk_manager", None, "head"),
        "bench.officer": ("officer", branch, None),
    }
    existing = {str(s["username"]) for s in accounts.list_staff(engine)}
    made = {}
    for username, (role, scope, level) in wanted.items():
        password = secrets.token_urlsafe(12)
        if username in existing:
            accounts.set_password(engine, username, password)
        else:
            accounts.add_staff(engine, username, password, role=role,
                               branches=[scope] if scope else [], level=level)  # fmt: skip
        made[username] = (password, role, scope)
    return made


def samples(engine: Engine, username: str, n: int) -> dict[str, list[str]]:
    """Random decision ids and case ids in the account's scope, `n` each (and every one in
    scope, under "in_scope_...")."""
    from purecredit.decide import store
    from purecredit.monitor.tables import cases
    from purecredit.ui.accounts import staff

    rng = random.Random(10)
    sees = staff(engine, username).sees
    query = select(store.DECISIONS.c.decision_id, store.DECISIONS.c.branch)
    with engine.connect() as connection:
        decided = connection.execute(query).all()
        found = connection.execute(select(cases.c.case_id, cases.c.branch)).all()
    ids = [d for d, b in decided if sees(b)]
    case_ids = [c for c, b in found if sees(b)]
    return {
        "decisions": [rng.choice(ids) for _ in range(n)] if ids else [],
        "cases": [rng.choice(case_ids) for _ in range(n)] if case_ids else [],
        "in_scope_decisions": ids,
        "in_scope_cases": case_ids,
    }


def reports_made(
    settings: Settings, engine: Engine, decisions: list[str], n: int
) -> dict[str, list[str]]:
    """Two samples of decisions for the report page: "reported", 100 decisions whose pre-loan
    reports are made here first (as the server's report maker makes them after each
    decision: a view then serves the stored report), and "unreported", `n` other decisions,
    all distinct, never reported (each view renders one from the ledger, then stores it)."""
    from purecredit.report import render

    rng = random.Random(11)
    ids = rng.sample(decisions, min(len(decisions), 100 + n))
    reported, unreported = ids[:100], ids[100:]
    with Progress(console=console) as progress:
        for decision in progress.track(reported, description="pre-loan reports made"):
            render(engine, settings, "pre-loan", decision, "zh", "html")
    return {"reported": [rng.choice(reported) for _ in range(n)], "unreported": unreported}


# ----------------------------------------------------------------------------- the load


def log_in(base: str, username: str, password: str) -> str:
    """The session token, through the real form (what a browser does)."""
    with httpx.Client(base_url=base, timeout=30) as client:
        form = client.get("/login")
        if form.status_code != 200 or 'name="password"' not in form.text:
            raise SystemExit(f"GET /login answered {form.status_code} without the form")
        answer = client.post("/login", data={"username": username, "password": password})
        token = answer.cookies.get("pc_session")
        if answer.status_code != 303 or not token:
            raise SystemExit(f"login of {username} answered {answer.status_code}")
        return str(token)


def hammer(
    base: str, token: str | None, paths: list[str], concurrency: int, seconds: float = 1e9
) -> dict[str, Any]:
    """Each path once, from `concurrency` threads (a keep-alive client each), none started
    after `seconds`; latencies in ms in the order they finished, and the statuses that were
    not 200."""
    deadline = time.perf_counter() + seconds
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            cookies = {"pc_session": token} if token else None
            local.client = httpx.Client(base_url=base, cookies=cookies, timeout=120)
            with lock:
                clients.append(local.client)
        made: httpx.Client = local.client
        return made

    def one(path: str) -> tuple[float, int, int] | None:
        if time.perf_counter() > deadline:
            return None
        c = client()
        t0 = time.perf_counter()
        answer = c.get(path)
        body = answer.content
        return (time.perf_counter() - t0) * 1000, answer.status_code, len(body)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = [r for r in pool.map(one, paths) if r is not None]
    wall = time.perf_counter() - t0
    for c in clients:
        c.close()
    failures: dict[str, int] = {}
    for _, status, _ in done:
        if status != 200:
            failures[str(status)] = failures.get(str(status), 0) + 1
    return {
        "ms": [ms for ms, _, _ in done],
        "failures": failures,
        "wall_s": wall,
        "bytes": int(np.median([size for _, _, size in done])) if done else 0,
    }


def stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "max_ms": round(float(a.max()), 1),
    }


def measure(
    name: str,
    make: Callable[[int], str],
    base: str,
    token: str | None,
    n: int,
    args: argparse.Namespace,
    *,
    is_page: bool = True,
) -> dict[str, Any]:
    """One page: a few untimed requests first (the first call of a worker loads what is
    loaded lazily; that first time is kept apart), then `n` timed ones, or as many as start
    within `--page-seconds` (a page of several seconds would otherwise take the whole run)."""
    first = hammer(base, token, [make(0)], 1)
    c = args.concurrency
    hammer(base, token, [make(i) for i in range(2 * c)], c)
    timed = hammer(base, token, [make(i) for i in range(n)], c, args.page_seconds)
    row = {
        "page": name,
        "example": make(0),
        "requests": len(timed["ms"]),
        "is_page": is_page,
        "first_ms": round(first["ms"][0], 1),
        **stats(timed["ms"]),
        "per_s": round(n / timed["wall_s"], 1),
        "body_bytes": timed["bytes"],
        "failures": {
            k: first["failures"].get(k, 0) + timed["failures"].get(k, 0)
            for k in {**first["failures"], **timed["failures"]}
        },
    }
    row["meets_bar"] = row["p95_ms"] < BAR_MS
    mark = "ok" if not row["failures"] else f"[red]failures {row['failures']}[/red]"
    console.print(f"  {name}: p95 {row['p95_ms']} ms ({mark})")
    return row


def pages(
    who: str, sample: dict[str, list[str]], args: argparse.Namespace
) -> list[tuple[str, Callable[[int], str], bool, int]]:
    """(name, path of the i-th request, is a page, requests) for a role."""

    def pick(kind: str, fmt: str) -> Callable[[int], str]:
        ids = sample[kind]
        return lambda i: fmt.format(ids[i % len(ids)])

    n = args.requests
    if who == "officer":
        return [
            ("officer: dashboard /", lambda i: "/", True, n),
            ("officer: /applications", lambda i: "/applications", True, n),
            ("officer: /applications/{id}", pick("decisions", "/applications/{}"), True, n),
            ("officer: /cases", lambda i: "/cases", True, n),
        ]
    out = [
        ("dashboard /", lambda i: "/", True, n),
        ("/applications", lambda i: "/applications", True, n),
        ("/applications?outcome=refer", lambda i: "/applications?outcome=refer", True, n),
        ("/applications/{id}", pick("decisions", "/applications/{}"), True, n),
        ("/reviews", lambda i: "/reviews", True, n),
        ("/cases", lambda i: "/cases", True, n),
    ]
    if sample["cases"]:
        out.append(("/cases/{id}", pick("cases", "/cases/{}"), True, n))
    out += [
        ("/portfolio", lambda i: "/portfolio", True, n),
        ("/reports/pre-loan/{id}.html?lang=zh (made)",
         pick("reported", "/reports/pre-loan/{}.html?lang=zh"), True, n),
        ("/reports/pre-loan/{id}.html?lang=zh (first view)",
         pick("unreported", "/reports/pre-loan/{}.html?lang=zh"), True, n),
        ("/reports/pre-loan/{id}.pdf?lang=zh (download)",
         pick("decisions", "/reports/pre-loan/{}.pdf?lang=zh"), False, args.pdf_requests),
    ]  # fmt: skip
    return out


def show(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for column in ("page", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "first ms",
                   "per s", "KiB", "p95 < 200 ms"):  # fmt: skip
        table.add_column(column, justify="left" if column == "page" else "right")
    for r in rows:
        bar = "-" if not r["is_page"] else ("yes" if r["meets_bar"] else "[red]NO[/red]")
        if r["failures"]:
            bar += f" [red]{sum(r['failures'].values())} failed[/red]"
        table.add_row(
            r["page"], str(r["requests"]), f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
            f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}", f"{r['first_ms']:.1f}",
            f"{r['per_s']:.1f}", f"{r['body_bytes'] / 1024:.0f}", bar,
        )  # fmt: skip
    console.print(table)


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="a built home; changed")
    parser.add_argument("--county", type=Path, required=True)
    parser.add_argument("--database-url", default=None, help="default: the home's SQLite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200, help="timed requests a page")
    parser.add_argument("--pdf-requests", type=int, default=20)
    parser.add_argument(
        "--page-seconds", type=float, default=60.0, help="no timed request starts after this"
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--walk-ins", metavar="MONTH", default=None)
    parser.add_argument("--cases", type=int, default=12, help="cases to open if none")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from purecredit.monitor.cases import list_cases
    from purecredit.store.ledger import make_engine
    from purecredit.ui.tables import create_tables as create_console_tables

    started = time.perf_counter()
    settings = Settings(home=args.home, database_url=args.database_url)
    engine = make_engine(settings.ledger_url)
    ensure_branches(engine, args.home)
    create_console_tables(engine)
    walked = None
    # Decisions are stamped with the wall clock, not the walk-in's day: a ledger with any
    # decision is taken as already holding its applications.
    if args.walk_ins and decisions_in(engine) == 0:
        walked = walk_ins(settings, engine, args.county, args.walk_ins)
    opened = open_cases(engine, args.cases)
    made = staff_accounts(engine)
    officer_branch = made["bench.officer"][2]
    sample_all = samples(engine, "bench.risk", max(args.requests, args.pdf_requests) + 64)
    sample_officer = samples(engine, "bench.officer", args.requests + 64)
    sample_all |= reports_made(settings, engine, sample_all["in_scope_decisions"], args.requests)
    ledger = {
        "decisions": decisions_in(engine),
        "cases": len(list_cases(engine, branches=None, status=None)),
        "cases_opened_by_benchmark": opened,
        "officer_branch": officer_branch,
        "officer_decisions": len(sample_officer["in_scope_decisions"]),
        "officer_cases": len(sample_officer["in_scope_cases"]),
    }
    engine.dispose()
    setup_s = time.perf_counter() - started
    console.print(f"ledger: {ledger}; set-up {setup_s:.0f} s")
    if not sample_all["decisions"]:
        raise SystemExit("the ledger has no decisions: use --walk-ins MONTH")

    env = os.environ | {"PURECREDIT_HOME": str(args.home)}
    if args.database_url:
        env["PURECREDIT_DATABASE_URL"] = args.database_url
    log = Path(tempfile.mkdtemp(prefix="bench_console_")) / "serve.log"
    server = Server(env, free_port(), args.workers, log)
    rows: list[dict[str, Any]] = []
    try:
        risk = log_in(server.base, "bench.risk", made["bench.risk"][0])
        officer = log_in(server.base, "bench.officer", made["bench.officer"][0])
        rows.append(measure("/healthz (floor)", lambda i: "/healthz", server.base, None,
                            args.requests, args, is_page=False))  # fmt: skip
        roles = (("risk", risk, sample_all), ("officer", officer, sample_officer))
        for who, token, sample in roles:
            for name, make, is_page, n in pages(who, sample, args):
                rows.append(measure(name, make, server.base, token, n, args, is_page=is_page))
    finally:
        server.stop()
    total_s = time.perf_counter() - started
    show(rows, f"console pages, {args.workers} worker(s), {args.concurrency} concurrent")
    failed = [r["page"] for r in rows if r["failures"]]
    missed = [r["page"] for r in rows if r["is_page"] and not r["meets_bar"]]
    result = {
        "home": str(args.home),
        "county": str(args.county),
        "workers": args.workers,
        "concurrency": args.concurrency,
        "page_seconds": args.page_seconds,
        "cpus": os.cpu_count(),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "walk_ins": walked,
        "ledger": ledger,
        "setup_s": round(setup_s, 1),
        "total_s": round(total_s, 1),
        "pages": rows,
        "pages_over_bar": missed,
        "failed": failed,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    console.print(f"pages over {BAR_MS:.0f} ms at p95: {missed or 'none'}; total {total_s:.0f} s")
    if failed:
        console.print(f"[red]pages that did not answer 200: {failed}[/red] (log: {log})")
        sys.exit(1)


if __name__ == "__main__":
    main()
