"""Append-only rows written in batches by one thread per process.

For records made on the request path (policy decisions, 429s): the request
only appends to a bounded in-memory queue, and a background thread writes the
queue every ``flush_every`` seconds, so no request waits on a write — under
SQLite a write per request would serialise every reader behind the write
lock. Rows are at most ``flush_every`` late, flushed at exit, retried when a
write fails; past ``max_queue`` the oldest are dropped and counted.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert

from app.core.db import Base, Database

log = logging.getLogger("summit.batch")


class BatchWriter:
    def __init__(
        self,
        db: Database,
        model: type[Base],
        *,
        clock: Callable[[], datetime],
        time_column: str,
        retention: timedelta,
        flush_every: float = 0.5,
        max_batch: int = 2000,
        max_queue: int = 100_000,
    ) -> None:
        self._db = db
        self._model = model
        self._clock = clock
        self._time_column = time_column
        self._retention = retention
        self._flush_every = flush_every
        self._max_batch = max_batch
        self._queue: deque[dict[str, Any]] = deque(maxlen=max_queue)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._flushes = 0
        self.dropped = 0

    def record(self, row: dict[str, Any]) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(row)
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        # Started on first use, not at import: gunicorn forks workers after
        # loading the app, and a thread started in the master dies with the fork.
        with self._start_lock:
            if self._thread is None:
                name = f"batch-{self._model.__tablename__}"
                self._thread = threading.Thread(target=self._run, name=name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        failing = 0
        while not self._stop.is_set():
            self._wake.wait(self._flush_every)
            self._wake.clear()
            try:
                self.flush()
                failing = 0
            except Exception:  # a failed write must not kill the writer
                failing += 1
                self._report(failing)

    def _report(self, failing: int) -> None:
        """The first failure with its traceback, then a line every ~minute of
        retries: a database that is away must not flood the log."""
        if failing == 1:
            log.exception("batch write failed; will retry", extra={"table": self._table})
        elif failing % max(1, round(60 / self._flush_every)) == 0:
            log.warning(
                "batch write still failing", extra={"table": self._table, "attempts": failing}
            )

    @property
    def _table(self) -> str:
        return str(self._model.__tablename__)

    def rows(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What a batch becomes in the table; subclasses aggregate here."""
        return batch

    def flush(self) -> int:
        """Write every queued record now; returns how many."""
        written = 0
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
            try:
                with self._db.engine.begin() as connection:
                    connection.execute(insert(self._model), self.rows(batch))
            except Exception:
                self._queue.extendleft(reversed(batch))  # keep them for the next try
                raise
            written += len(batch)
        self._flushes += 1
        if self.dropped:
            log.warning(
                "batch queue overflowed", extra={"table": self._table, "dropped": self.dropped}
            )
            self.dropped = 0
        if self._flushes % 600 == 0:
            self.prune()
        return written

    def prune(self) -> int:
        column = getattr(self._model, self._time_column)
        cutoff = self._clock() - self._retention
        with self._db.engine.begin() as connection:
            result = connection.execute(delete(self._model).where(column < cutoff))
        return int(result.rowcount or 0)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()
