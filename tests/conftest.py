"""Fixtures: a real database per test (SQLite always, PostgreSQL where it runs), the
app, and three personas — alice (admin, acme), bob (analyst, acme) and carol
(admin, globex), the outsider who must be refused everywhere — plus ops
(platform operator) and the acme synthetic probe user.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text

from app import create_app
from app.db import Database, utcnow
from app.demo import seed
from app.migrate import upgrade
from app.security import Passwords
from app.services import Services

PASSWORD = "correct horse battery staple"
PG_URL = os.environ.get(
    "SUMMIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_reachable(url: str = PG_URL) -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


def require_service(name: str, problem: str | None) -> None:
    """Skip on a laptop without the service; fail in CI, where it must be there."""
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"{name} is required when CI=true and is unreachable: {problem}")
    pytest.skip(f"{name} unreachable: {problem}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "summit.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    require_service("PostgreSQL", postgres_reachable())
    schema = f"summit_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    yield url
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database: a copied SQLite file, or a truncated schema."""
    if request.param == "sqlite":
        target = tmp_path / "summit.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_schema")
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = connection.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND tablename <> 'alembic_version'"
            )
        ).scalars()
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


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


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Builds apps on this test's database with extra settings; disposes them after."""
    built: list[Flask] = []

    def build(**extra: Any) -> Flask:
        application = create_app(app_config(database_url, tmp_path / "var", **extra))
        built.append(application)
        return application

    yield build
    for application in built:
        services(application).close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def services(application: Flask) -> Services:
    summit: Services = application.extensions["summit"]
    return summit


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


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


@pytest.fixture
def world(app: Flask) -> World:
    """acme and globex with their users, and the first demo entities of each."""
    return seed_world(app)
