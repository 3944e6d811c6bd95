"""Ingest: take a batch exactly once, count it exactly, and read it back. No Flask.

``ingest_batch`` is the write: parse, apply the connectors' rules, then one
transaction in app.ingest.bulk. Reads (stats, the DLQ, connectors, a
subject's events) go through tenant-scoped sessions like any other read.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from app.core.db import Database
from app.core.errors import DomainError
from app.core.metrics import Metrics
from app.ingest import bulk, ledger
from app.ingest.ledger import Counts
from app.ingest.models import PENDING, Connector, DlqItem, IngestBatch, IngestCounter, IngestEvent
from app.ingest.validate import Invalid, Valid, parse

UNKNOWN_SOURCE = "-"  # an event too broken to name its source, sent without ?source=
OTHER = "other"  # the metric label of sources that are not configured connectors
MAX_ERRORS = 100  # invalid events described in one answer (all of them are in the DLQ)


class BatchTooLarge(DomainError):
    status = 413
    code = "batch_too_large"


class KeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class Limits:
    max_batch: int
    max_event_bytes: int


@dataclass(frozen=True, slots=True)
class Sender:
    tenant_id: int
    tenant: str  # slug, for metrics
    actor: str


@dataclass
class BatchResult:
    batch_id: str
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    replayed: bool = False  # the answer to an earlier request with the same key
    connectors: frozenset[str] = frozenset()  # the tenant's, for metric labels
    per_source: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))


@dataclass(frozen=True, slots=True)
class Rule:
    """A connector's rules, as read before the batch's transaction."""

    name: str
    batch_size: int
    event_types: frozenset[str]


def connector_rules(conn: Connection, *, tenant_id: int) -> dict[str, Rule]:
    rows = conn.execute(
        select(Connector.name, Connector.batch_size, Connector.event_types).where(
            Connector.tenant_id == tenant_id
        )
    )
    return {name: Rule(name, size, frozenset(types or ())) for name, size, types in rows}


def ingest_batch(
    *,
    db: Database,
    sender: Sender,
    body: bytes,
    key: str | None,
    default_source: str | None,
    limits: Limits,
    wait: float,
    now: datetime,
) -> BatchResult:
    """Ingest one request's events; returns what to answer. Raises before writing
    anything when the batch is refused (too large, throttled, saturated, over quota)."""
    verdicts = parse(body, max_event_bytes=limits.max_event_bytes)
    if len(verdicts) > limits.max_batch:
        raise BatchTooLarge(f"{len(verdicts)} events in one batch; at most {limits.max_batch}")
    with db.engine.connect() as conn:
        rules = connector_rules(conn, tenant_id=sender.tenant_id)
    valid, invalid = _apply_rules(verdicts, rules, default_source or UNKNOWN_SOURCE)
    result = BatchResult(batch_id=str(uuid.uuid4()), connectors=frozenset(rules))
    fresh, repeats = _dedupe(valid, result)
    digest = hashlib.sha256(body).hexdigest() if key else ""
    with bulk.write_transaction(db, wait=wait) as conn:
        row = _batch_row(result.batch_id, key, digest, sender.actor, now)
        if not bulk.claim_batch(conn, tenant_id=sender.tenant_id, row=row):
            return _earlier_answer(conn, sender.tenant_id, key, digest)
        wanted = _events_per_connector(valid, invalid, rules)
        bulk.spend_tokens(conn, tenant_id=sender.tenant_id, wanted=wanted, now=time.time())
        written = bulk.insert_events(
            conn,
            tenant_id=sender.tenant_id,
            events=fresh,
            batch_id=result.batch_id,
            actor=sender.actor,
            now=now,
        )
        new_items, dlq_bytes = ledger.dead_letter(
            conn,
            tenant_id=sender.tenant_id,
            items=invalid,
            batch_id=result.batch_id,
            actor=sender.actor,
            now=now,
            new_id=lambda: str(uuid.uuid4()),
        )
        bulk.charge_bytes(conn, tenant_id=sender.tenant_id, delta=written.stored_bytes + dlq_bytes)
        _count(result, valid, fresh, repeats, invalid, new_items, written)
        bulk.finish_batch(
            conn,
            tenant_id=sender.tenant_id,
            batch_id=result.batch_id,
            accepted=result.accepted,
            rejected=result.rejected,
            duplicates=result.duplicates,
            errors=result.errors,
        )
        ledger.bump_counters(conn, tenant_id=sender.tenant_id, deltas=result.per_source, now=now)
    return result


def _apply_rules(
    verdicts: list[Valid | Invalid], rules: dict[str, Rule], fallback: str
) -> tuple[list[Valid], list[tuple[Invalid, str]]]:
    """Split into valid events and (invalid event, source); refuse a batch larger
    than a connector allows; events of a type a connector does not list are invalid."""
    valid: list[Valid] = []
    invalid: list[tuple[Invalid, str]] = []
    for verdict in verdicts:
        if isinstance(verdict, Invalid):
            invalid.append((verdict, verdict.source or fallback))
            continue
        rule = rules.get(verdict.source)
        if rule is not None and rule.event_types and verdict.type not in rule.event_types:
            detail = f"type {verdict.type!r} is not one connector {rule.name!r} accepts"
            invalid.append((_unknown_type(verdict, detail), verdict.source))
            continue
        valid.append(verdict)
    _check_batch_sizes(valid, invalid, rules)
    invalid.sort(key=lambda pair: pair[0].position)
    return valid, invalid


def _unknown_type(event: Valid, detail: str) -> Invalid:
    return Invalid(event.position, event.raw, "unknown_type", detail, event.source, event.event_id)


def _check_batch_sizes(
    valid: list[Valid], invalid: list[tuple[Invalid, str]], rules: dict[str, Rule]
) -> None:
    for name, count in _events_per_connector(valid, invalid, rules).items():
        if count > rules[name].batch_size:
            raise BatchTooLarge(
                f"{count} events of connector {name!r} in one batch; "
                f"its batch size is {rules[name].batch_size}"
            )


def _events_per_connector(
    valid: list[Valid], invalid: list[tuple[Invalid, str]], rules: dict[str, Rule]
) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for event in valid:
        if event.source in rules:
            counts[event.source] += 1
    for _item, source in invalid:
        if source in rules:
            counts[source] += 1
    return dict(counts)


def _dedupe(valid: list[Valid], result: BatchResult) -> tuple[list[Valid], list[Valid]]:
    """The first event of each id, and the repeats of an id within this batch."""
    seen: set[str] = set()
    fresh, repeats = [], []
    for event in valid:
        if event.event_id in seen:
            repeats.append(event)
        else:
            seen.add(event.event_id)
            fresh.append(event)
    return fresh, repeats


def _count(
    result: BatchResult,
    valid: list[Valid],
    fresh: list[Valid],
    repeats: list[Valid],
    invalid: list[tuple[Invalid, str]],
    new_items: list[bool],
    written: bulk.Written,
) -> None:
    per = result.per_source
    for event in valid:
        per[event.source].received += 1
    for event in fresh:  # each fresh event was stored or was already there
        per[event.source].duplicates += 1
    for source, counts in written.per_source.items():
        per[source].stored += counts.stored
        per[source].duplicates -= counts.stored
        per[source].stored_bytes += counts.stored_bytes
    for event in repeats:
        per[event.source].duplicates += 1
    for (item, source), is_new in zip(invalid, new_items, strict=True):
        per[source].received += 1
        if is_new:
            per[source].dlq += 1
        else:
            per[source].duplicates += 1  # the same invalid bytes again: one more attempt
        if len(result.errors) < MAX_ERRORS:
            result.errors.append(
                {
                    "index": item.position,
                    "id": item.event_id,
                    "reason": item.reason,
                    "message": item.detail,
                }
            )
    result.accepted = written.stored
    result.rejected = sum(new_items)
    result.duplicates = sum(c.duplicates for c in per.values())


def _batch_row(
    batch_id: str, key: str | None, digest: str, actor: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": batch_id,
        "kind": "ingest",
        "idempotency_key": key,
        "body_sha256": digest,
        "accepted": 0,
        "rejected": 0,
        "duplicates": 0,
        "errors": [],
        "received_at": now,
        "created_by": actor,
    }


def _earlier_answer(conn: Connection, tenant_id: int, key: str | None, digest: str) -> BatchResult:
    row = conn.execute(
        select(IngestBatch).where(
            IngestBatch.tenant_id == tenant_id, IngestBatch.idempotency_key == key
        )
    ).one()
    if row.body_sha256 != digest:
        raise KeyReused(
            f"Idempotency-Key {key!r} was used for a different body; use a new key per batch"
        )
    return BatchResult(
        batch_id=row.id,
        accepted=row.accepted,
        rejected=row.rejected,
        duplicates=row.duplicates,
        errors=list(row.errors),
        replayed=True,
    )


def observe(metrics: Metrics, *, tenant: str, result: BatchResult, seconds: float) -> None:
    """Per-connector metrics of a committed batch."""
    if result.replayed:
        return
    stamp = time.time()
    for source, counts in result.per_source.items():
        label = source if source in result.connectors else OTHER
        events = metrics.ingest_events
        events.labels(tenant, label, "stored").inc(counts.stored)
        events.labels(tenant, label, "duplicate").inc(counts.duplicates)
        events.labels(tenant, label, "dlq").inc(counts.dlq)
        metrics.ingest_batch_seconds.labels(tenant, label).observe(seconds)
        if counts.stored:
            metrics.ingest_last_success.labels(tenant, label).set(stamp)


# ---- reads: tenant-scoped sessions ----------------------------------------------


COUNTER_FIELDS = ("received", "stored", "duplicates", "dlq", "replayed", "stored_bytes", "batches")


def stats(*, session: Session, source: str | None, verify: bool) -> dict[str, Any]:
    """The tenant's counters (or one source's), and whether they balance:
    received = stored + duplicates + dlq. ``verify`` also counts the rows."""
    query = select(*(func.coalesce(func.sum(getattr(IngestCounter, f)), 0) for f in COUNTER_FIELDS))
    if source is not None:
        query = query.where(IngestCounter.source == source)
    totals = dict(zip(COUNTER_FIELDS, (int(v) for v in session.execute(query).one()), strict=True))
    out: dict[str, Any] = {"source": source, **totals}
    out["balanced"] = totals["received"] == totals["stored"] + totals["duplicates"] + totals["dlq"]
    if verify:
        out["rows"] = _row_counts(session, source)
        out["balanced"] = out["balanced"] and out["rows"] == {
            "events": totals["stored"],
            "dlq_pending": totals["dlq"],
        }
    return out


def _row_counts(session: Session, source: str | None) -> dict[str, int]:
    events = select(func.count()).select_from(IngestEvent)
    pending = select(func.count()).select_from(DlqItem).where(DlqItem.status == PENDING)
    if source is not None:
        events = events.where(IngestEvent.source == source)
        pending = pending.where(DlqItem.source == source)
    return {"events": session.scalar(events) or 0, "dlq_pending": session.scalar(pending) or 0}


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event with its provenance, for a subject-access export."""

    event_id: str
    type: str
    ts: datetime
    source: str
    subject: str
    payload: dict[str, Any]
    received_at: datetime
    batch_id: str
    created_by: str


def events_for_subject(*, session: Session, subject: str) -> Iterator[EventRecord]:
    """Every event of the session's tenant whose ``payload.subject`` is ``subject``,
    oldest first, streamed (the index on (tenant, subject) finds them)."""
    query = (
        select(IngestEvent)
        .where(IngestEvent.subject == subject)
        .order_by(IngestEvent.pk)
        .execution_options(yield_per=500)
    )
    for event in session.scalars(query):
        yield EventRecord(
            event.event_id,
            event.type,
            event.ts,
            event.source,
            subject,
            event.payload,
            event.received_at,
            event.batch_id,
            event.created_by,
        )
