"""Identity: passwords (argon2id), opaque tokens stored as SHA-256, and the
principal a token stands for. Imports no Flask."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, bindparam, delete, or_, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.identity.models import AuthToken, Tenant, User
from app.quotas.models import TenantQuota, TenantUsage

TOKEN_PREFIX = "smt_"  # noqa: S105 - lets secret scanners spot our tokens


# OWASP Password Storage Cheat Sheet: argon2id with at least 19 MiB of memory,
# two iterations, one lane: several times cheaper than RFC 9106's low-memory
# profile (64 MiB, t=3, p=4; measured in docs/benchmarks.md), which
# made the golden path's login step the bulk of its one-second budget.
OWASP_MINIMUM = argon2.Parameters(
    type=argon2.Type.ID,
    version=argon2.low_level.ARGON2_VERSION,
    salt_len=16,
    hash_len=32,
    time_cost=2,
    memory_cost=19 * 1024,
    parallelism=1,
)
PROFILES = {
    "owasp-minimum": OWASP_MINIMUM,
    "rfc9106-low-memory": argon2.profiles.RFC_9106_LOW_MEMORY,
    "cheapest": argon2.profiles.CHEAPEST,  # tests only: settings forbid it in production
}


class Passwords:
    """argon2id hashing with a profile; verifies in constant time for unknown users.
    A hash made with other parameters verifies, and is redone on the next login
    (identity.login), so a change of profile reaches every user who logs in."""

    def __init__(self, profile: str = "owasp-minimum") -> None:
        self._hasher = argon2.PasswordHasher.from_parameters(PROFILES[profile])

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(16))

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True on a match. With no hash, spends the same time and says no."""
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. Operators have no tenant."""

    user_id: int
    username: str
    role: str
    tenant_id: int | None
    tenant_slug: str | None
    token_id: int
    # The tenant's rate limits and cache generation, read with the token in
    # one query, so an operator's bump or another worker's write counts at once.
    qps: int | None = None
    burst: int | None = None
    generation: int = 0


class TokenRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def authenticate(
    *, session: Session, passwords: Passwords, tenant: str | None, username: str, password: str
) -> User | None:
    """The user whose credentials these are, or None. Operators log in without a tenant."""
    query = select(User).where(User.username == username)
    if tenant:
        query = query.join(Tenant, Tenant.id == User.tenant_id).where(Tenant.slug == tenant)
    else:
        query = query.where(User.tenant_id.is_(None))
    user = session.scalars(query).one_or_none()
    if not passwords.verify(user.password_hash if user else None, password):
        return None
    return user


def issue_token(
    *, session: Session, user: User, kind: str, ttl: timedelta, now: datetime
) -> tuple[str, AuthToken]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = AuthToken(
        token_hash=token_digest(raw),
        user_id=user.id,
        kind=kind,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    session.flush()
    return raw, row


_TOKENS = AuthToken.__table__.c
_USERS = User.__table__.c
_QUOTAS = TenantQuota.__table__.c
_USAGE = TenantUsage.__table__.c
# Plain Core on platform tables, built once: this runs on every API request,
# and the ORM path cost ~0.5 ms here.
_TOKEN_LOOKUP = (
    select(
        _TOKENS.id,
        _TOKENS.expires_at,
        _TOKENS.revoked_at,
        _USERS.id.label("user_id"),
        _USERS.username,
        _USERS.role,
        _USERS.tenant_id,
        Tenant.__table__.c.slug,
        _QUOTAS.qps,
        _QUOTAS.burst,
        _USAGE.generation,
    )
    .select_from(AuthToken.__table__)
    .join(User.__table__, _USERS.id == _TOKENS.user_id)
    .outerjoin(Tenant.__table__, Tenant.__table__.c.id == _USERS.tenant_id)
    .outerjoin(TenantQuota.__table__, _QUOTAS.tenant_id == _USERS.tenant_id)
    .outerjoin(TenantUsage.__table__, _USAGE.tenant_id == _USERS.tenant_id)
    .where(_TOKENS.token_hash == bindparam("digest"), _TOKENS.kind == bindparam("kind"))
)


def resolve_token(*, connection: Connection, raw: str, kind: str, now: datetime) -> Principal:
    """The principal behind a token, or :class:`TokenRejected` saying why not.

    Takes a plain connection, not a session: every request runs this, and a
    cache hit needs nothing else from the database (a session costs ~0.2 ms)."""
    row = connection.execute(_TOKEN_LOOKUP, {"digest": token_digest(raw), "kind": kind}).first()
    if row is None:
        raise TokenRejected("invalid_token", "the token is not valid")
    if row.revoked_at is not None:
        raise TokenRejected("invalid_token", "the token has been revoked")
    if row.expires_at <= now:
        raise TokenRejected("token_expired", "the token has expired; log in again")
    return Principal(
        row.user_id,
        row.username,
        row.role,
        row.tenant_id,
        row.slug,
        row.id,
        row.qps,
        row.burst,
        row.generation or 0,
    )


def revoke_token(*, session: Session, token_id: int, now: datetime) -> None:
    token = session.get(AuthToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = now


def tenant_by_slug(*, session: Session, slug: str) -> Tenant:
    tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).one_or_none()
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return tenant


def tenants(*, session: Session) -> list[Tenant]:
    """Every tenant, by slug."""
    return list(session.scalars(select(Tenant).order_by(Tenant.slug)))


def prune_tokens(*, session: Session, before: datetime) -> int:
    """Delete tokens that expired, or were revoked, before ``before``; a live
    token is never touched. Returns how many."""
    done = or_(AuthToken.expires_at < before, AuthToken.revoked_at < before)
    result = session.execute(
        delete(AuthToken).where(done).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
