"""The entity graph: create, fetch, change, soft-delete, link. Imports no Flask.

Every function takes a tenant-scoped session (see app.tenancy), so another
tenant's ids are simply not found. Soft-deleted entities are hidden at once
from every read here; governance purges them later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, desc, literal, select, union_all
from sqlalchemy.orm import Session, aliased
from sqlalchemy.util.typing import TupleAny

from app.core.errors import NotFound
from app.core.tenancy import SYNTHETIC_DATASET
from app.graph.models import Edge, Entity
from app.quotas.service import bump_generation, charge, stored_bytes
from governance.holds import ensure_not_held

EDITABLE = ("kind", "name", "dataset", "attributes", "subject")


def flatten_attributes(attributes: dict[str, Any]) -> str:
    """The attribute values, as the text the full-text index sees (keys are not searched)."""
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif value is not None and not isinstance(value, bool):
            parts.append(str(value))

    walk(attributes)
    return " ".join(parts)


def entity_bytes(kind: str, name: str, dataset: str, attributes: Any, subject: Any) -> int:
    """An entity's cost against its tenant's storage quota."""
    return stored_bytes(kind, name, dataset, attributes, subject)


def edge_bytes(source_id: str, target_id: str, kind: str, attributes: Any) -> int:
    return stored_bytes(source_id, target_id, kind, attributes)


def live_entities() -> Select[Entity]:
    return select(Entity).where(Entity.deleted_at.is_(None))


def create_entity(
    *,
    session: Session,
    kind: str,
    name: str,
    dataset: str,
    attributes: dict[str, Any],
    subject: str | None,
    source: str,
    actor: str,
    now: datetime,
) -> Entity:
    charge(session=session, delta=entity_bytes(kind, name, dataset, attributes, subject))
    entity = Entity(
        kind=kind,
        name=name,
        dataset=dataset,
        attributes=attributes,
        subject=subject,
        search_text=flatten_attributes(attributes),
        source=source,
        created_by=actor,
        updated_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(entity)
    session.flush()
    return entity


def dataset_scope(role: str) -> str | None:
    """The one dataset a role may see, or None for all of its tenant's.

    Probe users see only the probes' own synthetic records: a failed run's
    screenshot or trace, which operators open, then shows no customer data."""
    return SYNTHETIC_DATASET if role == "synthetic" else None


def visible_dataset(role: str, requested: str | None) -> str | None:
    """The dataset a read of ``role`` covers: the one it asked for, narrowed to the
    role's scope (asking outside the scope finds nothing); None for all."""
    scope = dataset_scope(role)
    if scope is None:
        return requested or None
    return scope if requested in (None, "", scope) else NO_DATASET


NO_DATASET = "-"  # no entity has it: datasets start with a letter or digit

_GET_LIVE = live_entities().where(Entity.id == bindparam("entity_id"))
_GET_LIVE_IN = _GET_LIVE.where(Entity.dataset == bindparam("dataset"))


def get_entity(*, session: Session, entity_id: str, dataset: str | None = None) -> Entity:
    """A live entity of the session's tenant (of ``dataset`` when given), else NotFound."""
    if dataset is None:
        found = session.scalars(_GET_LIVE, {"entity_id": entity_id})
    else:
        found = session.scalars(_GET_LIVE_IN, {"entity_id": entity_id, "dataset": dataset})
    entity = found.one_or_none()
    if entity is None:
        raise NotFound(f"entity {entity_id} not found")
    return entity


@dataclass(frozen=True, slots=True)
class EdgeEnd:
    id: str
    name: str
    kind: str
    dataset: str


@dataclass(frozen=True, slots=True)
class Neighbour:
    """An edge seen from one entity: its id and kind, and the entity at the other end."""

    id: str
    kind: str
    direction: str  # "out": the entity is the edge's source
    entity: EdgeEnd


def _neighbours_half(direction: str) -> Select[*TupleAny]:
    near, far = Edge.source_id, Edge.target_id
    if direction == "in":
        near, far = far, near
    other = aliased(Entity)
    statement: Select[*TupleAny] = (
        select(
            Edge.pk.label("edge_pk"),
            Edge.id,
            Edge.kind,
            literal(direction),
            other.id,
            other.name,
            other.kind,
            other.dataset,
        )
        .join(other, other.id == far)
        .where(near == bindparam("entity_id"), other.deleted_at.is_(None))
    )
    return statement


# One round trip for both directions; tenant criteria apply to each half.
_NEIGHBOURS = (
    union_all(_neighbours_half("out"), _neighbours_half("in"))
    .order_by(desc("edge_pk"))
    .limit(bindparam("limit"))
)


def entity_edges(
    *, session: Session, entity_id: str, limit: int = 200, dataset: str | None = None
) -> list[Neighbour]:
    """Edges touching the entity whose other end is live (and of ``dataset`` when
    given), newest first."""
    rows = session.execute(_NEIGHBOURS, {"entity_id": entity_id, "limit": limit})
    found = [Neighbour(row[1], row[2], row[3], EdgeEnd(*row[4:])) for row in rows]
    return [n for n in found if dataset is None or n.entity.dataset == dataset]


def update_entity(
    *, session: Session, entity_id: str, changes: dict[str, Any], actor: str, now: datetime
) -> Entity:
    entity = get_entity(session=session, entity_id=entity_id)
    ensure_not_held(session=session, entity_ids=[entity.id], doing="changed")
    before = _size(entity)
    for field in EDITABLE:
        if field in changes:
            setattr(entity, field, changes[field])
    if "attributes" in changes:
        entity.search_text = flatten_attributes(changes["attributes"])
    charge(session=session, delta=_size(entity) - before)
    entity.updated_by = actor
    entity.updated_at = now
    session.flush()
    return entity


def _size(entity: Entity) -> int:
    return entity_bytes(entity.kind, entity.name, entity.dataset, entity.attributes, entity.subject)


def delete_entity(*, session: Session, entity_id: str, actor: str, now: datetime) -> None:
    """Soft delete: hidden from every read at once, purged after retention."""
    entity = get_entity(session=session, entity_id=entity_id)
    ensure_not_held(session=session, entity_ids=[entity.id], doing="deleted")
    bump_generation(session=session)  # still stored until purged, but no longer visible
    entity.deleted_at = now
    entity.updated_by = actor
    entity.updated_at = now
    session.flush()


def create_edge(
    *,
    session: Session,
    source_id: str,
    target_id: str,
    kind: str,
    attributes: dict[str, Any],
    source: str,
    actor: str,
    now: datetime,
) -> Edge:
    """Both ends must be live entities of the caller's tenant, else NotFound; an
    end under legal hold refuses new edges (EntityHeld)."""
    for entity_id in {source_id, target_id}:
        get_entity(session=session, entity_id=entity_id)
    ensure_not_held(session=session, entity_ids={source_id, target_id}, doing="linked")
    charge(session=session, delta=edge_bytes(source_id, target_id, kind, attributes))
    edge = Edge(
        source_id=source_id,
        target_id=target_id,
        kind=kind,
        attributes=attributes,
        source=source,
        created_by=actor,
        created_at=now,
    )
    session.add(edge)
    session.flush()
    return edge


def list_entities(
    *, session: Session, dataset: str | None, kind: str | None, limit: int, after_pk: int | None
) -> tuple[list[Entity], int | None]:
    """A page of live entities in insertion order, and the cursor of the next page."""
    query = live_entities().order_by(Entity.pk).limit(limit + 1)
    if dataset:
        query = query.where(Entity.dataset == dataset)
    if kind:
        query = query.where(Entity.kind == kind)
    if after_pk is not None:
        query = query.where(Entity.pk > after_pk)
    rows = list(session.scalars(query))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None
