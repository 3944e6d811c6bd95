"""429s, counted per tenant, route and minute, for the operator's quota page."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from app.core.batch import BatchWriter
from app.core.db import Database
from app.quotas.models import QuotaRejection

LOG_EVERY = 10.0  # seconds between two "rate limited" log lines of one tenant


class RejectionLog(BatchWriter):
    """Each 429 is queued as one record; a batch is written as one row per
    (tenant, minute, route, reason) with its count."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime]) -> None:
        super().__init__(
            db,
            QuotaRejection,
            clock=clock,
            time_column="minute",
            retention=timedelta(days=7),
            flush_every=5.0,
        )
        self._clock_fn = clock
        self._logged: dict[int, tuple[datetime | None, int]] = {}
        self._log_lock = threading.Lock()

    def rejected(self, *, tenant_id: int, route: str, reason: str) -> int | None:
        """Count one 429. Returns how many went unlogged before it when this one
        should be logged (one line per tenant per LOG_EVERY seconds), else None."""
        now = self._clock_fn()
        minute = now.replace(second=0, microsecond=0)
        self.record({"tenant_id": tenant_id, "minute": minute, "route": route, "reason": reason})
        with self._log_lock:
            last, suppressed = self._logged.get(tenant_id, (None, 0))
            if last is not None and (now - last).total_seconds() < LOG_EVERY:
                self._logged[tenant_id] = (last, suppressed + 1)
                return None
            self._logged[tenant_id] = (now, 0)
            return suppressed

    def rows(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        counts = Counter(
            (row["tenant_id"], row["minute"], row["route"], row["reason"]) for row in batch
        )
        return [
            {"tenant_id": t, "minute": m, "route": r, "reason": why, "count": n}
            for (t, m, r, why), n in counts.items()
        ]
