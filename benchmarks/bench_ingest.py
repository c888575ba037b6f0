"""Benchmark: ingesting a synthetic county, against DuckDB alone copying the same files to
Parquet with no validation, in the same run.

    python benchmarks/bench_ingest.py [--people 100000] [--county DIR] [--json FILE]

The county is built (or reused from --county) first and not timed. The baseline reads every
delivered file with DuckDB (`read_csv` with `ignore_errors`, `read_json`, `read_parquet`; GBK
files are transcoded in Python first, and XLSX read with openpyxl, because this DuckDB has no
encodings or Excel extension) and writes one Parquet file per source. The issue's aim: ingest
at most 3x the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from openpyxl import load_workbook

from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.catalog_check import match_files
from purecredit.ingest.crosscheck import crosscheck
from purecredit.ingest.pipeline import ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import build_county


def baseline(county: Path, out: Path) -> int:
    """DuckDB alone: every file to Parquet, no validation; returns rows copied."""
    catalog = load_catalog()
    con = duckdb.connect()
    rows = 0
    for name, paths in sorted(match_files(catalog, county).matched.items()):
        source = catalog.source(name)
        relations = []
        for path in sorted(paths):
            relations.append(_read(con, path, source.format, source.encoding, out))
        table = pa.concat_tables(relations, promote_options="permissive")
        con.register("t", table)
        con.execute(f"COPY t TO '{out / (name + '.parquet')}' (FORMAT parquet)")
        con.unregister("t")
        rows += table.num_rows
    return rows


def _read(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, encoding: str, tmp: Path
) -> pa.Table:
    if fmt == "parquet":
        return con.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_table()
    if fmt == "jsonl":
        return con.sql(
            f"SELECT * FROM read_json('{path}', format='newline_delimited', ignore_errors=true)"
        ).to_arrow_table()
    if fmt == "xlsx":
        sheet = load_workbook(path, read_only=True).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        header = [str(h) for h in rows[0]]
        return pa.table(
            {
                h: [str(r[i]) if r[i] is not None else None for r in rows[1:]]
                for i, h in enumerate(header)
            }
        )
    if encoding != "utf-8":
        utf8 = tmp / "transcoded.csv"
        utf8.write_text(path.read_bytes().decode(encoding, errors="replace"), encoding="utf-8")
        path = utf8
    return con.sql(
        f"SELECT * FROM read_csv('{path}', all_varchar=true, ignore_errors=true, header=true)"
    ).to_arrow_table()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--county", type=Path, help="reuse a county built here (built if absent)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        county = args.county or tmp / "county"
        if not (county / "manifest.json").is_file():
            build_county(SynthConfig(people=args.people), county)
        start = time.perf_counter()
        (tmp / "base").mkdir()
        copied = baseline(county, tmp / "base")
        base_s = time.perf_counter() - start
        settings = Settings(home=tmp / "home")
        lake = Lake(settings.home / "lake")
        protector = Protector.from_settings(settings, ledger_engine(settings))
        start = time.perf_counter()
        observed = datetime(2026, 1, 5)
        report = ingest_directory(
            county, catalog=load_catalog(), lake=lake, protector=protector, observed_at=observed
        )
        conflicts = crosscheck(lake, load_catalog(), observed)
        ingest_s = time.perf_counter() - start
    read = sum(r.read for r in report.sources.values())
    result = {
        "people": args.people,
        "rows_read": read,
        "facts": sum(r.facts for r in report.sources.values()),
        "quarantined": sum(r.quarantined for r in report.sources.values()),
        "conflicts": conflicts,
        "ingest_seconds": round(ingest_s, 1),
        "duckdb_baseline_seconds": round(base_s, 1),
        "baseline_rows": copied,
        "ratio": round(ingest_s / base_s, 2),
        "cpus": len(os.sched_getaffinity(0)),
    }
    print(
        f"ingest {result['ingest_seconds']} s for {read:,} rows ({result['facts']:,} facts); "
        f"DuckDB alone {result['duckdb_baseline_seconds']} s; ratio {result['ratio']}x"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
