"""The book played forward: seconds per month and per day of end of day over a county's play.

    python benchmarks/bench_book_play.py [--people 20000] [--months 12]
        [--county DIR --home DIR | --keep DIR] [--applicants-per-month N] [--seed 0]
        [--json FILE]

With `--county` and `--home` (a home built by `purecredit demo`, or `ingest` + `profile
build` + `model train`), the home is copied into a temporary directory (the original is
never written) and played there. Without them a county of `--people` is built, ingested,
profiled and trained first (not timed; the setup the decide tests use, with only the pooled
person model), in a temporary directory, or in `--keep DIR`, kept and played in place. The
play (`lend.play`) is timed in its parts: applications through the counter, drawdowns,
repayments, end of day and month-end snapshots; at the end the journal is checked.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from purecredit.core.settings import Settings
from purecredit.decide import store
from purecredit.decide.counter import Counter
from purecredit.ingest.catalog import load_catalog
from purecredit.ingest.pipeline import ingest_directory
from purecredit.ingest.protect import Protector
from purecredit.lend import journal
from purecredit.lend.play import Day, Play, PlayConfig
from purecredit.profile.build import build_profiles
from purecredit.score.train import train_county
from purecredit.store.lake import Lake
from purecredit.store.ledger import ledger_engine
from purecredit.synth.config import SynthConfig
from purecredit.synth.county import build_county
from purecredit.synth.manifest import read_manifest


def build(people: int, where: Path) -> tuple[Path, Path]:
    """A county of `people` and a home with its profiles, branches and models."""
    county, home = where / "county", where / "home"
    clock = time.perf_counter()

    def done(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        print(f"setup: {step} in {now - clock:.1f} s", flush=True)
        clock = now

    build_county(SynthConfig(people=people), county)
    done(f"county of {people:,} built")
    settings = Settings(home=home)
    engine = ledger_engine(settings)
    lake, catalog = Lake(home / "lake"), load_catalog()
    # The county's deliveries reach the bank a few days after its study date (as the demo).
    study = read_manifest(county / "manifest.json").study_date
    observed = datetime.combine(study + timedelta(days=5), datetime.min.time())
    ingest_directory(
        county,
        catalog=catalog,
        lake=lake,
        protector=Protector.from_settings(settings, engine),
        observed_at=observed,
    )
    done("ingested")
    build_profiles(lake, catalog, engine, observed.date())
    done("profiled")
    train_county(lake, catalog, home, n_folds=3, min_bads=10**9)
    done("models trained")
    Counter(settings, engine)
    store.sync_branches(engine, lake, catalog)
    engine.dispose()
    return county, home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--county", type=Path)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--applicants-per-month", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, help="Build the county and home here, and keep them.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_play_") as tmp:
        where = Path(tmp)
        started = time.perf_counter()
        if args.county and args.home:
            county, home = args.county, where / "home"
            shutil.copytree(args.home, home)
        else:
            county, home = build(args.people, args.keep or where)
        setup = time.perf_counter() - started
        game = Play(
            Counter(Settings(home=home)),
            county,
            PlayConfig(args.months, args.applicants_per_month, args.seed, fresh=True),
        )
        months: list[tuple[str, float, int]] = []
        clock = [time.perf_counter()]

        def on_day(done: Day) -> None:
            if (done.day + timedelta(days=1)).day == 1:
                now = time.perf_counter()
                months.append((done.day.isoformat()[:7], now - clock[0], done.eod.loans))
                print(
                    f"{months[-1][0]}: {months[-1][1]:.1f} s, {done.eod.loans} loans, "
                    f"NPL {done.eod.npl_ratio:.4%}",
                    flush=True,
                )
                clock[0] = now

        played = time.perf_counter()
        report = game.run(on_day)
        elapsed = time.perf_counter() - played
        check = journal.check(game.engine)
        t = game.timing
        figures = {
            "people": args.people if not args.county else None,
            "county": str(args.county) if args.county else None,
            "months": t.months,
            "days": t.days,
            "setup_seconds": round(setup, 1),
            "play_seconds": round(elapsed, 1),
            "seconds_per_month": round(elapsed / t.months, 2),
            "eod_seconds_per_day": round(t.eod / t.days, 3),
            "parts_seconds": {
                "applications": round(t.applications, 1),
                "drawdowns": round(t.drawdowns, 1),
                "repayments": round(t.repayments, 1),
                "eod": round(t.eod, 1),
                "snapshots": round(t.snapshots, 1),
            },
            "applications": report["applications"],
            "applicants_per_month": report["applicants_per_month"],
            "drawdowns": report["drawdowns"]["count"],
            "loans": report["loans"],
            "outstanding": report["outstanding"],
            "npl_ratio": report["npl_ratio"],
            "dpd_buckets": {k: v["loans"] for k, v in report["dpd_buckets"].items()},
            "journal_balanced": check.balanced,
            "by_month": [{"month": m, "seconds": round(s, 1), "loans": n} for m, s, n in months],
        }
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        if args.json:
            args.json.write_text(
                json.dumps({**figures, "report": report}, indent=2, ensure_ascii=False)
            )


if __name__ == "__main__":
    main()
