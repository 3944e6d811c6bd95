"""The decision log, bounded by design. Imports no Flask.

Kept one by one (app.core.batch): every deny, and every decision asked of the
decision API. Route guards that allowed, the bulk of traffic, are counted per
tenant, minute, action and role instead, in memory, and written once the
minute is over (one row per process per key). Both are pruned past the
retention (SUMMIT_DECISION_LOG_RETENTION_DAYS). docs/benchmarks.md gives the
rows and bytes a million requests leave.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert

from app.core.batch import BatchWriter
from app.core.db import Database
from app.policy.models import PolicyDecision, PolicyDecisionCount

CountKey = tuple[int | None, datetime, str, str]  # tenant, minute, action, role


class DecisionLog(BatchWriter):
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        flush_every: float = 0.5,
        retention: timedelta = timedelta(days=30),
    ) -> None:
        super().__init__(
            db,
            PolicyDecision,
            clock=clock,
            time_column="at",
            retention=retention,
            flush_every=flush_every,
        )
        self._counts: Counter[CountKey] = Counter()
        self._counts_lock = threading.Lock()
        self._write_lock = threading.Lock()

    def record(self, row: dict[str, Any]) -> None:
        if row["source"] != "route" or row["decision"] != "allow":
            super().record(row)
            return
        minute = row["at"].replace(second=0, microsecond=0)
        key = (row["tenant_id"], minute, row["action"], row["principal_role"])
        with self._counts_lock:
            self._counts[key] += 1
        if self._thread is None:
            self._start()

    def flush(self) -> int:
        return super().flush() + self.flush_counts(everything=self._stop.is_set())

    def flush_counts(self, *, everything: bool = True) -> int:
        """Write the counts of finished minutes (every minute with ``everything``,
        as at exit and in tests); returns the rows written."""
        # One writer at a time: a caller that flushes (exit, a test) returns only
        # once every count it took, or the background thread took, is written.
        with self._write_lock:
            return self._write_counts(everything=everything)

    def _write_counts(self, *, everything: bool) -> int:
        current = self._clock().replace(second=0, microsecond=0)
        with self._counts_lock:
            ready = {k: n for k, n in self._counts.items() if everything or k[1] < current}
            for key in ready:
                del self._counts[key]
        if not ready:
            return 0
        rows = [
            {"tenant_id": t, "minute": m, "action": a, "principal_role": r,
             "decision": "allow", "count": n}
            for (t, m, a, r), n in ready.items()
        ]  # fmt: skip
        try:
            with self._db.engine.begin() as connection:
                connection.execute(insert(PolicyDecisionCount), rows)
        except Exception:
            with self._counts_lock:
                self._counts.update(ready)  # keep them for the next try
            raise
        return len(rows)

    def prune(self) -> int:
        cutoff = self._clock() - self._retention
        with self._db.engine.begin() as connection:
            counted = connection.execute(
                delete(PolicyDecisionCount).where(PolicyDecisionCount.minute < cutoff)
            )
        return super().prune() + int(counted.rowcount or 0)
