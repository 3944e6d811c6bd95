"""Where each role goes: its home after login, and what the navigation offers.

The navigation's entries are listed once, in base.html, as (endpoint, label):
an entry shows only to a caller whom the policy lets open that endpoint —
the decision the route's own guard makes, asked here without being logged.
So a page a role may not open is never offered to it, and an entry for a
feature that is not installed (no such endpoint) simply does not show.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, g, request, session, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from app.core.db import utcnow
from app.identity.service import Principal, TokenRejected, resolve_token
from app.policy import authz
from app.web.context import services

# Each role's home: the first of these it may open (tenant users search,
# operators triage); a role that may open none gets the status page.
HOMES = ("graph_pages.search_page", "ops_pages.ops_page")
FALLBACK_HOME = "ops_pages.status_page"


def may_open(caller: Principal | None, endpoint: str) -> bool:
    view = current_app.view_functions.get(endpoint)
    if view is None:
        return False
    if getattr(view, "_summit_public", False):
        return True
    action = getattr(view, "_summit_action", None)
    if caller is None or action is None:
        return False
    return services().policy.decide(authz.route_request(caller, action)).allowed


def landing(caller: Principal | None) -> str:
    """The URL of ``caller``'s home."""
    for endpoint in HOMES:
        if may_open(caller, endpoint):
            return url_for(endpoint)
    return url_for(FALLBACK_HOME)


def is_local_path(target: str | None) -> bool:
    """Whether ``target`` is a path on this site: never an open redirect. Parsed,
    not prefix-matched: browsers drop tabs and newlines and read a backslash as a
    slash, so "/", a tab, "/evil.example" would leave the site; any control
    character, whitespace or backslash refuses."""
    if not target or any(ch.isspace() or ord(ch) < 32 or ch in "\\\x7f" for ch in target):
        return False
    parts = urlsplit(target)
    return (
        not (parts.scheme or parts.netloc)
        and parts.path.startswith("/")
        and not (parts.path.startswith("//"))
    )


def after_login(caller: Principal | None, target: str | None) -> str:
    """``target`` (a path on this site) when the caller may open it, else their home:
    an operator sent to /login from /search lands on /ops, not on a 403."""
    if target and is_local_path(target):
        endpoint = endpoint_of(target)
        if endpoint is not None and may_open(caller, endpoint):
            return target
    return landing(caller)


def endpoint_of(path: str) -> str | None:
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        endpoint, _args = adapter.match(urlsplit(path).path, method="GET")
    except HTTPException:
        return None
    return str(endpoint)


def web_caller() -> Principal | None:
    """The signed-in user: the one the guard found, or, on pages no guard ran
    for (error pages, public pages), the one the session cookie names."""
    caller: Principal | None = g.get("principal")
    if caller is not None or not session.get("token"):
        return caller
    try:
        with services().db.read_only() as connection:
            return resolve_token(
                connection=connection, raw=session["token"], kind="web", now=utcnow()
            )
    except (TokenRejected, SQLAlchemyError):
        return None


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(may_open=may_open, landing=landing)
    # Pages pass their caller; this fills it in for error and public pages.
    app.context_processor(lambda: {"caller": web_caller()})
