"""Request and response bodies of the feedback API (marshmallow, via APIFlask)."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Date, DateTime, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf
from marshmallow import ValidationError, validates_schema

from app.feedback.models import VOTES
from app.graph.schemas import DATASET


class VoteIn(Schema):
    query = String(
        required=True,
        validate=Length(1, 256),
        metadata={"description": "the search the result answered, as typed"},
    )
    entity_id = String(required=True, validate=Length(1, 64))
    vote = String(required=True, validate=OneOf(VOTES))
    dataset = String(
        validate=DATASET,
        metadata={"description": "the entity's dataset (the default); another one is a 404"},
    )


class VoteOut(Schema):
    id = String(required=True)
    query = String(required=True, metadata={"description": "normalized: one space, case-folded"})
    entity_id = String(required=True)
    vote = String(required=True, validate=OneOf(VOTES))
    dataset = String(required=True)
    voter = String(required=True)
    created_at = DateTime(required=True, metadata={"description": "the caller's first vote"})
    voted_at = DateTime(required=True, metadata={"description": "the latest vote (this one)"})
    previous = String(
        required=True,
        allow_none=True,
        metadata={"description": "the vote this one replaced, or null for a first vote"},
    )


class RangeQuery(Schema):
    dataset = String(validate=DATASET)
    since = Date(metadata={"description": "first UTC day counted (inclusive)"})
    until = Date(metadata={"description": "last UTC day counted (inclusive)"})

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and since > until:
            raise ValidationError("since is after until", "until")


def _tally(**extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "up": Integer(required=True),
        "down": Integer(required=True),
        "total": Integer(required=True),
        "ratio": Float(
            required=True,
            allow_none=True,
            metadata={"description": "up / total, 4 decimals; null without votes"},
        ),
    }


TallyOut = Schema.from_dict(_tally(), name="FeedbackTally")
DatasetTallyOut = Schema.from_dict(
    _tally(dataset=String(required=True)), name="FeedbackDatasetTally"
)
DayTallyOut = Schema.from_dict(_tally(day=Date(required=True)), name="FeedbackDayTally")


class SummaryOut(Schema):
    totals = Nested(TallyOut, required=True)
    by_dataset = List(Nested(DatasetTallyOut), required=True)
    by_day = List(Nested(DayTallyOut), required=True)
