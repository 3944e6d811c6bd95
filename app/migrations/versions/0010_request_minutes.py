"""Alerting: request statistics per minute (SLO status without Prometheus).

Revision ID: 0010
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0001"
branch_labels = ("alerting",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_minutes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("route", sa.String(128), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("traffic", sa.String(16), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_request_minutes_minute", "request_minutes", ["minute"])


def downgrade() -> None:
    op.drop_table("request_minutes")
