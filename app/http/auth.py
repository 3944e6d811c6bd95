"""Authentication and the route guard every view goes through.

API routes take ``Authorization: Bearer <token>``; web pages take the session
cookie (which holds a token of kind "web", so logout revokes it the same way).
Every view is decorated with :func:`requires` (naming its action) or
:func:`public`; the factory refuses to start if one is neither.
"""

from __future__ import annotations

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
from app.http.context import db_session, principal, scope_session_to, services
from app.http.errors import api_error
from app.security import Principal, TokenRejected, authenticate, issue_token, resolve_token
from app.security import revoke_token as _revoke

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BEARER = "BearerAuth"

bp = APIBlueprint("auth", __name__, url_prefix="/api/v1/auth", tag="Auth")


class Unauthenticated(Exception):
    """A web page was asked for without a valid session: send the browser to /login."""


def public(view: F) -> F:
    """Marks a view that anyone may call (login, health, metrics)."""
    view._summit_public = True  # type: ignore[attr-defined]
    return view


def requires(action: str, *, via: str = "bearer") -> Callable[[F], F]:
    """Authenticate the caller, ask authz whether it may do ``action``, scope the session.

    Views that change data run in a write transaction that is committed when
    the view returns and rolled back when it raises.
    """
    if action not in authz.ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    authenticate_caller = _from_bearer if via == "bearer" else _from_web_session

    def decorator(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            caller = authenticate_caller()
            g.principal = caller
            if not authz.permits(caller, action):
                raise api_error(403, "forbidden", f"the {caller.role} role may not {action} here")
            session = scope_session_to(caller)
            if request.method in SAFE_METHODS:
                return view(*args, **kwargs)
            services().db.begin_write(session)
            result = view(*args, **kwargs)
            session.commit()
            return result

        guarded._summit_action = action  # type: ignore[attr-defined]
        if via == "bearer":
            _annotate(guarded, security=BEARER)
        return guarded  # type: ignore[return-value]

    return decorator


def _resolve(raw: str, kind: str) -> Principal:
    return resolve_token(session=db_session(), raw=raw, kind=kind, now=utcnow())


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


def start_session(*, tenant: str | None, username: str, password: str, kind: str) -> Any:
    """Check credentials and issue a token; None when they are wrong."""
    svc = services()
    dbs = db_session()
    svc.db.begin_write(dbs)
    user = authenticate(
        session=dbs, passwords=svc.passwords, tenant=tenant, username=username, password=password
    )
    if user is None:
        dbs.rollback()
        return None
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
@bp.doc(responses={401: "wrong tenant, username or password"})
def login(body: dict[str, Any]) -> Any:
    """Exchange credentials for a bearer token with an expiry."""
    issued = start_session(
        tenant=body["tenant"], username=body["username"], password=body["password"], kind="api"
    )
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
