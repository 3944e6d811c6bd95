"""Authentication and the route guard every view goes through.

API routes take ``Authorization: Bearer <token>``; web pages take the session
cookie (which holds a token of kind "web", so logout revokes it the same way).
Every view is decorated with :func:`requires` (naming its action) or
:func:`public`; the factory refuses to start if one is neither.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote

from apiflask import APIBlueprint, Schema
from apiflask.fields import DateTime, String
from apiflask.scaffold import _annotate
from apiflask.validators import Length
from flask import g, redirect, request, session
from werkzeug.wrappers import Response

from app import authz
from app.db import utcnow
from app.http.context import db_session, principal, services
from app.http.errors import api_error
from app.models import User
from app.security import Principal, TokenRejected, authenticate, issue_token, resolve_token
from app.security import revoke_token as _revoke
from app.settings import DEMO_DEFAULT_PASSWORD

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BEARER = "BearerAuth"

log = logging.getLogger("summit.auth")
bp = APIBlueprint("auth", __name__, url_prefix="/api/v1/auth", tag="Auth")


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
        if via == "bearer":
            _annotate(guarded, security=BEARER)
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
    return redirect(f"/login?next={quote(request.full_path.rstrip('?'), safe='/?=&')}")


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


def start_session(*, tenant: str | None, username: str, password: str, kind: str) -> Any:
    """Check credentials and issue a token; None when they are wrong.

    Raises :class:`Throttled` after too many failures. The password is checked
    in a read transaction: argon2 takes ~50 ms, and SQLite's write lock is
    taken only afterwards, to store the token.
    """
    svc = services()
    address = request.remote_addr or "-"
    wait = svc.throttle.retry_after(tenant=tenant, username=username, address=address)
    if wait is not None:
        raise Throttled(wait)
    dbs = db_session()
    user = authenticate(
        session=dbs, passwords=svc.passwords, tenant=tenant, username=username, password=password
    )
    if user is not None and not svc.settings.demo_mode and password == DEMO_DEFAULT_PASSWORD:
        log.warning(
            "login with the demo password refused outside demo mode",
            extra={"user": username, "tenant": tenant},
        )
        user = None
    if user is None:
        svc.throttle.failed(tenant=tenant, username=username, address=address)
        dbs.rollback()
        return None
    svc.throttle.succeeded(tenant=tenant, username=username)
    user_id = user.id
    svc.db.begin_write(dbs)
    user = dbs.get_one(User, user_id)
    if svc.passwords.needs_rehash(user.password_hash):
        user.password_hash = svc.passwords.hash(password)
    ttl = timedelta(seconds=svc.settings.token_ttl_seconds)
    raw, token = issue_token(session=dbs, user=user, kind=kind, ttl=ttl, now=utcnow())
    dbs.commit()
    return raw, token, user


def end_session() -> None:
    _revoke(session=db_session(), token_id=principal().token_id, now=utcnow())


class LoginIn(Schema):
    tenant = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=64),
        metadata={"description": "tenant slug; omit for platform operators"},
    )
    username = String(required=True, validate=Length(1, 64))
    password = String(required=True, validate=Length(1, 1024))


class LoginOut(Schema):
    token = String(required=True)
    expires_at = DateTime(required=True)


class MeOut(Schema):
    username = String(required=True)
    role = String(required=True)
    tenant = String(allow_none=True)


@bp.post("/login")
@public
@bp.input(LoginIn, arg_name="body")
@bp.output(LoginOut)
@bp.doc(responses={401: "wrong tenant, username or password", 429: "too many failed logins"})
def login(body: dict[str, Any]) -> Any:
    """Exchange credentials for a bearer token with an expiry.

    After too many failures for an account or from an address: 429 with
    Retry-After, whatever the password.
    """
    try:
        issued = start_session(
            tenant=body["tenant"], username=body["username"], password=body["password"], kind="api"
        )
    except Throttled as exc:
        raise api_error(
            429,
            "too_many_attempts",
            "too many failed logins; wait before trying again",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    if issued is None:
        raise api_error(401, "invalid_credentials", "wrong tenant, username or password")
    raw, token, _user = issued
    return {"token": raw, "expires_at": token.expires_at}


@bp.post("/logout")
@requires("session")
@bp.output({}, status_code=204)
def logout() -> Any:
    """Revoke the token this request carries."""
    end_session()
    return ""


@bp.get("/me")
@requires("session")
@bp.output(MeOut)
def me() -> Any:
    """Who this token belongs to."""
    caller = principal()
    return {"username": caller.username, "role": caller.role, "tenant": caller.tenant_slug}
