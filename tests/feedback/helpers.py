"""Helpers for the feedback tests: a search hit's id, votes cast through the API."""

from __future__ import annotations

from typing import Any

from tests.support.world import World


def hit_id(world: World, query: str, name: str, user: str = "alice") -> str:
    found = world.client.get(f"/api/v1/search?q={query}", headers=world.headers(user))
    assert found.status_code == 200, found.get_json()
    ids = [hit["id"] for hit in found.get_json()["results"] if hit["name"] == name]
    assert ids, found.get_json()
    return str(ids[0])


def vote(world: World, user: str, **body: Any) -> Any:
    return world.client.post("/api/v1/feedback", json=body, headers=world.headers(user))
