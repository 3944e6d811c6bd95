"""The decision log writer: every decision queued, written in batches (app.batch)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from app.core.batch import BatchWriter
from app.core.db import Database
from app.policy.models import PolicyDecision


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
