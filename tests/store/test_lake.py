"""The lake commits whole batches or nothing, even under kill -9, and reads them back in time.

The crash tests run a real writer process and kill it with SIGKILL, so no cleanup code of
ours gets a chance to run; only the on-disk protocol (staging, rename, marker) can save us.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from purecredit.core.errors import Conflict, Invalid
from purecredit.store.lake import (
    CONFLICTS_SCHEMA,
    FACTS_SCHEMA,
    QUARANTINE_SCHEMA,
    TABLE_SCHEMAS,
    Lake,
)

SHARED = ("facts", "quarantine", "conflicts")


def facts(
    batch_id: str, rows: list[tuple[str, str, str, date, datetime]], source: str = "tax"
) -> pa.Table:
    """Facts from (entity, field, value, valid_from, observed_at) tuples."""
    entity, field, value, valid_from, observed_at = zip(*rows, strict=True)
    return pa.table(
        {
            "entity": entity,
            "entity_type": ["person"] * len(rows),
            "source": [source] * len(rows),
            "field": field,
            "value": value,
            "valid_from": valid_from,
            "observed_at": observed_at,
            "batch_id": [batch_id] * len(rows),
            "record": range(1, len(rows) + 1),
        },
        schema=FACTS_SCHEMA,
    )


def simple_facts(batch_id: str, n: int, source: str = "tax") -> pa.Table:
    rows = [
        (f"id:{i:04x}", "income", str(i * 100), date(2024, 1, 1), datetime(2024, 2, 5))
        for i in range(n)
    ]
    return facts(batch_id, rows, source)


def quarantine(batch_id: str, n: int, source: str = "tax") -> pa.Table:
    return pa.table(
        {
            "source": [source] * n,
            "file": ["2024-01.csv"] * n,
            "record": range(1, n + 1),
            "field": ["id_number"] * n,
            "raw": ["<encrypted>"] * n,
            "reason": ["resident ID check digit is 3, expected 7"] * n,
            "defect": ["checksum"] * n,
            "batch_id": [batch_id] * n,
            "observed_at": [datetime(2024, 2, 5)] * n,
        },
        schema=QUARANTINE_SCHEMA,
    )


def files_on_disk(root: Path) -> dict[str, bytes]:
    """Every file under the lake (but the lock), by relative path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "_lock"
    }


def count_by_batch(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    query = f"SELECT batch_id, count(*) FROM {table} GROUP BY batch_id"
    return dict(conn.execute(query).fetchall())


def test_commit_makes_every_part_visible_only_at_the_end(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    with lake.batch("tax", "b1") as writer:
        writer.write("facts", simple_facts("b1", 3))
        writer.write("facts", simple_facts("b1", 4))
        writer.write("quarantine", quarantine("b1", 2))
        assert lake.connect().execute("SELECT count(*) FROM facts").fetchone() == (0,)
        assert not lake.has_batch("b1")
    conn = lake.connect()
    assert conn.execute("SELECT count(*) FROM facts").fetchone() == (7,)
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (2,)
    assert conn.execute("SELECT count(*) FROM conflicts").fetchone() == (0,)
    [marker] = lake.committed_batches()
    assert marker["batch_id"] == "b1" and marker["source"] == "tax"
    assert {name: entry["rows"] for name, entry in marker["tables"].items()} == {
        "facts": 7,
        "quarantine": 2,
    }
    assert [part["path"] for part in marker["tables"]["facts"]["files"]] == [
        "facts/source=tax/batch=b1/part-00000.parquet",
        "facts/source=tax/batch=b1/part-00001.parquet",
    ]
    assert not (tmp_path / "lake" / "_staging").exists()


def test_a_block_that_raises_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = Lake(root)
    with pytest.raises(RuntimeError, match="upstream failed"), lake.batch("tax", "b1") as writer:
        writer.write("facts", simple_facts("b1", 5))
        writer.write("quarantine", quarantine("b1", 1))
        raise RuntimeError("upstream failed")
    assert files_on_disk(root) == {}
    assert not lake.has_batch("b1")
    assert lake.connect().execute("SELECT count(*) FROM facts").fetchone() == (0,)
    lake.recover()
    assert files_on_disk(root) == {}
    assert not (root / "_staging").exists()
    with lake.batch("tax", "b1") as writer:  # the same batch can then be written
        writer.write("facts", simple_facts("b1", 5))
    assert lake.connect().execute("SELECT count(*) FROM facts").fetchone() == (5,)


def test_has_batch(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    assert not lake.has_batch("b1")
    with lake.batch("tax", "b1") as writer:
        writer.write("facts", simple_facts("b1", 1))
    assert lake.has_batch("b1")
    assert not lake.has_batch("b2")
    with lake.batch("tax", "b2"):
        pass  # an empty delivery is still a committed batch: re-ingesting it is a no-op
    assert lake.has_batch("b2")
    assert [marker["batch_id"] for marker in lake.committed_batches()] == ["b1", "b2"]


def test_rewriting_a_committed_batch_raises_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = Lake(root)
    with lake.batch("tax", "b1") as writer:
        writer.write("facts", simple_facts("b1", 3))
    before = files_on_disk(root)
    entered = False
    with pytest.raises(Conflict, match="already committed"), lake.batch("tax", "b1") as writer:
        entered = True
        writer.write("facts", simple_facts("b1", 9))
    assert not entered
    assert files_on_disk(root) == before


def test_writes_that_contradict_the_batch_or_schema_are_refused(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    wrong = [
        simple_facts("b1", 2).drop_columns(["record"]),
        simple_facts("b1", 2).append_column("extra", pa.array([1, 2])),
        simple_facts("b1", 2, source="bank"),
        simple_facts("b0", 2),
    ]
    for table in wrong:
        with pytest.raises(Invalid), lake.batch("tax", "b1") as writer:
            writer.write("facts", table)
    with pytest.raises(Invalid), lake.batch("tax", "b1") as writer:
        writer.write("../facts", simple_facts("b1", 2))
    with pytest.raises(Invalid):
        lake.has_batch("b1/../x")
    assert lake.committed_batches() == []


def test_views_exist_with_their_columns_when_the_lake_is_empty(tmp_path: Path) -> None:
    conn = Lake(tmp_path / "never-written").connect()
    for name, schema in TABLE_SCHEMAS.items():
        result = conn.sql(f"SELECT * FROM {name}").to_arrow_table()
        assert result.num_rows == 0
        assert result.schema.names == schema.names
        assert [f.type for f in result.schema] == [f.type for f in schema], name
    assert CONFLICTS_SCHEMA.names == [
        "item",
        "entity",
        "authoritative_source",
        "authoritative_value",
        "other_source",
        "other_value",
        "observed_at",
        "batch_id",
    ]
    as_of = "TIMESTAMP '2024-01-01'"
    assert conn.execute(f"SELECT count(*) FROM facts_as_of({as_of})").fetchone() == (0,)
    assert conn.execute(f"SELECT count(*) FROM latest_as_of({as_of})").fetchone() == (0,)


def test_refresh_shows_batches_committed_after_connecting(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    conn = lake.connect()
    with lake.batch("tax", "b1") as writer:
        writer.write("facts", simple_facts("b1", 4))
        writer.write("summary", pa.table({"rows": [4]}))
    assert conn.execute("SELECT count(*) FROM facts").fetchone() == (0,)
    lake.refresh(conn)
    assert conn.execute("SELECT count(*) FROM facts").fetchone() == (4,)
    assert conn.execute("SELECT * FROM summary").fetchall() == [(4,)]


def test_facts_as_of_excludes_facts_observed_later(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    rows = [
        ("id:a", "income", "100", date(2024, 1, 1), datetime(2024, 2, 5)),
        ("id:a", "income", "200", date(2024, 2, 1), datetime(2024, 3, 5)),
        ("id:b", "income", "300", date(2024, 1, 1), datetime(2024, 3, 5, 12)),
    ]
    with lake.batch("tax", "b1") as writer:
        writer.write("facts", facts("b1", rows))
    conn = lake.connect()

    def values(as_of: str) -> list[str]:
        query = f"SELECT value FROM facts_as_of(TIMESTAMP '{as_of}') ORDER BY value"
        return [value for (value,) in conn.execute(query).fetchall()]

    assert values("2024-02-04 23:59:59") == []
    assert values("2024-02-05") == ["100"]
    assert values("2024-03-05") == ["100", "200"]
    assert values("2024-03-06") == ["100", "200", "300"]


def test_latest_as_of_takes_the_latest_valid_from_then_the_latest_observation(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    first = [
        # v2 becomes true later in the world but is learned before v3: valid_from decides.
        ("id:a", "income", "v1", date(2024, 1, 1), datetime(2024, 1, 10)),
        ("id:a", "income", "v2", date(2024, 3, 1), datetime(2024, 1, 12)),
        ("id:a", "income", "v3", date(2024, 1, 1), datetime(2024, 1, 20)),
        # A correction for the same valid_from: the later observation wins.
        ("id:a", "status", "w1", date(2024, 1, 1), datetime(2024, 1, 10)),
        ("id:b", "income", "u1", date(2024, 5, 1), datetime(2024, 5, 10)),
    ]
    second = [
        ("id:a", "status", "w2", date(2024, 1, 1), datetime(2024, 1, 20)),
        ("id:a", "income", "v4", date(2024, 6, 1), datetime(2024, 7, 1)),
    ]
    with lake.batch("tax", "b1") as writer:
        writer.write("facts", facts("b1", first))
    with lake.batch("tax", "b2") as writer:
        writer.write("facts", facts("b2", second))
    with lake.batch("bank", "b3") as writer:  # another source never shadows this one
        bank_rows = [("id:a", "income", "x", date(2025, 1, 1), datetime(2024, 1, 10))]
        writer.write("facts", facts("b3", bank_rows, "bank"))
    conn = lake.connect()

    def latest(as_of: str) -> dict[tuple[str, str, str], str]:
        query = f"SELECT entity, source, field, value FROM latest_as_of(TIMESTAMP '{as_of}')"
        return {(e, s, f): v for e, s, f, v in conn.execute(query).fetchall()}

    bank = {("id:a", "bank", "income"): "x"}
    assert latest("2024-01-11") == {
        ("id:a", "tax", "income"): "v1",
        ("id:a", "tax", "status"): "w1",
        **bank,
    }
    assert latest("2024-01-21") == {
        ("id:a", "tax", "income"): "v2",
        ("id:a", "tax", "status"): "w2",
        **bank,
    }
    assert latest("2024-07-01") == {
        ("id:a", "tax", "income"): "v4",
        ("id:a", "tax", "status"): "w2",
        ("id:b", "tax", "income"): "u1",
        **bank,
    }


def test_hive_layout_reads_with_plain_duckdb(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = Lake(root)
    for source, batch_id, n in [("tax", "b1", 3), ("bank", "b2", 2), ("tax", "b3", 1)]:
        with lake.batch(source, batch_id) as writer:
            writer.write("facts", simple_facts(batch_id, n, source))
    pattern = str(root / "facts" / "**" / "*.parquet")
    query = (
        "SELECT source, batch, count(*) FROM read_parquet(?, hive_partitioning = true) "
        "GROUP BY ALL ORDER BY ALL"
    )
    assert duckdb.connect().execute(query, [pattern]).fetchall() == [
        ("bank", "b2", 2),
        ("tax", "b1", 3),
        ("tax", "b3", 1),
    ]


def test_the_same_input_gives_byte_identical_zstd_files(tmp_path: Path) -> None:
    contents = []
    for run in ("one", "two"):
        lake = Lake(tmp_path / run)
        with lake.batch("tax", "b1") as writer:
            writer.write("facts", simple_facts("b1", 50))
            writer.write("quarantine", quarantine("b1", 5))
        [marker] = lake.committed_batches()
        data = {k: v for k, v in files_on_disk(tmp_path / run).items() if k.endswith(".parquet")}
        contents.append((data, marker["content_hash"]))
    assert contents[0] == contents[1]
    part = tmp_path / "one" / "facts" / "source=tax" / "batch=b1" / "part-00000.parquet"
    metadata = pq.ParquetFile(part).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert set(metadata.metadata) == {b"ARROW:schema"}  # no pandas or timing metadata


def test_a_failed_commit_unpublishes_what_it_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lake"
    lake = Lake(root)

    def disk_full(self: Lake, marker: Path, payload: dict[str, Any]) -> None:
        assert (root / "facts" / "source=tax" / "batch=b1").is_dir()  # renamed already
        raise OSError("no space left on device")

    monkeypatch.setattr(Lake, "_write_marker", disk_full)
    with pytest.raises(OSError, match="no space"), lake.batch("tax", "b1") as writer:
        writer.write("facts", simple_facts("b1", 3))
        writer.write("quarantine", quarantine("b1", 1))
    assert not list(root.glob("[!_]*/source=*/batch=*"))
    assert files_on_disk(root) == {}


def test_batches_cannot_nest_in_one_process(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    with lake.batch("tax", "b1"), pytest.raises(Conflict, match="already writing"):
        lake.recover()
    assert lake.has_batch("b1")


# A writer process: deterministic batches `batch-00000`... of two sources, each with two fact
# parts, quarantine and conflicts; committed batches are skipped, as ingest does.
WRITER = """
import os, signal, sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from purecredit.store.lake import CONFLICTS_SCHEMA, FACTS_SCHEMA, QUARANTINE_SCHEMA, Lake

root, count, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if mode == "crash-before-marker":
    Lake._write_marker = lambda self, marker, payload: os.kill(os.getpid(), signal.SIGKILL)

def tables(i, batch_id, source):
    n = 40 + (i * 37) % 120
    observed = datetime(2024, 1, 1) + timedelta(days=i)
    facts = pa.table({
        "entity": [f"id:{(i * 7 + k) % 500:04x}" for k in range(n)],
        "entity_type": ["person"] * n,
        "source": [source] * n,
        "field": [("income", "phone")[k % 2] for k in range(n)],
        "value": [str(i * 1000 + k) for k in range(n)],
        "valid_from": [date(2024, 1, 1) + timedelta(days=k % 30) for k in range(n)],
        "observed_at": [observed] * n,
        "batch_id": [batch_id] * n,
        "record": list(range(1, n + 1)),
    }, schema=FACTS_SCHEMA)
    q = 1 + i % 4
    quarantine = pa.table({
        "source": [source] * q, "file": [f"{i}.csv"] * q, "record": list(range(q)),
        "field": [None] * q, "raw": ["x"] * q, "reason": ["expected 11 fields, found 12"] * q,
        "defect": ["columns"] * q, "batch_id": [batch_id] * q, "observed_at": [observed] * q,
    }, schema=QUARANTINE_SCHEMA)
    conflicts = pa.table({
        "item": ["income"], "entity": ["id:0001"], "authoritative_source": ["tax"],
        "authoritative_value": [str(i)], "other_source": ["bank"], "other_value": ["0"],
        "observed_at": [observed], "batch_id": [batch_id],
    }, schema=CONFLICTS_SCHEMA)
    return facts, quarantine, conflicts

lake = Lake(root)
lake.recover()
print("ready", flush=True)
for i in range(count):
    batch_id = f"batch-{i:05d}"
    if lake.has_batch(batch_id):
        continue
    source = ("tax", "bank")[i % 2]
    facts, quarantine, conflicts = tables(i, batch_id, source)
    with lake.batch(source, batch_id) as writer:
        writer.write("facts", facts.slice(0, 20))
        writer.write("facts", facts.slice(20))
        writer.write("quarantine", quarantine)
        writer.write("conflicts", conflicts)
"""


@pytest.fixture
def writer_script(tmp_path: Path) -> Path:
    path = tmp_path / "writer.py"
    path.write_text(textwrap.dedent(WRITER))
    return path


def start_writer(
    script: Path, root: Path, count: int, mode: str = "plain"
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, str(script), str(root), str(count), mode], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    process.stdout.close()  # the writer prints nothing more
    return process


def run_writer(script: Path, root: Path, count: int, mode: str = "plain") -> int:
    process = start_writer(script, root, count, mode)
    return process.wait(timeout=60)


def committed_partitions(markers: list[dict[str, Any]]) -> set[Path]:
    return {
        Path(part["path"]).parent
        for marker in markers
        for entry in marker["tables"].values()
        for part in entry["files"]
    }


def assert_only_committed_data_visible(lake: Lake) -> None:
    """What the views show is exactly what the markers promise, file hashes included."""
    markers = lake.committed_batches()
    conn = lake.connect()
    for table in SHARED:
        expected = {
            marker["batch_id"]: marker["tables"][table]["rows"]
            for marker in markers
            if table in marker["tables"]
        }
        assert count_by_batch(conn, table) == expected, table
    for marker in markers:
        for entry in marker["tables"].values():
            for part in entry["files"]:
                content = (lake.root / part["path"]).read_bytes()
                assert hashlib.sha256(content).hexdigest() == part["sha256"]


def assert_no_debris(root: Path, markers: list[dict[str, Any]]) -> None:
    partitions = {path.relative_to(root) for path in root.glob("[!_]*/source=*/batch=*")}
    assert partitions == committed_partitions(markers)
    parquet = {path.relative_to(root) for path in root.rglob("*.parquet")}
    expected = {Path(p["path"]) for m in markers for e in m["tables"].values() for p in e["files"]}
    assert parquet == expected
    assert not (root / "_staging").exists()
    assert not list((root / "_batches").glob("*.tmp"))


def wait_for_commits(root: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(list((root / "_batches").glob("*.json"))) < count:
        assert time.monotonic() < deadline, "the writer committed nothing in 30 s"
        time.sleep(0.005)


def snapshot(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = Lake(root).connect()
    return {
        table: conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in SHARED
    }


@pytest.mark.slow
def test_kill_9_at_random_points_leaves_only_whole_batches(
    tmp_path: Path, writer_script: Path
) -> None:
    root = tmp_path / "lake"
    rng = random.Random(3)
    for _ in range(5):
        already = len(Lake(root).committed_batches())
        process = start_writer(writer_script, root, 100_000)
        wait_for_commits(root, already + 1)  # so every run dies mid-loop, even on a slow box
        time.sleep(rng.uniform(0.0, 0.5))
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
        lake = Lake(root)
        assert_only_committed_data_visible(lake)  # even before recovery
        lake.recover()
        assert_only_committed_data_visible(lake)
        assert_no_debris(root, lake.committed_batches())
    committed = len(Lake(root).committed_batches())
    assert run_writer(writer_script, root, committed + 3) == 0
    reference = tmp_path / "reference"
    assert run_writer(writer_script, reference, committed + 3) == 0
    assert snapshot(root) == snapshot(reference)
    parquet = {k: v for k, v in files_on_disk(root).items() if k.endswith(".parquet")}
    assert parquet == {k: v for k, v in files_on_disk(reference).items() if k.endswith(".parquet")}
    assert_no_debris(root, Lake(root).committed_batches())


def test_recover_removes_partitions_orphaned_between_rename_and_marker(
    tmp_path: Path, writer_script: Path
) -> None:
    root = tmp_path / "lake"
    assert run_writer(writer_script, root, 2) == 0
    # This run renames batch-00002's partitions into place, then dies before its marker.
    assert run_writer(writer_script, root, 3, "crash-before-marker") == -signal.SIGKILL
    orphans = {Path(table) / "source=tax" / "batch=batch-00002" for table in SHARED}
    assert all((root / orphan / "part-00000.parquet").is_file() for orphan in orphans)
    lake = Lake(root)
    assert not lake.has_batch("batch-00002")
    assert "batch-00002" not in count_by_batch(lake.connect(), "facts")
    assert_only_committed_data_visible(lake)
    assert set(lake.recover()) == orphans | {Path("_staging")}
    assert_no_debris(root, lake.committed_batches())
    assert run_writer(writer_script, root, 3) == 0
    reference = tmp_path / "reference"
    assert run_writer(writer_script, reference, 3) == 0
    assert snapshot(root) == snapshot(reference)
