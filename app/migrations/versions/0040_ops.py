"""Ops: run-now requests, each job's last run, and who acknowledged or resolved
an incident.

Revision ID: 0040
Revises: 0001
Depends on: 0003 (incidents)
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.core.db import UTCDateTime

revision = "0040"
down_revision = "0001"
branch_labels = ("ops",)
depends_on = "0003"


def upgrade() -> None:
    op.create_table(
        "probe_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("probe", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_probe_requests_probe_requested_at", "probe_requests", ["probe", "requested_at"]
    )
    op.create_table(
        "job_status",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.add_column("incidents", sa.Column("acknowledged_at", UTCDateTime(), nullable=True))
    op.add_column("incidents", sa.Column("acknowledged_by", sa.String(128), nullable=True))
    op.add_column("incidents", sa.Column("resolved_by", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for column in ("resolved_by", "acknowledged_by", "acknowledged_at"):
            batch.drop_column(column)
    op.drop_table("job_status")
    op.drop_table("probe_requests")
