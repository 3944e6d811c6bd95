"""DLQ replay: validate again (or take a correction), ingest once, audit. No Flask.

A replay claims each item with a conditional UPDATE (pending -> replayed) in
the same transaction that stores its event, so two replays racing, or a
replay retried after a timeout, ingest an item once: the loser of the claim
skips it, and the event's unique (tenant, id) holds besides. Items are
replayed in chunks paced to ``max_rate`` events per second. Each replay,
dry runs included, is an entry of the tenant's audit chain (governance.audit).
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from app.core.db import Database
from app.core.errors import NotFound
from app.core.metrics import Metrics
from app.core.tenancy import ALL_TENANTS
from app.identity.models import Tenant
from app.ingest import bulk, ledger
from app.ingest.ledger import Counts
from app.ingest.models import PENDING, REPLAYED, Connector, DlqItem, IngestEvent
from app.ingest.service import Limits, Rule, Sender, connector_rules
from app.ingest.validate import Invalid, Valid, check
from governance import audit

CHUNK = 500  # items per transaction: short write locks, a pace the rate limit can steer


@dataclass(frozen=True)
class ReplayRequest:
    ids: list[str] | None = None
    source: str | None = None
    reason: str | None = None
    corrections: dict[str, bytes] = field(default_factory=dict)  # DLQ id -> corrected event
    dry_run: bool = False
    max_rate: float = 1000.0  # events per second
    limit: int = 1000
    max_attempts: int | None = None  # auto-replay: leave items tried this often alone


@dataclass
class ReplayOutcome:
    dry_run: bool
    stored: int = 0
    duplicates: int = 0
    still_invalid: int = 0
    skipped: int = 0  # already replayed: never ingested twice
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Item:
    pk: int
    id: str
    source: str
    status: str
    raw: bytes


def replay(
    *,
    db: Database,
    sender: Sender,
    request: ReplayRequest,
    limits: Limits,
    wait: float,
    clock: Callable[[], datetime],
    metrics: Metrics | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayOutcome:
    """Replay the selected DLQ items of the sender's tenant."""
    items = _select(db, sender.tenant_id, request)
    outcome = ReplayOutcome(dry_run=request.dry_run)
    with db.engine.connect() as conn:
        rules = connector_rules(conn, tenant_id=sender.tenant_id)
    started = time.monotonic()
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        verdicts = [_verdict(item, request, limits, rules) for item in chunk]
        if request.dry_run:
            _dry_run(db, sender.tenant_id, chunk, verdicts, outcome)
        else:
            _write_chunk(db, sender, chunk, verdicts, outcome, wait=wait, now=clock())
        _pace(started, start + len(chunk), request.max_rate, sleep)
    audit_replay(db=db, sender=sender, request=request, outcome=outcome, now=clock())
    if metrics is not None:
        _observe(metrics, sender.tenant, outcome)
    return outcome


def _select(db: Database, tenant_id: int, request: ReplayRequest) -> list[_Item]:
    """The items to replay, through the tenant-scoped session: another tenant's
    ids are simply not found (404)."""
    columns = (DlqItem.pk, DlqItem.id, DlqItem.source, DlqItem.status, DlqItem.raw)
    query = select(*columns).order_by(DlqItem.pk)
    if request.ids is not None:
        query = query.where(DlqItem.id.in_(request.ids))
    else:
        query = query.where(DlqItem.status == PENDING).limit(request.limit)
        if request.source is not None:
            query = query.where(DlqItem.source == request.source)
        if request.reason is not None:
            query = query.where(DlqItem.reason == request.reason)
        if request.max_attempts is not None:
            query = query.where(DlqItem.attempts < request.max_attempts)
    with db.session(tenant_id=tenant_id) as session:
        items = [_Item(*row) for row in session.execute(query)]
    missing = sorted(set(request.ids or ()) - {item.id for item in items})
    if missing:
        raise NotFound(f"no DLQ items {', '.join(missing[:10])} in your tenant; nothing replayed")
    return items


def _verdict(item: _Item, request: ReplayRequest, limits: Limits, rules: dict[str, Rule]) -> Any:
    raw = request.corrections.get(item.id, item.raw)
    verdict = check(0, raw, max_event_bytes=limits.max_event_bytes)
    if isinstance(verdict, Valid):
        rule = rules.get(verdict.source)
        if rule is not None and rule.event_types and verdict.type not in rule.event_types:
            detail = f"type {verdict.type!r} is not one connector {rule.name!r} accepts"
            return Invalid(0, raw, "unknown_type", detail, verdict.source, verdict.event_id)
    return verdict


def _dry_run(
    db: Database, tenant_id: int, chunk: list[_Item], verdicts: list[Any], outcome: ReplayOutcome
) -> None:
    ids = [v.event_id for v in verdicts if isinstance(v, Valid)]
    with db.session(tenant_id=tenant_id) as session:
        stored = set(
            session.scalars(select(IngestEvent.event_id).where(IngestEvent.event_id.in_(ids)))
        )
    seen: set[str] = set()
    for item, verdict in zip(chunk, verdicts, strict=True):
        if item.status != PENDING:
            _note(outcome, item, "skipped")
        elif isinstance(verdict, Invalid):
            _note(outcome, item, "still_invalid", verdict)
        elif verdict.event_id in stored or verdict.event_id in seen:
            _note(outcome, item, "duplicate")
        else:
            seen.add(verdict.event_id)
            _note(outcome, item, "stored")


def _note(outcome: ReplayOutcome, item: _Item, result: str, invalid: Invalid | None = None) -> None:
    attribute = "duplicates" if result == "duplicate" else result
    setattr(outcome, attribute, getattr(outcome, attribute) + 1)
    entry: dict[str, Any] = {"id": item.id, "outcome": result}
    if invalid is not None:
        entry |= {"reason": invalid.reason, "message": invalid.detail}
    outcome.items.append(entry)


def _write_chunk(
    db: Database,
    sender: Sender,
    chunk: list[_Item],
    verdicts: list[Any],
    outcome: ReplayOutcome,
    *,
    wait: float,
    now: datetime,
) -> None:
    batch_id = str(uuid.uuid4())
    with bulk.write_transaction(db, wait=wait) as conn:
        tenant = sender.tenant_id
        valid_pks = [i.pk for i, v in zip(chunk, verdicts, strict=True) if isinstance(v, Valid)]
        claimed = _claim(conn, tenant, valid_pks, sender.actor, batch_id, now)
        pairs = [(i, v) for i, v in zip(chunk, verdicts, strict=True) if i.pk in claimed]
        existing = _existing(conn, tenant, [v.event_id for _i, v in pairs])
        events = _first_of_each_id([v for _i, v in pairs])
        written = bulk.insert_events(
            conn, tenant_id=tenant, events=events, batch_id=batch_id, actor=sender.actor, now=now
        )
        _still_invalid(conn, tenant, chunk, verdicts, now)
        bulk.charge_bytes(conn, tenant_id=tenant, delta=written.stored_bytes)
        deltas = _deltas(pairs, written)
        _results(chunk, verdicts, claimed, existing, outcome)
        row: dict[str, Any] = {
            "id": batch_id,
            "kind": "replay",
            "idempotency_key": None,
            "body_sha256": "",
            "accepted": written.stored,
            "rejected": 0,
            "duplicates": len(pairs) - written.stored,
            "errors": [],
            "received_at": now,
            "created_by": sender.actor,
        }
        bulk.claim_batch(conn, tenant_id=tenant, row=row)
        ledger.bump_counters(
            conn, tenant_id=tenant, deltas=deltas, now=now if written.stored else None
        )


def _claim(
    conn: Connection, tenant_id: int, pks: list[int], actor: str, batch_id: str, now: datetime
) -> set[int]:
    if not pks:
        return set()
    result = conn.execute(
        update(DlqItem)
        .where(DlqItem.tenant_id == tenant_id, DlqItem.pk.in_(pks), DlqItem.status == PENDING)
        .values(
            status=REPLAYED,
            replayed_at=now,
            replayed_by=actor,
            replay_batch_id=batch_id,
            attempts=DlqItem.attempts + 1,
        )
        .returning(DlqItem.pk)
    )
    return set(result.scalars())


def _first_of_each_id(events: list[Valid]) -> list[Valid]:
    seen: dict[str, Valid] = {}
    for event in events:
        seen.setdefault(event.event_id, event)
    return list(seen.values())


def _still_invalid(
    conn: Connection, tenant_id: int, chunk: list[_Item], verdicts: list[Any], now: datetime
) -> None:
    """One more attempt on each item that is still invalid, with today's reason."""
    for item, verdict in zip(chunk, verdicts, strict=True):
        if isinstance(verdict, Invalid) and item.status == PENDING:
            conn.execute(
                update(DlqItem)
                .where(
                    DlqItem.tenant_id == tenant_id, DlqItem.pk == item.pk, DlqItem.status == PENDING
                )
                .values(
                    attempts=DlqItem.attempts + 1,
                    last_seen_at=now,
                    reason=verdict.reason,
                    detail=verdict.detail,
                )
            )


def _deltas(pairs: list[tuple[_Item, Valid]], written: bulk.Written) -> dict[str, Counts]:
    """Counter moves: each claimed item leaves its source's DLQ, and is received
    again under its event's source (the same, unless a correction changed it),
    so every source keeps received = stored + duplicates + dlq."""
    deltas: dict[str, Counts] = defaultdict(Counts)
    for item, event in pairs:
        deltas[item.source].dlq -= 1
        deltas[item.source].received -= 1
        deltas[item.source].replayed += 1
        deltas[event.source].received += 1
        deltas[event.source].duplicates += 1
    for source, counts in written.per_source.items():
        deltas[source].stored += counts.stored
        deltas[source].duplicates -= counts.stored
        deltas[source].stored_bytes += counts.stored_bytes
    return deltas


def _existing(conn: Connection, tenant_id: int, event_ids: list[str]) -> set[str]:
    if not event_ids:
        return set()
    query = select(IngestEvent.event_id).where(
        IngestEvent.tenant_id == tenant_id, IngestEvent.event_id.in_(event_ids)
    )
    return set(conn.execute(query).scalars())


def _results(
    chunk: list[_Item],
    verdicts: list[Any],
    claimed: set[int],
    existing: set[str],
    outcome: ReplayOutcome,
) -> None:
    """Per-item outcomes; ``existing`` are the event ids stored before this chunk."""
    seen = set(existing)
    for item, verdict in zip(chunk, verdicts, strict=True):
        if item.pk in claimed:
            _note(outcome, item, "duplicate" if verdict.event_id in seen else "stored")
            seen.add(verdict.event_id)
        elif isinstance(verdict, Invalid) and item.status == PENDING:
            _note(outcome, item, "still_invalid", verdict)
        else:
            _note(outcome, item, "skipped")


def _pace(started: float, done: int, max_rate: float, sleep: Callable[[float], None]) -> None:
    ahead = done / max_rate - (time.monotonic() - started)
    if ahead > 0:
        sleep(ahead)


def audit_replay(
    *, db: Database, sender: Sender, request: ReplayRequest, outcome: ReplayOutcome, now: datetime
) -> None:
    """Every replay, dry runs included, is an entry of the tenant's tamper-evident
    audit chain (``ingest.dlq_replay``): who, when, what was asked (corrections by
    DLQ id only: their content is the tenant's data, kept with the events), and
    the outcome with each item's."""
    asked = asdict(request) | {"corrections": sorted(request.corrections)}
    payload = {"request": asked, "outcome": asdict(outcome)}
    target = f"dlq:{request.source or '*'}:{request.reason or '*'}"
    with db.session(tenant_id=sender.tenant_id, write=True) as session:
        audit.append(session=session, tenant_id=sender.tenant_id, actor=sender.actor,
                     action=AUDIT_ACTION, target=target, payload=payload, now=now)  # fmt: skip
        session.commit()


AUDIT_ACTION = "ingest.dlq_replay"


def _observe(metrics: Metrics, tenant: str, outcome: ReplayOutcome) -> None:
    for name, count in (
        ("stored", outcome.stored),
        ("duplicate", outcome.duplicates),
        ("invalid", outcome.still_invalid),
    ):
        metrics.ingest_replayed.labels(tenant, name).inc(count)


def auto_replay(
    *,
    db: Database,
    limits: Limits,
    wait: float,
    clock: Callable[[], datetime],
    metrics: Metrics | None = None,
) -> int:
    """The ``ingest-auto-replay`` job: replay the pending items of every connector
    with auto-replay on, each item until it has been tried ``max_attempts``
    times (an item that stays invalid is then left for a person). Returns how
    many events it stored."""
    stored = 0
    for tenant_id, slug, name, max_attempts in _auto_connectors(db):
        request = ReplayRequest(source=name, max_attempts=max_attempts, limit=CHUNK * 2)
        if not _select(db, tenant_id, request):
            continue  # nothing to do: no audit entry for it either
        sender = Sender(tenant_id, slug, AUTO_REPLAY_ACTOR)
        outcome = replay(
            db=db,
            sender=sender,
            request=request,
            limits=limits,
            wait=wait,
            clock=clock,
            metrics=metrics,
        )
        stored += outcome.stored
    return stored


AUTO_REPLAY_ACTOR = "auto-replay"


def _auto_connectors(db: Database) -> list[tuple[int, str, str, int]]:
    query = (
        select(Connector.tenant_id, Tenant.slug, Connector.name, Connector.max_attempts)
        .join(Tenant, Tenant.id == Connector.tenant_id)
        .where(Connector.auto_replay.is_(True))
        .order_by(Connector.pk)
    )
    with db.session(tenant_id=ALL_TENANTS) as session:
        return [(t, s, n, m) for t, s, n, m in session.execute(query)]
