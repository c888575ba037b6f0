"""The SQL connector on SQLite and PostgreSQL, and the API connector against the county's
data-exchange server running for real on loopback."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pyarrow as pa
import pytest
import typer
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import Column, Date, Float, Integer, MetaData, String, Table, create_engine
from typer.testing import CliRunner

from purecredit.cli import synth_serve
from purecredit.core.errors import NotFound, Unauthorized
from purecredit.ingest.catalog import EntityDef, FieldDef, SourceDef, load_catalog
from purecredit.ingest.connectors import RawBatch, SourceUnavailable, read_file
from purecredit.ingest.connectors.http import read_api
from purecredit.ingest.connectors.sql import read_sql
from purecredit.synth.manifest import Manifest
from purecredit.synth.serve import create_server_app

TOKEN = "test-token"


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, in a background thread, for one block."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="module")
def exchange(small_county: tuple[Path, Manifest]) -> Iterator[str]:
    root, _ = small_county
    with serving(create_server_app(root, token=TOKEN, page_size=20, rate_per_second=1000)) as url:
        yield url


def _rows(batch: RawBatch) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = batch.table.drop_columns(["_file"]).to_pylist()
    return rows


def _rejects(batch: RawBatch) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = batch.rejects.select(["record", "raw", "reason"]).to_pylist()
    return rows


# --- HTTP ---------------------------------------------------------------------------------------


def test_the_server_refuses_a_missing_or_wrong_token(exchange: str) -> None:
    response = httpx2.get(f"{exchange}/api/sources")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "https://purecredit.dev/problems/unauthorized"
    with pytest.raises(Unauthorized):
        read_api(exchange, load_catalog().source("herb_prices"), token="wrong")


def test_the_server_lists_sources_with_their_files(
    exchange: str, small_county: tuple[Path, Manifest]
) -> None:
    _, manifest = small_county
    response = httpx2.get(f"{exchange}/api/sources", headers={"Authorization": f"Bearer {TOKEN}"})
    listed = {s["name"]: s for s in response.json()["sources"]}
    assert listed.keys() == manifest.sources.keys()
    entry = manifest.sources["tax_invoices"]
    assert [f["file"] for f in listed["tax_invoices"]["files"]] == [f.path for f in entry.files]


def test_an_unknown_source_is_not_found(exchange: str) -> None:
    source = load_catalog().source("herb_prices").model_copy(update={"name": "no_such_source"})
    with pytest.raises(NotFound):
        read_api(exchange, source, token=TOKEN)


@pytest.mark.parametrize(
    "name",
    ["enterprise_registry", "court_enforcement", "tax_invoices", "electronic_licences"],
)
def test_reading_through_the_api_equals_reading_the_files(
    exchange: str, small_county: tuple[Path, Manifest], name: str
) -> None:
    """CSV (GBK, with unreadable lines), JSON lines, monthly Parquet and XLSX: the same rows,
    record numbers and rejects, one batch per delivered file, across many pages of 20."""
    root, manifest = small_county
    source = load_catalog().source(name)
    through_api = read_api(exchange, source, token=TOKEN)
    entries = manifest.sources[name].files
    assert [b.file for b in through_api] == [f"api/{name}/{Path(f.path).name}" for f in entries]
    assert sum(max(1, -(-f.rows // 20)) for f in entries) >= 10  # many pages were followed
    for batch, entry in zip(through_api, entries, strict=True):
        from_file = read_file(root / entry.path, root, source)
        assert _rows(batch) == _rows(from_file)
        assert _rejects(batch) == _rejects(from_file)
        assert batch.table.column("_file")[0].as_py() == batch.file
        assert len(batch.content_hash) == 64
    if name == "enterprise_registry":
        assert sum(b.rejects.num_rows for b in through_api) > 0


def test_the_client_waits_out_429s(
    small_county: tuple[Path, Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With its own backoff made negligible, only honouring Retry-After gets the client past a
    bucket that refills once a second."""
    monkeypatch.setattr("purecredit.ingest.connectors.http.BACKOFF_SECONDS", 0.001)
    root, manifest = small_county
    app = create_server_app(root, token=TOKEN, page_size=50, rate_per_second=2)
    statuses: list[int] = []

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        statuses.append(response.status_code)
        return response

    source = load_catalog().source("enterprise_registry")
    with serving(app) as url:
        started = time.monotonic()
        batches = read_api(url, source, token=TOKEN, retries=5)
        elapsed = time.monotonic() - started
    pages = -(-manifest.sources["enterprise_registry"].rows // 50)
    assert pages >= 3
    assert statuses.count(200) == pages
    assert statuses.count(429) >= 1
    assert elapsed >= 1.0  # Retry-After: 1 was respected
    assert sum(b.read for b in batches) == manifest.sources["enterprise_registry"].rows


def test_the_client_gives_up_on_a_failing_or_silent_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("purecredit.ingest.connectors.http.BACKOFF_SECONDS", 0.01)
    app = FastAPI()

    @app.get("/api/sources/{name}/records")
    def broken(name: str, page: int = 1) -> Response:
        if name == "slow":
            time.sleep(1.0)
        return Response(status_code=503)

    catalog_source = load_catalog().source("herb_prices")
    with serving(app) as url:
        with pytest.raises(SourceUnavailable, match=r"gave up after 2 attempts \(HTTP 503\)"):
            read_api(url, catalog_source, token=TOKEN, retries=1)
        slow = catalog_source.model_copy(update={"name": "slow"})
        with pytest.raises(SourceUnavailable, match="Timeout"):
            read_api(url, slow, token=TOKEN, timeout=0.2, retries=1)


def test_synth_serve_prints_url_and_token_and_serves_on_loopback(
    small_county: tuple[Path, Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = small_county
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "purecredit.cli.synth_serve.uvicorn.run", lambda app, **kw: calls.append(kw)
    )
    cli = typer.Typer()
    cli.command()(synth_serve.serve)
    result = CliRunner().invoke(cli, [str(root), "--port", "9999"])
    assert result.exit_code == 0, result.output
    assert "url: http://127.0.0.1:9999/api/sources" in result.output
    token = result.output.split("token: ")[1].split()[0]
    assert len(token) >= 24
    assert calls == [{"host": "127.0.0.1", "port": 9999, "log_level": "warning"}]
    given = CliRunner().invoke(cli, [str(root), "--token", "mine"])
    assert "token: mine" in given.output
    missing = CliRunner().invoke(cli, [str(root / "sources")])
    assert missing.exit_code == 2


# --- SQL ----------------------------------------------------------------------------------------

LOANS = SourceDef(
    name="loans_db",
    owner="test",
    description="loans in a reporting database",
    mode="feed",
    format="csv",
    files="*",
    entity=EntityDef(type="loan", key=("loan_no",)),
    record_key=("loan_no",),
    fields={
        "loan_no": FieldDef(header="借据号", type="text"),
        "amount": FieldDef(header="金额", type="decimal"),
        "term": FieldDef(header="期限", type="int"),
        "issued": FieldDef(header="发放日期", type="date"),
        "branch": FieldDef(header="经办机构", type="text"),
    },
)


def test_read_sql_reads_a_table_and_a_query(ledger_url: str) -> None:
    name = f"pc_loans_{uuid.uuid4().hex[:8]}"
    metadata = MetaData()
    loans = Table(
        name,
        metadata,
        Column("借据号", String(20)),
        Column("金额", Float),
        Column("期限", Integer),
        Column("发放日期", Date),
        Column("备注", String(20)),
    )
    engine = create_engine(ledger_url)
    rows = [
        {"借据号": "JN2", "金额": 5000.5, "期限": 12, "发放日期": None, "备注": "x"},
        {"借据号": "JN1", "金额": None, "期限": 36, "发放日期": _date("2024-01-05"), "备注": None},
    ]
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(loans.insert(), rows)
        by_table = read_sql(ledger_url, name, LOANS)
        query = f'SELECT * FROM {name} ORDER BY "借据号"'
        by_query = read_sql(ledger_url, query, LOANS)
        again = read_sql(ledger_url, query, LOANS)
    finally:
        metadata.drop_all(engine)
        engine.dispose()
    assert by_table.file == f"sql/loans_db/{name}"
    assert by_query.file == "sql/loans_db/query"
    assert by_table.unknown_headers == ("备注",)
    assert by_query.table.column("_record").to_pylist() == [1, 2]
    assert by_query.table.column("loan_no").to_pylist() == ["JN1", "JN2"]
    assert by_query.table.column("amount").to_pylist() == [None, 5000.5]
    assert by_query.table.column("term").type == pa.int64()
    assert [None if v is None else str(v) for v in by_query.table.column("issued").to_pylist()] == [
        "2024-01-05",
        None,
    ]
    assert by_query.table.column("branch").null_count == 2  # no such column: all null
    assert by_query.content_hash == again.content_hash != by_table.content_hash
    assert by_query.rejects.num_rows == 0


def test_read_sql_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="no such table"):
        read_sql(f"sqlite:///{tmp_path / 'empty.sqlite'}", "missing_table", LOANS)
    with pytest.raises(SourceUnavailable, match="could not read"):
        read_sql("postgresql+psycopg://nobody:secret@127.0.0.1:1/none", "t", LOANS)


def _date(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)
