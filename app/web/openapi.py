"""What APIFlask cannot know about our routes, added to /openapi.json.

- a view guarded by a bearer token (``requires(..., via="bearer")``) declares
  the bearer security scheme;
- a JSON body with required fields is a required body;
- every route that takes a token can answer 401, 403 and 429, every body can be too large (413);
- each tag is listed once (several blueprints share "Web UI").
"""

from __future__ import annotations

import re
from typing import Any

from apiflask import APIFlask

from app.web.docs import WEB_UI

BEARER = "BearerAuth"
ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def raw_bodies(app: APIFlask) -> dict[tuple[str, str], dict[str, Any]]:
    """(OpenAPI path, method) -> request body of the views that read theirs (app.web.rawbody)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        body = getattr(app.view_functions.get(rule.endpoint), "_summit_raw_body", None)
        if body is None:
            continue
        for method in rule.methods or ():
            found[(_CONVERTER.sub(r"{\1}", rule.rule), method.lower())] = body
    return found


def bearer_operations(app: APIFlask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every view that takes a bearer token."""
    found = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if getattr(view, "_summit_via", None) != "bearer":
            continue
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        for method in rule.methods or ():
            found.add((path, method.lower()))
    return found


def complete(app: APIFlask, spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
    assert isinstance(spec, dict)  # SPEC_FORMAT is json
    bearer = bearer_operations(app)
    bodies = raw_bodies(app)
    schemas = spec.get("components", {}).get("schemas", {})
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            if (path, method) in bearer:
                operation["security"] = [{BEARER: []}]
            if (path, method) in bodies:
                operation["requestBody"] = bodies[(path, method)]
            _complete_operation(operation, schemas)
    tags = {tag["name"]: tag for tag in spec.get("tags", [])}
    if tags:
        spec["tags"] = list(tags.values())
    return spec


def _complete_operation(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    page = WEB_UI in operation.get("tags", [])
    content = {"text/html": {}} if page else {"application/json": {"schema": ERROR_REF}}
    if operation.get("security"):
        responses.setdefault(
            "401", {"description": "no token, or an invalid or expired one", "content": content}
        )
        responses.setdefault("403", {"description": "the role may not", "content": content})
        responses.setdefault(
            "429", {"description": "over the tenant's rate limit", "content": content}
        )
    body = operation.get("requestBody", {}).get("content", {})
    if body:
        responses.setdefault("413", {"description": "body too large", "content": content})
    schema = body.get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "").rsplit("/", 1)[-1]
    if (schemas.get(ref) or schema).get("required"):
        operation["requestBody"]["required"] = True
