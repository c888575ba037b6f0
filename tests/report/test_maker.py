"""The automatic report maker's thread: off at 0 s, and a round makes what is pending."""

from __future__ import annotations

import time
from pathlib import Path

from purecredit.core.settings import Settings
from purecredit.report import ReportMaker
from purecredit.report.stored import pending
from purecredit.store.ledger import make_engine


def test_the_maker_is_off_at_zero_and_runs_rounds(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    off = ReportMaker(engine, Settings(home=tmp_path, report_interval_s=0))
    off.start()
    assert off._thread is None
    off.stop()
    on = ReportMaker(engine, Settings(home=tmp_path, report_interval_s=0.05))
    on.start()
    assert on._thread is not None and on._thread.is_alive()
    time.sleep(0.3)  # a few rounds over an empty ledger: nothing pending, nothing fails
    on.stop()
    assert on._thread is None and pending(engine) == []
    engine.dispose()
