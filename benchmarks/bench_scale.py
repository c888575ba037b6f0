"""Benchmark: the batch work of issue 11 on DuckDB and on Spark, in the same run.

    python benchmarks/bench_scale.py --home HOME [--county DIR] [--engines duckdb spark]
        [--master local[2]] [--shuffle-partitions N] [--dates N] [--json FILE]

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

With `--county` (the county's folder, for its manifest), each engine's per-core rates are
turned into a sizing for the pilot's 10.8 billion records (`sizing`; docs/scale.md).
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

# The pilot (../shared/mission/BRIEF.md): 10.804 bn records; 89,000 households were 15% of all
# households. Its people and firms are scaled from the households by the synthetic county's
# own ratios (people a household, firms a person), and its training table has the county
# model's seven observation dates (six training dates and the out-of-time one).
PILOT_RECORDS = 10.804e9
PILOT_HOUSEHOLDS = 89_000 / 0.15
TRAINING_DATES = 7
CLUSTER_CORES = (64, 256, 1024)


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

    def scoring() -> int:
        scored = score_subjects(
            con, lake, catalog, home, AS_OF, str(work / "scores"), prepared=True
        )
        return sum(scored.values())

    out["scoring"] = _timed(scoring)
    return out


def _per_core(result: dict[str, Any], cores: dict[str, int]) -> None:
    for step, n in cores.items():
        figures = result[step]
        figures["cores"] = n
        figures["rows_per_s"] = figures["rows"] / figures["seconds"]
        figures["rows_per_s_per_core"] = figures["rows"] / figures["seconds"] / n


def sizing(result: dict[str, Any], county: dict[str, Any]) -> dict[str, Any]:
    """The pilot's batch work on `result`'s engine, in core-hours and in hours on clusters of
    `CLUSTER_CORES`, from the per-core rates measured on the county (`county`: its
    delivered records, households, people, firms, and the training rows per person per
    observation date)."""
    facts_per_record = result["prepare"]["rows"] / county["records"]
    people = PILOT_HOUSEHOLDS * county["people"] / county["households"]
    firms = people * county["firms"] / county["people"]
    work = {
        "prepare": PILOT_RECORDS * facts_per_record,
        "training_table": people * county["training_rows_per_person_date"] * TRAINING_DATES,
        "scoring": people + firms,
    }
    core_hours = {
        step: rows / result[step]["rows_per_s_per_core"] / 3600 for step, rows in work.items()
    }
    total = sum(core_hours.values())
    return {
        "pilot": {"facts": work["prepare"], "people": people, "firms": firms},
        "rows": work,
        "core_hours": core_hours,
        "hours_on": {str(cores): total / cores for cores in CLUSTER_CORES},
    }


def county_figures(county: Path, result: dict[str, Any]) -> dict[str, Any]:
    """What `sizing` needs from the county's manifest and the run."""
    manifest = json.loads((county / "manifest.json").read_text(encoding="utf-8"))
    firms = sum(manifest["extra"]["enterprises"].values())
    people = manifest["people"]
    return {
        "records": sum(source["rows"] for source in manifest["sources"].values()),
        "households": manifest["extra"]["households"],
        "people": people,
        "firms": firms,
        "training_rows_per_person_date": result["training_table"]["rows"]
        / people
        / len(result["training_dates"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--spark-memory", default="12g")
    parser.add_argument(
        "--shuffle-partitions", default="16", help="Spark's; adaptive execution coalesces them"
    )
    parser.add_argument("--duckdb-memory", default="8GB")
    parser.add_argument("--dates", type=int, default=0, help="last N observation dates; 0 all")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--county", type=Path, help="the county's folder, for the sizing")
    parser.add_argument("--size-only", type=Path, help="only the sizing, from an earlier JSON")
    args = parser.parse_args()
    if args.size_only:
        earlier = json.loads(args.size_only.read_text(encoding="utf-8"))
        _size(earlier, args.county)
        args.size_only.write_text(json.dumps(earlier, indent=2), encoding="utf-8")
        return
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
                    "spark.sql.shuffle.partitions": args.shuffle_partitions,
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
    if args.county:
        _size(results, args.county)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


def _size(results: dict[str, Any], county: Path) -> None:
    for engine in ("duckdb", "spark"):
        if engine in results:
            figures = county_figures(county, results[engine])
            results[engine]["sizing"] = sizing(results[engine], figures)
            print(engine, json.dumps(results[engine]["sizing"], indent=2))


def _machine() -> dict[str, Any]:
    return {
        "cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": list(psutil.getloadavg()),
    }


if __name__ == "__main__":
    main()
