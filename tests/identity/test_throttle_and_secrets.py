"""Login throttling, cookie flags, and secrets that never reach logs or errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.support.world import PASSWORD, World, seed_world


def attempt(
    world: World, password: str, username: str = "bob", tenant: str = "acme"
) -> TestResponse:
    return world.client.post(
        "/api/v1/auth/login", json={"tenant": tenant, "username": username, "password": password}
    )


def test_password_guessing_is_throttled_per_account(make_app: Callable[..., Flask]) -> None:
    world = seed_world(make_app(SUMMIT_LOGIN_MAX_FAILURES=3), entities_per_tenant=0)
    for _ in range(3):
        assert attempt(world, "guess").status_code == 401
    refused = attempt(world, PASSWORD)  # even the right password, while throttled
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(refused.headers["Retry-After"]) <= 300
    assert attempt(world, PASSWORD, username="alice").status_code == 200


def test_a_success_clears_the_failure_count(make_app: Callable[..., Flask]) -> None:
    world = seed_world(make_app(SUMMIT_LOGIN_MAX_FAILURES=3), entities_per_tenant=0)
    for _ in range(2):
        attempt(world, "guess")
    assert attempt(world, PASSWORD).status_code == 200
    for _ in range(2):
        assert attempt(world, "guess").status_code == 401
    assert attempt(world, PASSWORD).status_code == 200


def test_the_web_login_is_throttled_too(make_app: Callable[..., Flask]) -> None:
    from tests.support.web import web_login

    world = seed_world(make_app(SUMMIT_LOGIN_MAX_FAILURES=2), entities_per_tenant=0)
    for _ in range(2):
        web_login(world.client, "acme", "bob", password="guess")
    page = web_login(world.client, "acme", "bob")
    assert page.status_code == 429
    assert "Too many failed logins" in page.get_data(as_text=True)


def test_secure_cookie_when_configured(make_app: Callable[..., Flask]) -> None:
    from tests.support.web import web_login

    world = seed_world(make_app(SUMMIT_COOKIE_SECURE=True), entities_per_tenant=0)
    cookie = web_login(world.client, "acme", "alice").headers["Set-Cookie"]
    assert "; Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_demo_password_is_refused_outside_demo_mode(make_app: Callable[..., Flask]) -> None:
    from app.core.db import utcnow
    from app.demo.seed import seed
    from app.identity.service import Passwords
    from app.settings import DEMO_DEFAULT_PASSWORD
    from tests.support.world import services

    app = make_app(SUMMIT_ENV="development")
    seed(
        db=services(app).db,
        passwords=Passwords("cheapest"),
        password=DEMO_DEFAULT_PASSWORD,
        now=utcnow(),
        entities_per_tenant=0,
    )
    response = app.test_client().post(
        "/api/v1/auth/login",
        json={"tenant": "acme", "username": "alice", "password": DEMO_DEFAULT_PASSWORD},
    )
    assert response.status_code == 401


# --- redaction: plant secrets, exercise every path, grep what was logged ---------------

PLANTED_ATTRIBUTE = "attr-secret-7f3e91"
PLANTED_PASSWORD = "pw-secret-c0ffee42"


def test_logs_and_errors_never_carry_passwords_tokens_or_attributes(
    world: World, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    client = world.client
    with caplog.at_level(logging.DEBUG):
        token = world.login("alice")["token"]
        alice = {"Authorization": f"Bearer {token}"}
        bodies = []
        created = client.post(
            "/api/v1/entities",
            json={
                "kind": "person",
                "name": "Planted",
                "dataset": "d",
                "attributes": {"note": PLANTED_ATTRIBUTE},
            },
            headers=alice,
        )
        entity_id = created.get_json()["id"]
        for response in (
            client.post(
                "/api/v1/auth/login",
                json={"tenant": "acme", "username": "bob", "password": PLANTED_PASSWORD},
            ),
            client.post(
                "/api/v1/entities",
                json={"kind": "person", "name": 7, "attributes": {"x": PLANTED_ATTRIBUTE}},
                headers=alice,
            ),
            client.post(
                "/api/v1/entities",
                data='{"name": "' + PLANTED_ATTRIBUTE,
                content_type="application/json",
                headers=alice,
            ),
            client.patch(
                f"/api/v1/entities/{entity_id}",
                json={"attributes": {"n": PLANTED_ATTRIBUTE}, "bogus": PLANTED_ATTRIBUTE},
                headers=alice,
            ),
            client.get(
                f"/api/v1/entities/{entity_id}", headers={"Authorization": f"Bearer {token}!"}
            ),
            client.get("/api/v1/search?q=planted", headers=alice),
            client.post(
                "/api/v1/policy/decide",
                headers=alice,
                json={
                    "principal": {"id": "alice", "role": "admin", "tenant": "acme"},
                    "action": "read",
                    "resource": {"type": "entity", "id": entity_id, "tenant": "acme"},
                    "context": {"note": PLANTED_ATTRIBUTE},
                },
            ),
        ):
            bodies.append(response.get_data(as_text=True))
        client.post("/api/v1/auth/logout", headers=alice)
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    out, err = capfd.readouterr()
    everything = logged + out + err
    for secret in (PASSWORD, PLANTED_PASSWORD, PLANTED_ATTRIBUTE, token):
        assert secret not in everything, f"a secret reached the logs: {secret[:8]}…"
    for body in bodies[:-2]:  # errors never echo what was sent
        for secret in (PLANTED_PASSWORD, PLANTED_ATTRIBUTE, token):
            assert secret not in body
    assert re.search(r"smt_[A-Za-z0-9_-]{20,}", everything) is None


def test_the_log_handler_scrubs_tokens_and_passwords() -> None:
    import io

    from pythonjsonlogger.json import JsonFormatter

    from app.core.logs import RedactingFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("summit.test.redaction")
    logger.addHandler(handler)
    try:
        logger.warning(
            "token smt_abcdefghijklmnop and Bearer xyz123 password=hunter2",
            extra={"header": "Bearer secret-token-9", "body": '{"password": "s3cret"}'},
        )
        try:
            raise ValueError("failed for smt_qqqqqqqqqqqqqqqq")
        except ValueError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    for secret in (
        "smt_abcdefghijklmnop",
        "xyz123",
        "hunter2",
        "secret-token-9",
        "s3cret",
        "smt_qqqqqqqqqqqqqqqq",
    ):
        assert secret not in out, secret
    assert out.count("[redacted]") >= 6


def test_database_errors_do_not_carry_statement_parameters(world: World) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from tests.support.world import services

    statement = text("SELECT * FROM no_such_table WHERE x = :v")
    with (
        services(world.app).db.engine.connect() as connection,
        pytest.raises(DBAPIError, match="no_such_table") as caught,
    ):
        connection.execute(statement, {"v": PLANTED_ATTRIBUTE})
    assert PLANTED_ATTRIBUTE not in str(caught.value)
