"""The HOT query cache: hits are served, writes invalidate at once, nothing crosses
tenants or roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from prometheus_client import CollectorRegistry

from app.core.metrics import Metrics
from app.graph.cache import Bounds, CacheKey, QueryCache
from tests.support.world import World, seed_world, services


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


def test_hits_and_misses_are_counted(world: World) -> None:
    for q in ("rocket", "rocket", "acme", "wile", "rocket"):
        search(world, q)
    metrics = world.client.get("/metrics").get_data(as_text=True)
    assert 'summit_cache_requests_total{kind="search",result="hit"} 2.0' in metrics
    assert 'summit_cache_requests_total{kind="search",result="miss"} 3.0' in metrics


def memory_cache(**bounds: int) -> tuple[QueryCache, Metrics]:
    metrics = Metrics(CollectorRegistry())
    limits = {"max_bytes": 1000, "tenant_max_bytes": 600, "max_entry_bytes": 300, **bounds}
    return QueryCache(redis_url="", bounds=Bounds(ttl=60, **limits), metrics=metrics), metrics


def key(tenant: int, n: int) -> CacheKey:
    return QueryCache.key("search", tenant_id=tenant, generation=0, role="admin", params=n)


def test_a_tenant_over_its_bytes_evicts_its_own_oldest_never_anothers() -> None:
    cache, metrics = memory_cache()
    cache.put(key(2, 0), b"b" * 200)
    for n in range(5):
        cache.put(key(1, n), b"a" * 200)
    assert cache.tenant_bytes(1) <= 600
    assert cache.get("search", key(1, 0)) is None  # its oldest went first
    assert cache.get("search", key(1, 4)) is not None
    assert cache.get("search", key(2, 0)) is not None  # the other tenant kept its answer
    assert metrics.registry.get_sample_value("summit_cache_evictions_total") == 2


def test_the_process_total_is_bounded_by_evicting_the_biggest_tenant() -> None:
    cache, _ = memory_cache(max_bytes=700)
    cache.put(key(2, 0), b"b" * 250)
    for n in range(3):
        cache.put(key(1, n), b"a" * 200)
    assert cache.size_bytes <= 700
    assert cache.get("search", key(2, 0)) is not None


def test_an_answer_over_the_entry_limit_is_not_cached() -> None:
    cache, metrics = memory_cache()
    cache.put(key(1, 0), b"x" * 301)
    assert cache.get("search", key(1, 0)) is None
    assert cache.size_bytes == 0
    assert metrics.registry.get_sample_value("summit_cache_skipped_total") == 1


def test_reading_large_entities_between_writes_keeps_memory_bounded(
    make_app: Callable[..., Flask],
) -> None:
    """Regression: the cache was capped at 10,000 entries, not bytes; reading a
    ~1 MB entity then writing anything, repeated, took three workers from 627 MB
    to 2.38 GB in 32 s."""
    app = make_app(SUMMIT_CACHE_TENANT_MAX_BYTES=400_000, SUMMIT_CACHE_MAX_ENTRY_BYTES=300_000)
    world = seed_world(app)
    alice = world.headers("alice")
    sizes = []
    for n in range(12):
        body = {"kind": "event", "name": f"big {n}", "dataset": "d",
                "attributes": {"blob": "x" * 150_000}}  # fmt: skip
        entity = world.client.post("/api/v1/entities", json=body, headers=alice).get_json()
        assert (
            world.client.get(f"/api/v1/entities/{entity['id']}", headers=alice).status_code == 200
        )
        sizes.append(services(app).cache.size_bytes)  # each write made earlier answers stale
    assert max(sizes) <= 400_000
    huge = {"kind": "event", "name": "huge", "dataset": "d", "attributes": {"blob": "y" * 350_000}}
    entity = world.client.post("/api/v1/entities", json=huge, headers=alice).get_json()
    fetched = world.client.get(f"/api/v1/entities/{entity['id']}", headers=alice)
    again = world.client.get(f"/api/v1/entities/{entity['id']}", headers=alice)
    assert (fetched.headers["X-Cache"], again.headers["X-Cache"]) == ("MISS", "MISS")


def test_a_zero_ttl_serves_no_stale_answer(make_app: Callable[..., Flask]) -> None:
    world = seed_world(make_app(SUMMIT_CACHE_TTL_SECONDS=0))
    assert search(world).headers["X-Cache"] == "MISS"
    assert search(world).headers["X-Cache"] == "MISS"
