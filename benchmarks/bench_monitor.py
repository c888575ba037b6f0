"""One day's monitoring detection over a million borrowers' facts.

    python benchmarks/bench_monitor.py --home HOME [--copies 50] [--date 2026-02-05]
                                       [--json FILE]

HOME is a built home whose lake holds a county and its later deliveries (`purecredit synth
later`, then `purecredit ingest <county>/later/YYYY-MM`). Its resolved records are tiled
`--copies` times in DuckDB, every key that identifies a person, firm, household, account or
case suffixed with the copy's number, so the facts keep the county's real distributions
(reports, contributions, deposits, court cases...) at `copies` times its size: a county of
20,000 people at 50 copies is a million people, every one of them watched as a borrower.
Timed: the detectors' one query for the day (`monitor.detect.detect`), which is what grows
with the book; loading the records is the lake's cost and is reported apart.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

import pyarrow as pa

from purecredit.ingest.catalog import load_catalog
from purecredit.monitor import detect
from purecredit.monitor.rules import load_rules
from purecredit.store.lake import Lake

# Columns holding keys, by resolved table: each copy gets its own people, firms and records.
KEYS = {
    "r_bank_customers": ("person", "enterprise", "customer_no"),
    "r_bank_deposits": ("person", "enterprise", "customer_no"),
    "r_court_enforcement": ("person", "enterprise", "case_no"),
    "r_credit_bureau_accounts": ("person", "enterprise", "account_no"),
    "r_credit_bureau_queries": ("person", "enterprise"),
    "r_dishonest_debtors": ("person", "enterprise", "case_no"),
    "r_enterprise_registry": ("person", "enterprise", "uscc"),
    "r_land_planting": ("person", "household", "household_no"),
    "r_marriage_registry": ("person", "woman_id", "cert_no"),
    "r_medical_serious_illness": ("person", "claim_no"),
    "r_population_register": ("person", "household", "household_no"),
    "r_property_registry": ("person",),
    "r_property_seizures": ("person", "ruling_no"),
    "r_social_security": ("person",),
    "r_tax_credit_grade": ("enterprise", "uscc"),
}


def tile(con: object, copies: int) -> dict[str, int]:
    """Replace each resolved table by `copies` copies of itself; rows per table after."""
    sizes = {}
    for table, keys in KEYS.items():
        replaced = ", ".join(f"{k} || '#' || CAST(t.c AS VARCHAR) AS {k}" for k in keys)
        con.execute(  # type: ignore[attr-defined]
            f"CREATE OR REPLACE TABLE {table} AS SELECT * REPLACE ({replaced}) "
            f"FROM {table}, (SELECT range AS c FROM range({copies})) t"
        )
        sizes[table] = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # type: ignore[attr-defined]
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--date", type=date.fromisoformat, default=date(2026, 2, 5))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    lake = Lake(args.home / "lake")
    started = time.perf_counter()
    con = detect.prepare(lake, load_catalog(), memory="16GB")
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    sizes = tile(con, args.copies)
    tiled = time.perf_counter() - started
    parties = [
        r[0]
        for r in con.execute(
            "SELECT person FROM r_population_register WHERE person IS NOT NULL "
            "UNION SELECT enterprise FROM r_enterprise_registry WHERE enterprise IS NOT NULL"
        ).fetchall()
    ]
    watch = pa.table(
        {
            "subject": parties,
            "party": parties,
            "hops": pa.array([0] * len(parties), pa.int32()),
            "relation": ["self"] * len(parties),
            "since": [date(2026, 1, 5)] * len(parties),
        }
    )
    rules = load_rules()
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        found = detect.detect(
            con, watch, args.date, rules.events, own_institution="B34160000H", illness=True
        )
        timings.append(time.perf_counter() - started)
    kinds: dict[str, int] = {}
    for kind in found.column("kind").to_pylist():
        kinds[kind] = kinds.get(kind, 0) + 1
    result = {
        "copies": args.copies,
        "borrowers_watched": len(parties),
        "resolved_rows": sum(sizes.values()),
        "rows_by_table": sizes,
        "load_seconds": round(loaded, 1),
        "tile_seconds": round(tiled, 1),
        "detect_seconds": [round(t, 1) for t in timings],
        "events": found.num_rows,
        "events_by_kind": dict(sorted(kinds.items())),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
