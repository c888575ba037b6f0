"""`purecredit demo` and `purecredit serve`: the whole pipeline built so far, on 127.0.0.1."""

from __future__ import annotations

import os
import secrets
from datetime import datetime, time, timedelta
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from purecredit.api.app import create_app
from purecredit.api.auth import create_tables
from purecredit.cli.ingest import ingest
from purecredit.cli.model import train_and_show
from purecredit.cli.profile import build as build_profiles
from purecredit.cli.progress import console, steps
from purecredit.cli.synth import build, show
from purecredit.core.errors import PurecreditError
from purecredit.core.settings import Settings, get_settings
from purecredit.decide import store
from purecredit.decide.applications import month_of_walk_ins, outlets_of, run_asks
from purecredit.decide.counter import Counter
from purecredit.ingest.catalog import load_catalog
from purecredit.score import registry
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine
from purecredit.synth.config import SynthConfig
from purecredit.synth.manifest import read_manifest
from purecredit.ui import accounts
from purecredit.ui.console import router as console_router
from purecredit.ui.tables import create_tables as create_console_tables

Host = Annotated[str, typer.Option(help="Address to serve on (loopback by default).")]
Port = Annotated[int, typer.Option(help="Port to serve on.")]


def demo(
    people: Annotated[int, typer.Option(help="People in the demo county.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the demo county.")] = SynthConfig().seed,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the console after building.")
    ] = True,
    host: Host = "127.0.0.1",
    port: Port = 8000,
) -> None:
    """Build the demo county into $PURECREDIT_HOME (reusing one already built with the same
    people and seed), ingest it, build every profile, train the credit models (once), and
    serve the console."""
    settings = get_settings()
    target = settings.county_path
    manifest_path = target / "manifest.json"
    existing = read_manifest(manifest_path) if manifest_path.is_file() else None
    if existing is not None and (existing.people, existing.seed) == (people, seed):
        console.print(f"county already built in {target}")
        manifest = existing
        show(manifest, target)
    else:
        manifest = build(SynthConfig(people=people, seed=seed), target)
        show(manifest, target)
    # The county's deliveries reach the bank a few days after its study date.
    delivered = datetime.combine(manifest.study_date + timedelta(days=5), time())
    ingest(target, observed_at=delivered.date().isoformat())
    build_profiles(as_of=delivered.date().isoformat())
    engine = ledger_engine(settings)
    store.create_tables(engine)
    store.sync_branches(engine, Lake(settings.home / "lake"), load_catalog())
    if registry.champion(settings.home, "person") is None:
        try:
            train_and_show(target, settings.home / "training.json")
        except PurecreditError as exc:  # a county too small to train on still serves
            console.print(f"[yellow]no credit models trained: {exc}[/yellow]")
            _demo_accounts(engine)
            return _serve(settings, host, port) if serve_after else None
        # A fresh demo has decisions of every kind to look at: a month of walk-ins.
        counter = Counter(settings, engine)
        asks = month_of_walk_ins(target, outlets_of(counter), delivered.strftime("%Y-%m"),
                                 from_day=delivered.date())  # fmt: skip
        with steps("a month of applications", len(asks)) as advance:
            counts = run_asks(counter, asks, advance)
        console.print("applications: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    else:
        console.print(f"models already trained in {registry.models_dir(settings.home)}")
    _demo_accounts(engine)
    if serve_after:
        _serve(settings, host, port)


# A spawned worker re-imports the whole CLI before it can answer the supervisor's health
# check (about 5 s on two busy cores); at uvicorn's default of 5 s it was judged hung, killed
# and respawned, forever, and the server never became ready. A hung worker is still replaced.
WORKER_HEALTHCHECK_S = 120


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes sharing the ledger.")] = 1,
) -> None:
    """Serve the API gateway and the console."""
    _serve(get_settings(), host, port, workers)


def app_from_environment() -> FastAPI:
    """The app a worker process builds for itself (uvicorn's factory when `--workers` > 1):
    settings from the environment each worker inherits, as the parent read them."""
    return create_app(get_settings(), routers=[console_router])


# One account per role, for trying the console: the officer and the reviewer see one
# sub-branch and its outlets, the risk manager and the admin every branch.
DEMO_ROLES: tuple[tuple[str, str, str | None, bool], ...] = (
    ("demo.officer", "officer", None, True),
    ("demo.reviewer", "reviewer", "sub_branch", True),
    ("demo.risk", "risk_manager", "head", False),
    ("demo.admin", "admin", "head", False),
)


def _demo_accounts(engine: Engine) -> None:
    """Create (or reset) the demo's staff accounts with fresh passwords, and print them."""
    create_console_tables(engine)
    branch = next(b.code for b in store.branches(engine) if b.level == "sub_branch")
    existing = {str(s["username"]) for s in accounts.list_staff(engine)}
    console.print(f"console accounts (branch scope {branch} and its outlets, or all branches):")
    for username, role, level, scoped in DEMO_ROLES:
        password = secrets.token_urlsafe(9)
        if username in existing:
            accounts.set_password(engine, username, password)
        else:
            accounts.add_staff(engine, username, password, role=role,
                               branches=[branch] if scoped else [], level=level)  # fmt: skip
        console.print(f"  {username:<14} {role:<13} password {password}")


def _serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    # The console's tables, before any worker serves (as `create_tables` below for the API's).
    engine = ledger_engine(settings)
    create_console_tables(engine)
    engine.dispose()
    console.print(f"console on http://{host}:{port}/  (API: /v1/..., /openapi.json, /healthz)")
    if workers == 1:
        app = create_app(settings, routers=[console_router])
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    # Several processes need an import string; each builds its own engine and counter, and
    # the ledger (its locks, the audit chain's lock, unique nonces) keeps them consistent.
    os.environ["PURECREDIT_HOME"] = str(settings.home)
    engine = ledger_engine(settings)
    create_tables(engine)  # here, once: workers creating them at once could collide
    engine.dispose()
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="warning",
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_S)  # fmt: skip
