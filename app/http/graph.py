"""The graph API: entities, edges and search. A thin adapter over app.graph."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from apiflask import APIBlueprint
from flask import Response

from app import faults, graph
from app.cache import QueryCache
from app.db import utcnow
from app.http.auth import requires
from app.http.context import db_session, json_response, principal, services
from app.http.errors import api_error
from app.http.schemas import (
    EdgeIn,
    EdgeOut,
    EntityIn,
    EntityListQuery,
    EntityOut,
    EntityPage,
    EntityPatch,
    EntityWithEdgesOut,
    SearchOut,
    SearchQuery,
)
from app.models import Entity
from app.search import search_entities, terms

bp = APIBlueprint("graph", __name__, url_prefix="/api/v1", tag="Graph")

MAX_SEARCH_OFFSET = 1000  # deeper pages cost a full ranking each; refine the query instead
NOT_FOUND = {404: "no such entity in your tenant"}


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix == kind and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise api_error(400, "invalid_cursor", "cursor is not one this endpoint returned")


def entity_json(entity: Entity) -> dict[str, Any]:
    return {
        "id": entity.id,
        "kind": entity.kind,
        "name": entity.name,
        "dataset": entity.dataset,
        "attributes": entity.attributes,
        "subject": entity.subject,
        "source": entity.source,
        "created_by": entity.created_by,
        "updated_by": entity.updated_by,
        "created_at": entity.created_at,
        "updated_at": entity.updated_at,
    }


@bp.post("/entities")
@requires("write")
@bp.input(EntityIn, arg_name="body")
@bp.output(EntityOut, status_code=201)
def create_entity(body: dict[str, Any]) -> Any:
    """Create an entity in your tenant."""
    entity = graph.create_entity(
        session=db_session(), source="api", actor=principal().username, now=utcnow(), **body
    )
    return entity_json(entity)


@bp.get("/entities")
@requires("read")
@bp.input(EntityListQuery, location="query", arg_name="query")
@bp.output(EntityPage)
def list_entities(query: dict[str, Any]) -> Any:
    """Live entities in insertion order, a page at a time (follow ``next_cursor``)."""
    rows, last = graph.list_entities(
        session=db_session(),
        dataset=query.get("dataset"),
        kind=query.get("kind"),
        limit=query["limit"],
        after_pk=decode_cursor("pk", query.get("cursor")),
    )
    return {
        "entities": [entity_json(row) for row in rows],
        "next_cursor": encode_cursor("pk", last) if last is not None else None,
    }


@bp.get("/entities/<entity_id>")
@requires("read")
@bp.output(EntityWithEdgesOut)
@bp.doc(responses=NOT_FOUND)
def get_entity(entity_id: str) -> Any:
    """One entity with its edges (both directions, to live entities only).

    Served from the HOT cache when the same caller role of the tenant fetched
    it since the tenant's last write (``X-Cache: HIT``)."""
    key = _cache_key("entity", entity_id)
    cached = services().cache.get("entity", key)
    if cached is not None:
        return _cached_response(cached, hit=True)
    session = db_session()
    entity = graph.get_entity(session=session, entity_id=entity_id)
    edges = [
        {
            "id": n.edge_id,
            "kind": n.kind,
            "direction": n.direction,
            "entity": {
                "id": n.other_id,
                "name": n.other_name,
                "kind": n.other_kind,
                "dataset": n.other_dataset,
            },
        }
        for n in graph.entity_edges(session=session, entity_id=entity.id)
    ]
    body = orjson.dumps({**entity_json(entity), "edges": edges})
    services().cache.put(key, body)
    return _cached_response(body, hit=False)


def _cache_key(kind: str, params: str) -> str:
    caller = principal()
    assert caller.tenant_id is not None  # reads are tenant actions
    return QueryCache.key(
        kind,
        tenant_id=caller.tenant_id,
        generation=caller.generation,
        role=caller.role,
        params=params,
    )


def _cached_response(body: bytes, *, hit: bool) -> Response:
    response = json_response(body)
    response.headers["X-Cache"] = "HIT" if hit else "MISS"
    return response


@bp.patch("/entities/<entity_id>")
@requires("write")
@bp.input(EntityPatch, arg_name="body")
@bp.output(EntityOut)
@bp.doc(responses=NOT_FOUND)
def update_entity(entity_id: str, body: dict[str, Any]) -> Any:
    """Change some fields of an entity; the others stay as they are."""
    entity = graph.update_entity(
        session=db_session(),
        entity_id=entity_id,
        changes=body,
        actor=principal().username,
        now=utcnow(),
    )
    return entity_json(entity)


@bp.delete("/entities/<entity_id>")
@requires("write")
@bp.output({}, status_code=204)
@bp.doc(responses=NOT_FOUND)
def delete_entity(entity_id: str) -> Any:
    """Soft-delete: hidden from every read at once, purged after retention."""
    graph.delete_entity(
        session=db_session(), entity_id=entity_id, actor=principal().username, now=utcnow()
    )
    return ""


@bp.post("/edges")
@requires("write")
@bp.input(EdgeIn, arg_name="body")
@bp.output(EdgeOut, status_code=201)
@bp.doc(responses={404: "an end is not an entity of your tenant"})
def create_edge(body: dict[str, Any]) -> Any:
    """Link two entities of your tenant."""
    edge = graph.create_edge(
        session=db_session(), source="api", actor=principal().username, now=utcnow(), **body
    )
    return {
        "id": edge.id,
        "source_id": edge.source_id,
        "target_id": edge.target_id,
        "kind": edge.kind,
        "attributes": edge.attributes,
        "source": edge.source,
        "created_by": edge.created_by,
        "created_at": edge.created_at,
    }


@bp.get("/search")
@requires("search")
@bp.input(SearchQuery, location="query", arg_name="query")
@bp.output(SearchOut)
def search(query: dict[str, Any]) -> Any:
    """Full-text search over names and attribute values, best match first.

    Every word must match, as a prefix ("rock" finds "Rocket").
    """
    faults.trip(services().settings, "search")
    offset = decode_cursor("off", query.get("cursor")) or 0
    if offset > MAX_SEARCH_OFFSET:
        raise api_error(400, "invalid_cursor", "cursor is not one this endpoint returned")
    limit, dataset = query["limit"], query.get("dataset") or ""
    key = _cache_key("search", f"{' '.join(terms(query['q']))}|{dataset}|{limit}|{offset}")
    cached = services().cache.get("search", key)
    if cached is not None:
        return _cached_response(cached, hit=True)
    hits = search_entities(
        session=db_session(), query=query["q"], limit=limit + 1, offset=offset, dataset=dataset
    )
    more = len(hits) > limit and offset + limit <= MAX_SEARCH_OFFSET
    body = {
        "results": [
            {"id": h.id, "name": h.name, "kind": h.kind, "dataset": h.dataset, "score": h.score}
            for h in hits[:limit]
        ],
        "cached": True,
        "next_cursor": encode_cursor("off", offset + limit) if more else None,
    }
    services().cache.put(key, orjson.dumps(body))
    return _cached_response(orjson.dumps({**body, "cached": False}), hit=False)
