"""The real services tests use: PostgreSQL and Redis on the loopback. Tests that
need one skip where it is absent (a laptop) and fail where it must be (CI=true)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from app.core.db import Database
from app.core.migrate import upgrade

PG_URL = os.environ.get(
    "SUMMIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SUMMIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
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


def migrated_schema(database_url: str = PG_URL, prefix: str = "summit_test") -> Iterator[str]:
    """A fresh schema in the PostgreSQL database at ``database_url``, migrated;
    yields the URL whose search_path is that schema, and drops it afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{database_url}?options=-csearch_path%3D{schema}"
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
