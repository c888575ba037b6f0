"""A file with rows corrupted in ways never seen still ingests: the bad rows, and only they,
are quarantined with a reason; the process never crashes on input."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from purecredit.synth.manifest import Manifest
from tests.ingest.conftest import run_ingest

SOURCE = "population_register"


def _corruptions(line: str) -> list[str]:
    """Ways a line can go wrong that the generator never makes."""
    fields = line.split(",")
    return [
        line[: len(line) // 2],  # truncated mid-record
        line.replace(",", ";"),  # another delimiter
        ",".join([fields[0], '"unclosed quote', *fields[2:]]),  # a quote that never closes
        ",".join(['"ABCDEFGHI"', *fields[1:]]),  # a branch code that is not one
        ",".join([*fields[:2], '"总行"', *fields[3:]]),  # a level outside the code table
        "\t".join(fields),  # another separator altogether
    ]


def test_never_seen_corruption_is_quarantined_row_by_row(
    small_county: tuple[Path, Manifest], tmp_path: Path
) -> None:
    county, manifest = small_county
    work = tmp_path / "delivery"
    target = work / "sources" / "bank_branches"
    (work / "sources").mkdir(parents=True)
    entry = manifest.sources["bank_branches"]
    shutil.copytree(county / "sources" / "bank_branches", target)
    path = county / entry.files[0].path
    lines = path.read_text(encoding="utf-8").split("\n")
    header, body = lines[0], [line for line in lines[1:] if line]
    rng = random.Random(7)
    broken: set[int] = set()
    out = list(body)
    for number in rng.sample(range(1, len(body) + 1), 6):
        kind = len(broken) % 6
        out[number - 1] = _corruptions(body[number - 1])[kind]
        broken.add(number)
    (target / path.name).write_text("\n".join([header, *out]) + "\n", encoding="utf-8")
    report, lake = run_ingest(work, tmp_path / "home")
    got = report.sources["bank_branches"]
    assert got.read == len(body)
    assert got.read == got.landed + got.quarantined + got.duplicates
    with lake.connect() as con:
        records = {r[0] for r in con.sql("SELECT record FROM quarantine").fetchall()}
        reasons = [r[0] for r in con.sql("SELECT reason FROM quarantine").fetchall()]
    assert records == broken
    assert all(reasons)
