"""The graph's pages: search, and one entity with its connections."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import render_template, request

from app.core import faults
from app.core.errors import NotFound
from app.graph import service as graph
from app.graph.search import search_entities
from app.web.context import db_session, principal, services
from app.web.docs import PAGE, WEB_UI, html
from app.web.errors import api_error
from app.web.guard import requires

bp = APIBlueprint("graph_pages", __name__, tag=WEB_UI)


@bp.get("/search")
@requires("search", via="web")
@bp.doc(responses=PAGE)
def search_page() -> str:
    """Search the graph of your tenant."""
    query = request.args.get("q", "").strip()[:256]
    if query:  # the empty form (where login lands) runs no search
        faults.trip(services().settings.fault_names, "search")
    dataset = graph.visible_dataset(principal().role, None)
    hits = (
        search_entities(session=db_session(), query=query, limit=50, dataset=dataset)
        if query
        else []
    )
    return render_template("search.html", query=query, hits=hits, caller=principal())


@bp.get("/entities/<entity_id>")
@requires("read", via="web")
@bp.doc(responses=PAGE | html(s404="not an entity of your tenant"))
def entity_page(entity_id: str) -> str:
    """One entity: its attributes, provenance and connections."""
    dbs, scope = db_session(), graph.dataset_scope(principal().role)
    try:
        entity = graph.get_entity(session=dbs, entity_id=entity_id, dataset=scope)
    except NotFound:
        raise api_error(404, "not_found", "No such entity in your tenant.") from None
    edges = graph.entity_edges(session=dbs, entity_id=entity.id, dataset=scope)
    return render_template("entity.html", entity=entity, edges=edges, caller=principal())
