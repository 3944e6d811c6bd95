"""Legal holds: freeze entities (and the edges touching them) until released.
Imports no Flask.

Holds stack: an entity is frozen while any active hold covers it. Placing a
hold locks the entities' rows first, so a purge that runs at the same time
either finishes before the hold (the hold then finds the entity gone) or waits
for it and sees it (see governance.retention).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, DomainError, Invalid, NotFound
from app.core.tenancy import INFO_KEY, SYNTHETIC_DATASET
from app.graph.models import Entity
from governance import audit
from governance.models import HoldEntity, LegalHold

MAX_ENTITIES: Final = 1000


class EntityHeld(DomainError):
    """A legal hold freezes the entity: no update, delete, link or purge."""

    status = 409
    code = "legal_hold"


class HoldReleased(Conflict):
    code = "already_released"


def tenant_id_of(session: Session) -> int:
    tenant_id = session.info.get(INFO_KEY)
    if not isinstance(tenant_id, int):
        raise RuntimeError("governance needs a session scoped to one tenant")
    return tenant_id


def held_ids(*, session: Session, entity_ids: Collection[str]) -> set[str]:
    """Which of these entities an active hold covers (read in the caller's transaction)."""
    if not entity_ids:
        return set()
    rows = session.scalars(
        select(HoldEntity.entity_id)
        .join(LegalHold, LegalHold.id == HoldEntity.hold_id)
        .where(HoldEntity.entity_id.in_(list(entity_ids)), LegalHold.released_at.is_(None))
        .distinct()
    )
    return set(rows)


def ensure_not_held(*, session: Session, entity_ids: Collection[str], doing: str) -> None:
    """Raise EntityHeld when any of the entities is under an active hold.

    Locks the entities' rows first (PostgreSQL), then reads the holds in a new
    statement: a hold being placed holds those locks, so we either wait for it
    and see it, or finish before it starts."""
    session.execute(select(Entity.id).where(Entity.id.in_(list(entity_ids))).with_for_update())
    held = held_ids(session=session, entity_ids=entity_ids)
    if held:
        raise EntityHeld(
            f"entity {sorted(held)[0]} is under legal hold and cannot be {doing}",
            details={"held_entity_ids": sorted(held)},
        )


def record_kinds(*, session: Session, entity_ids: Collection[str]) -> dict[str, str]:
    """Each existing entity's kind for the policy engine: "synthetic" (the probes'
    dataset) or "record". Soft-deleted entities count: they are still stored."""
    rows = session.execute(select(Entity.id, Entity.dataset).where(Entity.id.in_(entity_ids)))
    return {
        entity_id: "synthetic" if dataset == SYNTHETIC_DATASET else "record"
        for entity_id, dataset in rows
    }


def _unique(entity_ids: Collection[str]) -> list[str]:
    ids = list(dict.fromkeys(entity_ids))
    if not ids:
        raise Invalid("name at least one entity", details={"entity_ids": ["empty"]})
    if len(ids) > MAX_ENTITIES:
        raise Invalid(f"at most {MAX_ENTITIES} entities per hold")
    return ids


def _reason(reason: str, field: str = "reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise Invalid(f"a {field} is required", details={field: ["empty"]})
    return text


def lock_entities(*, session: Session, entity_ids: Collection[str]) -> set[str]:
    """Lock the entities' rows (live or soft-deleted) until the transaction ends;
    raise NotFound naming any that this tenant does not have."""
    ids = list(entity_ids)
    found = set(session.scalars(select(Entity.id).where(Entity.id.in_(ids)).with_for_update()))
    missing = [entity_id for entity_id in ids if entity_id not in found]
    if missing:
        raise NotFound(
            f"entity {missing[0]} not found", details={"unknown_entity_ids": missing[:20]}
        )
    return found


def place_hold(
    *,
    session: Session,
    entity_ids: Collection[str],
    reason: str,
    case_id: str | None,
    owner: str,
    now: datetime,
) -> LegalHold:
    ids, text = _unique(entity_ids), _reason(reason)
    lock_entities(session=session, entity_ids=ids)
    hold = LegalHold(reason=text, case_id=case_id, owner=owner, created_at=now)
    session.add(hold)
    session.flush()
    session.add_all(HoldEntity(hold_id=hold.id, entity_id=entity_id) for entity_id in ids)
    audit.append(
        session=session,
        tenant_id=tenant_id_of(session),
        actor=owner,
        action="hold.place",
        target=f"hold:{hold.id}",
        payload={"entity_ids": ids, "case_id": case_id, "reason": text},
        now=now,
    )
    session.flush()
    return hold


def get_hold(*, session: Session, hold_id: str) -> LegalHold:
    hold = session.scalars(select(LegalHold).where(LegalHold.id == hold_id)).one_or_none()
    if hold is None:
        raise NotFound(f"hold {hold_id} not found")
    return hold


def release_hold(
    *, session: Session, hold_id: str, reason: str, actor: str, now: datetime
) -> LegalHold:
    text = _reason(reason)
    hold = get_hold(session=session, hold_id=hold_id)
    if hold.released_at is not None:
        raise HoldReleased(f"hold {hold_id} was already released")
    hold.released_at, hold.released_by, hold.release_reason = now, actor, text
    audit.append(
        session=session,
        tenant_id=tenant_id_of(session),
        actor=actor,
        action="hold.release",
        target=f"hold:{hold.id}",
        payload={"reason": text, "case_id": hold.case_id},
        now=now,
    )
    session.flush()
    return hold


def entities_of(*, session: Session, hold_ids: Collection[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {hold_id: [] for hold_id in hold_ids}
    rows = session.execute(
        select(HoldEntity.hold_id, HoldEntity.entity_id)
        .where(HoldEntity.hold_id.in_(list(hold_ids)))
        .order_by(HoldEntity.hold_id, HoldEntity.entity_id)
    )
    for hold_id, entity_id in rows:
        found[hold_id].append(entity_id)
    return found


def list_holds(*, session: Session, active_only: bool, limit: int = 200) -> list[LegalHold]:
    """Holds, newest first; only the active ones unless ``active_only`` is false."""
    query = select(LegalHold).order_by(LegalHold.created_at.desc(), LegalHold.id).limit(limit)
    if active_only:
        query = query.where(LegalHold.released_at.is_(None))
    return list(session.scalars(query))


def active_count(*, session: Session) -> int:
    query = select(func.count(LegalHold.id)).where(LegalHold.released_at.is_(None))
    return int(session.scalar(query) or 0)


def forget_released(*, session: Session, before: datetime) -> int:
    """Delete holds released before ``before`` (their history stays in the audit
    log): released holds must not pile up without bound."""
    released = LegalHold.released_at
    old = list(session.scalars(select(LegalHold).where(released.is_not(None), released < before)))
    for hold in old:
        session.delete(hold)
    session.flush()
    return len(old)
