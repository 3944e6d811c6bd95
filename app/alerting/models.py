"""Request statistics per minute: what the control plane computes SLO status
from when no Prometheus is configured. Platform rows (no tenant)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class RequestMinute(Base):
    """How many requests of one kind a worker answered in one minute.

    ``minute`` is minutes since the Unix epoch (UTC): integer arithmetic groups
    it into chart steps the same way on SQLite and PostgreSQL. ``bucket`` is the
    index of the smallest latency bucket (``app.core.metrics.LATENCY_BUCKETS``)
    the request fitted in, ``len(LATENCY_BUCKETS)`` for slower ones, so "within
    300 ms" is ``bucket <= index(0.3)``. Several workers each write their own
    row for a minute; readers add them up.
    """

    __tablename__ = "request_minutes"
    __table_args__ = (Index("ix_request_minutes_minute", "minute"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger)
    route: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(8))
    traffic: Mapped[str] = mapped_column(String(16))
    status: Mapped[int] = mapped_column(SmallInteger)
    bucket: Mapped[int] = mapped_column(SmallInteger)
    count: Mapped[int] = mapped_column(Integer)
