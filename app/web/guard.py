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
from app.quotas.ratelimit import RateState
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
    """Authenticate the caller, hold the tenant to its limits, ask the policy
    engine whether it may do ``action``, scope the session.

    Views that change data (by default: any method but GET, HEAD, OPTIONS;
    ``writes=False`` for a POST that only computes) run in one write
    transaction, committed when the view returns and rolled back when it raises.
    """
    if action not in authz.ACTIONS:
        raise ValueError(f"unknown action {action!r}: not in the policy schema")
    credential = _bearer_token if via == "bearer" else _session_token
    kind = "api" if via == "bearer" else "web"

    def decorator(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            raw = credential()
            _refuse_early(raw)
            caller = _authenticate(raw, kind)
            g.principal = caller
            svc = services()
            if caller.tenant_id is not None:
                _admit(caller, raw)
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


def _refuse_early(raw: str) -> None:
    """A token whose tenant this worker refused a moment ago is checked against
    the shared bucket first, and refused before any database work while the
    bucket stays empty: a tenant flooding past its limit costs the others one
    store read per request, not a token query and a session."""
    svc = services()
    refused = svc.refusals.get(raw)
    if refused is None:
        return
    tenant = str(refused.tenant_id)
    state = svc.limiter.still_refused(tenant=tenant, qps=refused.qps, burst=refused.burst)
    if state is not None:
        g.tenant_slug = refused.slug  # for the access log and metrics
        _refuse(refused.tenant_id, refused.slug, state, reason="rate")


def _admit(caller: Principal, raw: str) -> None:
    """Spend one request of the tenant's budget and take an in-flight slot, or 429."""
    svc = services()
    assert caller.tenant_id is not None
    defaults = svc.quota_defaults
    qps = caller.qps or defaults.qps
    burst = defaults.burst if caller.burst is None else caller.burst
    state = svc.limiter.hit(tenant=str(caller.tenant_id), qps=qps, burst=burst)
    g.rate_state = state
    slug = caller.tenant_slug or "-"
    if state.allowed:
        svc.refusals.forget(raw)
    else:
        svc.refusals.remember(raw, tenant_id=caller.tenant_id, slug=slug, qps=qps, burst=burst,
                              retry_after=state.retry_after)  # fmt: skip
        _refuse(caller.tenant_id, slug, state, reason="rate")
    cap = svc.settings.tenant_max_inflight
    if cap and not svc.limiter.acquire(tenant=str(caller.tenant_id), cap=cap):
        _refuse(caller.tenant_id, slug, state, reason="inflight")
    g.inflight = bool(cap)


def release_inflight(response: Response) -> Response:
    """Give this request's in-flight slot back as soon as its answer is ready,
    before it is sent: the client's next request (a redirect followed, a page
    after a form) may reach another worker at once and must not find the
    tenant still busy with this one."""
    if g.pop("inflight", False):
        services().limiter.release()
    return response


def release_inflight_at_teardown(_exc: BaseException | None = None) -> None:
    """The same, for a request that ended without an answer (an error that
    escaped): teardown runs however the request ended."""
    if g.pop("inflight", False):
        services().limiter.release()


def _refuse(tenant_id: int, slug: str, state: RateState, *, reason: str) -> None:
    svc = services()
    route = request.url_rule.rule if request.url_rule else request.path
    svc.metrics.rate_limited.labels(slug, route).inc()
    suppressed = svc.rejections.rejected(tenant_id=tenant_id, route=route, reason=reason)
    if suppressed is not None:
        log.warning(
            "rate limited",
            extra={"tenant": slug, "route": route, "reason": reason,
                   "suppressed_since_last": suppressed},
        )  # fmt: skip
    if reason == "inflight":
        raise api_error(
            429,
            "too_many_in_flight",
            f"tenant {slug} already has {svc.settings.tenant_max_inflight} requests running; "
            "retry after 1 s",
            headers={**state.headers(), "Retry-After": "1"},
        )
    raise api_error(
        429,
        "rate_limited",
        f"tenant {slug} is over its rate limit ({state.limit} requests a second); "
        f"retry after {state.retry_after} s",
        headers=state.headers(),
    )


def rate_limit_headers(response: Response) -> Response:
    """Every response to a rate-limited caller says what budget is left."""
    state = g.get("rate_state")
    if state is not None and response.status_code != 429:
        response.headers.extend(state.headers())
    return response


def _bearer_token() -> str:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise api_error(
            401,
            "unauthorized",
            "send a token: Authorization: Bearer <token> (POST /api/v1/auth/login)",
            headers={"WWW-Authenticate": 'Bearer realm="summit"'},
        )
    return raw.strip()


def _session_token() -> str:
    raw = session.get("token")
    if not raw or not isinstance(raw, str):
        raise Unauthenticated
    return raw


def _authenticate(raw: str, kind: str) -> Principal:
    try:
        with services().db.read_only() as connection:
            return resolve_token(connection=connection, raw=raw, kind=kind, now=utcnow())
    except TokenRejected as exc:
        if kind == "web":
            session.clear()
            raise Unauthenticated from None
        header = f'Bearer realm="summit", error="invalid_token", error_description="{exc.code}"'
        raise api_error(401, exc.code, exc.message, headers={"WWW-Authenticate": header}) from None


def login_redirect(_exc: Unauthenticated) -> Response:
    return redirect(url_for("identity_pages.login", next=request.full_path.rstrip("?")))
