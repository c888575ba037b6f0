"""`purecredit model ...`: fit and cross-validate the scorecard and its challenger on any
table, so the method can be checked on public data as well as on the county (`--save SEGMENT`
registers both); `train` fits every county model from the lake (`purecredit.score.train`);
`list`/`show`/`promote` work the registry under `<home>/models` (`purecredit.score.registry`)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from purecredit.cli.progress import console, fail, steps
from purecredit.core.crypto import Tokenizer
from purecredit.core.errors import Invalid, PurecreditError
from purecredit.core.keys import data_zone_keys
from purecredit.core.settings import get_settings
from purecredit.ingest.catalog import load_catalog
from purecredit.profile.compute import prepare
from purecredit.score import registry
from purecredit.score.ceiling import Ceiling
from purecredit.score.fit import MODELS, cross_validate
from purecredit.score.scorecard import PointsScaling
from purecredit.score.train import train_county
from purecredit.store.batch import EngineName, batch_sql
from purecredit.store.lake import Lake

app = typer.Typer(help="Credit models: fit, cross-validate and register.", no_args_is_help=True)

FOLDS = 5


# optbinning 1.0 trips pandas 3 deprecations inside its own code; a user of `model fit` can do
# nothing about them, so they are not shown (the test suite silences the same two).
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"optbinning\.")
warnings.filterwarnings("ignore", category=FutureWarning, module=r"optbinning\.")


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file, told apart by its suffix."""
    if not path.is_file():
        raise Invalid(f"no such file: {path}", field="table")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


@app.command()
def fit(
    table: Annotated[Path, typer.Option("--table", help="CSV or Parquet file.")],
    target: Annotated[str, typer.Option("--target", help="Column holding the outcome.")],
    bad: Annotated[
        str, typer.Option("--bad", help="Target value that means default; others are good.")
    ] = "1",
    id_column: Annotated[
        str | None, typer.Option("--id", help="Column to leave out of the models.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the figures to this JSON file.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the folds and of LightGBM.")] = 0,
    save: Annotated[
        str | None,
        typer.Option(
            "--save",
            help="Register both models (fitted on all rows, calibrated) under this segment.",
        ),
    ] = None,
) -> None:
    """Stratified 5-fold CV of the scorecard and LightGBM; the higher mean AUC is champion."""
    frame = read_table(table)
    saved: list[registry.RegisteredModel] = []
    with steps(f"{FOLDS}-fold CV of {table.name}", total=FOLDS * len(MODELS)) as advance:
        if save is None:
            result = cross_validate(
                frame,
                target,
                bad=bad,
                id_column=id_column,
                n_folds=FOLDS,
                seed=seed,
                on_fold=advance,
            )
        else:
            result, saved = registry.fit_and_register(
                frame,
                target,
                home=get_settings().home,
                segment=save,
                bad=bad,
                id_column=id_column,
                n_folds=FOLDS,
                seed=seed,
                data_sha256=registry.file_sha256(table),
                data_hash_of="file bytes",
                on_fold=advance,
                scaling=PointsScaling.from_settings(get_settings()),
            )
    shown = Table(title=f"{table.name}: {result.rows:,} rows, {result.bad:,} bad")
    for column in ("model", "CV AUC", "CV KS", "champion"):
        shown.add_column(column, justify="left" if column == "model" else "right")
    for name, model in result.models.items():
        mark = "yes" if name == result.champion else ""
        shown.add_row(name, f"{model.cv_auc:.4f}", f"{model.cv_ks:.4f}", mark)
    console.print(shown)
    if json_out is not None:
        json_out.write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
    for entry in saved:
        best = registry.champion(get_settings().home, entry.segment)
        mark = " (champion)" if best == entry.version else ""
        console.print(
            f"registered {entry.kind} {entry.segment}/{entry.version}{mark}: {entry.path}"
        )


@app.command()
def train(
    county: Annotated[
        Path | None,
        typer.Option(
            "--county",
            help="The synthetic county the lake was ingested from: reports then show the "
            "ceiling its true PD reaches (read by validation only, never by training).",
        ),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write every model's figures to this file.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the folds and of LightGBM.")] = 0,
    engine: Annotated[
        EngineName,
        typer.Option(
            help="Where the training tables (labels and point-in-time features) are built: "
            "embedded DuckDB, or Spark (PURECREDIT_SPARK_MASTER); the fits run here."
        ),
    ] = "duckdb",
) -> None:
    """Train, validate and register every county model from the lake: persons by segment,
    enterprises in two layers; each with a validation report beside its model file."""
    try:
        train_and_show(county, json_out, seed, engine)
    except PurecreditError as exc:
        fail(exc)


def train_and_show(
    county: Path | None, json_out: Path | None, seed: int = 0, engine: EngineName = "duckdb"
) -> None:
    """`train`'s work, for `demo` too: raises `PurecreditError` when the lake cannot train."""
    settings = get_settings()
    ceiling = None
    if county is not None:
        tokenizer = Tokenizer(data_zone_keys(settings).token_key, settings.token_algorithm)
        ceiling = Ceiling(county, tokenizer)
    lake, catalog = Lake(settings.home / "lake"), load_catalog()
    with batch_sql(settings, engine) as con, steps("train the county's models") as advance:
        report = train_county(
            lake,
            catalog,
            settings.home,
            ceiling=ceiling,
            progress=advance,
            seed=seed,
            con=prepare(lake, catalog, advance, con=con),
            scaling=PointsScaling.from_settings(settings),
        )
    shown = Table(
        title=f"trained on {', '.join(d.isoformat() for d in report.dates.train)}; "
        f"out of time {report.dates.oot}"
    )
    for column in ("segment", "version", "kind", "champion", "CV AUC", "OOT AUC", "ceiling"):
        shown.add_column(column, justify="left" if column in ("segment", "kind") else "right")
    for m in report.models:
        shown.add_row(
            m.segment,
            m.version,
            m.kind,
            "yes" if m.champion else "",
            _figure(m.cv_auc),
            _figure(m.oot_auc),
            _figure(m.oracle_auc),
        )
    console.print(shown)
    if report.pooled:
        console.print(f"scored by the pooled person model: {', '.join(report.pooled)}")
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Registered models, each with its metrics; the champion of each segment is marked."""
    try:
        models = registry.list_models(get_settings().home)
    except PurecreditError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(models, indent=2))
        return
    shown = Table(title=f"{len(models)} registered model(s)")
    for column in ("segment", "version", "champion", "CV AUC", "CV KS", "OOT AUC", "created"):
        shown.add_column(column, justify="left" if column in ("segment", "version") else "right")
    for m in models:
        metrics = m["metrics"]
        shown.add_row(
            m["segment"],
            m["version"],
            "yes" if m["champion"] else "",
            *(_figure(metrics.get(k)) for k in ("cv_auc", "cv_ks", "oot_auc")),
            str(m["created_at"]),
        )
    console.print(shown)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@app.command()
def show(
    segment: Annotated[str, typer.Argument(help="Segment name.")],
    version: Annotated[
        str | None, typer.Argument(help="Version (v1, v2, ...); the champion if left out.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """A registered model: metrics, features, master scale and hashes (verified on load)."""
    home = get_settings().home
    try:
        model = registry.load(home, segment, version)
    except PurecreditError as exc:
        fail(exc)
    doc = model.doc
    summary = {
        "segment": model.segment,
        "version": model.version,
        "champion": registry.champion(home, segment) == model.version,
        "kind": doc["kind"],
        "metrics": model.metrics,
        "features": model.features,
        "calibration": doc["calibrator"]["method"],
        "master_scale": doc["master_scale"],
        "data_sha256": doc["data_sha256"],
        "data_hash_of": doc["data_hash_of"],
        "content_hash": model.content_hash,
        "package_version": doc["package_version"],
        "created_at": doc["created_at"],
        "path": str(model.path),
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    head = Table(title=f"model {model.segment}/{model.version}", show_header=False)
    head.add_column("key")
    head.add_column("value")
    for key in ("champion", "kind", "calibration", "data_sha256", "data_hash_of"):
        head.add_row(key, str(summary[key]))
    for key in ("content_hash", "package_version", "created_at", "path"):
        head.add_row(key, str(summary[key]))
    for key, value in model.metrics.items():
        head.add_row(key, _figure(value))
    head.add_row("features", ", ".join(model.features))
    console.print(head)
    scale = Table(title="master scale")
    for column in ("grade", "PD low", "PD high"):
        scale.add_column(column, justify="right")
    for row in doc["master_scale"]:
        scale.add_row(str(row["grade"]), f"{row['pd_low']:.4%}", f"{row['pd_high']:.4%}")
    console.print(scale)


@app.command()
def promote(
    segment: Annotated[str, typer.Argument(help="Segment name.")],
    version: Annotated[str, typer.Argument(help="Version to make champion (v1, v2, ...).")],
) -> None:
    """Make a registered model its segment's champion."""
    try:
        model = registry.promote(get_settings().home, segment, version)
    except PurecreditError as exc:
        fail(exc)
    console.print(f"champion of {model.segment} is now {model.version}")
