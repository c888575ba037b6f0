"""End of day over a synthetic book: seconds to step N active loans by one day.

    python benchmarks/bench_eod.py [--url URL] [--loans 100000] [--days 2] [--chunk 5000]
                                   [--json FILE]

URL defaults to a fresh SQLite file in a temporary directory; a PostgreSQL URL is used as
given (its `loans` tables must not exist yet: pass ``...?options=-csearch_path%3Dbench`` with
an empty schema). The book: N loans of 1-4 per debtor, the four repayment methods, 6-36
months, drawn in the 3 days before the first end of day, imported with
`lend.bulk.import_book` (not timed). The first end of day catches every loan up from its
start (`state.advance`); the next `--days` are the steady state that is reported.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from purecredit.lend import eod, journal
from purecredit.lend.bulk import NewLoan, import_book
from purecredit.lend.drawdown import Drawdown, RepaymentMethod
from purecredit.lend.tables import create_tables
from purecredit.store.ledger import make_engine

FIRST = date(2025, 3, 1)


def synthetic_book(n: int, seed: int = 7) -> list[NewLoan]:
    """N loans over about N/2 debtors, started in the 3 days before `FIRST`."""
    rng = random.Random(seed)
    book: list[NewLoan] = []
    subject = 0
    while len(book) < n:
        subject += 1
        for _ in range(min(rng.choice((1, 1, 2, 3, 4)), n - len(book))):
            method = rng.choice(list(RepaymentMethod))
            harvest = (9, 10) if method is RepaymentMethod.SEASONAL else ()
            drawdown = Drawdown(
                Decimal(rng.randrange(5_000_00, 300_000_00)).scaleb(-2),
                FIRST - timedelta(days=rng.randrange(0, 3)),
                rng.choice((6, 12, 24, 36)),
                Decimal(rng.randrange(300, 1200)).scaleb(-4),
                method,
                harvest,
            )
            book.append(NewLoan(f"id:{subject:012d}", drawdown))
    return book


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=eod.CHUNK)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.sqlite"
        engine = make_engine(url)
        create_tables(engine)
        book = synthetic_book(args.loans)
        started = time.perf_counter()
        import_book(engine, book, reference="bench")
        imported = time.perf_counter() - started
        started = time.perf_counter()
        catch_up = eod.run_eod(engine, FIRST, chunk=args.chunk)
        caught = time.perf_counter() - started
        timings = []
        day = FIRST
        for _ in range(args.days):
            day += timedelta(days=1)
            started = time.perf_counter()
            result = eod.run_eod(engine, day, chunk=args.chunk)
            timings.append(time.perf_counter() - started)
        checked = journal.check(engine)
        engine.dispose()
    figures = {
        "backend": url.split(":", 1)[0],
        "loans": args.loans,
        "import_s": round(imported, 2),
        "first_eod_catch_up_s": round(caught, 2),
        "eod_s": [round(t, 2) for t in timings],
        "loans_per_s": round(args.loans / min(timings)) if timings else None,
        "last": (result if timings else catch_up).to_dict(),
        "balanced": checked.balanced,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
