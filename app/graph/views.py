"""The graph API: entities, edges and search. A thin adapter over app.graph.service."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response

from app.core import faults
from app.core.db import utcnow
from app.graph import service as graph
from app.graph.cache import CacheKey, QueryCache
from app.graph.schemas import (
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
from app.graph.search import search_entities, terms
from app.web.context import db_session, principal, services
from app.web.cursors import decode_cursor, encode_cursor
from app.web.errors import api_error
from app.web.guard import requires
from app.web.shapes import json_bytes, json_response

bp = APIBlueprint("graph", __name__, url_prefix="/api/v1", tag="Graph")

MAX_SEARCH_OFFSET = 1000  # deeper pages cost a full ranking each; refine the query instead
NOT_FOUND = {404: "no such entity in your tenant"}


@bp.post("/entities")
@requires("write")
@bp.input(EntityIn, arg_name="body")
@bp.output(EntityOut, status_code=201)
def create_entity(body: dict[str, Any]) -> Any:
    """Create an entity in your tenant."""
    return graph.create_entity(
        session=db_session(), source="api", actor=principal().username, now=utcnow(), **body
    )


@bp.get("/entities")
@requires("read")
@bp.input(EntityListQuery, location="query", arg_name="query")
@bp.output(EntityPage)
def list_entities(query: dict[str, Any]) -> Any:
    """Live entities in insertion order, a page at a time (follow ``next_cursor``)."""
    rows, last = graph.list_entities(
        session=db_session(),
        dataset=graph.visible_dataset(principal().role, query.get("dataset")),
        kind=query.get("kind"),
        limit=query["limit"],
        after_pk=decode_cursor("pk", query.get("cursor")),
    )
    return {
        "entities": rows,
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
    session, scope = db_session(), graph.dataset_scope(principal().role)
    entity = graph.get_entity(session=session, entity_id=entity_id, dataset=scope)
    edges = graph.entity_edges(session=session, entity_id=entity.id, dataset=scope)
    body = json_bytes(EntityWithEdgesOut, entity, edges=edges)
    services().cache.put(key, body)
    return _cached_response(body, hit=False)


def _cache_key(kind: str, params: str) -> CacheKey:
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
    return graph.update_entity(
        session=db_session(),
        entity_id=entity_id,
        changes=body,
        actor=principal().username,
        now=utcnow(),
    )


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
    return graph.create_edge(
        session=db_session(), source="api", actor=principal().username, now=utcnow(), **body
    )


@bp.get("/search")
@requires("search")
@bp.input(SearchQuery, location="query", arg_name="query")
@bp.output(SearchOut)
def search(query: dict[str, Any]) -> Any:
    """Full-text search over names and attribute values, best match first.

    Every word must match, as a prefix ("rock" finds "Rocket").
    """
    faults.trip(services().settings.fault_names, "search")
    offset = decode_cursor("off", query.get("cursor")) or 0
    if offset > MAX_SEARCH_OFFSET:
        raise api_error(400, "invalid_cursor", "cursor is not one this endpoint returned")
    limit = query["limit"]
    dataset = graph.visible_dataset(principal().role, query.get("dataset")) or ""
    key = _cache_key("search", f"{' '.join(terms(query['q']))}|{dataset}|{limit}|{offset}")
    cached = services().cache.get("search", key)
    if cached is not None:
        return _cached_response(cached, hit=True)
    hits = search_entities(
        session=db_session(), query=query["q"], limit=limit + 1, offset=offset, dataset=dataset
    )
    more = len(hits) > limit and offset + limit <= MAX_SEARCH_OFFSET
    cursor = encode_cursor("off", offset + limit) if more else None
    fields = {"results": hits[:limit], "next_cursor": cursor}
    services().cache.put(key, json_bytes(SearchOut, None, cached=True, **fields))
    return _cached_response(json_bytes(SearchOut, None, cached=False, **fields), hit=False)
