"""Logging in and out, shared by the API and the login page: throttling, the
password check, and the token a session holds."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import request

from app.core.db import utcnow
from app.identity.models import User
from app.identity.service import authenticate, issue_token, revoke_token
from app.settings import DEMO_DEFAULT_PASSWORD
from app.web.context import db_session, principal, services

log = logging.getLogger("summit.auth")


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
    svc.throttle.succeeded(tenant=tenant, username=username, address=address)
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
    revoke_token(session=db_session(), token_id=principal().token_id, now=utcnow())
