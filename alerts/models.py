"""Incidents and the notifications sent about them. Platform rows (no tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Incident(Base):
    """Something is broken: opened by a rule (a probe's failure threshold), resolved
    when it recovers. ``key`` names what is broken ("probe:golden-path")."""

    __tablename__ = "incidents"
    __table_args__ = (
        # At most one open incident per key, even when two processes race to open it.
        Index(
            "uq_incidents_open_key",
            "key",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_incidents_key_opened_at", "key", "opened_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))  # open | resolved
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    details: Mapped[dict[str, Any]]
    # Who took it (an operator's acknowledgement) and who closed it: a person,
    # or None when its rule saw it recover.
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(128), default=None)


class IncidentNotification(Base):
    """One notifier told about one event of an incident (opened, resolved)."""

    __tablename__ = "incident_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    notifier: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
