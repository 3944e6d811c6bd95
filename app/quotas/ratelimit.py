"""Per-tenant request rate limits with a burst, and a cap on requests in flight.

A tenant with ``qps`` and ``burst`` gets one GCRA bucket (app.core.gcra) that
holds ``max(1, burst)`` requests and refills ``qps`` per second: in any window
of ``t`` seconds it admits at most ``burst + qps * t`` — within any one second,
``qps + burst``. The bucket lives in the shared store (the host's SQLite file,
or Redis), so the bound holds however many workers and threads serve.

A store that fails (disk full, Redis down) admits and says so once in the log:
a broken limiter must not take the service down with it. Imports no Flask.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.core.gcra import STORE_ERRORS, RedisStore, SqliteStore, Verdict

log = logging.getLogger("summit.ratelimit")
POLICY = "tenant"


@dataclass(frozen=True, slots=True)
class RateState:
    """The outcome, with what the IETF RateLimit header fields need."""

    allowed: bool
    limit: int  # requests in any one second: qps + burst
    remaining: int  # requests that would be admitted right now
    reset: int  # seconds until the bucket is full again
    retry_after: int  # when refused: seconds until the next request is admitted

    def headers(self) -> dict[str, str]:
        """Both generations of draft-ietf-httpapi-ratelimit-headers: the
        RateLimit-Limit/-Remaining/-Reset triple and RateLimit-Policy/RateLimit."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f'"{POLICY}";q={self.limit};w=1',
            "RateLimit": f'"{POLICY}";r={self.remaining};t={self.reset}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def state_of(verdict: Verdict, *, qps: int, burst: int, now: float) -> RateState:
    period, capacity = 1.0 / qps, max(1, burst)
    ahead = max(verdict.tat, now) - now  # how far the bucket is drawn down
    remaining = max(0, math.floor((capacity * period - ahead) / period + 1e-9))
    wait = 0 if verdict.allowed else ahead - (capacity - 1) * period
    return RateState(
        allowed=verdict.allowed,
        limit=qps + burst,
        remaining=remaining,
        reset=math.ceil(ahead),
        retry_after=max(1, math.ceil(wait)),
    )


class TenantRateLimiter:
    def __init__(
        self, store: SqliteStore | RedisStore, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._clock = clock
        self._warned = False

    def hit(self, *, tenant: str, qps: int, burst: int) -> RateState:
        now = self._clock()
        try:
            verdict = self._store.hit(
                f"tenant:{tenant}", period=1.0 / qps, capacity=max(1, burst), now=now
            )
        except STORE_ERRORS as exc:
            self._degraded(exc)
            verdict = Verdict(True, now)
        return state_of(verdict, qps=qps, burst=burst, now=now)

    def still_refused(self, *, tenant: str, qps: int, burst: int) -> RateState | None:
        """The tenant's state when a request now would be refused (nothing spent),
        else None. One read of the shared store, no database work."""
        now = self._clock()
        try:
            verdict = self._store.peek(
                f"tenant:{tenant}", period=1.0 / qps, capacity=max(1, burst), now=now
            )
        except STORE_ERRORS as exc:
            self._degraded(exc)
            return None
        return None if verdict.allowed else state_of(verdict, qps=qps, burst=burst, now=now)

    def forget(self, *, tenant: str) -> None:
        """Start the tenant's bucket afresh (its limits changed): every worker's
        next check sees a full bucket and reads the new limits."""
        try:
            self._store.clear(f"tenant:{tenant}")
        except STORE_ERRORS as exc:
            self._degraded(exc)

    def acquire(self, *, tenant: str, cap: int, stale: float = 120.0) -> bool:
        """Take this thread's in-flight slot for ``tenant``; False when the tenant
        already has ``cap`` requests running. Release with :meth:`release`."""
        try:
            return self._store.acquire_slot(
                f"tenant:{tenant}", slot=_slot(), cap=cap, now=self._clock(), stale=stale
            )
        except STORE_ERRORS as exc:
            self._degraded(exc)
            return True

    def release(self) -> None:
        try:
            self._store.release_slot(_slot())
        except STORE_ERRORS as exc:
            self._degraded(exc)

    def _degraded(self, exc: Exception) -> None:
        if not self._warned:
            log.error("rate-limit store failing; admitting without limits: %s", exc)
            self._warned = True

    def reset(self) -> None:
        self._store.reset()


def _slot() -> str:
    """This worker thread: a sync worker serves one request at a time per thread."""
    return f"{os.getpid()}:{threading.get_ident()}"


@dataclass(frozen=True, slots=True)
class Refused:
    tenant_id: int
    slug: str
    qps: int
    burst: int
    until: float


class RecentRefusals:
    """Tokens whose tenant this process refused a moment ago (until the
    refusal's Retry-After), with the limits it had then: the guard checks the
    shared bucket for them before any database work.

    Only a hint: it never admits anyone, and when the shared bucket has room (a
    second passed, or an operator changed the limits, which starts the bucket
    afresh) the request takes the normal path. Keyed by the token's SHA-256,
    in this process's memory only, bounded."""

    def __init__(self, *, clock: Callable[[], float] = time.time, size: int = 10_000) -> None:
        self._clock = clock
        self._size = size
        self._seen: dict[str, Refused] = {}
        self._lock = threading.Lock()

    def remember(
        self, raw: str, *, tenant_id: int, slug: str, qps: int, burst: int, retry_after: int
    ) -> None:
        refused = Refused(tenant_id, slug, qps, burst, self._clock() + retry_after)
        with self._lock:
            if len(self._seen) >= self._size:
                self._forget_expired()
            if len(self._seen) < self._size:
                self._seen[_digest(raw)] = refused

    def forget(self, raw: str) -> None:
        """The token's tenant was just admitted on the normal path: no more hint."""
        if self._seen:
            with self._lock:
                self._seen.pop(_digest(raw), None)

    def get(self, raw: str) -> Refused | None:
        if not self._seen:
            return None  # the common case: nobody refused, no hashing
        found = self._seen.get(_digest(raw))
        if found is None or found.until <= self._clock():
            return None
        return found

    def _forget_expired(self) -> None:
        now = self._clock()
        for key in [k for k, v in self._seen.items() if v.until <= now]:
            del self._seen[key]


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()
