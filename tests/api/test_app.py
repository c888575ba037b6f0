"""The app factory: health, results-only county aggregates (for a client with
`metrics:read`), and problem details on errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from purecredit.api import clients
from purecredit.api.app import create_app
from purecredit.core.settings import Settings
from purecredit.synth.manifest import Manifest
from purecredit.ui.console import router as console_router


def _client(home: Path) -> TestClient:
    return TestClient(create_app(Settings(home=home), routers=[console_router]))


def _monitor(client: TestClient, scope: str = "metrics:read") -> dict[str, str]:
    """A bearer header for a freshly registered client with `scope`."""
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    made = clients.create_client(gateway.engine, gateway.settings, "risk console", [scope])
    form = {"grant_type": "client_credentials", "client_id": made.client_id,
            "client_secret": made.client_secret}  # fmt: skip
    answer = client.post("/oauth/token", data=form)
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_health_needs_nothing(tmp_path: Path) -> None:
    client = _client(tmp_path)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_interactive_docs_are_served_from_local_files(tmp_path: Path, page: str) -> None:
    """The data zone is offline: every script, style sheet and icon the docs page loads must
    come from this server, and the page must load this server's spec."""
    client = _client(tmp_path)
    html = client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert "/openapi.json" in html.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
        loaded = client.get(asset)
        assert loaded.status_code == 200 and len(loaded.content) > 1000, asset
    if page == "/docs":  # Swagger UI 5 or newer: the first to render an OpenAPI 3.1 spec
        assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
        bundle = next(a for a in assets if a.endswith("swagger-ui-bundle.js"))
        versions = re.findall(r'"(\d+)\.\d+\.\d+"', client.get(bundle).text)
        assert max(int(v) for v in versions) >= 5


def test_county_needs_a_token_with_its_scope(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        assert client.get("/v1/county").status_code == 401
        wrong = _monitor(client, "applications:read")
        assert client.get("/v1/county", headers=wrong).status_code == 403


def test_missing_county_is_a_problem_document(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        response = client.get("/v1/county", headers=_monitor(client))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://purecredit.dev/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "no county has been built yet; run `purecredit demo`",
        "instance": "/v1/county",
        "field": "county",
    }


def test_county_summary_is_counts_only(small_county: tuple[Path, Manifest], tmp_path: Path) -> None:
    county, manifest = small_county
    (tmp_path / "county").symlink_to(county)
    with _client(tmp_path) as client:
        auth = _monitor(client)
        summary = client.get("/v1/county", headers=auth).text
        page = client.get("/").text
    body = json.loads(summary)
    assert body["people"] == manifest.people
    assert {s["name"] for s in body["sources"]} == set(manifest.sources)
    assert body["total_rows"] == sum(e.rows for e in manifest.sources.values())
    assert "population_register" in page and "数据源" in page
    # Results only: no resident ID number and no name of the county appears anywhere.
    register = county / manifest.sources["population_register"].files[0].path
    import pandas as pd

    people = pd.read_parquet(register).iloc[:, :2].dropna().astype(str)
    for text in (summary, page):
        for number, name in people.head(200).itertuples(index=False):
            assert number not in text and name not in text
