"""Fixtures: a real database per test (SQLite always, PostgreSQL where it runs),
the app, and the seeded world. Helpers live in tests/support."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from app import create_app
from app.core.db import Database
from app.core.migrate import upgrade
from tests.support.services import migrated_schema, postgres_reachable, require_service
from tests.support.world import World, app_config, seed_world, services


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
    yield from migrated_schema()


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


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def world(app: Flask) -> World:
    """acme and globex with their users, and the first demo entities of each."""
    return seed_world(app)
