"""What the ops domain keeps of its own: run-now requests and each job's last run.
Platform rows (no tenant). Imports no Flask."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class ProbeRequest(Base):
    """ "Run this probe now", asked from the web UI or the API and answered at once.

    The run is recorded under the request's id, so the page or client that
    asked can wait for it on any worker: queued -> running -> done (or
    abandoned, when the process that took it stopped first).
    """

    __tablename__ = "probe_requests"
    __table_args__ = (Index("ix_probe_requests_probe_requested_at", "probe", "requested_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    probe: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))  # api | ui
    requested_by: Mapped[str | None] = mapped_column(String(128))
    requested_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))  # queued | running | done | abandoned
    holder: Mapped[str] = mapped_column(String(128))  # host:pid:nonce of the process
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class JobStatus(Base):
    """The last run of each scheduled job, whoever ran it (`summit jobs list`)."""

    __tablename__ = "job_status"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | cli
    holder: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    count: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
