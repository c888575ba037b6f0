"""`purecredit synth serve DIR`: a built county's sources as a loopback data-exchange platform."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from purecredit.cli.progress import console
from purecredit.core.errors import PurecreditError
from purecredit.synth.serve import create_server_app


def serve(
    directory: Annotated[
        Path, typer.Argument(help="A county built by `purecredit synth`.", file_okay=False)
    ],
    host: Annotated[str, typer.Option(help="Address to serve on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(help="Bearer token clients must send [default: a random one, printed]."),
    ] = None,
    rate: Annotated[float, typer.Option(help="Requests a second allowed per token.")] = 50.0,
    page_size: Annotated[int, typer.Option(help="Records per page.")] = 5000,
) -> None:
    """Serve every source of a county over HTTP: token auth, pages, a rate limit."""
    secret = token or secrets.token_urlsafe(24)
    try:
        app = create_server_app(directory, token=secret, page_size=page_size, rate_per_second=rate)
    except PurecreditError as exc:
        console.print(f"[red]cannot serve {directory}:[/red] {exc}")
        raise typer.Exit(2) from exc
    typer.echo(f"url: http://{host}:{port}/api/sources")
    typer.echo(f"token: {secret}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
