"""Retention and purge. Imports no Flask.

A tenant keeps a soft-deleted entity for its retention period (days, counted
from the deletion), then the purge hard-deletes it with its edges, in batches.
One worker at a time purges a tenant: it claims the tenant with a conditional
UPDATE of the tenant's retention row and renews the claim each batch (STYLE
habit 7). Inside each batch's transaction it locks the candidate rows, then
reads the holds in a new statement: a hold placed meanwhile either finished
first (and is seen) or waits for our locks (and then finds the entity gone).
A legal hold freezes an entity and the edges touching it, so an entity linked
to a held one is kept too. Whether an entity may go is the policy engine's
answer (``decide``, asked with the legal-hold facts), never a check of ours.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from app.core.db import Database
from app.core.errors import Conflict, Invalid
from app.core.tenancy import SYNTHETIC_DATASET
from app.graph.models import Edge, Entity
from app.graph.service import edge_bytes, entity_bytes
from app.quotas.service import charge
from governance import audit
from governance.holds import held_ids, lock_entities, tenant_id_of
from governance.models import RetentionChange, RetentionPolicy

MIN_DAYS, MAX_DAYS = 1, 36500
CLAIM = timedelta(minutes=5)  # a purge worker that dies frees its tenant after this


@dataclass(frozen=True)
class PurgeFacts:
    """What the policy engine is told about one entity to purge."""

    legal_hold: bool
    kind: str  # "record" | "synthetic"


Decide = Callable[[PurgeFacts], bool]


class PurgeInProgress(Conflict):
    code = "purge_in_progress"


@dataclass
class PurgeOutcome:
    purged: int = 0
    edges: int = 0
    held: int = 0
    refused: str | None = None  # the error code when nothing was purged on purpose
    message: str = ""
    entity_ids: list[str] = field(default_factory=list)


# --- the tenant's retention -------------------------------------------------------------


def policy(*, session: Session, default_days: int, now: datetime) -> RetentionPolicy:
    """The tenant's retention row, made with the default when it has none."""
    row = session.scalars(select(RetentionPolicy)).one_or_none()
    if row is None:
        row = RetentionPolicy(days=default_days, updated_at=now, updated_by="defaults")
        session.add(row)
        session.flush()
    return row


def days_for(*, session: Session, default_days: int) -> int:
    """The tenant's retention in days (read only: makes no row)."""
    days = session.scalar(select(RetentionPolicy.days))
    return default_days if days is None else int(days)


def current(*, session: Session, default_days: int) -> dict[str, Any]:
    """The tenant's retention and its recent changes (read only: makes no row)."""
    row = session.scalars(select(RetentionPolicy)).one_or_none()
    return {
        "days": default_days if row is None else row.days,
        "updated_at": None if row is None else row.updated_at,
        "updated_by": "defaults" if row is None else row.updated_by,
        "changes": changes(session=session),
    }


def changes(*, session: Session, limit: int = 20) -> list[RetentionChange]:
    query = select(RetentionChange).order_by(RetentionChange.id.desc()).limit(limit)
    return list(session.scalars(query))


def set_retention(
    *, session: Session, days: int, reason: str, actor: str, default_days: int, now: datetime
) -> RetentionPolicy:
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise Invalid(f"retention must be {MIN_DAYS} to {MAX_DAYS} days", details={"days": [days]})
    row = policy(session=session, default_days=default_days, now=now)
    text = reason.strip() or "(no reason given)"
    session.add(
        RetentionChange(at=now, changed_by=actor, old_days=row.days, new_days=days, reason=text)
    )
    audit.append(
        session=session,
        tenant_id=tenant_id_of(session),
        actor=actor,
        action="retention.change",
        target="retention",
        payload={"old_days": row.days, "new_days": days, "reason": text},
        now=now,
    )
    row.days, row.updated_at, row.updated_by = days, now, actor
    session.flush()
    return row


# --- claiming a tenant's purge ----------------------------------------------------------


def claim(*, session: Session, holder: str, now: datetime, default_days: int) -> bool:
    """Take (or renew) the tenant's purge for ``holder``; False when another holds it."""
    policy(session=session, default_days=default_days, now=now)
    row = RetentionPolicy
    result = session.execute(
        update(row)
        .where(
            or_(
                row.purge_holder.is_(None),
                row.purge_holder == holder,
                row.purge_claimed_until < now,
            )
        )
        .values(purge_holder=holder, purge_claimed_until=now + CLAIM)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def release(*, session: Session, holder: str) -> None:
    session.execute(
        update(RetentionPolicy)
        .where(RetentionPolicy.purge_holder == holder)
        .values(purge_holder=None, purge_claimed_until=None)
        .execution_options(synchronize_session=False)
    )


# --- deciding and deleting --------------------------------------------------------------


def _frozen(session: Session, entity_ids: Sequence[str]) -> set[str]:
    """The entities a hold freezes: held themselves, or linked to a held entity."""
    links = session.execute(
        select(Edge.source_id, Edge.target_id).where(
            or_(Edge.source_id.in_(entity_ids), Edge.target_id.in_(entity_ids))
        )
    ).all()
    held = held_ids(session=session, entity_ids={*entity_ids, *(x for link in links for x in link)})
    frozen = {entity_id for entity_id in entity_ids if entity_id in held}
    for source, target in links:
        if source in held or target in held:
            frozen.update({source, target} & set(entity_ids))
    return frozen


def _allowed(
    kinds: dict[str, str], frozen: set[str], decide: Decide
) -> tuple[list[str], list[str]]:
    """(may go, may not) per the policy engine, asked once per distinct facts."""
    answers: dict[PurgeFacts, bool] = {}
    go: list[str] = []
    stay: list[str] = []
    for entity_id, kind in kinds.items():
        facts = PurgeFacts(legal_hold=entity_id in frozen, kind=kind)
        if facts not in answers:
            answers[facts] = decide(facts)
        (go if answers[facts] else stay).append(entity_id)
    return go, stay


def _delete(session: Session, entity_ids: Sequence[str]) -> tuple[int, int]:
    """Hard-delete soft-deleted entities and their edges; gives their bytes back
    to the tenant's storage quota. Returns (entities, edges) deleted."""
    if not entity_ids:
        return 0, 0
    edges = session.execute(
        delete(Edge)
        .where(or_(Edge.source_id.in_(entity_ids), Edge.target_id.in_(entity_ids)))
        .returning(Edge.source_id, Edge.target_id, Edge.kind, Edge.attributes)
        .execution_options(synchronize_session=False)
    ).all()
    gone = session.execute(
        delete(Entity)
        .where(Entity.id.in_(entity_ids), Entity.deleted_at.is_not(None))
        .returning(Entity.kind, Entity.name, Entity.dataset, Entity.attributes, Entity.subject)
        .execution_options(synchronize_session=False)
    ).all()
    freed = sum(edge_bytes(*row) for row in edges) + sum(entity_bytes(*row) for row in gone)
    charge(session=session, delta=-freed)
    return len(gone), len(edges)


def _kinds(rows: Sequence[Any]) -> dict[str, str]:
    return {r.id: "synthetic" if r.dataset == SYNTHETIC_DATASET else "record" for r in rows}


# --- explicit purge ---------------------------------------------------------------------


def purge_entities(
    *, session: Session, entity_ids: Collection[str], actor: str, decide: Decide, now: datetime
) -> PurgeOutcome:
    """Purge exactly these soft-deleted entities, or none of them: when any is
    held (or linked to a held one) the outcome is refused with ``legal_hold``.
    Every outcome is written to the audit log; unknown ids raise NotFound."""
    ids = list(dict.fromkeys(entity_ids))
    if not ids:
        raise Invalid("name at least one entity", details={"entity_ids": ["empty"]})
    lock_entities(session=session, entity_ids=ids)
    rows = session.execute(
        select(Entity.id, Entity.dataset, Entity.deleted_at).where(Entity.id.in_(ids))
    ).all()
    frozen = _frozen(session, ids)
    _, stay = _allowed(_kinds(rows), frozen, decide)
    outcome = _refusal(ids, stay, frozen, live=[r.id for r in rows if r.deleted_at is None])
    if outcome.refused is None:
        outcome.purged, outcome.edges = _delete(session, ids)
        outcome.entity_ids = ids
    _audit_explicit(session, actor, ids, outcome, now)
    return outcome


def _refusal(ids: list[str], stay: list[str], frozen: set[str], live: list[str]) -> PurgeOutcome:
    held = sorted(frozen)
    if stay and set(stay) & frozen:
        message = f"entity {held[0]} is under legal hold; nothing was purged"
        return PurgeOutcome(held=len(held), refused="legal_hold", message=message)
    if stay:
        return PurgeOutcome(refused="forbidden", message="you may not purge these entities")
    if live:
        message = f"entity {live[0]} is not deleted; delete it first. Nothing was purged"
        return PurgeOutcome(held=len(held), refused="not_deleted", message=message)
    return PurgeOutcome(held=len(held))


def _audit_explicit(
    session: Session, actor: str, ids: list[str], outcome: PurgeOutcome, now: datetime
) -> None:
    payload: dict[str, Any] = {"entity_ids": ids, "edges": outcome.edges}
    if outcome.refused:
        payload |= {"refused": outcome.refused, "message": outcome.message}
    audit.append(
        session=session,
        tenant_id=tenant_id_of(session),
        actor=actor,
        action="purge.refused" if outcome.refused else "purge.entities",
        target=f"entity:{ids[0]}" if len(ids) == 1 else f"entities:{len(ids)}",
        payload=payload,
        now=now,
    )


# --- retention purge --------------------------------------------------------------------


@dataclass
class Batch:
    purged: int
    edges: int
    held: int
    last: tuple[datetime, int] | None  # keyset: (deleted_at, pk) of the last candidate
    done: bool


def purge_batch(
    *,
    session: Session,
    cutoff: datetime,
    after: tuple[datetime, int] | None,
    size: int,
    actor: str,
    decide: Decide,
    now: datetime,
) -> Batch:
    """One batch of the tenant's expired entities (deleted before ``cutoff``), in
    (deleted_at, pk) order after ``after``; held ones are kept and counted."""
    query = (
        select(Entity.pk, Entity.id, Entity.dataset, Entity.deleted_at)
        .where(Entity.deleted_at.is_not(None), Entity.deleted_at < cutoff)
        .order_by(Entity.deleted_at, Entity.pk)
        .limit(size)
        .with_for_update(skip_locked=True)  # PostgreSQL: rows a hold is locking wait for later
    )
    if after is not None:
        at, pk = after
        query = query.where(
            or_(Entity.deleted_at > at, and_(Entity.deleted_at == at, Entity.pk > pk))
        )
    rows = session.execute(query).all()
    if not rows:
        return Batch(0, 0, 0, after, done=True)
    ids = [row.id for row in rows]
    frozen = _frozen(session, ids)  # a new statement: sees holds committed before our locks
    go, stay = _allowed(_kinds(rows), frozen, decide)
    purged, edges = _delete(session, go)
    audit.append(
        session=session,
        tenant_id=tenant_id_of(session),
        actor=actor,
        action="retention.purge",
        target="retention",
        payload={"entity_ids": go, "edges": edges, "kept_entity_ids": stay, "cutoff": cutoff},
        now=now,
    )
    last = (rows[-1].deleted_at, rows[-1].pk)
    return Batch(purged, edges, len(stay), last, done=len(rows) < size)


def purge_expired(
    *,
    db: Database,
    tenant_id: int,
    holder: str,
    actor: str,
    decide: Decide,
    default_days: int,
    batch_size: int,
    now: Callable[[], datetime],
    on_batch: Callable[[Batch], None] = lambda batch: None,
) -> PurgeOutcome:
    """Purge everything of one tenant whose retention has expired, a batch per
    transaction; raises PurgeInProgress when another worker holds the tenant."""
    started, outcome = now(), PurgeOutcome()
    try:
        _purge_batches(db, tenant_id, holder, actor, decide, default_days, batch_size, now,
                       started, outcome, on_batch)  # fmt: skip
    finally:
        with db.session(tenant_id=tenant_id, write=True) as session:
            release(session=session, holder=holder)  # a no-op unless we still hold it
            session.commit()
    return outcome


def _purge_batches(
    db: Database,
    tenant_id: int,
    holder: str,
    actor: str,
    decide: Decide,
    default_days: int,
    batch_size: int,
    now: Callable[[], datetime],
    started: datetime,
    outcome: PurgeOutcome,
    on_batch: Callable[[Batch], None],
) -> None:
    after = None
    while True:
        with db.session(tenant_id=tenant_id, write=True) as session:
            if not claim(session=session, holder=holder, now=now(), default_days=default_days):
                if outcome.purged or outcome.held:
                    return  # our claim expired mid-way and another took over: stop here
                raise PurgeInProgress("another worker is purging this tenant; try again later")
            days = policy(session=session, default_days=default_days, now=started).days
            batch = purge_batch(
                session=session, cutoff=started - timedelta(days=days), after=after,
                size=batch_size, actor=actor, decide=decide, now=now(),
            )  # fmt: skip
            session.commit()
        outcome.purged, outcome.edges = outcome.purged + batch.purged, outcome.edges + batch.edges
        outcome.held += batch.held
        on_batch(batch)
        if batch.done:
            return
        after = batch.last
