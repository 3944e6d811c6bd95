"""Leases: "exactly one of us does this" across workers and hosts. Imports no Flask.

A lease is held while now < expires_at. It is a row claimed with a conditional
UPDATE (habit 7): it succeeds only for the current holder (a renewal) or when
the lease has expired (a takeover),
and the rowcount says which process won. The same SQL works on SQLite and
PostgreSQL and needs no connection held open; a holder that dies or hangs
loses the lease when it expires. Holders' clocks must agree to well within the
lease length (NTP gives milliseconds; leases are tens of seconds).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, String, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.db import Base


class Lease(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


def new_holder() -> str:
    """Unique per process and instance, readable in the ops page: host:pid:nonce."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(*, session: Session, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew lease ``name`` for ``ttl``; True when ``holder`` holds it now.

    Run it in a write transaction (SQLite: BEGIN IMMEDIATE) and commit after.
    """
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
            .values(
                holder=holder,
                expires_at=now + ttl,
                acquired_at=case((Lease.holder == holder, Lease.acquired_at), else_=now),
            )
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount == 1:
        return True
    if session.get(Lease, name) is not None:
        return False  # held by someone else, and not expired
    try:
        with session.begin_nested():
            session.execute(
                insert(Lease).values(
                    name=name, holder=holder, acquired_at=now, expires_at=now + ttl
                )
            )
    except IntegrityError:
        return False  # another process inserted it first
    return True


def release(*, session: Session, name: str, holder: str, now: datetime) -> None:
    """Give the lease up at once (clean shutdown), so a standby need not wait it out."""
    session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


def holder_of(*, session: Session, name: str, now: datetime) -> str | None:
    row = session.execute(select(Lease.holder, Lease.expires_at).where(Lease.name == name)).first()
    return row.holder if row is not None and row.expires_at > now else None
