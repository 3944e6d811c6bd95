"""Incidents: the one interface through which a broken thing is declared and cleared.

Rules (a probe's failure threshold today, SLO burn rates later) call
:func:`open_incident` and :func:`resolve_incident`; both tell every configured
notifier. Notifiers are a registry of name -> class; the only one today
records to the database. Paging (PagerDuty) plugs in
as another notifier.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.models import Incident, IncidentNotification
from alerts.paging import NotifierOptions, PagingNotifier


class Notifier(Protocol):
    name: str

    def notify(self, *, session: Session, incident: Incident, event: str, now: datetime) -> None:
        """Tell someone that ``incident`` was "opened", "acknowledged" or "resolved"."""


class DatabaseNotifier:
    """Records each event as a row: the local outbox the ops page shows."""

    name = "database"

    def __init__(self, options: NotifierOptions | None = None) -> None:
        self.options = options

    def notify(self, *, session: Session, incident: Incident, event: str, now: datetime) -> None:
        session.add(
            IncidentNotification(
                incident_id=incident.id, notifier=self.name, event=event, created_at=now
            )
        )


# Notifier name (SUMMIT_INCIDENT_NOTIFIERS) -> its class.
NOTIFIERS: Final[dict[str, Callable[[NotifierOptions], Notifier]]] = {
    "database": DatabaseNotifier,
    "pagerduty": PagingNotifier,
}


def load_notifiers(names: Iterable[str], options: NotifierOptions | None = None) -> list[Notifier]:
    """Instances of the named notifiers; an unknown name is an error, not a no-op."""
    found: list[Notifier] = []
    for name in names:
        if name not in NOTIFIERS:
            raise ValueError(f"unknown incident notifier {name!r}; known: {sorted(NOTIFIERS)}")
        found.append(NOTIFIERS[name](options or NotifierOptions()))
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
    service: str = "summit",
) -> Incident:
    """Open an incident for ``key``, or return the one already open (idempotent)."""
    existing = current(session=session, key=key)
    if existing is not None:
        return existing
    incident = Incident(
        id=str(uuid.uuid4()), key=key, title=title, status="open", opened_at=now,
        details=details, service=service,
    )  # fmt: skip
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
    *,
    session: Session,
    status: str | None = None,
    key: str | None = None,
    limit: int = 50,
    service: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Incident]:
    """Newest first. ``state``: triggered (open, nobody on it), acknowledged (open,
    someone is) or resolved; ``since``/``until`` bound when it was opened."""
    statement = select(Incident).order_by(Incident.opened_at.desc()).limit(limit)
    if status:
        statement = statement.where(Incident.status == status)
    if key:
        statement = statement.where(Incident.key == key)
    if service:
        statement = statement.where(Incident.service == service)
    if state:
        statement = statement.where(*STATE_FILTERS[state])
    if since:
        statement = statement.where(Incident.opened_at >= since)
    if until:
        statement = statement.where(Incident.opened_at < until)
    return list(session.scalars(statement))


STATES: Final = ("triggered", "acknowledged", "resolved")
STATE_FILTERS: Final[dict[str, tuple[Any, ...]]] = {
    "triggered": (Incident.status == "open", Incident.acknowledged_at.is_(None)),
    "acknowledged": (Incident.status == "open", Incident.acknowledged_at.is_not(None)),
    "resolved": (Incident.status == "resolved",),
}


def state_of(incident: Incident) -> str:
    if incident.status == "resolved":
        return "resolved"
    return "acknowledged" if incident.acknowledged_at is not None else "triggered"


@dataclass(frozen=True)
class ResponseTimes:
    """One service's incidents opened in a period: how fast someone took them
    (MTTA, over those acknowledged) and how fast they ended (MTTR, over those
    resolved), and how many paged someone."""

    service: str
    opened: int
    pages: int
    mtta_seconds: float | None
    mttr_seconds: float | None


def response_times(
    *, session: Session, since: datetime, until: datetime, service: str | None = None
) -> dict[str, ResponseTimes]:
    """Per service, over the incidents opened in [since, until)."""
    statement = select(
        Incident.service, Incident.opened_at, Incident.acknowledged_at, Incident.resolved_at,
        Incident.details,
    ).where(Incident.opened_at >= since, Incident.opened_at < until)  # fmt: skip
    if service:
        statement = statement.where(Incident.service == service)
    grouped: dict[str, list[Any]] = {}
    for row in session.execute(statement):
        grouped.setdefault(row.service, []).append(row)
    return {name: _times(name, rows) for name, rows in sorted(grouped.items())}


def _times(service: str, rows: list[Any]) -> ResponseTimes:
    acked = [(r.acknowledged_at - r.opened_at).total_seconds() for r in rows if r.acknowledged_at]
    done = [(r.resolved_at - r.opened_at).total_seconds() for r in rows if r.resolved_at]
    pages = sum(1 for r in rows if (r.details or {}).get("page") is not False)
    return ResponseTimes(
        service, len(rows), pages,
        sum(acked) / len(acked) if acked else None, sum(done) / len(done) if done else None,
    )  # fmt: skip


def prune_resolved(*, session: Session, before: datetime) -> int:
    """Delete incidents resolved before ``before`` (their notifications go with
    them); open incidents are never pruned. Returns how many."""
    result = session.execute(
        delete(Incident)
        .where(Incident.status == "resolved", Incident.resolved_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
