"""Login, bearer tokens, expiry, revocation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select, update

from app.core.db import utcnow
from app.identity.models import AuthToken, User
from app.identity.service import Passwords
from tests.support.world import PASSWORD, World, seed_world, services


def test_login_returns_a_token_that_expires(world: World) -> None:
    before = utcnow()
    body = world.login("alice")
    assert body["token"].startswith("smt_")
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires - before > timedelta(hours=7)
    me = world.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.get_json() == {"username": "alice", "role": "admin", "tenant": "acme"}


def test_operator_logs_in_without_a_tenant(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.login('ops')['token']}"}
    assert world.client.get("/api/v1/auth/me", headers=headers).get_json()["tenant"] is None


def login(world: World, **body: object) -> tuple[int, dict[str, object]]:
    response = world.client.post("/api/v1/auth/login", json=body)
    return response.status_code, response.get_json()


def test_wrong_password_unknown_user_and_unknown_tenant_look_the_same(world: World) -> None:
    attempts = [
        {"tenant": "acme", "username": "alice", "password": "wrong"},
        {"tenant": "acme", "username": "mallory", "password": PASSWORD},
        {"tenant": "nope", "username": "alice", "password": PASSWORD},
        {"tenant": "globex", "username": "alice", "password": PASSWORD},
        {"username": "alice", "password": PASSWORD},  # a tenant user is not an operator
    ]
    for attempt in attempts:
        status, body = login(world, **attempt)
        assert status == 401, attempt
        assert body == {
            "error": {
                "code": "invalid_credentials",
                "message": "wrong tenant, username or password",
            }
        }


def test_missing_token_is_401_with_a_challenge(world: World) -> None:
    response = world.client.get("/api/v1/search?q=rocket")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_forged_and_malformed_tokens_are_401(world: World) -> None:
    real = world.login("alice")["token"]
    for header in (
        "Bearer smt_forged-token",
        f"Bearer {real}x",
        f"Basic {real}",
        "Bearer ",
        real,
    ):
        response = world.client.get("/api/v1/search?q=a", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.get_json()["error"]["code"] in ("invalid_token", "unauthorized")


def test_expired_token_is_401_token_expired(world: World) -> None:
    token = world.login("alice")["token"]
    with services(world.app).db.session(tenant_id=None) as session:
        session.execute(update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    response = world.client.get("/api/v1/search?q=a", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_expired"


def test_logout_revokes_the_token(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.login('bob')['token']}"}
    assert world.client.get("/api/v1/search?q=a", headers=headers).status_code == 200
    assert world.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    response = world.client.get("/api/v1/search?q=a", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"


def test_a_web_session_token_is_not_a_bearer_token(world: World) -> None:
    """Tokens are typed: a cookie's token cannot be replayed as an API bearer token."""
    from sqlalchemy import select

    from app.identity.models import User
    from app.identity.service import issue_token

    with services(world.app).db.session(tenant_id=None) as session:
        user = session.scalars(select(User).where(User.username == "alice")).one()
        raw, _ = issue_token(
            session=session, user=user, kind="web", ttl=timedelta(hours=1), now=utcnow()
        )
        session.commit()
    response = world.client.get("/api/v1/search?q=a", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 401


def test_an_older_hash_is_redone_with_the_current_profile_at_login(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SUMMIT_PASSWORD_HASH_PROFILE="owasp-minimum")
    world = seed_world(app, entities_per_tenant=0)
    old = Passwords("rfc9106-low-memory").hash(PASSWORD)
    with services(app).db.session(tenant_id=None, write=True) as session:
        bob = session.scalars(select(User).where(User.username == "bob")).one()
        bob.password_hash = old
        session.commit()
    assert world.login("bob")["token"]
    with services(app).db.session(tenant_id=None) as session:
        now = session.scalars(select(User.password_hash).where(User.username == "bob")).one()
    assert now != old
    assert now.startswith("$argon2id$v=19$m=19456,t=2,p=1$")  # OWASP's minimum
    assert world.login("bob")["token"]  # and it still opens
