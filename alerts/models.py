"""Incidents, the notifications sent about them, and the paging outbox. Platform
rows (no tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
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
        # GET /api/v1/incidents?service=&since= and MTTA/MTTR read by service and time.
        Index("ix_incidents_service_opened_at", "service", "opened_at"),
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
    # The escalation service it belongs to (alerts/escalation.yaml; paging issue).
    service: Mapped[str] = mapped_column(String(64), default="summit", server_default="summit")


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


class PageEvent(Base):
    """One Events API v2 event in the outbox: written in the transaction of the
    incident change that caused it, sent later by the one sender (alerts.outbox).

    ``state``: pending (waiting: due at ``next_attempt_at``, or held by quiet
    hours until then), sending (claimed by ``claimed_by`` at ``claimed_at``; a
    claim older than the claim timeout is taken again, which resends with the
    same dedup key), sent, or failed (a permanent refusal, or retries ran out).
    The routing key is never stored: it is looked up by ``service`` when sent;
    ``key_id`` (a short hash of it) counts sends per key for the rate limit.
    """

    __tablename__ = "page_events"
    __table_args__ = (
        # The sender reads unsent rows in order; the rate limit counts recent sends.
        Index("ix_page_events_state_id", "state", "id"),
        Index("ix_page_events_key_id_sent_at", "key_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Pruned with its incident (which is kept SUMMIT_INCIDENT_RETENTION_DAYS).
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    service: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # trigger | acknowledge | resolve
    dedup_key: Mapped[str] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]]  # the event without its routing key
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    held_until: Mapped[datetime | None] = mapped_column(default=None)  # quiet hours
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    key_id: Mapped[str | None] = mapped_column(String(16), default=None)
    last_status: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
