"""`purecredit model ...`: fit and cross-validate the scorecard and its challenger on any
table, so the method can be checked on public data as well as on the county."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from purecredit.cli.progress import console, steps
from purecredit.core.errors import Invalid
from purecredit.score.fit import MODELS, cross_validate

app = typer.Typer(help="Credit models: fit and cross-validate.", no_args_is_help=True)

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
) -> None:
    """Stratified 5-fold CV of the scorecard and LightGBM; the higher mean AUC is champion."""
    frame = read_table(table)
    with steps(f"{FOLDS}-fold CV of {table.name}", total=FOLDS * len(MODELS)) as advance:
        result = cross_validate(
            frame, target, bad=bad, id_column=id_column, n_folds=FOLDS, seed=seed, on_fold=advance
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
