"""The real services tests use: PostgreSQL and Redis on the loopback. Tests that
need one skip where it is absent (a laptop) and fail where it must be (CI=true)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

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
