"""`purecredit audit verify`: prove the gateway's audit log untampered, or name the first entry
that is not (`purecredit.api.audit`). Exit status 0 when the chain holds, 1 otherwise."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from purecredit.api.audit import last_seq, verify
from purecredit.cli.progress import steps
from purecredit.core.errors import PurecreditError
from purecredit.core.settings import get_settings
from purecredit.store.ledger import ledger_engine

CHUNK = 10_000  # entries read per query

app = typer.Typer(help="The API gateway's audit log.", no_args_is_help=True)


@app.command(name="verify")
def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Walk the hash chain from the first entry; name the first bad entry and why."""
    engine = ledger_engine(get_settings())
    try:
        total = last_seq(engine)
        if total > CHUNK:  # long enough to be worth a progress bar (on stderr)
            with steps("verifying the audit log", total=-(-total // CHUNK)) as advance:
                result = verify(engine, chunk=CHUNK, progress=lambda n: advance(f"{n:,}"))
        else:
            result = verify(engine, chunk=CHUNK)
    except PurecreditError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    elif result.ok:
        typer.echo(f"audit log intact: {result.entries:,} entries, head {result.head}")
    else:
        typer.echo(
            f"audit log broken at entry {result.bad_seq}: {result.reason} "
            f"({result.entries:,} entries before it hold)"
        )
    if not result.ok:
        raise typer.Exit(1)
