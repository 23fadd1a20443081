"""The web app's background work (`zuoxi serve`): pending alert deliveries every few seconds, and
the sampling schedule (`sampling.run_due`) every ten minutes. One daemon thread; a failure is
logged and tried again on the next round, never raised into the server."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, tzinfo

from zuoxi.queues.alerts import deliver_pending
from zuoxi.queues.sampling import run_due

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, engine, tz: tzinfo, every: float = 5.0, schedule_every: float = 600.0):
        self.engine, self.tz, self.every, self.schedule_every = engine, tz, every, schedule_every
        self._stop = threading.Event()
        self._next_schedule = 0.0
        self._thread = threading.Thread(target=self._run, name="zuoxi-queues", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def run_once(self) -> None:
        """One round: deliver what is pending, and sample what the schedule says is due, when its
        turn has come (every `schedule_every` seconds, the first round included)."""
        try:
            deliver_pending(self.engine, sleep=self._stop.wait, tz=self.tz)
        except Exception:
            log.exception("alert deliveries failed; trying again")
        if time.monotonic() >= self._next_schedule:
            try:
                run_due(self.engine, datetime.now(self.tz).date(), self.tz)
            except Exception:
                log.exception("scheduled sampling failed; trying again")
            self._next_schedule = time.monotonic() + self.schedule_every

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.every)
