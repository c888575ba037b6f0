"""Facts the lake already holds never land twice, whatever shortcut finds them: the
valid_from ranges that skip batches, the 64-bit hashes, their eviction and their collisions.
Versions still land: a changed value is a new fact, an unchanged re-delivery is none."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from purecredit.core.settings import Settings
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.dedupe import KnownFacts
from purecredit.ingest.pipeline import ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.ingest.readahead import ReadAhead
from purecredit.store.lake import FACTS_SCHEMA, Lake
from purecredit.store.ledger import make_engine

SOURCE = "tax"
OBSERVED = datetime(2026, 1, 5)
Row = tuple[str | None, str, str, date]


def facts(batch_id: str, rows: list[Row]) -> pa.Table:
    """Facts from (entity, field, value, valid_from), one record each."""
    entity, field, value, valid_from = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pa.table(
        {
            "entity": pa.array(entity, pa.string()),
            "entity_type": ["person"] * len(rows),
            "source": [SOURCE] * len(rows),
            "field": field,
            "value": value,
            "valid_from": pa.array(valid_from, pa.date32()),
            "observed_at": [OBSERVED] * len(rows),
            "batch_id": [batch_id] * len(rows),
            "record": range(len(rows)),
        },
        schema=FACTS_SCHEMA,
    )


def land(known: KnownFacts, lake: Lake, batch_id: str, rows: list[Row]) -> list[Row]:
    """Commit the rows the lake does not hold yet, as `pipeline.commit` does; return them."""
    new = known.new_facts(facts(batch_id, rows), SOURCE)
    with lake.batch(SOURCE, batch_id) as writer:
        writer.write("facts", new.table)
    known.remember(batch_id, new.keys)
    t = new.table
    return list(
        zip(
            t["entity"].to_pylist(),
            t["field"].to_pylist(),
            t["value"].to_pylist(),
            t["valid_from"].to_pylist(),
            strict=True,
        )
    )


JAN, FEB, MAR = date(2023, 1, 31), date(2023, 2, 28), date(2023, 3, 31)
JANUARY: list[Row] = [("a", "balance", "10", JAN), ("b", "balance", "20", JAN)]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def test_an_unchanged_redelivery_adds_nothing_and_a_changed_value_adds_a_version(
    lake: Lake,
) -> None:
    known = KnownFacts(lake, duckdb.connect())
    assert land(known, lake, "b1", JANUARY) == JANUARY
    # February's file reaches back into January (late records): ranges overlap.
    february: list[Row] = [
        ("a", "balance", "10", JAN),  # re-delivered unchanged: known
        ("b", "balance", "25", JAN),  # corrected: a new version
        ("a", "balance", "11", FEB),
        ("c", "balance", "30", JAN),  # late, never seen
    ]
    assert land(known, lake, "b2", february) == february[1:]
    # Same again in a new run, everything read back from the lake.
    again = KnownFacts(lake, duckdb.connect())
    assert land(again, lake, "b3", [*JANUARY, *february, ("d", "x", "1", MAR)]) == [
        ("d", "x", "1", MAR)
    ]
    assert again.loaded == 2


def test_a_batch_whose_range_misses_the_incoming_one_is_never_read(lake: Lake) -> None:
    land(KnownFacts(lake, duckdb.connect()), lake, "b1", JANUARY)
    known = KnownFacts(lake, duckdb.connect())  # b1 known from its Parquet statistics only
    march: list[Row] = [("a", "balance", "10", MAR)]
    assert land(known, lake, "b2", march) == march
    assert known.loaded == 0 and known.confirmed == 0


def test_facts_with_a_null_key_always_land_as_the_anti_join_had_them(lake: Lake) -> None:
    known = KnownFacts(lake, duckdb.connect())
    orphan: list[Row] = [(None, "balance", "10", JAN)]
    assert land(known, lake, "b1", orphan) == orphan
    assert land(known, lake, "b2", orphan) == orphan


def test_a_hash_collision_never_drops_a_new_fact(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = KnownFacts(lake, duckdb.connect())
    monkeypatch.setattr(KnownFacts, "_hash", lambda self, t: np.zeros(t.num_rows, dtype=np.uint64))
    land(known, lake, "b1", JANUARY)
    other: list[Row] = [("a", "balance", "99", JAN), ("b", "balance", "20", JAN)]
    assert land(known, lake, "b2", other) == other[:1]  # every hash matches; one fact does
    assert known.confirmed == 2


def test_evicted_hashes_are_read_back_and_give_the_same_answer(lake: Lake) -> None:
    known = KnownFacts(lake, duckdb.connect(), budget=1)
    months = [date(2023, m, 28) for m in range(1, 7)]
    for i, month in enumerate(months):
        land(known, lake, f"m{i}", [("a", "balance", str(i), month), ("b", "n", "1", month)])
    again: list[Row] = [("a", "balance", str(i), m) for i, m in enumerate(months)]
    assert land(known, lake, "all", [*again, ("a", "balance", "new", months[0])]) == [
        ("a", "balance", "new", months[0])
    ]
    assert known.loaded >= len(months) - 1


def _deposits(path: Path, rows: list[tuple[str, str, float]]) -> None:
    """A bank_deposits file as the bank delivers it (customer, month end, balance)."""
    catalog = load_catalog()
    headers = {name: spec.header for name, spec in catalog.source("bank_deposits").fields.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                headers["customer_no"]: [r[0] for r in rows],
                headers["uscc"]: pa.nulls(len(rows), pa.string()),
                headers["month"]: [r[1] for r in rows],
                headers["balance"]: [r[2] for r in rows],
                headers["inflow"]: [1.0] * len(rows),
                headers["outflow"]: [2.0] * len(rows),
            }
        ),
        path,
    )


def test_monthly_files_keep_redeliveries_out_and_land_corrections(tmp_path: Path) -> None:
    delivery = tmp_path / "county" / "sources" / "bank_deposits"
    _deposits(
        delivery / "bank_deposits_2023-01.parquet",
        [("C0000000001", "2023-01-31", 100.0), ("C0000000002", "2023-01-31", 200.0)],
    )
    _deposits(
        delivery / "bank_deposits_2023-02.parquet",
        [
            ("C0000000001", "2023-01-31", 100.0),  # unchanged re-delivery
            ("C0000000002", "2023-01-31", 250.0),  # corrected balance
            ("C0000000001", "2023-02-28", 110.0),
        ],
    )
    settings = Settings(home=tmp_path / "home", master_key="5a" * 32)
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    protector = Protector.from_settings(settings, engine)
    lake = Lake(tmp_path / "home" / "lake")
    report = ingest_directory(
        tmp_path / "county",
        catalog=load_catalog(),
        lake=lake,
        protector=protector,
        observed_at=OBSERVED,
    )
    got = report.sources["bank_deposits"]
    assert (got.read, got.landed, got.duplicates, got.files) == (5, 4, 1, 2)
    assert got.reconciled
    with lake.connect() as con:
        balances = con.sql(
            "SELECT entity, valid_from, value FROM facts WHERE field = 'balance' ORDER BY ALL"
        ).fetchall()
        # The corrected record lands whole: its unchanged fields come again with the new
        # balance, so the batch holds the complete record's new version.
        corrected = con.sql(
            "SELECT field, value FROM facts WHERE entity = 'C0000000002' "
            "AND batch_id = (SELECT max(batch_id) FROM facts WHERE value = '250') ORDER BY ALL"
        ).fetchall()
    assert balances == [
        ("C0000000001", date(2023, 1, 31), "100"),
        ("C0000000001", date(2023, 2, 28), "110"),
        ("C0000000002", date(2023, 1, 31), "200"),
        ("C0000000002", date(2023, 1, 31), "250"),
    ]
    assert corrected == [
        ("balance", "250"),
        ("customer_no", "C0000000002"),
        ("inflow", "1"),
        ("month", "2023-01-31"),
        ("outflow", "2"),
    ]
    engine.dispose()


def test_read_ahead_gives_what_reading_in_turn_gives(tmp_path: Path) -> None:
    catalog = load_catalog()
    source = catalog.source("bank_deposits")
    root = tmp_path / "county"
    paths = [
        root / "sources" / "bank_deposits" / f"bank_deposits_2023-0{m}.parquet" for m in (1, 2, 3)
    ]
    for i, path in enumerate(paths):
        _deposits(path, [(f"C000000000{i}", f"2023-0{i + 1}-28", float(i))])
    files = [(source, path) for path in paths]
    from purecredit.ingest.connectors.files import read_file

    expected = [read_file(path, root, source).table for path in paths]
    with ReadAhead(root, files, lambda i: i != 1) as ahead:
        assert [ahead.load(i).table for i in range(3)] == expected
    with ReadAhead(root, files, lambda i: True) as ahead:
        helper = ahead._helper
        assert helper is not None
        helper.kill()  # a helper that dies leaves the files to be read in turn
        helper.wait()
        assert [ahead.load(i).table for i in range(3)] == expected


def test_a_source_s_last_file_is_not_hashed_and_is_read_back_if_needed(lake: Lake) -> None:
    known = KnownFacts(lake, duckdb.connect())
    new = known.new_facts(facts("b1", JANUARY), SOURCE, keep_keys=False)
    assert new.keys.hashes is None and new.keys.span is not None
    with lake.batch(SOURCE, "b1") as writer:
        writer.write("facts", new.table)
    known.remember("b1", new.keys)
    assert land(known, lake, "b2", JANUARY) == []
    assert known.loaded == 1
