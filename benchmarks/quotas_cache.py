"""Rate-limiter overhead, HOT cache hit vs miss, and the hit rate of a repeated workload.

1. Limiter: TenantRateLimiter.hit and an in-flight slot per request, with the
   embedded default's SQLite store and with Redis (127.0.0.1:6379, database 12,
   flushed), each beside one bare round trip of its store (a one-row UPSERT; a
   PING): the ceiling a shared limiter cannot beat.
2. Cache: `summit serve` on the 100,000-entity-per-tenant data, measured by
   `hey` with 1 client (service time) and 50 clients: the same search and the
   same entity fetch with the cache on (all hits after the first) and off
   (SUMMIT_CACHE_TTL_SECONDS=0: all misses).
3. Hit rate: 3,000 requests from 4 threads over 60 distinct searches and 40
   entity fetches drawn Zipf-like (as users repeat popular queries): reads
   only with per-worker memory caches, reads only with one Redis cache, and
   with a write every 100 reads (each write invalidates all of the tenant's
   answers).
(2b. The cached part alone, in-process: computing an answer vs getting it.)

    .venv/bin/python -m benchmarks.quotas_cache [--entities 100000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import redis
import requests
from prometheus_client import CollectorRegistry

from app.core.db import Database
from app.core.gcra import RedisStore, SqliteStore
from app.core.metrics import Metrics
from app.graph import service as graph
from app.graph.cache import Bounds, CacheKey, QueryCache
from app.graph.search import search_entities
from app.quotas.ratelimit import TenantRateLimiter
from app.settings import load_settings
from benchmarks import common
from benchmarks.common import bench_env, hey, login, raise_rate_limit, seed_entities
from tests.support.live import summit_server

REDIS_URL = "redis://127.0.0.1:6379/12"


def timed(fn: Any, n: int) -> tuple[float, float, float]:
    """In milliseconds."""
    p50, p95, p99 = common.timed(fn, n)
    return p50 * 1000, p95 * 1000, p99 * 1000


def limiter_overhead() -> None:
    print("1. rate limiter, per request (ms):")
    with tempfile.TemporaryDirectory() as work:
        embedded = SqliteStore(Path(work) / "limits.db")
        rows = _limiter_rows("SQLite store (embedded default)", embedded, _sqlite_ceiling(work))
        try:
            client = redis.Redis.from_url(REDIS_URL)
            client.flushdb()
            rows += _limiter_rows("Redis store", RedisStore(REDIS_URL), client.ping)
        except redis.RedisError as exc:
            print(f"  (Redis unreachable, skipped: {exc})")
        for name, fn, n in rows:
            p50, p95, p99 = timed(fn, n)
            print(f"  {name:<46} p50 {p50:6.3f}  p95 {p95:6.3f}  p99 {p99:6.3f}")
    redis.Redis.from_url(REDIS_URL).flushdb()


def _limiter_rows(
    label: str, store: SqliteStore | RedisStore, ceiling: Callable[[], object]
) -> list[tuple[str, Callable[[], object], int]]:
    limiter = TenantRateLimiter(store)

    def slot() -> None:
        limiter.acquire(tenant="t", cap=1000)
        limiter.release()

    return [
        (f"ceiling: {label}, one bare round trip", ceiling, 5_000),
        (f"limiter hit, {label}", lambda: limiter.hit(tenant="t", qps=100_000, burst=100), 5_000),
        (f"in-flight slot take + give back, {label}", slot, 5_000),
    ]


def _sqlite_ceiling(work: str) -> Callable[[], object]:
    """One UPSERT of one row on the same kind of file: what any shared store pays."""
    db = sqlite3.connect(Path(work) / "ceiling.db", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=OFF"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v REAL)")
    upsert = "INSERT INTO t VALUES ('k', 1) ON CONFLICT (k) DO UPDATE SET v = v + 1"
    return lambda: db.execute(upsert)


@contextmanager
def serve(env: dict[str, str]) -> Iterator[str]:
    with summit_server(env, workers=None) as server:
        raise_rate_limit(server.url)
        yield server.url


def session_for(base: str) -> tuple[dict[str, str], str]:
    headers = {"Authorization": f"Bearer {login(base, 'acme', 'alice')}"}
    found = requests.get(f"{base}/api/v1/search?q=rocket", headers=headers, timeout=10).json()
    return headers, found["results"][0]["id"]


def cache_latency(env: dict[str, str], seconds: int) -> None:
    print("\n2. HOT cache, hit vs miss over HTTP (ms):")
    for label, ttl in (("cache on (hits)", "30"), ("cache off (misses)", "0")):
        with serve({**env, "SUMMIT_CACHE_TTL_SECONDS": ttl}) as base:
            headers, rocket = session_for(base)
            token = headers["Authorization"].split()[1]
            for name, path in (
                ("search q=falcon harbor", "/api/v1/search?q=falcon%20harbor"),
                ("entity fetch", f"/api/v1/entities/{rocket}"),
            ):
                for clients in (1, 50):
                    result = hey(base + path, token, seconds, clients)
                    pct = result["pct"]
                    print(
                        f"  {label:<20} {name:<24} {clients:>2} clients  "
                        f"{result['rps']:7.0f} req/s  p50 {pct[50]:6.2f}  p95 {pct[95]:6.2f}"
                    )


def hit_rate(env: dict[str, str]) -> None:
    print("\n3. hit rate, repeated-query workload (3 workers, 4 client threads):")
    redis.Redis.from_url(REDIS_URL).flushdb()
    for label, extra, write_every in (
        ("reads only, per-worker memory caches", {}, 0),
        ("reads only, one Redis cache", {"REDIS_URL": REDIS_URL}, 0),
        ("a write every 100 reads, one Redis cache", {"REDIS_URL": REDIS_URL}, 100),
    ):
        hits, total, distinct = _workload({**env, **extra}, write_every)
        print(f"  {label:<42} {total} reads over {distinct} distinct: hit rate {hits / total:.1%}")
    redis.Redis.from_url(REDIS_URL).flushdb()


def _workload(env: dict[str, str], write_every: int) -> tuple[int, int, int]:
    """3,000 reads over 60 searches and 40 entity fetches drawn Zipf-like (users
    repeat popular questions), optionally with a write every ``write_every``."""
    with serve(env) as base:
        headers, _ = session_for(base)
        rng = random.Random(11)
        words = [
            "falcon",
            "harbor",
            "cedar",
            "orbit",
            "raven",
            "delta",
            "summit",
            "atlas",
            "comet",
            "ember",
            "helix",
            "onyx",
        ]
        queries = [f"{a} {b}" for a in words for b in words if a < b][:60]
        ids = [
            h["id"]
            for q in queries[:20]
            for h in requests.get(
                f"{base}/api/v1/search?q={q}&limit=2", headers=headers, timeout=10
            ).json()["results"]
        ]
        targets = [f"/api/v1/search?q={q}" for q in queries]
        targets += [f"/api/v1/entities/{i}" for i in ids[:40]]
        weights = [1 / (rank + 1) for rank in range(len(targets))]
        plan = rng.choices(targets, weights=weights, k=3000)

        def one(item: tuple[int, str]) -> str:
            n, path = item
            if write_every and n % write_every == write_every - 1:
                requests.post(
                    f"{base}/api/v1/entities",
                    headers=headers,
                    timeout=10,
                    json={"kind": "event", "name": f"write {n}", "dataset": "bench"},
                )
            return requests.get(base + path, headers=headers, timeout=10).headers["X-Cache"]

        with ThreadPoolExecutor(max_workers=4) as pool:
            marks = list(pool.map(one, enumerate(plan)))
        return marks.count("HIT"), len(marks), len(targets)


def answer_time(env: dict[str, str]) -> None:
    """The part the cache replaces, in-process: computing an answer (the search
    or the entity with its edges, serialised) against fetching it from the cache."""
    print("\n2b. the cached part alone, in-process (ms): compute the answer vs get it")
    db = Database(load_settings({"SUMMIT_VAR_DIR": env["SUMMIT_VAR_DIR"]}).resolved_database_url)
    bounds = Bounds(ttl=60, max_bytes=2**24, tenant_max_bytes=2**24, max_entry_bytes=2**20)
    cache = QueryCache(redis_url="", bounds=bounds, metrics=Metrics(CollectorRegistry()))
    with db.session(tenant_id=1) as session:
        rocket = search_entities(session=session, query="rocket", limit=1)[0].id

        def compute_search() -> bytes:
            hits = search_entities(session=session, query="falcon harbor", limit=21)
            return orjson.dumps([dataclasses.asdict(hit) for hit in hits])

        def compute_entity() -> bytes:
            entity = graph.get_entity(session=session, entity_id=rocket)
            edges = graph.entity_edges(session=session, entity_id=rocket)
            return orjson.dumps({"name": entity.name, "edges": [e.id for e in edges]})

        for name, compute in (
            ("search q=falcon harbor", compute_search),
            ("entity fetch", compute_entity),
        ):
            key = CacheKey(1, f"bench:{name}")
            cache.put(key, compute())
            miss = timed(compute, 300)
            hit = timed(lambda k=key: cache.get("search", k), 5000)
            print(
                f"  {name:<24} compute p50 {miss[0]:6.3f} p95 {miss[1]:6.3f}   "
                f"cache get p50 {hit[0]:6.4f} p95 {hit[1]:6.4f}   "
                f"p50 ratio {miss[0] / hit[0]:,.0f}x"
            )
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--only", choices=["limiter", "cache", "answer", "hitrate"])
    args = parser.parse_args()
    if args.only in (None, "limiter"):
        limiter_overhead()
    if args.only == "limiter":
        return
    var = Path(tempfile.mkdtemp(prefix="summit-bench-cache-"))
    env = bench_env(var, SUMMIT_ENV="development")
    env.pop("REDIS_URL", None)
    took = seed_entities(env, args.entities)
    print(f"\n(seeded {args.entities:,} entities per tenant in {took:.0f}s)")
    if args.only in (None, "cache"):
        cache_latency(env, args.seconds)
    if args.only in (None, "answer"):
        answer_time(env)
    if args.only in (None, "hitrate"):
        hit_rate(env)


if __name__ == "__main__":
    main()
