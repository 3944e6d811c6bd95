"""Request and response bodies of the graph API (marshmallow, via APIFlask)."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Float, Integer, List, Nested, Raw, String
from apiflask.validators import Length, Range, Regexp

KIND = Regexp(r"^[a-z][a-z0-9_-]{0,63}$", error="lowercase letters, digits, _ and -, at most 64")
DATASET = Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", error="letters, digits, _ . and -, at most 64"
)
MAX_ATTRIBUTES = 100


def attributes(**kwargs: Any) -> Dict:
    """Free-form attributes; at most MAX_ATTRIBUTES of them (documented as maxProperties)."""
    return Dict(
        keys=String(), values=Raw(allow_none=True), validate=Length(max=MAX_ATTRIBUTES), **kwargs
    )


class EntityIn(Schema):
    kind = String(required=True, validate=KIND)
    name = String(required=True, validate=Length(1, 256))
    dataset = String(required=True, validate=DATASET)
    attributes = attributes(load_default=dict)
    subject = String(load_default=None, allow_none=True, validate=Length(1, 256))


class EntityPatch(Schema):
    kind = String(validate=KIND)
    name = String(validate=Length(1, 256))
    dataset = String(validate=DATASET)
    attributes = attributes()
    subject = String(allow_none=True, validate=Length(1, 256))


class EntityOut(Schema):
    id = String(required=True)
    kind = String(required=True)
    name = String(required=True)
    dataset = String(required=True)
    attributes = Dict(required=True)
    subject = String(allow_none=True)
    source = String(required=True)
    created_by = String(required=True)
    updated_by = String(required=True)
    created_at = DateTime(required=True)
    updated_at = DateTime(required=True)


class EdgeIn(Schema):
    source_id = String(required=True, validate=Length(1, 64))
    target_id = String(required=True, validate=Length(1, 64))
    kind = String(required=True, validate=KIND)
    attributes = attributes(load_default=dict)


class EdgeOut(Schema):
    id = String(required=True)
    source_id = String(required=True)
    target_id = String(required=True)
    kind = String(required=True)
    attributes = Dict(required=True)
    source = String(required=True)
    created_by = String(required=True)
    created_at = DateTime(required=True)


class NeighbourOut(Schema):
    id = String(required=True, metadata={"description": "the edge's id"})
    kind = String(required=True)
    direction = String(required=True, metadata={"description": "out: this entity is the source"})
    entity = Nested(
        Schema.from_dict(
            {"id": String(), "name": String(), "kind": String(), "dataset": String()},
            name="EdgeEnd",
        ),
        required=True,
    )


class EntityWithEdgesOut(EntityOut):
    edges = List(Nested(NeighbourOut), required=True)


class EntityListQuery(Schema):
    dataset = String(validate=DATASET)
    kind = String(validate=KIND)
    limit = Integer(load_default=50, validate=Range(1, 500))
    cursor = String(validate=Length(max=64))


class EntityPage(Schema):
    entities = List(Nested(EntityOut), required=True)
    next_cursor = String(allow_none=True, required=True)


class SearchQuery(Schema):
    q = String(required=True, validate=Length(1, 256))
    limit = Integer(load_default=20, validate=Range(1, 100))
    dataset = String(validate=DATASET)
    cursor = String(validate=Length(max=64))


class SearchHit(Schema):
    id = String(required=True)
    name = String(required=True)
    kind = String(required=True)
    dataset = String(required=True)
    score = Float(required=True)


class SearchOut(Schema):
    results = List(Nested(SearchHit), required=True)
    cached = Boolean(required=True)
    next_cursor = String(allow_none=True, required=True)
