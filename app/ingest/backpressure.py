"""Bounded work in flight: how a process says "slow down" instead of queueing.

Each process parses and writes at most ``limit`` batches at once (the
SUMMIT_INGEST_MAX_IN_FLIGHT setting). A batch that cannot start within the
wait budget is refused with 503 and ``Retry-After``, before its body is read;
one that starts but cannot get the writer within the rest of the budget is
refused the same way (app.ingest.bulk.WriterSaturated). Nothing is queued
beyond these slots, and nothing accepted is dropped: a refused batch wrote
nothing, and the sender retries it.

Across a deployment the bound is workers x limit batches, each at most
SUMMIT_INGEST_MAX_BODY_BYTES inflated (with gunicorn's sync workers a
worker serves one request at a time, so it is simply the worker count).
Requests not yet accepted wait in the listen backlog (gunicorn's
``--backlog``, 2048), which the kernel bounds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from app.core.errors import DomainError


class Busy(DomainError):
    status = 503
    code = "ingest_busy"


class InFlight:
    """A counting semaphore that also says how many batches are in flight."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.current = 0

    @contextmanager
    def slot(self, *, wait: float) -> Iterator[float]:
        """Hold one slot; yields the part of ``wait`` left for the writer."""
        started = time.monotonic()
        if not self._slots.acquire(timeout=wait):
            raise Busy(
                f"this server is already writing {self.limit} ingest batches; "
                "nothing was read, retry after the delay"
            )
        with self._lock:
            self.current += 1
        try:
            yield max(0.05, wait - (time.monotonic() - started))
        finally:
            with self._lock:
                self.current -= 1
            self._slots.release()
