"""The graph's pages: search, and one entity with its connections."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import render_template, request

from app.core import faults
from app.core.errors import NotFound
from app.feedback import service as feedback
from app.graph import service as graph
from app.graph.search import search_entities
from app.web.context import principal, read_session, services
from app.web.docs import PAGE, WEB_UI, html
from app.web.errors import api_error
from app.web.guard import requires
from app.web.nav import may_open

bp = APIBlueprint("graph_pages", __name__, tag=WEB_UI)
# The thumbs on each result post here; shown to the roles the policy lets vote.
VOTE_ENDPOINT = "feedback_pages.vote_form"


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
        search_entities(session=read_session(), query=query, limit=50, dataset=dataset)
        if query
        else []
    )
    caller = principal()
    may_vote = bool(hits) and may_open(caller, VOTE_ENDPOINT)
    votes = (
        feedback.votes_of(session=read_session(), voter=caller.username, query=query,
                          entity_ids=[hit.id for hit in hits])
        if may_vote
        else {}
    )  # fmt: skip
    return render_template(
        "search.html", query=query, hits=hits, caller=caller, may_vote=may_vote, votes=votes
    )


@bp.get("/entities/<entity_id>")
@requires("read", via="web")
@bp.doc(responses=PAGE | html(s404="not an entity of your tenant"))
def entity_page(entity_id: str) -> str:
    """One entity: its attributes, provenance and connections."""
    dbs, scope = read_session(), graph.dataset_scope(principal().role)
    try:
        entity = graph.get_entity(session=dbs, entity_id=entity_id, dataset=scope)
    except NotFound:
        raise api_error(404, "not_found", "No such entity in your tenant.") from None
    edges = graph.entity_edges(session=dbs, entity_id=entity.id, dataset=scope)
    return render_template("entity.html", entity=entity, edges=edges, caller=principal())
