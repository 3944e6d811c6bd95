"""Request and response bodies of the ingest API (one schema per shape)."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range, Regexp

NAME = Length(min=1, max=128)


class StrictBoolean(Boolean):
    """JSON true or false only (marshmallow's Boolean also takes 1, "yes", "on")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictFloat(Float):
    """A JSON number only (marshmallow's Float also takes numeric strings)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return float(super()._deserialize(value, attr, data, **kwargs))


REASONS = (
    "malformed_json",
    "missing_field",
    "unknown_field",
    "invalid_field",
    "unsupported_value",
    "event_too_large",
    "unknown_type",
)
EVENT_SHAPE = {
    "type": "object",
    "required": ["id", "type", "ts", "source", "payload"],
    "properties": {
        "id": {"type": "string", "maxLength": 128, "description": "the idempotency key"},
        "type": {"type": "string", "maxLength": 64},
        "ts": {"type": "string", "format": "date-time", "description": "RFC 3339, with zone"},
        "source": {"type": "string", "maxLength": 128, "description": "the connector's name"},
        "payload": {"type": "object", "description": "`payload.subject` names a data subject"},
    },
}
EVENTS_BODY: dict[str, Any] = {
    "required": True,
    "description": (
        "A JSON array of events, or NDJSON (`application/x-ndjson`, one event a line); "
        "`Content-Encoding: gzip` accepted. Items are checked one by one: an invalid "
        "one goes to the DLQ with its reason and the rest are accepted, so the array's "
        "items are documented as any JSON value, each expected in this shape: "
        f"{EVENT_SHAPE}"
    ),
    "content": {"application/json": {"schema": {"type": "array", "items": {}}}},
}


class IngestQuery(Schema):
    source = String(
        validate=NAME,
        metadata={"description": "file events too broken to name their source under this one"},
    )


class IngestHeaders(Schema):
    idempotency_key = String(
        data_key="Idempotency-Key",
        validate=[Length(min=1, max=128), Regexp(r"^[\x21-\x7e]+$")],
        metadata={
            "description": "one per batch: a retry with the same key and body gets "
            "the first answer again instead of a second ingest"
        },
    )


class EventError(Schema):
    index = Integer(required=True, metadata={"description": "position in the batch, from 0"})
    id = String(allow_none=True, required=True)
    reason = String(required=True)
    message = String(required=True)


class BatchOut(Schema):
    accepted = Integer(required=True, metadata={"description": "new events stored"})
    rejected = Integer(required=True, metadata={"description": "invalid events newly in the DLQ"})
    duplicates = Integer(
        required=True,
        metadata={"description": "events already stored, or invalid ones already in the DLQ"},
    )
    batch_id = String(required=True)
    replayed = Boolean(
        required=True, metadata={"description": "the stored answer to an earlier Idempotency-Key"}
    )
    errors = List(
        Nested(EventError),
        required=True,
        metadata={"description": "the batch's invalid events (the first 100)"},
    )


class StatsQuery(Schema):
    source = String(validate=NAME)
    verify = Boolean(load_default=False, metadata={"description": "also count the stored rows"})


class RowsOut(Schema):
    events = Integer(required=True)
    dlq_pending = Integer(required=True)


class StatsOut(Schema):
    source = String(allow_none=True, required=True)
    received = Integer(required=True)
    stored = Integer(required=True)
    duplicates = Integer(required=True)
    dlq = Integer(required=True, metadata={"description": "in the DLQ now"})
    replayed = Integer(required=True, metadata={"description": "left the DLQ by a replay"})
    stored_bytes = Integer(required=True)
    batches = Integer(required=True)
    balanced = Boolean(
        required=True, metadata={"description": "received = stored + duplicates + dlq"}
    )
    rows = Nested(RowsOut, metadata={"description": "with verify=true"})


class DlqQuery(Schema):
    source = String(validate=NAME)
    reason = String(validate=OneOf(REASONS))
    status = String(validate=OneOf(("pending", "replayed")))
    limit = Integer(load_default=50, validate=Range(1, 500))
    cursor = String(validate=Length(max=200))


class DlqItemOut(Schema):
    id = String(required=True)
    source = String(required=True)
    event_id = String(allow_none=True, required=True)
    reason = String(required=True)
    detail = String(required=True)
    raw = String(required=True, metadata={"description": "as text (undecodable bytes as U+FFFD)"})
    raw_base64 = String(required=True, metadata={"description": "the exact bytes"})
    size_bytes = Integer(required=True)
    attempts = Integer(required=True)
    status = String(required=True)
    batch_id = String(required=True)
    first_seen_at = DateTime(required=True)
    last_seen_at = DateTime(required=True)
    created_by = String(required=True)
    replayed_at = DateTime(allow_none=True, required=True)
    replayed_by = String(allow_none=True, required=True)


class DlqItemDetail(DlqItemOut):
    """One item, as GET /dlq/{id} answers (its own name in /openapi.json: the
    page's items are DlqItemOut)."""


class DlqPage(Schema):
    items = List(Nested(DlqItemOut), required=True)
    next_cursor = String(allow_none=True, required=True)


class ReplayIn(Schema):
    ids = List(String(validate=Length(min=1, max=36)), validate=Length(min=1, max=1000))
    source = String(validate=NAME)
    reason = String(validate=OneOf(REASONS))
    corrections = Dict(
        keys=String(validate=Length(min=1, max=36)),
        values=Dict(),
        validate=Length(max=1000),
        metadata={"description": "DLQ id -> the corrected event, replayed instead of the raw"},
    )
    dry_run = StrictBoolean(load_default=False)
    max_rate = StrictFloat(
        load_default=1000.0,
        validate=Range(1, 100_000),
        metadata={"description": "events per second"},
    )
    limit = Integer(strict=True, load_default=1000, validate=Range(1, 10_000))


class ReplayItemOut(Schema):
    id = String(required=True)
    outcome = String(
        required=True, metadata={"description": "stored|duplicate|still_invalid|skipped"}
    )
    reason = String()
    message = String()


class ReplayOut(Schema):
    dry_run = Boolean(required=True)
    stored = Integer(required=True)
    duplicates = Integer(required=True)
    still_invalid = Integer(required=True)
    skipped = Integer(required=True, metadata={"description": "already replayed: not again"})
    items = List(Nested(ReplayItemOut), required=True)


class ConnectorIn(Schema):
    rate = StrictFloat(required=True, validate=Range(0.001, 10_000_000))
    burst = Integer(strict=True, required=True, validate=Range(1, 10_000_000))
    batch_size = Integer(strict=True, required=True, validate=Range(1, 100_000))
    event_types = List(
        String(validate=Length(min=1, max=64)), load_default=list, validate=Length(max=100)
    )
    auto_replay = StrictBoolean(load_default=False)
    max_attempts = Integer(strict=True, load_default=3, validate=Range(1, 100))


class ConnectorOut(Schema):
    name = String(required=True)
    rate = Float(required=True)
    burst = Integer(required=True)
    batch_size = Integer(required=True)
    event_types = List(String(), required=True)
    auto_replay = Boolean(required=True)
    max_attempts = Integer(required=True)
    received = Integer(required=True)
    stored = Integer(required=True)
    dlq = Integer(required=True)
    last_success_at = DateTime(allow_none=True, required=True)
    updated_at = DateTime(required=True)
    updated_by = String(required=True)


class ConnectorDetail(ConnectorOut):
    """One connector, as PUT answers."""


class ConnectorsOut(Schema):
    connectors = List(Nested(ConnectorOut), required=True)
