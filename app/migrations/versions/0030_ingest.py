"""Ingest: events, the dead-letter queue, connectors, batches and counters.

Revision ID: 0030
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.core.db import JSONType, UTCDateTime

revision = "0030"
down_revision = "0001"
branch_labels = ("ingest",)
depends_on = None

BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SUBJECT_SET = sa.text("subject IS NOT NULL")


def _tenant(table: str) -> sa.Column[int]:
    return sa.Column(
        "tenant_id",
        sa.Integer(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE", name=f"fk_{table}_tenant_id_tenants"),
        nullable=False,
    )


def _events() -> None:
    op.create_table(
        "ingest_events",
        sa.Column("pk", BIG_PK, primary_key=True),
        _tenant("ingest_events"),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(256), nullable=True),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
    )
    op.create_index(
        "uq_ingest_events_tenant_event", "ingest_events", ["tenant_id", "event_id"], unique=True
    )
    op.create_index(
        "ix_ingest_events_tenant_subject",
        "ingest_events",
        ["tenant_id", "subject"],
        sqlite_where=SUBJECT_SET,
        postgresql_where=SUBJECT_SET,
    )


def _dlq() -> None:
    op.create_table(
        "ingest_dlq",
        sa.Column("pk", sa.Integer(), primary_key=True),
        _tenant("ingest_dlq"),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("replayed_at", UTCDateTime(), nullable=True),
        sa.Column("replayed_by", sa.String(64), nullable=True),
        sa.Column("replay_batch_id", sa.String(36), nullable=True),
        sa.UniqueConstraint("id", name="uq_ingest_dlq_id"),
    )
    op.create_index(
        "uq_ingest_dlq_tenant_fingerprint", "ingest_dlq", ["tenant_id", "fingerprint"], unique=True
    )
    op.create_index("ix_ingest_dlq_tenant_status", "ingest_dlq", ["tenant_id", "status", "pk"])


def _connectors() -> None:
    op.create_table(
        "ingest_connectors",
        sa.Column("pk", sa.Integer(), primary_key=True),
        _tenant("ingest_connectors"),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("auto_replay", sa.Boolean(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.Float(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_index(
        "uq_ingest_connectors_tenant_name", "ingest_connectors", ["tenant_id", "name"], unique=True
    )


def _batches_and_counters() -> None:
    op.create_table(
        "ingest_batches",
        sa.Column("pk", sa.Integer(), primary_key=True),
        _tenant("ingest_batches"),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("id", name="uq_ingest_batches_id"),
    )
    op.create_index(
        "uq_ingest_batches_tenant_key",
        "ingest_batches",
        ["tenant_id", "idempotency_key"],
        unique=True,
    )
    op.create_table(
        "ingest_counters",
        sa.Column("pk", sa.Integer(), primary_key=True),
        _tenant("ingest_counters"),
        sa.Column("source", sa.String(128), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in (
                "received",
                "stored",
                "duplicates",
                "dlq",
                "replayed",
                "stored_bytes",
                "batches",
            )
        ),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "uq_ingest_counters_tenant_source", "ingest_counters", ["tenant_id", "source"], unique=True
    )


def upgrade() -> None:
    _events()
    _dlq()
    _connectors()
    _batches_and_counters()


def downgrade() -> None:
    for table in (
        "ingest_counters",
        "ingest_batches",
        "ingest_connectors",
        "ingest_dlq",
        "ingest_events",
    ):
        op.drop_table(table)
