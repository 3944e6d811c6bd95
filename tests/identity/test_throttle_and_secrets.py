"""Login throttling, cookie flags, and secrets that never reach logs or errors."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from app.core.gcra import SqliteStore
from app.identity.throttle import LoginThrottle
from tests.support.world import PASSWORD, World, seed_world


def attempt(
    world: World,
    password: str,
    username: str = "bob",
    tenant: str | None = "acme",
    address: str = "127.0.0.1",
) -> TestResponse:
    return world.client.post(
        "/api/v1/auth/login",
        json={"tenant": tenant, "username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


STRANGER, OWNER = "203.0.113.7", "198.51.100.4"


@pytest.mark.parametrize(("tenant", "username"), [("acme", "bob"), (None, "ops"),
                                                  ("acme", "synthetic")])  # fmt: skip
def test_a_strangers_failures_never_lock_the_owner_out(
    make_app: Callable[..., Flask], tenant: str | None, username: str
) -> None:
    """Regression: five failures from anywhere locked any account, probe users
    and the operator included, for everyone."""
    world = seed_world(make_app(SUMMIT_LOGIN_MAX_FAILURES=3), entities_per_tenant=0)
    for _ in range(30):
        attempt(world, "guess", username, tenant, address=STRANGER)
    assert attempt(world, PASSWORD, username, tenant, address=STRANGER).status_code == 429
    assert attempt(world, PASSWORD, username, tenant, address=OWNER).status_code == 200


def test_behind_a_trusted_proxy_each_client_is_throttled_on_its_own(
    make_app: Callable[..., Flask],
) -> None:
    """Regression: the per-address limit used the proxy's address, so behind a
    reverse proxy a few strangers locked everyone out."""
    app = make_app(SUMMIT_LOGIN_MAX_FAILURES=3, SUMMIT_TRUSTED_PROXIES=1)
    world = seed_world(app, entities_per_tenant=0)
    login = {"tenant": "acme", "username": "bob"}

    def via_proxy(client_address: str, password: str) -> int:
        return world.client.post(
            "/api/v1/auth/login",
            json={**login, "password": password},
            headers={"X-Forwarded-For": client_address},
        ).status_code

    for n in range(60):
        via_proxy(f"203.0.113.{n}", "guess")  # many strangers, one proxy
    assert via_proxy(OWNER, PASSWORD) == 200


def test_guessing_waits_longer_the_longer_it_goes_on() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(
        SqliteStore(Path(tempfile.mkdtemp()) / "limits.db"), max_failures=5,
        window_seconds=300, clock=clock,
    )  # fmt: skip
    who = {"tenant": "acme", "username": "bob", "address": STRANGER}
    waits = []
    for _ in range(40):
        wait = throttle.retry_after(**who)
        if wait is not None:
            waits.append(wait)
            clock.now += wait
        throttle.failed(**who)
    assert waits[0] == 60  # after five quick failures: one more a minute
    assert max(waits) >= 900  # past twenty: one per quarter of an hour
    assert throttle.retry_after(tenant="acme", username="bob", address=OWNER) is None


def test_one_address_guessing_many_accounts_is_stopped(make_app: Callable[..., Flask]) -> None:
    world = seed_world(make_app(SUMMIT_LOGIN_MAX_FAILURES=2), entities_per_tenant=0)
    for n in range(25):
        attempt(world, "guess", username=f"user{n}", address=STRANGER)
    assert attempt(world, PASSWORD, username="alice", address=STRANGER).status_code == 429
    assert attempt(world, PASSWORD, username="alice", address=OWNER).status_code == 200


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


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
