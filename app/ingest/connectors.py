"""A tenant's connectors: named sources with a token bucket, a batch size, the
event types they may send and their auto-replay. No Flask."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import DomainError
from app.ingest.models import Connector, IngestCounter


class ConnectorInvalid(DomainError):
    code = "validation_error"


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    rate: float  # events per second, sustained
    burst: int  # events the bucket holds
    batch_size: int  # most events of this connector in one request
    event_types: tuple[str, ...] = ()  # empty: any type
    auto_replay: bool = False
    max_attempts: int = 3


def put_connector(
    *, session: Session, name: str, spec: ConnectorSpec, actor: str, now: datetime
) -> Connector:
    """Create or change the session's tenant's connector ``name``. A changed
    bucket starts full, like a new one."""
    if spec.batch_size > spec.burst:
        raise ConnectorInvalid(
            f"batch_size ({spec.batch_size}) is larger than burst ({spec.burst}): "
            "such a batch could never pass the token bucket"
        )
    row = session.scalars(select(Connector).where(Connector.name == name)).one_or_none()
    if row is None:
        row = Connector(name=name, created_at=now)
        session.add(row)
    row.rate, row.burst, row.batch_size = spec.rate, spec.burst, spec.batch_size
    row.event_types = sorted(set(spec.event_types))
    row.auto_replay, row.max_attempts = spec.auto_replay, spec.max_attempts
    row.tokens, row.refilled_at = float(spec.burst), time.time()
    row.updated_at, row.updated_by = now, actor
    session.flush()
    return row


def list_connectors(*, session: Session) -> list[tuple[Connector, IngestCounter | None]]:
    """The session's tenant's connectors by name, each with its counters."""
    query = (
        select(Connector, IngestCounter)
        .outerjoin(
            IngestCounter,
            (IngestCounter.tenant_id == Connector.tenant_id)
            & (IngestCounter.source == Connector.name),
        )
        .order_by(Connector.name)
    )
    return [(connector, counter) for connector, counter in session.execute(query)]
