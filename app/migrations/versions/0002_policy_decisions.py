"""The policy decision log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.core.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = ("policy",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey(
                "tenants.id", ondelete="CASCADE", name="fk_policy_decisions_tenant_id_tenants"
            ),
            nullable=True,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("principal_id", sa.String(128), nullable=False),
        sa.Column("principal_role", sa.String(16), nullable=False),
        sa.Column("principal_tenant", sa.String(64), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(128), nullable=False),
        sa.Column("resource_tenant", sa.String(64), nullable=True),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("elapsed_ms", sa.Float(), nullable=False),
    )
    op.create_index("ix_policy_decisions_at", "policy_decisions", ["at"])
    op.create_index("ix_policy_decisions_tenant_at", "policy_decisions", ["tenant_id", "at", "id"])


def downgrade() -> None:
    op.drop_table("policy_decisions")
