"""Paging: the outbox of PagerDuty events, and the service an incident belongs to.

Revision ID: 0060
Revises: 0001
Depends on: 0003 (incidents)
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.core.db import JSONType, UTCDateTime

revision = "0060"
down_revision = "0001"
branch_labels = ("paging",)
depends_on = "0003"


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("service", sa.String(64), nullable=False, server_default="summit"),
    )
    op.create_index("ix_incidents_service_opened_at", "incidents", ["service", "opened_at"])
    op.create_table(
        "page_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "incident_id",
            sa.String(36),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("body", JSONType, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("held_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_page_events_incident_id", "page_events", ["incident_id"])
    op.create_index("ix_page_events_state_id", "page_events", ["state", "id"])
    op.create_index("ix_page_events_key_id_sent_at", "page_events", ["key_id", "sent_at"])


def downgrade() -> None:
    op.drop_table("page_events")
    op.drop_index("ix_incidents_service_opened_at", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("service")
