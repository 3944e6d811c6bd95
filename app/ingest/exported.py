"""Ingested events in a subject-access export: one more record source for
governance.export, registered when the ingest feature is loaded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from app.ingest.service import events_for_subject
from governance.export import RecordSource, register


def _event_rows(session: Session, subject: str) -> Iterator[dict[str, Any]]:
    for event in events_for_subject(session=session, subject=subject):
        yield {
            "id": event.event_id, "type": event.type, "ts": event.ts, "subject": event.subject,
            "payload": event.payload,
            "provenance": {
                "source": event.source, "ingested_at": event.received_at,
                "event_id": event.event_id, "created_by": event.created_by,
                "updated_by": event.created_by, "updated_at": event.received_at,
            },
        }  # fmt: skip


EVENTS = register(
    RecordSource(
        "events",
        "events naming the subject, as connectors sent them (payloads kept verbatim)",
        ("id", "type", "ts", "subject", "payload"),
        _event_rows,
    )
)
