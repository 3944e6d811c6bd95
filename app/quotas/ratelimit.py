"""Per-tenant request rate limits with a burst, on ``limits`` (the library under
flask-limiter): process memory by default, Redis when ``REDIS_URL`` is set, so
every worker and host counts against the same budget.

A tenant with ``qps`` and ``burst`` gets two moving windows, both enforced:
at most ``qps + burst`` requests in any second (a burst), and at most
``10 x qps`` in any ten seconds (the sustained rate). Moving windows are
exact, so "admitted per window <= limit + burst" holds across workers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

SUSTAINED_WINDOW = 10


@dataclass(frozen=True, slots=True)
class RateState:
    """The outcome, with what the IETF RateLimit header fields need."""

    allowed: bool
    policy: str  # name of the window closest to its limit
    limit: int
    remaining: int
    reset: int  # seconds until that window frees a request
    policies: tuple[tuple[str, int, int], ...]  # (name, quota, window seconds)

    def headers(self) -> dict[str, str]:
        """Both generations of draft-ietf-httpapi-ratelimit-headers: the
        RateLimit-Limit/-Remaining/-Reset triple and RateLimit-Policy/RateLimit."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": ", ".join(f'"{n}";q={q};w={w}' for n, q, w in self.policies),
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset))
        return headers


class TenantRateLimiter:
    def __init__(self, storage_url: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    def hit(self, *, tenant: str, qps: int, burst: int) -> RateState:
        windows = (
            ("burst", RateLimitItemPerSecond(qps + burst, 1, namespace="tenant-burst")),
            (
                "sustained",
                RateLimitItemPerSecond(
                    qps * SUSTAINED_WINDOW, SUSTAINED_WINDOW, namespace="tenant-sustained"
                ),
            ),
        )
        allowed = all(self._limiter.hit(item, tenant) for _, item in windows)
        now = time.time()
        tightest = None
        for name, item in windows:
            stats = self._limiter.get_window_stats(item, tenant)
            candidate = (
                stats.remaining,
                name,
                item.amount,
                max(0, math.ceil(stats.reset_time - now)),
            )
            if tightest is None or candidate < tightest:
                tightest = candidate
        assert tightest is not None
        remaining, name, amount, reset = tightest
        policies = tuple((n, i.amount, i.multiples) for n, i in windows)
        return RateState(allowed, name, amount, remaining, reset, policies)

    def reset(self) -> None:
        self._limiter.storage.reset()
