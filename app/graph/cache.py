"""The HOT query cache: answers of search and entity fetch, per tenant, with a TTL.

Keys carry the tenant, its cache generation and the caller's role, so an
answer can never cross tenants or roles, and a write (which bumps the
generation in its own transaction, see app.quotas.service.charge) makes every
earlier answer of its tenant unreachable at once — on every worker, because
the generation is read from the database with the caller's token.

Process memory by default, bounded in bytes: per tenant (one tenant's large
answers evict its own entries, never another tenant's) and per worker (over
the total, the tenant holding the most gives up its oldest); an answer larger
than SUMMIT_CACHE_MAX_ENTRY_BYTES is not cached at all. Redis when
``REDIS_URL`` is set (bound it with Redis' maxmemory). Imports no Flask.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from cachetools import TTLCache

from app.core.metrics import Metrics

log = logging.getLogger("summit.cache")


@dataclass(frozen=True, slots=True)
class CacheKey:
    tenant_id: int
    text: str


@dataclass(frozen=True)
class Bounds:
    ttl: float
    max_bytes: int  # per worker, all tenants
    tenant_max_bytes: int
    max_entry_bytes: int


class _TenantCache(TTLCache[str, bytes]):
    """One tenant's answers, sized in bytes; counts what it drops before its time."""

    def __init__(self, bounds: Bounds, on_evict: Callable[[], None]) -> None:
        super().__init__(bounds.tenant_max_bytes, bounds.ttl, getsizeof=len)
        self._on_evict = on_evict

    def popitem(self) -> tuple[str, bytes]:
        item = super().popitem()
        self._on_evict()
        return item


class QueryCache:
    def __init__(self, *, redis_url: str, bounds: Bounds, metrics: Metrics) -> None:
        self._metrics = metrics
        self._bounds = bounds
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.2) if redis_url else None
        self._tenants: dict[int, _TenantCache] = {}
        self._lock = threading.Lock()  # cachetools caches are not thread-safe
        self._warned = False

    def _evicted(self) -> None:
        self._metrics.cache_evictions.inc()

    @staticmethod
    def key(kind: str, *, tenant_id: int, generation: int, role: str, params: Any) -> CacheKey:
        return CacheKey(tenant_id, f"summit:cache:{kind}:{tenant_id}:{generation}:{role}:{params}")

    def get(self, kind: str, key: CacheKey) -> bytes | None:
        value = self._get(key)
        self._metrics.cache_requests.labels(kind, "hit" if value is not None else "miss").inc()
        return value

    def _get(self, key: CacheKey) -> bytes | None:
        if self._redis is None:
            with self._lock:
                tenant = self._tenants.get(key.tenant_id)
                return tenant.get(key.text) if tenant is not None else None
        try:
            value = self._redis.get(key.text)
        except redis.RedisError as exc:
            self._degraded(exc)
            return None
        return value if isinstance(value, bytes) else None

    def put(self, key: CacheKey, value: bytes) -> None:
        if len(value) > self._bounds.max_entry_bytes:
            self._metrics.cache_skipped.inc()
            return  # one answer may not push out a tenant's whole cache
        if self._redis is None:
            with self._lock:
                self._put_memory(key, value)
            return
        try:
            self._redis.set(key.text, value, ex=max(1, round(self._bounds.ttl)))
        except redis.RedisError as exc:
            self._degraded(exc)

    def _put_memory(self, key: CacheKey, value: bytes) -> None:
        tenant = self._tenants.get(key.tenant_id)
        if tenant is None:
            tenant = self._tenants[key.tenant_id] = _TenantCache(self._bounds, self._evicted)
        tenant[key.text] = value  # evicts the tenant's own oldest past its bound
        while self.size_bytes > self._bounds.max_bytes:
            biggest = max(self._tenants.values(), key=lambda cache: cache.currsize)
            biggest.popitem()
        self._metrics.cache_bytes.set(self.size_bytes)

    @property
    def size_bytes(self) -> int:
        """Bytes held in this process (expired entries count until touched)."""
        return sum(int(cache.currsize) for cache in self._tenants.values())

    def tenant_bytes(self, tenant_id: int) -> int:
        cache = self._tenants.get(tenant_id)
        return int(cache.currsize) if cache is not None else 0

    def _degraded(self, exc: Exception) -> None:
        # A cache that is down is a slow cache, not an outage: serve misses.
        if not self._warned:
            log.warning("query cache unreachable; serving without it: %s", type(exc).__name__)
            self._warned = True

    def clear(self) -> None:
        with self._lock:
            self._tenants.clear()
