"""/openapi.json describes every route, with our error shape and auth."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from openapi_spec_validator import validate

from app.factory import FRAMEWORK_ENDPOINTS, _check_every_route_is_guarded
from tests.support.world import services


def spec(app: Flask) -> dict:  # type: ignore[type-arg]
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    body: dict = response.get_json()  # type: ignore[type-arg]
    return body


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_every_route_is_described(app: Flask) -> None:
    paths = spec(app)["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FRAMEWORK_ENDPOINTS:
            continue
        path = openapi_path(rule.rule)
        assert path in paths, f"{rule.rule} is missing from /openapi.json"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], f"{method} {rule.rule} undocumented"


def test_guarded_routes_declare_bearer_auth_and_errors_use_our_shape(app: Flask) -> None:
    document = spec(app)
    search = document["paths"]["/api/v1/search"]["get"]
    assert search["security"] == [{"BearerAuth": []}]
    assert document["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    error = document["components"]["schemas"]["ErrorOut"]
    assert error["required"] == ["error"]
    login = document["paths"]["/api/v1/auth/login"]["post"]
    assert "security" not in login
    assert set(login["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/"))


def test_an_unguarded_route_stops_the_app_from_booting(app: Flask) -> None:
    app.add_url_rule("/api/v1/leaky", "leaky", lambda: "oops")
    with pytest.raises(RuntimeError, match="leaky"):
        _check_every_route_is_guarded(app, services(app).policy.actions)  # type: ignore[arg-type]


def test_the_document_is_valid_openapi(app: Flask) -> None:
    validate(spec(app))  # raises, naming the first problem


def test_each_tag_is_listed_once(app: Flask) -> None:
    names = [tag["name"] for tag in spec(app).get("tags", [])]
    assert len(names) == len(set(names)), names
