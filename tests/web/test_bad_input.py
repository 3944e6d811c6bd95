"""Bad input gets a clear error with the right status, and nothing is written."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.core.tenancy import ALL_TENANTS
from app.graph.models import Entity
from tests.support.world import World, seed_world, services


def entity_count(app: Flask) -> int:
    with services(app).db.session(tenant_id=ALL_TENANTS) as session:
        return session.scalar(select(func.count()).select_from(Entity)) or 0


def post_raw(world: World, body: bytes | str, content_type: str = "application/json") -> Any:
    return world.client.post(
        "/api/v1/entities",
        data=body,
        content_type=content_type,
        headers=world.headers("alice"),
    )


@pytest.mark.parametrize(
    "body",
    ['{"kind": "organization", "name": ', "{'single': 'quotes'}", "{,}", "\x00\x01", "[1, 2"],
)
def test_malformed_json_is_400_malformed_json(world: World, body: str) -> None:
    before = entity_count(world.app)
    response = post_raw(world, body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "malformed_json"
    assert error["message"].startswith("the request body is not valid JSON")
    assert entity_count(world.app) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "organization", "name": 42, "dataset": "d"}, "name"),
        ({"kind": "organization", "name": "x", "dataset": "d", "attributes": []}, "attributes"),
        ({"kind": "Not A Kind!", "name": "x", "dataset": "d"}, "kind"),
        ({"kind": "organization", "name": "", "dataset": "d"}, "name"),
        ({"kind": "organization", "name": "x" * 257, "dataset": "d"}, "name"),
        ({"kind": "organization", "dataset": "d"}, "name"),
        ({"kind": "organization", "name": "x", "dataset": "d", "owner": "me"}, "owner"),
        ({"kind": "organization", "name": "x", "dataset": "d", "tenant_id": 2}, "tenant_id"),
        ({"kind": "organization", "name": "x", "dataset": "d", "id": "mine"}, "id"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(
    world: World, body: dict[str, Any], field: str
) -> None:
    before = entity_count(world.app)
    response = world.client.post("/api/v1/entities", json=body, headers=world.headers("alice"))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["json"]
    assert entity_count(world.app) == before


def test_a_json_array_is_not_an_entity(world: World) -> None:
    response = post_raw(world, "[]")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"


def test_too_many_attributes_is_400(world: World) -> None:
    attributes = {f"k{n}": n for n in range(101)}
    body = {"kind": "organization", "name": "x", "dataset": "d", "attributes": attributes}
    response = world.client.post("/api/v1/entities", json=body, headers=world.headers("alice"))
    assert response.status_code == 400
    assert "attributes" in response.get_json()["error"]["details"]["json"]


def test_oversize_body_is_413_and_writes_nothing(make_app: Callable[..., Flask]) -> None:
    world = seed_world(make_app(SUMMIT_MAX_BODY_BYTES=4096), entities_per_tenant=0)
    before = entity_count(world.app)
    body = {"kind": "organization", "name": "x", "dataset": "d", "attributes": {"b": "x" * 5000}}
    response = world.client.post("/api/v1/entities", json=body, headers=world.headers("alice"))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert entity_count(world.app) == before


def test_a_chunked_oversize_body_is_413_and_writes_nothing(
    make_app: Callable[..., Flask],
) -> None:
    """Regression: without Content-Length the body was cut at the limit and then
    refused as malformed JSON (400)."""
    world = seed_world(make_app(SUMMIT_MAX_BODY_BYTES=4096), entities_per_tenant=0)
    before = entity_count(world.app)
    body = b'{"kind": "organization", "name": "' + b"x" * 8000 + b'", "dataset": "d"}'
    response = world.client.post(
        "/api/v1/entities",
        input_stream=io.BytesIO(body),
        headers={**world.headers("alice"), "Content-Type": "application/json",
                 "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # what gunicorn says for chunked
    )  # fmt: skip
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert entity_count(world.app) == before


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/entities", "/api/v1/policy/decide"]
)
def test_json_nested_a_thousand_deep_is_400_before_anything_else(world: World, path: str) -> None:
    """Regression: Python's JSON parser recursed into a RecursionError (a 500) on
    any route, before authentication."""
    body = "[" * 1000 + "]" * 1000
    response = world.client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "too_deep"


def test_deeply_nested_attributes_are_400_and_write_nothing(world: World) -> None:
    """Regression: attributes nested 255 to 1,000 deep passed the parser and made
    orjson fail (a 500) when the entity was written back."""
    before = entity_count(world.app)
    for depth in (40, 300):
        body = {"kind": "organization", "name": "x", "dataset": "d", "attributes": nested(depth)}
        response = world.client.post("/api/v1/entities", json=body, headers=world.headers("alice"))
        assert response.status_code == 400, depth
        assert response.get_json()["error"]["code"] == "too_deep"
    assert entity_count(world.app) == before


def test_a_cursor_past_64_bits_is_400(world: World) -> None:
    """Regression: a cursor of 2**63 reached the database (OverflowError, a 500)."""
    cursor = base64.urlsafe_b64encode(f"pk:{2**63}".encode()).decode().rstrip("=")
    response = world.client.get(
        "/api/v1/entities", query_string={"cursor": cursor}, headers=world.headers("alice")
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "x" * 257},
        {"q": "rocket", "limit": 0},
        {"q": "rocket", "limit": 101},
        {"q": "rocket", "limit": "ten"},
        {"q": "rocket", "dataset": "../etc"},
        {"q": "rocket", "cursor": "not-a-cursor"},
    ],
)
def test_bad_search_parameters_are_400(world: World, params: dict[str, Any]) -> None:
    response = world.client.get(
        "/api/v1/search", query_string=params, headers=world.headers("alice")
    )
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] in ("validation_error", "invalid_cursor")


def test_a_query_of_only_punctuation_finds_nothing_and_breaks_nothing(world: World) -> None:
    for q in [
        '"',
        "*",
        "AND OR NOT",
        "(",
        "tenant_id:1",
        "NEAR(a b)",
        "'; DROP TABLE entities; --",
    ]:
        response = world.client.get(
            "/api/v1/search", query_string={"q": q}, headers=world.headers("alice")
        )
        assert response.status_code == 200, q
    assert entity_count(world.app) > 0


def test_edge_to_a_missing_entity_is_404_and_writes_nothing(world: World) -> None:
    rocket = world.client.get("/api/v1/search?q=rocket", headers=world.headers("alice")).get_json()[
        "results"
    ][0]
    response = world.client.post(
        "/api/v1/edges",
        json={"source_id": rocket["id"], "target_id": "missing", "kind": "owns"},
        headers=world.headers("alice"),
    )
    assert response.status_code == 404
    entity = world.client.get(f"/api/v1/entities/{rocket['id']}", headers=world.headers("alice"))
    assert all(edge["entity"]["id"] != "missing" for edge in entity.get_json()["edges"])


def test_unknown_route_and_wrong_method_use_the_error_shape(world: World) -> None:
    missing = world.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    wrong = world.client.put("/api/v1/search")
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            '{"kind": "x", "name": "a", "dataset": "d", "attributes": {"n": ' + str(2**70) + "}}",
            "body.attributes.n",
        ),
        ('{"kind": "x", "name": "\\udb7c", "dataset": "d"}', "body.name"),
        ('{"kind": "x", "name": "a\\u0000b", "dataset": "d"}', "body.name"),
        (
            '{"kind": "x", "name": "a", "dataset": "d", "attributes": {"f": NaN}}',
            "body.attributes.f",
        ),
        (
            '{"kind": "x", "name": "a", "dataset": "d", "attributes": {"\\u0000": 1}}',
            "body.attributes key",
        ),
    ],
)
def test_values_no_database_can_store_are_400(world: World, body: str, where: str) -> None:
    before = entity_count(world.app)
    response = post_raw(world, body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_value"
    assert error["message"].startswith(where)
    assert entity_count(world.app) == before


def test_nul_in_query_or_path_is_400(world: World) -> None:
    for url in ("/api/v1/search?q=a%00b", "/api/v1/entities/a%00b"):
        response = world.client.get(url, headers=world.headers("alice"))
        assert response.status_code == 400, url
        assert response.get_json()["error"]["code"] == "unsupported_value"


def test_unknown_query_parameters_are_400(world: World) -> None:
    response = world.client.get("/api/v1/search?q=rocket&limt=5", headers=world.headers("alice"))
    assert response.status_code == 400
    assert response.get_json()["error"]["details"] == {"query": {"limt": ["Unknown field."]}}
