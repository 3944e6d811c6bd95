"""Probes: runs, incidents and their notifications, and the scheduler's lease.

(APScheduler creates its own job table, ``apscheduler_jobs``, when it first
starts: its shape is APScheduler's, not ours.)

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.core.db import JSONType, UTCDateTime

revision = "0003"
down_revision = "0001"
branch_labels = ("probes",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probe_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("probe", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("steps", JSONType, nullable=False),
        sa.Column("failed_step", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("artifacts", JSONType, nullable=False),
    )
    op.create_index("ix_probe_runs_probe_started_at", "probe_runs", ["probe", "started_at"])
    _incidents()
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )


def _incidents() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("details", JSONType, nullable=False),
    )
    op.create_index(
        "uq_incidents_open_key",
        "incidents",
        ["key"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_incidents_key_opened_at", "incidents", ["key", "opened_at"])
    op.create_table(
        "incident_notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "incident_id",
            sa.String(36),
            sa.ForeignKey(
                "incidents.id",
                ondelete="CASCADE",
                name="fk_incident_notifications_incident_id_incidents",
            ),
            nullable=False,
        ),
        sa.Column("notifier", sa.String(32), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_incident_notifications_incident_id", "incident_notifications", ["incident_id"]
    )


def downgrade() -> None:
    for table in ("leases", "incident_notifications", "incidents", "probe_runs"):
        op.drop_table(table)
