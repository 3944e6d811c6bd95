"""What the app factory builds once and every adapter uses."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass

from app.alerting.service import RequestStats
from app.core.db import Database
from app.core.metrics import Metrics
from app.graph.cache import QueryCache
from app.identity.service import Passwords
from app.identity.throttle import LoginThrottle
from app.policy.engine import PolicyEngine
from app.policy.log import DecisionLog
from app.quotas.ratelimit import RecentRefusals, TenantRateLimiter
from app.quotas.rejections import RejectionLog
from app.quotas.service import Limits
from app.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    metrics: Metrics
    passwords: Passwords
    policy: PolicyEngine
    decisions: DecisionLog
    throttle: LoginThrottle
    limiter: TenantRateLimiter
    refusals: RecentRefusals
    rejections: RejectionLog
    cache: QueryCache
    quota_defaults: Limits
    request_stats: RequestStats | None = None  # SLO status without Prometheus (issue 11)

    def close(self) -> None:
        """Flush what is buffered, then let go of connections. Closed once: the
        flush at interpreter exit (app.factory) is no longer needed."""
        for closer in self.closers():
            atexit.unregister(closer)
        self.decisions.close()
        self.rejections.close()
        if self.request_stats is not None:
            self.request_stats.close()
        self.db.dispose()

    def closers(self) -> list[Callable[[], None]]:
        """What must be flushed at exit if nobody closes these services."""
        found: list[Callable[[], None]] = [self.decisions.close, self.rejections.close]
        if self.request_stats is not None:
            found.append(self.request_stats.close)
        return found
