"""The decision log writer: every decision is queued in memory and written in
batches by one thread per process, so deciding never waits on a database write
(under SQLite, a write per request would serialise every reader behind the
write lock). Written at most ``flush_every`` seconds late; flushed at exit."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert

from app.db import Database
from app.policy.models import PolicyDecision

log = logging.getLogger("summit.policy")


class DecisionLog:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        flush_every: float = 0.5,
        max_batch: int = 2000,
        max_queue: int = 100_000,
        retention: timedelta = timedelta(days=30),
    ) -> None:
        self._db = db
        self._clock = clock
        self._flush_every = flush_every
        self._max_batch = max_batch
        self._retention = retention
        self._queue: deque[dict[str, Any]] = deque(maxlen=max_queue)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid_lock = threading.Lock()
        self._flushes = 0
        self.dropped = 0

    def record(self, row: dict[str, Any]) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1  # bounded memory beats an OOM; counted, and logged at flush
        self._queue.append(row)
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        # Started on first use, not at import: gunicorn forks workers after
        # loading, and a thread started in the master would not survive the fork.
        with self._pid_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._flush_every)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a failed write must not kill the writer
                log.exception("decision log flush failed; will retry")

    def flush(self) -> int:
        """Write every queued decision; returns how many."""
        written = 0
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
            try:
                with self._db.engine.begin() as connection:
                    connection.execute(insert(PolicyDecision), batch)
            except Exception:
                self._queue.extendleft(reversed(batch))  # keep them for the next try
                raise
            written += len(batch)
        self._flushes += 1
        if self.dropped:
            log.warning("decision log queue overflowed", extra={"dropped": self.dropped})
            self.dropped = 0
        if self._flushes % 600 == 0:
            self.prune()
        return written

    def prune(self) -> int:
        cutoff = self._clock() - self._retention
        with self._db.engine.begin() as connection:
            result = connection.execute(delete(PolicyDecision).where(PolicyDecision.at < cutoff))
        return int(result.rowcount or 0)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()
