"""kill -9 at any point mid-ingest, then rerun: the lake holds exactly the rows of an
uninterrupted run, with no partial batch visible and no orphaned part-file left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from purecredit.store.lake import Lake
from purecredit.synth.manifest import Manifest

SCRIPT = """
import sys
from pathlib import Path
from tests.ingest.conftest import run_ingest
run_ingest(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def _run(county: Path, home: Path, kill_after: float | None = None) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(county), str(home)], env=env)
    if kill_after is None:
        assert proc.wait(timeout=600) == 0
        return
    time.sleep(kill_after)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def _snapshot(home: Path) -> dict[str, pd.DataFrame]:
    lake = Lake(home / "lake")
    out = {}
    with lake.connect() as con:
        for table in ("facts", "quarantine", "conflicts"):
            frame = con.sql(
                f"SELECT * EXCLUDE (observed_at, raw) FROM {table}"
                if table == "quarantine"
                else f"SELECT * FROM {table}"
            ).df()
            out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


@pytest.mark.slow
def test_kill_nine_then_rerun_equals_an_uninterrupted_run(
    small_county: tuple[Path, Manifest], tmp_path: Path
) -> None:
    county, _ = small_county
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    (crashed / "keys").mkdir(parents=True)
    _run(county, clean)
    # Same data-zone key, so tokens compare; the key file is the only state carried over.
    (crashed / "keys" / "master.key").write_bytes((clean / "keys" / "master.key").read_bytes())
    (crashed / "keys" / "master.key").chmod(0o600)
    for delay in (2.5, 4.0, 6.0):
        _run(county, crashed, kill_after=delay)
        lake = Lake(crashed / "lake")
        for marker in lake.committed_batches():  # what is visible is whole
            for table, entry in marker["tables"].items():
                with lake.connect() as con:
                    rows = con.sql(
                        f"SELECT count(*) FROM {table} WHERE batch_id = '{marker['batch_id']}'"
                    ).fetchall()[0][0]
                assert rows == entry["rows"], (marker["batch_id"], table)
    _run(county, crashed)
    assert not (crashed / "lake" / "_staging").exists() or not any(
        (crashed / "lake" / "_staging").iterdir()
    )
    want, got = _snapshot(clean), _snapshot(crashed)
    for table in want:
        pd.testing.assert_frame_equal(want[table], got[table], check_like=True)
    on_disk = {p.relative_to(crashed / "lake") for p in (crashed / "lake").rglob("*.parquet")}
    committed = {
        Path(f["path"])
        for m in Lake(crashed / "lake").committed_batches()
        for entry in m["tables"].values()
        for f in entry["files"]
    }
    assert on_disk == committed
