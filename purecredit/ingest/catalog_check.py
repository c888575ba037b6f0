"""Which files of a delivery belong to which catalogued source.

A delivery root holds ``sources/<source>/<files>``; a file belongs to a source when it sits in
that source's directory and its path there matches the source's ``files`` glob. Anything else
(a stray file, a directory the catalogue does not know, a file at the wrong depth) is
unmatched and must be reported, never silently ignored; a catalogued source with no file is
silent. Pure over the file tree, so ``purecredit catalog --check`` and the ingest pipeline
see the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from purecredit.core.errors import NotFound
from purecredit.ingest.catalog import Catalog


@dataclass(frozen=True)
class CheckResult:
    """Files by source, files of no source, and sources that sent nothing. Paths are
    ``root``-joined (as given, not resolved) and sorted; ``matched`` lists only sources with at
    least one file."""

    matched: dict[str, list[Path]]
    unmatched: list[Path]
    silent: list[str]


def match_files(catalog: Catalog, root: Path) -> CheckResult:
    """Sort every file under ``root/sources`` into its source; ``NotFound`` when there is no
    ``sources`` directory (then nothing was delivered, or ``root`` is the wrong directory)."""
    base = root / "sources"
    if not base.is_dir():
        raise NotFound(f"{root} holds no sources/ directory", field="root")
    matched: dict[str, list[Path]] = {}
    unmatched: list[Path] = []
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        parts = path.relative_to(base).parts
        source = catalog.sources.get(parts[0]) if len(parts) > 1 else None
        if source is not None and _glob_matches(parts[1:], source.files):
            matched.setdefault(source.name, []).append(path)
        else:
            unmatched.append(path)
    silent = sorted(set(catalog.sources) - set(matched))
    return CheckResult(matched=matched, unmatched=unmatched, silent=silent)


def _glob_matches(parts: tuple[str, ...], pattern: str) -> bool:
    """Match segment by segment, case-sensitively, so ``*`` never crosses a ``/`` (fnmatch on a
    whole path would let ``name_*.csv`` match ``name_x/y.csv``)."""
    wanted = pattern.split("/")
    return len(parts) == len(wanted) and all(
        fnmatchcase(part, glob) for part, glob in zip(parts, wanted, strict=True)
    )
