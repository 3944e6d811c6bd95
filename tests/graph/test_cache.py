"""The HOT query cache: hits are served, writes invalidate at once, nothing crosses
tenants or roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from tests.support.world import World, seed_world


def search(world: World, q: str = "rocket", user: str = "alice") -> Any:
    return world.client.get(f"/api/v1/search?q={q}", headers=world.headers(user))


def test_a_repeated_search_is_a_hit(world: World) -> None:
    first, second = search(world), search(world)
    assert (first.headers["X-Cache"], first.get_json()["cached"]) == ("MISS", False)
    assert (second.headers["X-Cache"], second.get_json()["cached"]) == ("HIT", True)
    assert second.get_json()["results"] == first.get_json()["results"]
    same_words = search(world, q="ROCKET")
    assert same_words.headers["X-Cache"] == "HIT"  # the same words are the same question


def test_a_write_is_seen_by_the_very_next_read(world: World) -> None:
    assert search(world, "zanzibar").get_json()["results"] == []
    assert search(world, "zanzibar").headers["X-Cache"] == "HIT"
    created = world.client.post(
        "/api/v1/entities",
        json={"kind": "location", "name": "Zanzibar Port", "dataset": "d"},
        headers=world.headers("alice"),
    ).get_json()
    after = search(world, "zanzibar")
    assert after.headers["X-Cache"] == "MISS"
    assert [hit["name"] for hit in after.get_json()["results"]] == ["Zanzibar Port"]

    url = f"/api/v1/entities/{created['id']}"
    assert world.client.get(url, headers=world.headers("alice")).headers["X-Cache"] == "MISS"
    assert world.client.get(url, headers=world.headers("alice")).headers["X-Cache"] == "HIT"
    world.client.patch(url, json={"name": "Zanzibar Harbour"}, headers=world.headers("alice"))
    fresh = world.client.get(url, headers=world.headers("alice"))
    assert (fresh.headers["X-Cache"], fresh.get_json()["name"]) == ("MISS", "Zanzibar Harbour")
    world.client.delete(url, headers=world.headers("alice"))
    assert world.client.get(url, headers=world.headers("alice")).status_code == 404
    assert search(world, "zanzibar").get_json()["results"] == []


def test_cached_answers_never_cross_tenants_or_roles(world: World) -> None:
    assert search(world, user="alice").headers["X-Cache"] == "MISS"
    bob = search(world, user="bob")
    assert bob.headers["X-Cache"] == "MISS"  # another role: another key
    carol = search(world, user="carol")
    assert carol.headers["X-Cache"] == "MISS"
    assert [h["name"] for h in carol.get_json()["results"]] == ["Globex Rocket Testing Range"]
    rocket = search(world).get_json()["results"][0]["id"]
    url = f"/api/v1/entities/{rocket}"
    assert world.client.get(url, headers=world.headers("alice")).status_code == 200
    assert world.client.get(url, headers=world.headers("carol")).status_code == 404


def test_hits_misses_and_evictions_are_counted(make_app: Callable[..., Flask]) -> None:
    world = seed_world(make_app(SUMMIT_CACHE_MAX_ENTRIES=2))
    for q in ("rocket", "rocket", "acme", "wile", "rocket"):
        search(world, q)
    metrics = world.client.get("/metrics").get_data(as_text=True)
    assert 'summit_cache_requests_total{kind="search",result="hit"} 1.0' in metrics
    assert 'summit_cache_requests_total{kind="search",result="miss"} 4.0' in metrics
    assert "summit_cache_evictions_total 2.0" in metrics


def test_a_zero_ttl_serves_no_stale_answer(make_app: Callable[..., Flask]) -> None:
    world = seed_world(make_app(SUMMIT_CACHE_TTL_SECONDS=0))
    assert search(world).headers["X-Cache"] == "MISS"
    assert search(world).headers["X-Cache"] == "MISS"
