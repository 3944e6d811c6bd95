"""Ingest tables: events, the dead-letter queue, connectors, batches and counters.

Every table is tenant-owned: reads go through the tenant-scoped session like
any other. The bulk write path (app.ingest.bulk) writes with Core on an
ALL_TENANTS connection and stamps ``tenant_id`` itself. Imports no Flask.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.core.tenancy import TenantOwned

# SQLite makes only an INTEGER PRIMARY KEY the rowid (the bulk path relies on
# new rows having the highest rowids); PostgreSQL gets 64 bits, as 1M-event
# loads add up.
BigPK = BigInteger().with_variant(Integer(), "sqlite")

PENDING, REPLAYED = "pending", "replayed"


class IngestEvent(TenantOwned, Base):
    """One accepted event, stored once per (tenant, id), with its provenance."""

    __tablename__ = "ingest_events"
    __table_args__ = (
        # The idempotency key: insert-or-ignore counts duplicates against it.
        Index("uq_ingest_events_tenant_event", "tenant_id", "event_id", unique=True),
        # Subject-access exports look events up by subject; most events have
        # none, and a partial index costs their inserts nothing.
        Index(
            "ix_ingest_events_tenant_subject",
            "tenant_id",
            "subject",
            sqlite_where=text("subject IS NOT NULL"),
            postgresql_where=text("subject IS NOT NULL"),
        ),
    )

    pk: Mapped[int] = mapped_column(BigPK, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str | None] = mapped_column(String(256))
    payload: Mapped[dict[str, Any]]
    size_bytes: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class DlqItem(TenantOwned, Base):
    """An invalid event, kept byte for byte with why, where from and how often tried.

    The same raw bytes sent again (a client retry) raise ``attempts`` on the
    same item instead of adding another: ``fingerprint`` is their SHA-256.
    """

    __tablename__ = "ingest_dlq"
    __table_args__ = (
        Index("uq_ingest_dlq_tenant_fingerprint", "tenant_id", "fingerprint", unique=True),
        Index("ix_ingest_dlq_tenant_status", "tenant_id", "status", "pk"),
    )

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    source: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending | replayed
    batch_id: Mapped[str] = mapped_column(String(36))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    replayed_at: Mapped[datetime | None]
    replayed_by: Mapped[str | None] = mapped_column(String(64))
    replay_batch_id: Mapped[str | None] = mapped_column(String(36))


class Connector(TenantOwned, Base):
    """A named source of a tenant: its token bucket, batch size and auto-replay.

    The bucket lives in the row (``tokens`` at ``refilled_at``, epoch seconds)
    and is spent in the batch's own transaction: one budget across every
    worker and host, refunded by the rollback when the batch fails.
    """

    __tablename__ = "ingest_connectors"
    __table_args__ = (Index("uq_ingest_connectors_tenant_name", "tenant_id", "name", unique=True),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    rate: Mapped[float] = mapped_column(Float)  # events per second, sustained
    burst: Mapped[int] = mapped_column(Integer)  # bucket size, in events
    batch_size: Mapped[int] = mapped_column(Integer)  # most events in one request
    event_types: Mapped[list[str]] = mapped_column(JSON)  # allowed types; empty: any
    auto_replay: Mapped[bool] = mapped_column(Boolean)
    max_attempts: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class IngestBatch(TenantOwned, Base):
    """One committed request (or replay), and what it answered.

    A client that retries with the same ``Idempotency-Key`` gets this answer
    again instead of a second ingest: an acknowledgement lost to a crash or a
    timeout costs nothing twice, and the counters stay exact.
    """

    __tablename__ = "ingest_batches"
    __table_args__ = (
        Index("uq_ingest_batches_tenant_key", "tenant_id", "idempotency_key", unique=True),
    )

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # ingest | replay
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    body_sha256: Mapped[str] = mapped_column(String(64))
    accepted: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    received_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class IngestCounter(TenantOwned, Base):
    """Running totals per (tenant, source), changed in each batch's transaction,
    so ``received = stored + duplicates + dlq`` holds at every commit."""

    __tablename__ = "ingest_counters"
    __table_args__ = (
        Index("uq_ingest_counters_tenant_source", "tenant_id", "source", unique=True),
    )

    pk: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    received: Mapped[int] = mapped_column(BigInteger)
    stored: Mapped[int] = mapped_column(BigInteger)
    duplicates: Mapped[int] = mapped_column(BigInteger)
    dlq: Mapped[int] = mapped_column(BigInteger)  # in the DLQ now (not yet replayed)
    replayed: Mapped[int] = mapped_column(BigInteger)  # left the DLQ by a replay
    stored_bytes: Mapped[int] = mapped_column(BigInteger)
    batches: Mapped[int] = mapped_column(BigInteger)
    last_success_at: Mapped[datetime | None]
