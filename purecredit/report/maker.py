"""The automatic report maker: a background thread that, every `report_interval_s` seconds,
makes the reports of events that have none (`stored.make_pending`). It keeps reports off
the decision path: a decision never waits for a report to be drawn."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from purecredit.core.settings import Settings
from purecredit.report.stored import make_pending

log = logging.getLogger(__name__)
BATCH = 50  # reports per round: a backlog is worked through without holding a round long


class ReportMaker:
    """`start()` the thread (nothing when the interval is 0), `stop()` it and wait."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.settings.report_interval_s <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="report-maker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        # A round waits its interval first: a process that starts and stops at once (a test,
        # a one-off command) never competes with its own work for the ledger.
        made = 0
        while made >= BATCH or not self._stop.wait(self.settings.report_interval_s):
            try:
                made = make_pending(self.engine, self.settings, BATCH, self._stop.is_set)
            except Exception:  # the ledger briefly away: try again next round
                log.exception("report maker round failed")
                made = 0
            if self._stop.is_set():
                return
