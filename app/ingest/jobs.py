"""The ingest domain's scheduled job, in the shape app.ops.scheduler runs jobs."""

from __future__ import annotations

from app.core.db import Database, utcnow
from app.core.metrics import Metrics
from app.ingest.replay import auto_replay
from app.ingest.service import Limits
from app.settings import Settings


def auto_replay_job(*, settings: Settings, db: Database, metrics: Metrics | None) -> int:
    """``ingest-auto-replay``: see app.ingest.replay.auto_replay."""
    return auto_replay(
        db=db,
        limits=Limits(settings.ingest_max_batch, settings.ingest_max_event_bytes),
        wait=settings.ingest_write_wait_seconds,
        clock=utcnow,
        metrics=metrics,
    )
