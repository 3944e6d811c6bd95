"""The HOT query cache: answers of search and entity fetch, per tenant, with a TTL.

Keys carry the tenant, its cache generation and the caller's role, so an
answer can never cross tenants or roles, and a write (which bumps the
generation in its own transaction, see app.quotas.service.charge) makes every
earlier answer of its tenant unreachable at once — on every worker, because
the generation is read from the database with the caller's token. Process
memory by default; Redis when ``REDIS_URL`` is set. Imports no Flask.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import redis
from cachetools import TTLCache

from app.core.metrics import Metrics

log = logging.getLogger("summit.cache")


class _CountingTTLCache(TTLCache[str, bytes]):
    """cachetools' TTL cache, counting what it drops before its time (size)."""

    def __init__(self, maxsize: int, ttl: float, on_evict: Callable[[], None]) -> None:
        super().__init__(maxsize, ttl)
        self._on_evict = on_evict

    def popitem(self) -> tuple[str, bytes]:
        item = super().popitem()
        self._on_evict()
        return item


class QueryCache:
    def __init__(self, *, redis_url: str, ttl: float, max_entries: int, metrics: Metrics) -> None:
        self._metrics = metrics
        self._ttl = ttl
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.2) if redis_url else None
        self._memory = _CountingTTLCache(max_entries, ttl, self._evicted)
        self._lock = threading.Lock()  # cachetools caches are not thread-safe
        self._warned = False

    def _evicted(self) -> None:
        self._metrics.cache_evictions.inc()

    @staticmethod
    def key(kind: str, *, tenant_id: int, generation: int, role: str, params: Any) -> str:
        return f"summit:cache:{kind}:{tenant_id}:{generation}:{role}:{params}"

    def get(self, kind: str, key: str) -> bytes | None:
        value = self._get(key)
        self._metrics.cache_requests.labels(kind, "hit" if value is not None else "miss").inc()
        return value

    def _get(self, key: str) -> bytes | None:
        if self._redis is None:
            with self._lock:
                return self._memory.get(key)
        try:
            value = self._redis.get(key)
        except redis.RedisError as exc:
            self._degraded(exc)
            return None
        return value if isinstance(value, bytes) else None

    def put(self, key: str, value: bytes) -> None:
        if self._redis is None:
            with self._lock:
                self._memory[key] = value
            return
        try:
            self._redis.set(key, value, ex=max(1, round(self._ttl)))
        except redis.RedisError as exc:
            self._degraded(exc)

    def _degraded(self, exc: Exception) -> None:
        # A cache that is down is a slow cache, not an outage: serve misses.
        if not self._warned:
            log.warning("query cache unreachable; serving without it: %s", type(exc).__name__)
            self._warned = True

    def clear(self) -> None:
        with self._lock:
            self._memory.clear()
