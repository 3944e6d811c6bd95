"""The fast dump of a response schema says exactly what marshmallow would."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
from marshmallow import Schema

from app.graph.schemas import EntityWithEdgesOut, SearchOut
from app.graph.search import Hit
from app.graph.service import EdgeEnd, Neighbour
from app.policy.engine import Decision
from app.policy.schemas import DecideOut
from app.web.shapes import json_bytes
from tests.support.world import World

AT = datetime(2026, 11, 26, 12, 30, 5, 123456, tzinfo=UTC)


def both(schema: type[Schema], obj: Any, **extra: Any) -> tuple[Any, Any]:
    fast = orjson.loads(json_bytes(schema, obj, **extra))
    slow_input = SimpleNamespace(**{**vars(obj), **extra}) if extra else obj
    slow = json.loads(json.dumps(schema().dump(slow_input)))
    return fast, slow


def test_an_entity_with_its_edges() -> None:
    entity = SimpleNamespace(
        id="e1", kind="organization", name="Acme", dataset="osint",
        attributes={"country": "US", "nested": {"a": [1, 2.5, None]}}, subject=None,
        source="api", created_by="alice", updated_by="bob", created_at=AT, updated_at=AT,
    )  # fmt: skip
    edges = [Neighbour("x1", "owns", "out", EdgeEnd("e2", "Plant", "facility", "osint"))]
    fast, slow = both(EntityWithEdgesOut, entity, edges=edges)
    assert fast == slow
    assert fast["edges"][0]["entity"]["name"] == "Plant"


def test_search_results_and_a_decision() -> None:
    page = SimpleNamespace(results=[Hit("e1", "Acme", "organization", "osint", 1.25)],
                           cached=False, next_cursor=None)  # fmt: skip
    fast, slow = both(SearchOut, page)
    assert fast == slow
    decision = Decision(False, ("tenant-isolation",), 0.0312)
    assert orjson.loads(json_bytes(DecideOut, decision)) == DecideOut().dump(decision)


def test_the_api_answers_in_the_documented_shape(world: World) -> None:
    alice = world.headers("alice")
    found = world.client.get("/api/v1/search?q=rocket", headers=alice).get_json()
    SearchOut().load(found)
    body = world.client.get(f"/api/v1/entities/{found['results'][0]['id']}", headers=alice)
    assert body.get_json()["edges"], "the anchor entity has edges in the seed"
    EntityWithEdgesOut().load(body.get_json())
