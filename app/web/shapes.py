"""One definition per response shape: the marshmallow schema (which also feeds
/openapi.json), dumped fast on the hot paths.

``@output`` dumps through marshmallow, ~0.4 ms a request for an entity with
its edges. The hot paths (search, entity fetch, decide) instead read the same
schema's field list once, compile it to a plan of (output key, attribute,
nested plan), and hand plain values to orjson, which writes datetimes,
tuples and dicts itself. The schema stays the one description of the shape;
tests check that the plan and marshmallow agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson
from flask import Response
from marshmallow import Schema, fields

# (output key, source attribute, nested plan or None, many)
Plan = tuple[tuple[str, str, "Plan | None", bool], ...]


@cache
def plan_of(schema: type[Schema]) -> Plan:
    steps = []
    for name, field in schema().fields.items():
        if field.load_only:
            continue
        nested, many = None, False
        if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            nested, many = _nested_plan(field.inner), True
        elif isinstance(field, fields.Nested):
            nested, many = _nested_plan(field), bool(field.many)
        steps.append((field.data_key or name, field.attribute or name, nested, many))
    return tuple(steps)


def _nested_plan(field: fields.Nested) -> Plan:
    target = field.nested
    if isinstance(target, Schema):
        return plan_of(type(target))
    if isinstance(target, type) and issubclass(target, Schema):
        return plan_of(target)
    raise TypeError(f"cannot plan a nested {target!r}")


def _get(obj: Any, attribute: str, extra: Mapping[str, Any]) -> Any:
    if attribute in extra:
        return extra[attribute]
    if isinstance(obj, Mapping):
        return obj.get(attribute)
    return getattr(obj, attribute, None)


def _apply(plan: Plan, obj: Any, extra: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, attribute, nested, many in plan:
        value = _get(obj, attribute, extra)
        if nested is not None and value is not None and many:
            value = [_apply(nested, item, {}) for item in value]
        elif nested is not None and value is not None:
            value = _apply(nested, value, {})
        out[key] = value
    return out


def dump(schema: type[Schema], obj: Any, **extra: Any) -> dict[str, Any]:
    """``obj`` in ``schema``'s shape; ``extra`` supplies fields ``obj`` lacks."""
    return _apply(plan_of(schema), obj, extra)


def json_bytes(schema: type[Schema], obj: Any, **extra: Any) -> bytes:
    return orjson.dumps(dump(schema, obj, **extra))


def json_response(schema: type[Schema] | bytes, obj: Any = None, status: int = 200) -> Response:
    """A JSON response in ``schema``'s shape, or already-serialised ``bytes``
    (a cached answer). Views that return this keep their ``@output`` for the
    OpenAPI document."""
    data = schema if isinstance(schema, bytes) else json_bytes(schema, obj)
    return Response(data, status=status, mimetype="application/json")
