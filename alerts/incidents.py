"""Incidents: the one interface through which a broken thing is declared and cleared.

Rules (a probe's failure threshold today, SLO burn rates later) call
:func:`open_incident` and :func:`resolve_incident`; both tell every configured
notifier. Notifiers are a registry of name -> class; the only one today
records to the database. Paging (PagerDuty) plugs in
as another notifier.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.models import Incident, IncidentNotification


class Notifier(Protocol):
    name: str

    def notify(self, *, session: Session, incident: Incident, event: str, now: datetime) -> None:
        """Tell someone that ``incident`` was "opened", "acknowledged" or "resolved"."""


class DatabaseNotifier:
    """Records each event as a row: the local outbox the ops page shows."""

    name = "database"

    def notify(self, *, session: Session, incident: Incident, event: str, now: datetime) -> None:
        session.add(
            IncidentNotification(
                incident_id=incident.id, notifier=self.name, event=event, created_at=now
            )
        )


# Notifier name (SUMMIT_INCIDENT_NOTIFIERS) -> its class.
NOTIFIERS: Final[dict[str, type[Notifier]]] = {"database": DatabaseNotifier}


def load_notifiers(names: Iterable[str]) -> list[Notifier]:
    """Instances of the named notifiers; an unknown name is an error, not a no-op."""
    found: list[Notifier] = []
    for name in names:
        if name not in NOTIFIERS:
            raise ValueError(f"unknown incident notifier {name!r}; known: {sorted(NOTIFIERS)}")
        found.append(NOTIFIERS[name]())
    return found


def current(*, session: Session, key: str) -> Incident | None:
    """The open incident for ``key``, if any."""
    return session.scalars(
        select(Incident).where(Incident.key == key, Incident.status == "open")
    ).first()


def last_resolved_at(*, session: Session, key: str) -> datetime | None:
    return session.scalars(
        select(Incident.resolved_at)
        .where(Incident.key == key, Incident.status == "resolved")
        .order_by(Incident.resolved_at.desc())
        .limit(1)
    ).first()


def open_incident(
    *,
    session: Session,
    key: str,
    title: str,
    details: dict[str, Any],
    now: datetime,
    notifiers: Sequence[Notifier],
) -> Incident:
    """Open an incident for ``key``, or return the one already open (idempotent)."""
    existing = current(session=session, key=key)
    if existing is not None:
        return existing
    incident = Incident(
        id=str(uuid.uuid4()), key=key, title=title, status="open", opened_at=now, details=details
    )
    try:
        with session.begin_nested():  # another process may have opened it just now
            session.add(incident)
    except IntegrityError:
        raced = current(session=session, key=key)
        if raced is None:
            raise
        return raced
    for notifier in notifiers:
        notifier.notify(session=session, incident=incident, event="opened", now=now)
    return incident


def resolve_incident(
    *,
    session: Session,
    incident: Incident,
    now: datetime,
    notifiers: Sequence[Notifier],
    by: str | None = None,
) -> Incident:
    """Close ``incident``: ``by`` names the person; None means its rule saw it recover."""
    if incident.status != "open":
        return incident
    incident.status = "resolved"
    incident.resolved_at = now
    incident.resolved_by = by
    session.flush()
    for notifier in notifiers:
        notifier.notify(session=session, incident=incident, event="resolved", now=now)
    return incident


def acknowledge_incident(
    *,
    session: Session,
    incident: Incident,
    by: str,
    now: datetime,
    notifiers: Sequence[Notifier],
) -> Incident:
    """Someone is on it. Only an open, unacknowledged incident changes (idempotent)."""
    if incident.status != "open" or incident.acknowledged_at is not None:
        return incident
    incident.acknowledged_at = now
    incident.acknowledged_by = by
    session.flush()
    for notifier in notifiers:
        notifier.notify(session=session, incident=incident, event="acknowledged", now=now)
    return incident


def get_incident(*, session: Session, incident_id: str) -> Incident | None:
    return session.get(Incident, incident_id)


def list_incidents(
    *, session: Session, status: str | None = None, key: str | None = None, limit: int = 50
) -> list[Incident]:
    statement = select(Incident).order_by(Incident.opened_at.desc()).limit(limit)
    if status:
        statement = statement.where(Incident.status == status)
    if key:
        statement = statement.where(Incident.key == key)
    return list(session.scalars(statement))


def prune_resolved(*, session: Session, before: datetime) -> int:
    """Delete incidents resolved before ``before`` (their notifications go with
    them); open incidents are never pruned. Returns how many."""
    result = session.execute(
        delete(Incident)
        .where(Incident.status == "resolved", Incident.resolved_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
