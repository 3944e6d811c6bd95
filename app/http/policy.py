"""The decision API and the decision log, over the one policy engine."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, DateTime, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from flask import Response
from sqlalchemy import select

from app import authz
from app.db import utcnow
from app.http.auth import requires
from app.http.context import db_session, json_response, principal, services
from app.http.errors import api_error
from app.http.graph import decode_cursor, encode_cursor
from app.models import ROLES
from app.policy.engine import Request
from app.policy.models import PolicyDecision

bp = APIBlueprint("policy", __name__, url_prefix="/api/v1/policy", tag="Policy")


class PrincipalIn(Schema):
    id = String(required=True, validate=Length(1, 128))
    role = String(required=True, validate=OneOf(ROLES))
    tenant = String(load_default=None, allow_none=True, validate=Length(max=64))


class ResourceIn(Schema):
    type = String(required=True, validate=Length(1, 32))
    id = String(required=True, validate=Length(1, 128))
    tenant = String(load_default=None, allow_none=True, validate=Length(max=64))
    legal_hold = Boolean(load_default=False)


class DecideIn(Schema):
    principal = Nested(PrincipalIn, required=True)
    action = String(required=True, validate=Length(1, 32))
    resource = Nested(ResourceIn, required=True)
    context = Dict(keys=String(), load_default=dict)


class DecideOut(Schema):
    decision = String(required=True, validate=OneOf(["allow", "deny"]))
    reasons = List(String(), required=True, metadata={"description": "ids of deciding policies"})
    elapsed_ms = Float(required=True)


def _request(body: dict[str, Any]) -> Request:
    action = body["action"]
    if action not in authz.ACTIONS:
        raise api_error(
            400,
            "unknown_action",
            f"unknown action {action!r}",
            details={"known": sorted(authz.ACTIONS)},
        )
    who, what = body["principal"], body["resource"]
    tenant_data = action in authz.TENANT_ACTIONS
    return Request(
        principal_id=who["id"],
        role=who["role"],
        tenant=who["tenant"],
        action=action,
        resource_type="Resource" if tenant_data else "Platform",
        resource_id=what["id"] if tenant_data else authz.PLATFORM,
        resource_kind=what["type"],
        resource_tenant=what["tenant"] or "",
        legal_hold=what["legal_hold"],
        context=body["context"],
    )


@bp.post("/decide")
@requires("decide", writes=False)  # the decision log is written in the background
@bp.input(DecideIn, arg_name="body")
@bp.output(DecideOut)
def decide(body: dict[str, Any]) -> Any:
    """May this principal do this action to this resource? Answered by the same
    Cedar policies that guard every route; each answer lands in the decision log."""
    request = _request(body)
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
    return json_response(
        {
            "decision": decision.word,
            "reasons": list(decision.reasons),
            "elapsed_ms": decision.elapsed_ms,
        }
    )


class DecisionQuery(Schema):
    action = String(validate=Length(max=32))
    decision = String(validate=OneOf(["allow", "deny"]))
    principal = String(validate=Length(max=128))
    source = String(validate=OneOf(["route", "api"]))
    since = DateTime()
    until = DateTime()
    limit = Integer(load_default=100, validate=Range(1, 1000))
    cursor = String(validate=Length(max=64))


class DecisionOut(Schema):
    id = Integer(required=True)
    at = DateTime(required=True)
    source = String(required=True)
    caller = String(required=True)
    principal_id = String(required=True)
    principal_role = String(required=True)
    principal_tenant = String(allow_none=True)
    action = String(required=True)
    resource_type = String(required=True)
    resource_id = String(required=True)
    resource_tenant = String(allow_none=True)
    decision = String(required=True)
    reasons = List(String(), required=True)
    elapsed_ms = Float(required=True)


class DecisionPage(Schema):
    decisions = List(Nested(DecisionOut), required=True)
    next_cursor = String(allow_none=True, required=True)


FIELDS = list(DecisionOut._declared_fields)
CSV: dict[int | str, Any] = {200: {"description": "CSV", "content": {"text/csv": {}}}}


def _query(params: dict[str, Any], *, before_id: int | None) -> Any:
    statement = select(PolicyDecision).order_by(PolicyDecision.id.desc())
    for name in ("action", "decision", "source"):
        if params.get(name):
            statement = statement.where(getattr(PolicyDecision, name) == params[name])
    if params.get("principal"):
        statement = statement.where(PolicyDecision.principal_id == params["principal"])
    if params.get("since"):
        statement = statement.where(PolicyDecision.at >= params["since"])
    if params.get("until"):
        statement = statement.where(PolicyDecision.at < params["until"])
    if before_id is not None:
        statement = statement.where(PolicyDecision.id < before_id)
    return statement


def _row(decision: PolicyDecision) -> dict[str, Any]:
    return {name: getattr(decision, name) for name in FIELDS}


@bp.get("/decisions")
@requires("read_decisions")
@bp.input(DecisionQuery, location="query", arg_name="query")
@bp.output(DecisionPage)
def decisions(query: dict[str, Any]) -> Any:
    """Your tenant's decisions, newest first (written within a second of being made)."""
    limit = query["limit"]
    statement = _query(query, before_id=decode_cursor("id", query.get("cursor")))
    rows = list(db_session().scalars(statement.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "decisions": [_row(row) for row in rows],
        "next_cursor": encode_cursor("id", rows[-1].id) if more else None,
    }


@bp.get("/decisions/export.csv")
@requires("read_decisions")
@bp.input(DecisionQuery, location="query", arg_name="query")
@bp.doc(responses=CSV)
def export_decisions(query: dict[str, Any]) -> Response:
    """Every matching decision of your tenant as CSV (streamed, newest first)."""
    caller, db = principal(), services().db
    statement = _query(query, before_id=None).execution_options(yield_per=1000)

    def lines() -> Iterator[str]:
        # Its own session, closed when the stream ends or the client goes away
        # (WSGI closes the iterator): the request's session is gone by then, and
        # a server-side cursor left open would hold a transaction.
        session = db.session(tenant_id=caller.tenant_id)
        try:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(FIELDS)
            for decision in session.scalars(statement):
                row = _row(decision)
                row["reasons"] = " ".join(row["reasons"])
                writer.writerow(row[name] for name in FIELDS)
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
