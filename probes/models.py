"""Probe runs: one row per run, whatever started it. Platform rows (no tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, JSONType


class ProbeRun(Base):
    __tablename__ = "probe_runs"
    __table_args__ = (
        # Every read is "this probe's latest runs": status, threshold, ops page.
        Index("ix_probe_runs_probe_started_at", "probe", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    probe: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | api | ui | cli
    status: Mapped[str] = mapped_column(String(8))  # pass | fail
    started_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    duration_ms: Mapped[float] = mapped_column(Float)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    failed_step: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    # Paths relative to the artifacts folder; emptied when retention removes them.
    artifacts: Mapped[list[str]] = mapped_column(JSONType)

    @property
    def passed(self) -> bool:
        return self.status == "pass"
