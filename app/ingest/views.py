"""The ingest API: a thin adapter over app.ingest.service, dlq, replay and connectors."""

from __future__ import annotations

import base64
import logging
import time
import uuid
from typing import Any

import orjson
from apiflask import APIBlueprint
from flask import current_app, g, request
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from app.core.db import utcnow
from app.core.errors import DomainError
from app.ingest import (
    connectors,
    dlq,
    exported,  # noqa: F401 - registers events with subject exports
    replay,
    service,
)
from app.ingest.backpressure import Busy, InFlight
from app.ingest.bulk import ConnectorThrottled, WriterSaturated
from app.ingest.models import DlqItem
from app.ingest.schemas import (
    EVENTS_BODY,
    BatchOut,
    ConnectorDetail,
    ConnectorIn,
    ConnectorOut,
    ConnectorsOut,
    DlqItemDetail,
    DlqItemOut,
    DlqPage,
    DlqQuery,
    IngestHeaders,
    IngestQuery,
    ReplayIn,
    ReplayOut,
    StatsOut,
    StatsQuery,
)
from app.ingest.validate import BodyError, gunzip
from app.quotas.service import StorageQuotaExceeded
from app.web.context import db_session, principal, services
from app.web.cursors import decode_cursor, encode_cursor
from app.web.errors import api_error
from app.web.guard import requires
from app.web.rawbody import raw_body
from app.web.shapes import json_response

bp = APIBlueprint("ingest", __name__, url_prefix="/api/v1/ingest", tag="Ingest")
log = logging.getLogger("summit.ingest")

RETRY_AFTER_BUSY = 1  # seconds: a batch takes tens of milliseconds to write
REPLAY_SECONDS = 60  # one replay request runs at most this long (limit / max_rate)
JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})
SLOW_DOWN = {
    413: "batch, inflated body or storage quota too large; nothing was written",
    415: "not JSON or NDJSON, or an unknown Content-Encoding",
    422: "the Idempotency-Key was used for another body",
    429: "over the tenant's rate or the connector's token bucket (Retry-After)",
    503: "the writer is saturated (Retry-After); nothing was written",
}


@bp.record_once
def _bound_work(state: BlueprintSetupState) -> None:
    settings = state.app.extensions["summit"].settings
    state.app.extensions["summit.ingest"] = InFlight(settings.ingest_max_in_flight)


def in_flight() -> InFlight:
    slots: InFlight = current_app.extensions["summit.ingest"]
    return slots


def limits() -> service.Limits:
    settings = services().settings
    return service.Limits(settings.ingest_max_batch, settings.ingest_max_event_bytes)


def sender() -> service.Sender:
    caller = principal()
    assert caller.tenant_id is not None  # ingest actions are tenant actions
    return service.Sender(caller.tenant_id, caller.tenant_slug or "-", caller.username)


@bp.post("/events")
@raw_body(EVENTS_BODY)
# writes=False: the bulk path runs (and commits) its own transaction, after the
# body is read and parsed, so no write lock is held while a request uploads.
@requires("ingest", writes=False)
@bp.input(IngestQuery, location="query", arg_name="query")
@bp.input(IngestHeaders, location="headers", arg_name="headers")
@bp.output(BatchOut, status_code=202)
@bp.doc(responses=SLOW_DOWN)
def ingest_events(query: dict[str, Any], headers: dict[str, Any]) -> Response:
    """Ingest a batch; answered only once the accepted events are committed.

    Each `id` is stored once per tenant: a repeat counts as a duplicate. Invalid
    events go to the DLQ with their reason and raw bytes; the rest are accepted.
    Refused batches (413, 429, 503) wrote nothing: retry them after `Retry-After`."""
    svc, settings = services(), services().settings
    try:
        with in_flight().slot(wait=settings.ingest_write_wait_seconds) as left:
            svc.metrics.ingest_in_flight.inc()
            try:
                result = service.ingest_batch(
                    db=svc.db,
                    sender=sender(),
                    body=_body(settings.ingest_max_body_bytes),
                    key=headers.get("idempotency_key"),
                    default_source=query.get("source"),
                    limits=limits(),
                    wait=left,
                    now=utcnow(),
                )
            finally:
                svc.metrics.ingest_in_flight.dec()
    except DomainError as exc:
        raise _refusal(exc) from None
    seconds = _elapsed()
    service.observe(svc.metrics, tenant=sender().tenant, result=result, seconds=seconds)
    response = json_response(BatchOut, result, status=202)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _body(limit: int) -> bytes:
    """The inflated body, at most ``limit`` bytes either way (413 beyond)."""
    request.max_content_length = limit
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise api_error(415, "unsupported_encoding", "Content-Encoding must be gzip or absent")
    mimetype = request.mimetype
    if mimetype and mimetype not in JSON_TYPES | NDJSON_TYPES:
        raise api_error(
            415,
            "unsupported_media_type",
            "send application/json (an array) or application/x-ndjson",
        )
    body = request.get_data(cache=False)
    if not body:
        raise BodyError("the body is empty: send a JSON array or NDJSON of events")
    if encoding == "gzip":
        body = gunzip(body, limit=limit)
    if mimetype in JSON_TYPES and body.lstrip()[:1] != b"[":
        raise BodyError("a JSON body is an array of events; send NDJSON as application/x-ndjson")
    return body


def _refusal(exc: DomainError) -> Exception:
    """Refusals that wrote nothing, with what the sender needs to slow down."""
    metrics, caller = services().metrics, sender()
    reason, status, headers, label = None, exc.status, None, service.OTHER
    if isinstance(exc, Busy | WriterSaturated):
        reason, headers = (
            ("busy" if isinstance(exc, Busy) else "writer_saturated"),
            {"Retry-After": str(RETRY_AFTER_BUSY)},
        )
    elif isinstance(exc, ConnectorThrottled):
        reason, headers = "connector_rate", {"Retry-After": str(exc.retry_after)}
        label = exc.connector
        route = request.url_rule.rule if request.url_rule else request.path
        services().rejections.rejected(tenant_id=caller.tenant_id, route=route, reason="connector")
    elif isinstance(exc, StorageQuotaExceeded):
        reason, status = "storage_quota", 413
    if reason is not None:
        metrics.ingest_throttled.labels(caller.tenant, label, reason).inc()
        log.info("ingest refused", extra={"tenant": caller.tenant, "reason": reason})
    return api_error(status, exc.code, exc.message, details=exc.details, headers=headers)


def _elapsed() -> float:
    """Since the request arrived (app.web.middleware), as the sender waited."""
    return time.perf_counter() - float(g.get("started", time.perf_counter()))


@bp.get("/stats")
@requires("read_ingest")
@bp.input(StatsQuery, location="query", arg_name="query")
@bp.output(StatsOut)
def stats(query: dict[str, Any]) -> Any:
    """Your tenant's ingest counters (or one source's): received = stored +
    duplicates + dlq holds at every commit; `verify=true` also counts the rows."""
    return service.stats(session=db_session(), source=query.get("source"), verify=query["verify"])


@bp.get("/dlq/<uuid:item_id>")  # typed, so that /dlq/replay is never an item
@requires("read_ingest")
@bp.output(DlqItemDetail)
@bp.doc(responses={404: "no such DLQ item in your tenant"})
def dlq_item(item_id: uuid.UUID) -> Any:
    """One DLQ item of your tenant, with its raw event."""
    return item_out(dlq.get_item(session=db_session(), item_id=str(item_id)))


@bp.get("/dlq")
@requires("read_ingest")
@bp.input(DlqQuery, location="query", arg_name="query")
@bp.output(DlqPage)
def dlq_items(query: dict[str, Any]) -> Any:
    """Your tenant's dead-letter queue, oldest first, with each item's raw event."""
    items, last = dlq.list_items(
        session=db_session(),
        source=query.get("source"),
        reason=query.get("reason"),
        status=query.get("status"),
        limit=query["limit"],
        after_pk=decode_cursor("dlq", query.get("cursor")),
    )
    cursor = encode_cursor("dlq", last) if last is not None else None
    return {"items": [item_out(item) for item in items], "next_cursor": cursor}


def item_out(item: DlqItem) -> dict[str, Any]:
    return {
        **{name: getattr(item, name) for name in DlqItemOut().fields if hasattr(item, name)},
        "raw": item.raw.decode("utf-8", errors="replace"),
        "raw_base64": base64.b64encode(item.raw).decode(),
    }


@bp.post("/dlq/replay")
@requires("replay_dlq", writes=False)  # replay commits chunk by chunk itself
@bp.input(ReplayIn, arg_name="body")
@bp.output(ReplayOut)
@bp.doc(responses={404: "a DLQ id that is not in your tenant", 503: SLOW_DOWN[503]})
def replay_dlq(body: dict[str, Any]) -> Any:
    """Replay DLQ items (by id, or pending ones by source and reason), each at most
    once, at most `max_rate` events per second; `corrections` replace an item's
    raw event. `dry_run` says what would happen and writes nothing but the audit."""
    corrections = {key: orjson.dumps(value) for key, value in body.get("corrections", {}).items()}
    ids = body.get("ids")
    if corrections:
        ids = sorted(set(ids or ()) | set(corrections))
    if body["limit"] / body["max_rate"] > REPLAY_SECONDS and ids is None:
        raise api_error(400, "replay_too_long", f"limit / max_rate exceeds {REPLAY_SECONDS} s")
    request_ = replay.ReplayRequest(
        ids=ids,
        source=body.get("source"),
        reason=body.get("reason"),
        corrections=corrections,
        dry_run=body["dry_run"],
        max_rate=body["max_rate"],
        limit=body["limit"],
    )
    try:
        return replay.replay(
            db=services().db,
            sender=sender(),
            request=request_,
            limits=limits(),
            wait=services().settings.ingest_write_wait_seconds,
            clock=utcnow,
            metrics=services().metrics,
        )
    except WriterSaturated as exc:
        raise _refusal(exc) from None


@bp.put("/connectors/<name>")
@requires("manage_connectors")
@bp.input(ConnectorIn, arg_name="body")
@bp.output(ConnectorDetail)
def put_connector(name: str, body: dict[str, Any]) -> Any:
    """Create or change a connector (the events whose `source` is `name`): its token
    bucket (`rate` events/s, `burst`), batch size, accepted types and auto-replay."""
    if not 1 <= len(name) <= 128:
        raise api_error(400, "validation_error", "a connector name has 1 to 128 characters")
    body["event_types"] = tuple(body["event_types"])
    session = db_session()
    connector = connectors.put_connector(
        session=session,
        name=name,
        spec=connectors.ConnectorSpec(**body),
        actor=principal().username,
        now=utcnow(),
    )
    services().metrics.initialise_ingest(sender().tenant, name)
    counter = dict(connectors.list_connectors(session=session)).get(connector)
    return _connector_out(connector, counter)


@bp.get("/connectors")
@requires("read_ingest")
@bp.output(ConnectorsOut)
def list_connectors() -> Any:
    """Your tenant's connectors, each with its counters and last success."""
    return {
        "connectors": [
            _connector_out(c, n) for c, n in connectors.list_connectors(session=db_session())
        ]
    }


def _connector_out(connector: Any, counter: Any) -> dict[str, Any]:
    out = {
        name: getattr(connector, name) for name in ConnectorOut().fields if hasattr(connector, name)
    }
    for name in ("received", "stored", "dlq"):
        out[name] = getattr(counter, name) if counter is not None else 0
    out["last_success_at"] = counter.last_success_at if counter is not None else None
    return out
