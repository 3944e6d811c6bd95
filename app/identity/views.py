"""The auth API: log in for a bearer token, log out, who am I."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from app.identity.login import Throttled, end_session, start_session
from app.identity.schemas import LoginIn, LoginOut, MeOut
from app.web.context import principal
from app.web.errors import api_error
from app.web.guard import public, requires

bp = APIBlueprint("auth", __name__, url_prefix="/api/v1/auth", tag="Auth")


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
