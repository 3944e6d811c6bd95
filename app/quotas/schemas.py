"""Request and response bodies of the quota API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import DateTime, Dict, Integer, List, Nested, String
from apiflask.validators import Length, Range
from marshmallow import ValidationError

from app.quotas.service import APPLY_MARK, LIMIT_RANGES


def _range(name: str) -> Range:
    low, high = LIMIT_RANGES[name]
    return Range(low, high)


class LimitsOut(Schema):
    qps = Integer(required=True, metadata={"description": "sustained requests per second"})
    burst = Integer(required=True, metadata={"description": "extra requests in any one second"})
    concurrent_jobs = Integer(required=True)
    storage_bytes = Integer(required=True)


class UsageOut(Schema):
    storage_bytes = Integer(required=True)
    running_jobs = Integer(required=True)


class QuotasOut(Schema):
    tenant = String(required=True)
    limits = Nested(LimitsOut, required=True)
    usage = Nested(UsageOut, required=True)


class ChangeOut(Schema):
    at = DateTime(required=True)
    changed_by = String(required=True)
    old = Dict(required=True)
    new = Dict(required=True)
    reason = String(required=True)


class RejectionOut(Schema):
    route = String(required=True)
    reason = String(required=True)
    count = Integer(required=True)


class AdminQuotasOut(QuotasOut):
    recent_429s = List(
        Nested(RejectionOut),
        required=True,
        metadata={"description": "429s in the last hour, per route"},
    )
    changes = List(Nested(ChangeOut), required=True, metadata={"description": "newest first"})


def _not_an_apply(text: str) -> None:
    """A hand-made change must not pass for an apply of the quotas file: a plan
    takes the newest entry beginning with the mark as "last applied"."""
    if text.strip().lower().startswith(APPLY_MARK):
        raise ValidationError(
            f"a reason may not begin with {APPLY_MARK!r}: that marks `summit quotas apply`"
        )


class QuotaPatch(Schema):
    qps = Integer(strict=True, validate=_range("qps"))
    burst = Integer(strict=True, validate=_range("burst"))
    concurrent_jobs = Integer(strict=True, validate=_range("concurrent_jobs"))
    storage_bytes = Integer(strict=True, validate=_range("storage_bytes"))
    reason = String(
        load_default="",
        validate=[Length(max=500), _not_an_apply],
        metadata={
            "description": "why: kept in the audit of quota changes "
            f"(may not begin with {APPLY_MARK!r}, which marks `summit quotas apply`)"
        },
    )
