"""The seeded personas: alice (admin, acme), bob (analyst, acme), carol (admin,
globex: the outsider who must be refused everywhere), ops (platform operator)
and the synthetic probe users; an app's settings for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from app.core.db import utcnow
from app.demo.seed import seed
from app.identity.service import Passwords
from app.services import Services

PASSWORD = "correct horse battery staple"


def app_config(database_url: str, var_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "DATABASE_URL": database_url,
        "SUMMIT_ENV": "test",
        "SUMMIT_VAR_DIR": str(var_dir),
        "SUMMIT_SECRET_KEY": "test-secret-key",
        "SUMMIT_PASSWORD_HASH_PROFILE": "cheapest",
        "TESTING": True,
        "METRICS_REGISTRY": CollectorRegistry(),
        **extra,
    }


def services(application: Flask) -> Services:
    summit: Services = application.extensions["summit"]
    return summit


class World:
    """The seeded personas, and tokens for them on demand."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client
        self._tokens: dict[str, str] = {}

    def login(self, username: str, tenant: str | None = None) -> dict[str, Any]:
        tenant = tenant if tenant is not None else TENANT_OF.get(username)
        response = self.client.post(
            "/api/v1/auth/login",
            json={"tenant": tenant, "username": username, "password": PASSWORD},
        )
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            self._tokens[username] = self.login(username)["token"]
        return {"Authorization": f"Bearer {self._tokens[username]}"}


TENANT_OF = {"alice": "acme", "bob": "acme", "carol": "globex", "ops": None}


def seed_world(app: Flask, *, entities_per_tenant: int = 3) -> World:
    seed(
        db=services(app).db,
        passwords=Passwords("cheapest"),
        password=PASSWORD,
        now=utcnow(),
        entities_per_tenant=entities_per_tenant,
    )
    return World(app, app.test_client())
