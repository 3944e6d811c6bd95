"""Route decisions that allowed, counted per minute (the decision log, bounded).

Revision ID: 0050
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.core.db import UTCDateTime

revision = "0050"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_decision_counts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey(
                "tenants.id",
                ondelete="CASCADE",
                name="fk_policy_decision_counts_tenant_id_tenants",
            ),
            nullable=True,
        ),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("principal_role", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_policy_decision_counts_minute", "policy_decision_counts", ["minute"])
    op.create_index(
        "ix_policy_decision_counts_tenant_minute", "policy_decision_counts", ["tenant_id", "minute"]
    )


def downgrade() -> None:
    op.drop_table("policy_decision_counts")
