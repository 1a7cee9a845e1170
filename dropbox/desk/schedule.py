"""Retention on a schedule while `sealdrop serve` runs: once at start, then every interval.

Otherwise retention runs only when a reply bundle is imported, when an admin presses "Apply
retention now", or when `sealdrop retention` runs (from cron, if the operator set that up). A desk
that gets no reply bundle for months would keep ciphertext long past its retention period; the
schedule closes that gap without anyone remembering to.

Nothing here logs reporter data: a run prints how many submissions it deleted, and a failed run
only the exception's class (a database error's text can quote a statement's parameters). The next
run comes at its time whatever happened to the last one.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Callable

from sqlalchemy.orm import sessionmaker

from .. import bundles, db
from ..blobs import open_store
from ..config import Config
from ..console import _
from . import audit

DEFAULT_MINUTES = 60
ACTOR = "scheduler"


def run_every(job: Callable[[], object], seconds: float, wait: Callable[[float], bool]) -> None:
    """Run `job` now, then again each time `wait(seconds)` returns False; stop when it returns True
    (threading.Event.wait is such a `wait`). A run that fails is reported and does not stop the next."""
    while True:
        try:
            job()
        except Exception as e:  # the schedule outlives any one run: the next one may well work
            words = _("retention: a scheduled run failed (%(error)s)") % {"error": type(e).__name__}
            print(words, file=sys.stderr, flush=True)
        if wait(seconds):
            return


class RetentionSchedule:
    """Applies retention to the instance every `minutes` on a daemon thread of its own."""

    def __init__(self, cfg: Config, minutes: float = DEFAULT_MINUTES):
        if minutes <= 0:
            raise ValueError("the retention interval is a positive number of minutes")
        self.seconds = minutes * 60
        self._engine = db.make_engine(cfg.database_url)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._store = open_store(cfg, self._engine)
        self._waits_for = cfg.retention_waits_for
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, on: dt.date | None = None) -> int:
        """One retention run (as of day `on`, default today); returns how many submissions it deleted."""
        with self._sessions() as session:
            # Several instances each run the schedule: one run at a time, seeing what the last deleted.
            db.lock_for_writing(session, "retention")
            deleted = bundles.apply_retention(session, self._store, on, self._waits_for)
            if deleted:  # an hourly "0 deleted" would drown the audit log
                audit.record(session, ACTOR, "retention", None, f"{deleted} submissions deleted")
                session.commit()
        if deleted:
            print(_("retention: submissions deleted: %(count)d") % {"count": deleted}, flush=True)
        return deleted

    def start(self) -> RetentionSchedule:
        self._thread = threading.Thread(
            target=run_every,
            args=(self.run_once, self.seconds, self._stop.wait),
            name="retention",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)  # a run in progress finishes its commit first
        self._engine.dispose()
