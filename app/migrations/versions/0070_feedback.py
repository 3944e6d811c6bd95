"""Feedback: thumbs up or down on search results (one vote per user, query and entity).

Revision ID: 0070
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.core.db import UTCDateTime

revision = "0070"
down_revision = "0001"
branch_labels = ("feedback",)
# Its foreign keys point at tenants and entities, both created by 0001 (its parent).
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_votes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey(
                "tenants.id", ondelete="CASCADE", name="fk_feedback_votes_tenant_id_tenants"
            ),
            nullable=False,
        ),
        sa.Column(
            "entity_id",
            sa.String(36),
            sa.ForeignKey(
                "entities.id", ondelete="CASCADE", name="fk_feedback_votes_entity_id_entities"
            ),
            nullable=False,
        ),
        sa.Column("query", sa.String(256), nullable=False),
        sa.Column("vote", sa.String(4), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("voter", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("voted_at", UTCDateTime(), nullable=False),
        sa.Column("voted_on", sa.Date(), nullable=False),
    )
    op.create_index(
        "uq_feedback_votes_tenant_voter_query_entity",
        "feedback_votes",
        ["tenant_id", "voter", "query", "entity_id"],
        unique=True,
    )
    op.create_index(
        "ix_feedback_votes_tenant_day",
        "feedback_votes",
        ["tenant_id", "voted_on", "dataset", "vote"],
    )
    op.create_index(
        "ix_feedback_votes_tenant_dataset_day",
        "feedback_votes",
        ["tenant_id", "dataset", "voted_on", "vote"],
    )
    # The foreign key's cascade (an entity purged) looks votes up by entity.
    op.create_index("ix_feedback_votes_entity_id", "feedback_votes", ["entity_id"])


def downgrade() -> None:
    op.drop_table("feedback_votes")
