"""The decision API and the decision log, over the one policy engine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from apiflask import APIBlueprint
from flask import Response
from sqlalchemy.orm import Session

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
from app.web.csvstream import streamed_csv
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
    shape = DecisionOut()
    names = list(shape.fields)

    def rows(session: Session) -> Iterator[list[Any]]:
        for decision in service.all_decisions(session=session, filters=query):
            row = shape.dump(decision)
            row["reasons"] = " ".join(row["reasons"])
            yield [row[name] for name in names]

    return streamed_csv(
        services().db, tenant_id=principal().tenant_id, header=names, rows=rows,
        filename="policy-decisions.csv",
    )  # fmt: skip
