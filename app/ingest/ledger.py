"""The DLQ items and per-source counters a batch writes, in its transaction.

Statements are built once with bound parameters (building one costs more than
running it here) and bind the batch's ``tenant_id``, like the rest of the
bulk path (app.ingest.bulk). Imports no Flask.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func
from sqlalchemy.dialects import postgresql, sqlite

from app.ingest.models import PENDING, DlqItem, IngestCounter
from app.ingest.validate import Invalid


@dataclass
class Counts:
    """Deltas of one source's counters."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dlq: int = 0
    replayed: int = 0
    stored_bytes: int = 0


def fingerprint(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


_DLQ_COLUMNS = (
    "tenant_id",
    "id",
    "source",
    "event_id",
    "reason",
    "detail",
    "raw",
    "fingerprint",
    "size_bytes",
    "attempts",
    "status",
    "batch_id",
    "first_seen_at",
    "last_seen_at",
    "created_by",
)


def _dlq_upsert(insert: Any) -> Any:
    statement = insert(DlqItem).values({name: bindparam(name) for name in _DLQ_COLUMNS})
    return statement.on_conflict_do_update(
        index_elements=["tenant_id", "fingerprint"],
        set_={"attempts": DlqItem.attempts + 1, "last_seen_at": statement.excluded.last_seen_at},
    ).returning(DlqItem.attempts)


# Built once: constructing a statement costs more than running it here.
_DLQ_UPSERT = {"sqlite": _dlq_upsert(sqlite.insert), "postgresql": _dlq_upsert(postgresql.insert)}


def dead_letter(
    conn: Connection,
    *,
    tenant_id: int,
    items: list[tuple[Invalid, str]],
    batch_id: str,
    actor: str,
    now: datetime,
    new_id: Any,
) -> tuple[list[bool], int]:
    """File each (invalid event, source) in the DLQ: a new item, or one more
    attempt of the item with the same raw bytes. Returns which were new, and
    the bytes the new ones store."""
    statement = _DLQ_UPSERT[conn.dialect.name]
    fresh, size = [], 0
    for invalid, source in items:
        params = {
            "tenant_id": tenant_id,
            "id": new_id(),
            "source": source,
            "event_id": invalid.event_id,
            "reason": invalid.reason,
            "detail": invalid.detail,
            "raw": invalid.raw,
            "fingerprint": fingerprint(invalid.raw),
            "size_bytes": len(invalid.raw),
            "attempts": 1,
            "status": PENDING,
            "batch_id": batch_id,
            "first_seen_at": now,
            "last_seen_at": now,
            "created_by": actor,
        }
        is_new = conn.execute(statement, params).scalar_one() == 1
        fresh.append(is_new)
        size += len(invalid.raw) if is_new else 0
    return fresh, size


COUNTER_COLUMNS = ("received", "stored", "duplicates", "dlq", "replayed", "stored_bytes")


def _counter_upsert(insert: Any) -> Any:
    values: dict[str, Any] = {n: bindparam(n) for n in ("tenant_id", "source", *COUNTER_COLUMNS)}
    statement = insert(IngestCounter).values(
        **values, batches=1, last_success_at=bindparam("success_at")
    )
    changes: dict[str, Any] = {
        name: getattr(IngestCounter, name) + getattr(statement.excluded, name)
        for name in COUNTER_COLUMNS
    }
    changes["batches"] = IngestCounter.batches + 1
    changes["last_success_at"] = func.coalesce(
        statement.excluded.last_success_at, IngestCounter.last_success_at
    )
    return statement.on_conflict_do_update(index_elements=["tenant_id", "source"], set_=changes)


_COUNTER_UPSERT = {
    "sqlite": _counter_upsert(sqlite.insert),
    "postgresql": _counter_upsert(postgresql.insert),
}


def bump_counters(
    conn: Connection, *, tenant_id: int, deltas: dict[str, Counts], now: datetime | None
) -> None:
    """Add each source's deltas to its counters (created at zero when new).
    ``now`` marks a success (a batch that stored or replayed something)."""
    statement = _COUNTER_UPSERT[conn.dialect.name]
    for source in sorted(deltas):  # one lock order for every batch
        counts = deltas[source]
        values = {name: getattr(counts, name) for name in COUNTER_COLUMNS}
        conn.execute(
            statement, {"tenant_id": tenant_id, "source": source, "success_at": now, **values}
        )
