"""The feedback table: one vote per user, query and entity. Imports no Flask."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.core.tenancy import TenantOwned

UP, DOWN = "up", "down"
VOTES = (UP, DOWN)


def new_id() -> str:
    return str(uuid.uuid4())


class Vote(TenantOwned, Base):
    """A user's thumbs up or down on one search result for one query.

    A second vote on the same (query, entity) replaces the first: the unique
    index is the rule, the service the upsert. ``voted_on`` is the UTC day of
    the latest vote, kept as a column so the daily summary is a plain GROUP BY
    on both databases (no dialect-specific date arithmetic).
    """

    __tablename__ = "feedback_votes"
    __table_args__ = (
        Index(
            "uq_feedback_votes_tenant_voter_query_entity",
            "tenant_id",
            "voter",
            "query",
            "entity_id",
            unique=True,
        ),
        Index("ix_feedback_votes_tenant_day", "tenant_id", "voted_on", "dataset", "vote"),
        Index("ix_feedback_votes_tenant_dataset_day", "tenant_id", "dataset", "voted_on", "vote"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # Purging an entity (governance) takes its votes with it.
    entity_id: Mapped[str] = mapped_column(
        ForeignKey("entities.id", ondelete="CASCADE"), index=True
    )
    query: Mapped[str] = mapped_column(String(256))
    vote: Mapped[str] = mapped_column(String(4))
    dataset: Mapped[str] = mapped_column(String(64))
    voter: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    voted_at: Mapped[datetime]
    voted_on: Mapped[date] = mapped_column(Date)
