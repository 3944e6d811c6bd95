"""Quotas: limits, usage and cache generation, changes, rejections, jobs.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.core.db import JSONType, UTCDateTime

revision = "0004"
down_revision = "0001"
branch_labels = ("quotas",)
depends_on = None


def _tenant(table: str, *, primary_key: bool = False) -> sa.Column[int]:
    return sa.Column(
        "tenant_id",
        sa.Integer(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE", name=f"fk_{table}_tenant_id_tenants"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "tenant_quotas",
        _tenant("tenant_quotas", primary_key=True),
        sa.Column("qps", sa.Integer(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("concurrent_jobs", sa.Integer(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "tenant_usage",
        _tenant("tenant_usage", primary_key=True),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "quota_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant("quota_changes"),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("old", JSONType, nullable=False),
        sa.Column("new", JSONType, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_quota_changes_tenant_at", "quota_changes", ["tenant_id", "at"])
    op.create_table(
        "quota_rejections",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant("quota_rejections"),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("route", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_quota_rejections_tenant_minute", "quota_rejections", ["tenant_id", "minute"]
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant("jobs"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_jobs_tenant_status", "jobs", ["tenant_id", "status"])


def downgrade() -> None:
    for table in ("jobs", "quota_rejections", "quota_changes", "tenant_usage", "tenant_quotas"):
        op.drop_table(table)
