"""The shared rate store: the same exact bound on SQLite and on Redis."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.core.gcra import RedisStore, SqliteStore
from tests.support.services import REDIS_URL, require_service


def redis_problem() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        return None
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteStore | RedisStore]:
    if request.param == "sqlite":
        yield SqliteStore(tmp_path / "limits.db")
        return
    require_service("Redis", redis_problem())
    shared = RedisStore(REDIS_URL, prefix=f"test:{tmp_path.name}:")
    yield shared
    shared.reset()


def admitted(store: SqliteStore | RedisStore, times: list[float], *, qps: int, burst: int) -> int:
    return sum(store.hit("k", period=1 / qps, capacity=burst, now=now).allowed for now in times)


def test_a_burst_then_the_rate_and_never_more(store: SqliteStore | RedisStore) -> None:
    at_once = admitted(store, [100.0] * 50, qps=10, burst=20)
    assert at_once == 20
    over_a_second = admitted(store, [100.0 + i / 100 for i in range(1, 101)], qps=10, burst=20)
    assert over_a_second == 10  # refilled at 10 a second, not one more


@pytest.mark.parametrize("seconds", [0.5, 1.0, 3.7])
def test_any_window_admits_at_most_burst_plus_rate(
    store: SqliteStore | RedisStore, seconds: float
) -> None:
    times = [1000.0 + seconds * i / 299 for i in range(300)]
    assert admitted(store, times, qps=20, burst=5) <= 5 + math.ceil(20 * seconds)


def test_peek_spends_nothing_and_clear_starts_afresh(store: SqliteStore | RedisStore) -> None:
    for _ in range(3):
        assert store.peek("k", period=1.0, capacity=2, now=5.0).allowed
    assert admitted(store, [5.0, 5.0, 5.0], qps=1, burst=2) == 2
    assert not store.peek("k", period=1.0, capacity=2, now=5.0).allowed
    store.clear("k")
    assert store.peek("k", period=1.0, capacity=2, now=5.0).allowed


def test_in_flight_slots_are_capped_per_group(store: SqliteStore | RedisStore) -> None:
    take = store.acquire_slot
    assert take("acme", slot="w1", cap=2, now=10.0, stale=60)
    assert take("acme", slot="w2", cap=2, now=10.0, stale=60)
    assert not take("acme", slot="w3", cap=2, now=10.0, stale=60)
    assert take("globex", slot="w3", cap=2, now=10.0, stale=60)  # another tenant: free
    store.release_slot("w1")
    assert take("acme", slot="w4", cap=2, now=10.0, stale=60)
    # A slot left behind by a killed worker stops counting once stale.
    assert take("acme", slot="w5", cap=2, now=100.0, stale=60)


def test_a_dead_processes_slots_are_given_back(store: SqliteStore | RedisStore) -> None:
    assert store.acquire_slot("acme", slot="4242:1", cap=1, now=10.0, stale=600)
    assert not store.acquire_slot("acme", slot="77:1", cap=1, now=11.0, stale=600)
    store.release_process(4242)  # the worker was killed mid-request
    assert store.acquire_slot("acme", slot="77:1", cap=1, now=12.0, stale=600)
