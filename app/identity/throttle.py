"""Login throttling: slows password guessing. Imports no Flask."""

from __future__ import annotations

import time

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class LoginThrottle:
    """Refuses logins after too many failures for one account, or from one address.

    A moving window in ``limits``' storage: process memory by default (each
    gunicorn worker counts on its own), Redis when ``REDIS_URL`` is set (one
    count for every worker and host). Only failures count; a success clears
    the account's count.
    """

    def __init__(self, storage_url: str, *, max_failures: int, window_seconds: int) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))
        self._account = RateLimitItemPerSecond(max_failures, window_seconds, namespace="login")
        # An address may fail for several accounts (a shared NAT), not for all.
        self._address = RateLimitItemPerSecond(
            max_failures * 10, window_seconds, namespace="login-ip"
        )

    @staticmethod
    def _key(tenant: str | None, username: str) -> str:
        return f"{tenant or '-'}/{username.lower()}"

    def retry_after(self, *, tenant: str | None, username: str, address: str) -> int | None:
        """Seconds until another attempt is allowed, or None when it is allowed now."""
        checks = ((self._account, self._key(tenant, username)), (self._address, address))
        waits = [
            int(self._limiter.get_window_stats(item, key).reset_time - time.time()) + 1
            for item, key in checks
            if not self._limiter.test(item, key)
        ]
        return max(waits) if waits else None

    def failed(self, *, tenant: str | None, username: str, address: str) -> None:
        self._limiter.hit(self._account, self._key(tenant, username))
        self._limiter.hit(self._address, address)

    def succeeded(self, *, tenant: str | None, username: str) -> None:
        self._limiter.clear(self._account, self._key(tenant, username))
