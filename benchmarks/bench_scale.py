"""Benchmark: the batch work of issue 11 on DuckDB and on Spark, in the same run.

    python benchmarks/bench_scale.py --home HOME [--engines duckdb spark] [--master local[2]]
        [--dates N] [--json FILE]

`HOME` is an ingested county (a PURECREDIT_HOME with a lake) whose `models/` hold champions
to score with. For each engine, timed:

1. prepare: every source's records (the facts pivoted), their resolution and the graph;
2. the training table: the person labels at the model's observation dates (the last `--dates`
   of them; all by default) and every person feature at each, written to Parquet;
3. batch scoring: every person and firm profiled as of the county's delivery day and scored
   by the champions (PD, grade, reason codes), written to Parquet.

Rows per second per core divide by the cores the step could use: DuckDB computes features on
one thread (`profile.compute`, so sums add in one order) and prepares on two; Spark local[N]
uses N for everything. The two engines' scores are compared row for row at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import psutil
import pyarrow.dataset as ds

from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.profile.compute import prepare, profile_into
from purecredit.profile.spine import make_spine
from purecredit.score.batch import score_subjects
from purecredit.score.outcomes import outcomes
from purecredit.score.sample import observation_dates
from purecredit.store.batch import duck
from purecredit.store.lake import Lake
from purecredit.store.spark import BatchSql, SparkSql, connect

AS_OF = date(2026, 1, 5)


def _cpu() -> float:
    """CPU seconds of this process and its children (Spark's JVM and its Python workers)."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


def _timed(step: Callable[[], int]) -> dict[str, float]:
    cpu, wall = _cpu(), time.perf_counter()
    rows = step()
    out = {"rows": rows, "seconds": time.perf_counter() - wall, "cpu_seconds": _cpu() - cpu}
    print(f"  {getattr(step, '__name__', 'step')}: {out}", flush=True)
    return out


def _facts(lake: Lake) -> int:
    return int(ds.dataset([str(p) for p in lake.files("facts")], format="parquet").count_rows())


def _write(con: BatchSql, table: str, out: Path) -> int:
    if isinstance(con, SparkSql):
        con.spark.table(table).write.mode("overwrite").parquet(str(out))
    else:
        out.mkdir(parents=True)
        con.execute(f"COPY (SELECT * FROM {table}) TO '{out / 'part-0.parquet'}' (FORMAT parquet)")
    return int(ds.dataset(str(out), format="parquet").count_rows())


def run_engine(con: BatchSql, home: Path, dates: int, work: Path) -> dict[str, Any]:
    lake, catalog = Lake(home / "lake"), load_catalog()
    out: dict[str, Any] = {}

    def prepared() -> int:
        prepare(lake, catalog, con=con)
        return _facts(lake)

    out["prepare"] = _timed(prepared)

    def training() -> int:
        found = observation_dates(con)
        chosen = [*found.train, found.oot][-dates:] if dates else [*found.train, found.oot]
        labels = outcomes(con, "person", chosen)
        spine = make_spine(labels.column("subject"), labels.column("as_of"))
        profile_into(con, "person", spine, "training_rows")
        con.register("labels", labels)
        con.execute(
            "CREATE OR REPLACE TABLE training AS SELECT l.bad, l.evidence, t.* FROM training_rows t"
            " JOIN labels l ON l.subject = t.subject AND l.as_of = t.as_of"
        )
        con.unregister("labels")
        out["training_dates"] = [d.isoformat() for d in chosen]
        return _write(con, "training", work / "training")

    out["training_table"] = _timed(training)
    scores = str(work / "scores")
    out["scoring"] = _timed(
        lambda: sum(score_subjects(con, lake, catalog, home, AS_OF, scores, prepared=True).values())
    )
    return out


def _per_core(result: dict[str, Any], cores: dict[str, int]) -> None:
    for step, n in cores.items():
        figures = result[step]
        figures["cores"] = n
        figures["rows_per_s"] = figures["rows"] / figures["seconds"]
        figures["rows_per_s_per_core"] = figures["rows"] / figures["seconds"] / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--spark-memory", default="12g")
    parser.add_argument("--duckdb-memory", default="8GB")
    parser.add_argument("--dates", type=int, default=0, help="last N observation dates; 0 all")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = Settings(home=args.home)
    results: dict[str, Any] = {"home": str(args.home), "machine": _machine()}
    work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.home.parent))
    try:
        for engine in args.engines:
            print(f"== {engine}", flush=True)
            folder = work / engine
            if engine == "duckdb":
                con = duck(settings.home / "lake", args.duckdb_memory)
                result = run_engine(con, args.home, args.dates, folder)
                con.close()
                _per_core(result, {"prepare": 2, "training_table": 1, "scoring": 1})
            else:
                conf = {
                    "spark.driver.memory": args.spark_memory,
                    "spark.sql.shuffle.partitions": "16",
                    "spark.ui.enabled": "false",
                    "spark.local.dir": str(work / "spark-tmp"),
                }
                with connect(args.master, conf) as con:
                    con.spark.sparkContext.setLogLevel("ERROR")
                    result = run_engine(con, args.home, args.dates, folder)
                    cores = con.spark.sparkContext.defaultParallelism
                _per_core(result, {"prepare": cores, "training_table": cores, "scoring": cores})
            results[engine] = result
            print(json.dumps(result, indent=2), flush=True)
        if {"duckdb", "spark"} <= set(args.engines):
            a, b = (
                ds.dataset(str(work / e / "scores"), format="parquet")
                .to_table()
                .sort_by([("kind", "ascending"), ("subject", "ascending")])
                for e in ("duckdb", "spark")
            )
            results["scores_equal"] = a.equals(b.cast(a.schema))
            print("scores equal:", results["scores_equal"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


def _machine() -> dict[str, Any]:
    return {
        "cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": list(psutil.getloadavg()),
    }


if __name__ == "__main__":
    main()
