"""The gateway over HTTP: its ceiling (`GET /healthz`) against full decisions.

`purecredit serve` runs as a subprocess on loopback (PostgreSQL ledger by default, `--sqlite`
for the home's own SQLite ledger); once `/readyz` answers, a client is registered
(`purecredit clients create --json`) and a load generator (raw HTTP/1.1 over asyncio,
`--concurrency` connections, split over `--processes` client processes) sends, each for
`--seconds`:

(a) `GET /healthz`: no auth, no ledger, no audit: what the server and the HTTP stack can do;
(b) full decisions, one applicant after another (each once): a signed `POST /v1/consents`,
    then a signed `POST /v1/applications` with its consent: token check, signature and nonce
    in the ledger, rate counter, the decision (profile, model, policy, grant), the decision
    stored, the application row, and one audit entry per call.

    python benchmarks/bench_gateway.py --county /tmp/c20 --home /tmp/h20pristine \
        [--workers 2] [--seconds 20] [--concurrency 32] [--processes 1] [--sqlite] \
        [--json FILE]

HOME is only read: it is copied to a scratch directory first (`--scratch`). On PostgreSQL a
fresh database is created (`--pg-admin-url`), the online profiles, graph edges and branches
built into it from the home's lake (untimed), and it is dropped afterwards. Per-client rate
limiting is raised out of the way (`PURECREDIT_API_RATE_PER_MINUTE`): the benchmark is about
throughput, not the limit. The JSON reports requests/s, p50/p99 latency, the ratio of the two
phases, the workers, the client processes' CPU use (near 100% of a core each means the client
side is the bottleneck: add `--processes`), and how long a day of the pilot's traffic
(123,500 calls) takes at the measured rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pandas as pd

PILOT_DAY_CALLS = 123_500
AS_OF = date(2026, 1, 5)  # the profiles' date in the county's home
OUTLET = "341602001"
PURPOSES = ["credit_bureau", "government", "tax", "social", "bank"]
SCOPES = ("applications:write", "consents:write", "applications:read")


# ----------------------------------------------------------------------------- set-up


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pg_ledger(admin_url: str, home: Path) -> tuple[str, str]:
    """A fresh database with the profiles, edges and branches built from HOME's lake."""
    from sqlalchemy import create_engine, text

    from purecredit.decide import store
    from purecredit.ingest.catalog import load_catalog
    from purecredit.profile.build import build_profiles
    from purecredit.store.lake import Lake
    from purecredit.store.ledger import make_engine

    name = f"bench_gw_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    lake, catalog = Lake(home / "lake"), load_catalog()
    build_profiles(lake, catalog, engine, AS_OF)
    store.sync_branches(engine, lake, catalog)
    engine.dispose()
    return name, url


def drop_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def applicants(county: Path, home: Path, url: str) -> list[str]:
    """Working-age resident IDs from the register with an online profile, shuffled."""
    from sqlalchemy import text

    from purecredit.core.errors import Invalid
    from purecredit.core.settings import Settings
    from purecredit.core.subjects import subject_key
    from purecredit.store.ledger import make_engine

    settings = Settings(home=home, database_url=url)
    engine = make_engine(url)
    with engine.connect() as connection:
        known = set(connection.execute(text("SELECT subject FROM profile_person")).scalars())
    engine.dispose()
    register = pd.read_parquet(
        county / "sources" / "population_register" / "population_register.parquet"
    )
    # Working-age adults (as bench_decide), so the mix has approvals, grants and referrals.
    born = pd.to_datetime(register["出生日期"], errors="coerce")  # the register has defects
    working_age = (born < pd.Timestamp("1990-01-01")) & (born > pd.Timestamp("1966-01-01"))
    ids = register.loc[working_age, "公民身份号码"].dropna().astype(str).drop_duplicates()
    found = []
    for resident_id in ids:
        try:
            kind, key, _ = subject_key(resident_id, settings)
        except Invalid:  # the register carries deliberate defects
            continue
        if kind == "person" and key in known:
            found.append(resident_id)
    random.Random(7).shuffle(found)
    return found


class Server:
    def __init__(self, env: dict[str, str], port: int, workers: int, log: Path) -> None:
        self.port, self.log = port, log
        command = [
            str(Path(sys.executable).with_name("purecredit")),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit("server not ready in 180 s")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# ----------------------------------------------------------------------------- the load


def sign_headers(token: str, secret: str, path: str, content: bytes) -> dict[str, str]:
    from purecredit.api import signing

    ts, nonce = int(time.time()), uuid.uuid4().hex
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "X-Timestamp": str(ts),
        "X-Nonce": nonce,
        "Idempotency-Key": uuid.uuid4().hex,
        "X-Signature": signing.sign(secret, "POST", path, ts, nonce, content),
    }


class Wire:
    """One keep-alive HTTP/1.1 connection, as little client as a load generator can be.

    httpx spent about 300 µs of client CPU a request: on these two cores the generator, not
    the server, set the ceiling. This sends prepared bytes and reads the status line, the
    headers and a Content-Length body (every answer of the gateway has one), nothing more."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length) if length else b""

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _phase(job: dict[str, Any]) -> dict[str, Any]:
    """One client process's share of a phase: `concurrency` connections until the deadline."""
    kind, deadline = job["kind"], job["deadline"]
    host, port = job["base"].removeprefix("http://").split(":")
    people: list[str] = list(job.get("people", []))
    latencies: dict[str, list[float]] = {
        "healthz": [],
        "consent": [],
        "application": [],
        "decision": [],
    }
    statuses: dict[str, int] = {}
    outcomes: dict[str, int] = {}

    def count(status: int, kind: str) -> None:
        statuses[f"{kind} {status}"] = statuses.get(f"{kind} {status}", 0) + 1

    async def signed(wire: Wire, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        content = json.dumps(body, separators=(",", ":")).encode()
        headers = sign_headers(job["token"], job["secret"], path, content)
        return await wire.request("POST", path, headers, content)

    async def worker() -> None:
        wire = Wire(host, int(port))
        try:
            while time.time() < deadline:
                if kind == "healthz":
                    t0 = time.perf_counter()
                    status, _ = await wire.request("GET", "/healthz")
                    latencies["healthz"].append(time.perf_counter() - t0)
                    count(status, "healthz")
                    continue
                if not people:
                    return
                await decide(wire, people.pop())
        finally:
            wire.close()

    async def decide(wire: Wire, person: str) -> None:
        t0 = time.perf_counter()
        asked = {"subject_id": person, "purposes": PURPOSES, "valid_days": 30}
        status, answer = await signed(wire, "/v1/consents", asked)
        t1 = time.perf_counter()
        latencies["consent"].append(t1 - t0)
        count(status, "consent")
        if status != 201:
            return
        application = {
            "subject_id": person,
            "consent_id": json.loads(answer)["consent_id"],
            "product": "household",
            "amount": 30_000,
            "branch": OUTLET,
        }
        status, answer = await signed(wire, "/v1/applications", application)
        t2 = time.perf_counter()
        latencies["application"].append(t2 - t1)
        latencies["decision"].append(t2 - t0)
        count(status, "application")
        if status == 201:
            decided = json.loads(answer)["decision"]
            outcomes[decided] = outcomes.get(decided, 0) + 1

    cpu0 = time.process_time()
    while time.time() < job["start"]:
        await asyncio.sleep(0.001)
    started = time.time()
    await asyncio.gather(*(worker() for _ in range(job["concurrency"])))
    ended = time.time()
    return {
        "latencies": latencies,
        "statuses": statuses,
        "outcomes": outcomes,
        "cpu_s": time.process_time() - cpu0,
        "wall_s": ended - started,
        "ended": ended,
        "started": started,
    }


def _run_share(job: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_phase(job))


def phase(
    kind: str,
    args: argparse.Namespace,
    base: str,
    people: list[str] | None,
    token: str,
    secret: str,
    seconds: float,
) -> dict[str, Any]:
    """A phase over `args.processes` client processes; latencies in ms, rates per second."""
    n = args.processes
    shares = [args.concurrency // n + (i < args.concurrency % n) for i in range(n)]
    start = time.time() + (1.5 if n > 1 else 0.0)  # every process starts together
    jobs = [
        {
            "kind": kind,
            "base": base,
            "token": token,
            "secret": secret,
            "concurrency": c,
            "start": start,
            "deadline": start + seconds,
            "people": people[i::n] if people is not None else [],
        }
        for i, c in enumerate(shares)
    ]
    if n == 1:
        results = [_run_share(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(n) as pool:
            results = pool.map(_run_share, jobs)
    wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
    merged: dict[str, list[float]] = {}
    statuses: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    for r in results:
        for key, values in r["latencies"].items():
            merged.setdefault(key, []).extend(values)
        for key, value in r["statuses"].items():
            statuses[key] = statuses.get(key, 0) + value
        for key, value in r["outcomes"].items():
            outcomes[key] = outcomes.get(key, 0) + value
    calls = sum(statuses.values())

    def stats(values: list[float]) -> dict[str, float] | None:
        if not values:
            return None
        ms = np.asarray(values) * 1000
        return {
            "n": len(values),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2),
        }

    report: dict[str, Any] = {
        "seconds": round(wall, 2),
        "calls": calls,
        "requests_per_s": round(calls / wall, 1),
        "statuses": statuses,
        "client_cpu_per_process": [round(r["cpu_s"] / r["wall_s"], 2) for r in results],
    }
    if kind == "healthz":
        report["latency"] = stats(merged["healthz"])
    else:
        decided = sum(outcomes.values())
        report |= {
            "decisions": decided,
            "decisions_per_s": round(decided / wall, 1),
            "outcomes": outcomes,
            "latency": {k: stats(merged[k]) for k in ("consent", "application", "decision")},
        }
    return report


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--county", type=Path, default=Path("/tmp/c20"))
    parser.add_argument(
        "--home",
        type=Path,
        default=Path("/tmp/h20pristine"),
        help="a built home (lake, keys, models, ledger); only read",
    )
    parser.add_argument("--scratch", type=Path, default=None, help="where the copy goes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--sqlite", action="store_true", help="the home's SQLite ledger")
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench_gw_", dir=args.scratch))
    home = scratch / "home"
    t0 = time.perf_counter()
    shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("ledger.sqlite-*"))
    database = None
    try:
        if args.sqlite:
            url = f"sqlite:///{home / 'ledger.sqlite'}"
        else:
            database, url = pg_ledger(args.pg_admin_url, home)
        people = applicants(args.county, home, url)
        setup_s = time.perf_counter() - t0
        env = os.environ | {
            "PURECREDIT_HOME": str(home),
            "PURECREDIT_DATABASE_URL": url,
            "PURECREDIT_API_RATE_PER_MINUTE": str(10**9),
        }
        created = subprocess.run(
            [
                str(Path(sys.executable).with_name("purecredit")),
                "clients",
                "create",
                "--name",
                "bench",
                *(a for s in SCOPES for a in ("--scopes", s)),
                "--json",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        creds = json.loads(created.stdout)
        server = Server(env, free_port(), args.workers, scratch / "serve.log")
        try:
            token = httpx.post(
                f"{server.base}/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": creds["client_id"],
                    "client_secret": creds["client_secret"],
                },
                timeout=30,
            ).json()["access_token"]
            # Warm up every worker (first calls load what is loaded lazily), untimed.
            warm = people[-200:]
            people = people[:-200]
            phase(
                "decisions", _quiet(args, 2), server.base, warm, token, creds["client_secret"], 3.0
            )
            phase("healthz", _quiet(args, 2), server.base, None, token, "", 1.0)
            ceiling = phase("healthz", args, server.base, None, token, "", args.seconds)
            before = commits(url)
            full = phase(
                "decisions", args, server.base, people, token, creds["client_secret"], args.seconds
            )
            after = commits(url)
            if before is not None and after is not None and full.get("decisions"):
                full["commits_per_decision"] = round((after - before) / full["decisions"], 1)
        finally:
            server.stop()
        checked = ledger_check(url)
    finally:
        if database is not None:
            drop_database(args.pg_admin_url, database)
        shutil.rmtree(scratch, ignore_errors=True)

    rate = full["requests_per_s"]
    result = {
        "ledger": "sqlite" if args.sqlite else "postgresql",
        "workers": args.workers,
        "concurrency": args.concurrency,
        "client_processes": args.processes,
        "cpus": os.cpu_count(),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "setup_s": round(setup_s, 1),
        "healthz": ceiling,
        "full_decisions": full,
        "ratio_healthz_to_full_calls": round(ceiling["requests_per_s"] / rate, 1) if rate else None,
        "pilot_day_calls": PILOT_DAY_CALLS,
        "pilot_day_minutes_at_full_rate": round(PILOT_DAY_CALLS / rate / 60, 1) if rate else None,
        "ledger_after": checked,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def commits(url: str) -> int | None:
    """PostgreSQL's count of committed transactions in the ledger's database (None on
    SQLite): how many transactions a decision costs, the gateway's main cost under load."""
    if not url.startswith("postgresql"):
        return None
    from sqlalchemy import text

    from purecredit.store.ledger import make_engine

    time.sleep(1.5)  # backends report their counts to the statistics within a second
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            query = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            return int(connection.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def _quiet(args: argparse.Namespace, concurrency: int) -> argparse.Namespace:
    return argparse.Namespace(**(vars(args) | {"concurrency": concurrency, "processes": 1}))


def ledger_check(url: str) -> dict[str, Any]:
    """After the run: the audit chain verifies; how many decisions and entries were written."""
    from purecredit.api import audit
    from purecredit.decide import store
    from purecredit.store.ledger import make_engine

    engine = make_engine(url)
    try:
        verified = audit.verify(engine)
        return {
            "audit_ok": verified.ok,
            "audit_entries": audit.last_seq(engine),
            "decisions": len(store.decision_ids(engine)),
        }
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
