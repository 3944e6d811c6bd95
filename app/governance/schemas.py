"""Request and response bodies of the governance and audit APIs."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from governance.holds import MAX_ENTITIES
from governance.retention import MAX_DAYS, MIN_DAYS

ENTITY_ID = String(validate=Length(1, 64))


class RetentionChangeOut(Schema):
    at = DateTime(required=True)
    changed_by = String(required=True)
    old_days = Integer(required=True)
    new_days = Integer(required=True)
    reason = String(required=True)


class RetentionOut(Schema):
    days = Integer(required=True, metadata={"description": "kept this long after deletion"})
    updated_at = DateTime(required=True, allow_none=True, metadata={"description": "null: default"})
    updated_by = String(required=True)
    changes = List(Nested(RetentionChangeOut), required=True)


class RetentionIn(Schema):
    days = Integer(required=True, strict=True, validate=Range(MIN_DAYS, MAX_DAYS))
    reason = String(load_default="", validate=Length(max=500))


class PurgeIn(Schema):
    entity_ids = List(
        String(validate=Length(1, 64)),
        validate=Length(1, MAX_ENTITIES),
        metadata={"description": "soft-deleted entities to purge now; omit to run retention"},
    )


class PurgeOut(Schema):
    purged = Integer(required=True)
    held = Integer(required=True, metadata={"description": "kept because a legal hold applies"})
    edges = Integer(required=True)


class HoldIn(Schema):
    entity_ids = List(
        String(validate=Length(1, 64)), required=True, validate=Length(1, MAX_ENTITIES)
    )
    reason = String(required=True, validate=Length(1, 2000))
    case_id = String(load_default=None, allow_none=True, validate=Length(1, 128))


class ReleaseIn(Schema):
    reason = String(required=True, validate=Length(1, 2000))


class HoldOut(Schema):
    id = String(required=True)
    status = String(required=True, metadata={"description": "active | released"})
    owner = String(required=True)
    reason = String(required=True)
    case_id = String(allow_none=True, required=True)
    entity_ids = List(String(), required=True)
    created_at = DateTime(required=True)
    released_at = DateTime(allow_none=True, required=True)
    released_by = String(allow_none=True, required=True)
    release_reason = String(allow_none=True, required=True)


class HoldsQuery(Schema):
    status = String(load_default="active", validate=OneOf(("active", "all")))


class HoldsOut(Schema):
    holds = List(Nested(HoldOut), required=True)


class ExportIn(Schema):
    subject = String(required=True, validate=Length(1, 256))


class ExportOut(Schema):
    id = String(required=True)
    status = String(required=True, metadata={"description": "queued|running|done|failed|expired"})
    subject = String(required=True)
    requested_by = String(required=True)
    requested_at = DateTime(required=True)
    finished_at = DateTime(allow_none=True, required=True)
    expires_at = DateTime(
        allow_none=True, required=True, metadata={"description": "the download link's expiry"}
    )
    records = Integer(allow_none=True, required=True)
    size_bytes = Integer(allow_none=True, required=True)
    sha256 = String(allow_none=True, required=True, metadata={"description": "of the zip"})
    error = String(allow_none=True, required=True)
    download_url = String(allow_none=True, required=True)


class AuditQuery(Schema):
    actor = String(validate=Length(1, 128))
    action = String(validate=Length(1, 64))
    target = String(validate=Length(1, 256))
    since = DateTime()
    until = DateTime()
    limit = Integer(load_default=100, validate=Range(1, 500))
    cursor = String(validate=Length(max=64))


class AuditEntryOut(Schema):
    seq = Integer(required=True)
    at = DateTime(required=True)
    actor = String(required=True)
    action = String(required=True)
    target = String(required=True)
    payload = Dict(allow_none=True, required=True, metadata={"description": "null once purged"})
    payload_sha256 = String(required=True)
    prev_hash = String(required=True)
    hash = String(required=True)


class AuditPage(Schema):
    entries = List(Nested(AuditEntryOut), required=True)
    next_cursor = String(allow_none=True, required=True)


class VerifyOut(Schema):
    ok = Boolean(required=True)
    checked = Integer(required=True, metadata={"description": "entries checked"})
    first_bad_seq = Integer(metadata={"description": "when not ok: the first bad entry"})
    reason = String(metadata={"description": "when not ok: what is wrong there"})
