"""The decision API and the decision log, over the one policy engine."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from apiflask import APIBlueprint
from flask import Response

from app.core import csvcells
from app.core.db import utcnow
from app.policy import authz, service
from app.policy.schemas import (
    CountsQuery,
    DecideIn,
    DecideOut,
    DecisionCountsOut,
    DecisionOut,
    DecisionPage,
    DecisionQuery,
)
from app.web.context import db_session, principal, services
from app.web.cursors import decode_cursor, encode_cursor
from app.web.guard import requires
from app.web.shapes import json_response

bp = APIBlueprint("policy", __name__, url_prefix="/api/v1/policy", tag="Policy")
CSV: dict[int | str, Any] = {200: {"description": "CSV", "content": {"text/csv": {}}}}


@bp.post("/decide")
@requires("decide", writes=False)  # the decision log is written in the background
@bp.input(DecideIn, arg_name="body")
@bp.output(DecideOut)
def decide(body: dict[str, Any]) -> Any:
    """May this principal do this action to this resource? Answered by the same
    Cedar policies that guard every route; each answer lands in the decision log."""
    request = service.decide_request(body)
    svc = services()
    decision = svc.policy.decide(request)
    authz.record(
        log=svc.decisions,
        metrics=svc.metrics,
        request=request,
        decision=decision,
        caller=principal(),
        source="api",
        now=utcnow(),
    )
    return json_response(DecideOut, decision)


@bp.get("/decisions")
@requires("read_decisions")
@bp.input(DecisionQuery, location="query", arg_name="query")
@bp.output(DecisionPage)
def decisions(query: dict[str, Any]) -> Any:
    """Your tenant's decisions, newest first (written within a second of being made)."""
    rows, last = service.decision_page(
        session=db_session(),
        filters=query,
        limit=query["limit"],
        before_id=decode_cursor("id", query.get("cursor")),
    )
    return {"decisions": rows, "next_cursor": encode_cursor("id", last) if last else None}


@bp.get("/decisions/counts")
@requires("read_decisions")
@bp.input(CountsQuery, location="query", arg_name="query")
@bp.output(DecisionCountsOut)
def decision_counts(query: dict[str, Any]) -> Any:
    """Route checks that allowed, counted per minute, action and role (they are
    not kept one by one; denies and decision-API answers are, under /decisions)."""
    until = query.get("until") or utcnow()
    since = query.get("since") or until - timedelta(hours=1)
    counts = service.decision_counts(session=db_session(), since=since, until=until)
    return {"counts": counts}


@bp.get("/decisions/export.csv")
@requires("read_decisions")
@bp.input(DecisionQuery, location="query", arg_name="query")
@bp.doc(responses=CSV)
def export_decisions(query: dict[str, Any]) -> Response:
    """Every matching decision of your tenant as CSV (streamed, newest first)."""
    caller, db = principal(), services().db
    shape = DecisionOut()
    names = list(shape.fields)

    def lines() -> Iterator[str]:
        # Its own session, closed when the stream ends or the client goes away
        # (WSGI closes the iterator): the request's session is gone by then, and
        # a server-side cursor left open would hold a transaction.
        session = db.session(tenant_id=caller.tenant_id)
        try:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(names)
            for decision in service.all_decisions(session=session, filters=query):
                row = shape.dump(decision)
                row["reasons"] = " ".join(row["reasons"])
                writer.writerow(csvcells.row(row[name] for name in names))
                if buffer.tell() > 65536:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()
        finally:
            session.close()

    return Response(
        lines(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=policy-decisions.csv"},
    )
