"""Authentication and the route guard every view goes through.

API routes take ``Authorization: Bearer <token>``; web pages take the session
cookie (which holds a token of kind "web", so logout revokes it the same way).
Every view is decorated with :func:`requires` (naming its action) or
:func:`public`; the factory refuses to start if one is neither.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from app.core.db import utcnow
from app.identity.service import Principal, TokenRejected, resolve_token
from app.policy import authz
from app.web.context import db_session, services
from app.web.errors import api_error

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

log = logging.getLogger("summit.auth")


class Unauthenticated(Exception):
    """A web page was asked for without a valid session: send the browser to /login."""


def public(view: F) -> F:
    """Marks a view that anyone may call (login, health, metrics)."""
    view._summit_public = True  # type: ignore[attr-defined]
    return view


def requires(action: str, *, via: str = "bearer", writes: bool | None = None) -> Callable[[F], F]:
    """Authenticate the caller, ask authz whether it may do ``action``, scope the session.

    Views that change data (by default: any method but GET, HEAD, OPTIONS;
    ``writes=False`` for a POST that only computes) run in one write
    transaction, committed when the view returns and rolled back when it raises.
    """
    if action not in authz.ACTIONS:
        raise ValueError(f"unknown action {action!r}: not in the policy schema")
    authenticate_caller = _from_bearer if via == "bearer" else _from_web_session

    def decorator(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            caller = authenticate_caller()
            g.principal = caller
            svc = services()
            if caller.tenant_id is not None:
                _rate_limit(caller)
            decision = authz.authorize(
                engine=svc.policy,
                log=svc.decisions,
                metrics=svc.metrics,
                principal=caller,
                action=action,
                now=utcnow(),
            )
            if not decision.allowed:
                raise api_error(403, "forbidden", f"the {caller.role} role may not {action} here")
            if "db_session" in g:
                raise RuntimeError("a session was opened before the caller was known")
            if not (request.method not in SAFE_METHODS if writes is None else writes):
                return view(*args, **kwargs)
            session = db_session()
            svc.db.begin_write(session)
            result = view(*args, **kwargs)
            session.commit()
            return result

        guarded._summit_action = action  # type: ignore[attr-defined]
        guarded._summit_via = via  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorator


def _rate_limit(caller: Principal) -> None:
    """Spend one request of the caller's tenant budget, or refuse with 429."""
    svc = services()
    defaults = svc.quota_defaults
    qps = caller.qps or defaults.qps
    burst = defaults.burst if caller.burst is None else caller.burst
    state = svc.limiter.hit(tenant=str(caller.tenant_id), qps=qps, burst=burst)
    g.rate_state = state
    if state.allowed:
        return
    route = request.url_rule.rule if request.url_rule else request.path
    slug = caller.tenant_slug or "-"
    svc.metrics.rate_limited.labels(slug, route).inc()
    assert caller.tenant_id is not None
    suppressed = svc.rejections.rejected(tenant_id=caller.tenant_id, route=route, reason="rate")
    if suppressed is not None:
        log.warning(
            "rate limited",
            extra={"tenant": slug, "route": route, "suppressed_since_last": suppressed},
        )
    headers = state.headers()
    raise api_error(
        429,
        "rate_limited",
        f"tenant {slug} is over its rate limit ({qps}/s, burst {burst}); "
        f"retry after {headers['Retry-After']} s",
        headers=headers,
    )


def rate_limit_headers(response: Response) -> Response:
    """Every response to a rate-limited caller says what budget is left."""
    state = g.get("rate_state")
    if state is not None and response.status_code != 429:
        response.headers.extend(state.headers())
    return response


def _resolve(raw: str, kind: str) -> Principal:
    with services().db.read_only() as connection:
        return resolve_token(connection=connection, raw=raw, kind=kind, now=utcnow())


def _from_bearer() -> Principal:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise api_error(
            401,
            "unauthorized",
            "send a token: Authorization: Bearer <token> (POST /api/v1/auth/login)",
            headers={"WWW-Authenticate": 'Bearer realm="summit"'},
        )
    try:
        return _resolve(raw.strip(), "api")
    except TokenRejected as exc:
        header = f'Bearer realm="summit", error="invalid_token", error_description="{exc.code}"'
        raise api_error(401, exc.code, exc.message, headers={"WWW-Authenticate": header}) from None


def _from_web_session() -> Principal:
    raw = session.get("token")
    if not raw:
        raise Unauthenticated
    try:
        return _resolve(raw, "web")
    except TokenRejected:
        session.clear()
        raise Unauthenticated from None


def login_redirect(_exc: Unauthenticated) -> Response:
    return redirect(url_for("identity_pages.login", next=request.full_path.rstrip("?")))
