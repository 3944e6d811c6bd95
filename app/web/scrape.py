"""Who may read /metrics: it names tenants and their volumes.

With ``SUMMIT_METRICS_TOKEN`` (or ``_FILE``) set, a scraper must present it as
a bearer token (Prometheus: ``authorization: {credentials_file: ...}``).
Without one, only the loopback may scrape, and a request that came through a
proxy (it carries ``X-Forwarded-For`` that ``SUMMIT_TRUSTED_PROXIES`` does not
vouch for) is not the loopback even when the proxy connects from 127.0.0.1.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import request

from app.web.context import services
from app.web.errors import api_error


def require_scrape_access() -> None:
    settings = services().settings
    if settings.metrics_token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), settings.metrics_token.encode()
        ):
            return
        raise api_error(
            401,
            "unauthorized",
            "send the scrape token: Authorization: Bearer <SUMMIT_METRICS_TOKEN>",
            headers={"WWW-Authenticate": 'Bearer realm="summit-metrics"'},
        )
    if _from_loopback(proxied=settings.trusted_proxies == 0):
        return
    raise api_error(
        403,
        "forbidden",
        "/metrics is served to the loopback only; set SUMMIT_METRICS_TOKEN to scrape remotely",
    )


def _from_loopback(*, proxied: bool) -> bool:
    if proxied and request.headers.get("X-Forwarded-For"):
        return False  # an untrusted proxy's client: its address is unknown
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
