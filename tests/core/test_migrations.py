"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect

from app import schema  # noqa: F401 - every table on Base.metadata
from app.core.db import Base
from app.core.migrate import pending, upgrade
from app.ops.service import JOBSTORE_TABLE
from tests.support.world import services

# Created by migrations on purpose, outside the models: the full-text index.
SEARCH_INDEX_OBJECTS = {"entity_fts", "search_vector", "ix_entities_search_vector"}
# Created by APScheduler's SQLAlchemyJobStore when a scheduler first leads, in
# APScheduler's own shape (app/scheduler.py); no model of ours describes it.
SCHEDULER_OBJECTS = {JOBSTORE_TABLE, f"ix_{JOBSTORE_TABLE}_next_run_time"}


def _ignore_search_index(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
    if name in SCHEDULER_OBJECTS:
        return False
    return not (name in SEARCH_INDEX_OBJECTS or (name or "").startswith("entity_fts"))


def test_migrated_schema_matches_the_models(app: Flask) -> None:
    engine = services(app).db.engine
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": _ignore_search_index},
        )
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent_and_leaves_nothing_pending(app: Flask) -> None:
    engine = services(app).db.engine
    upgrade(engine)
    upgrade(engine)
    assert pending(engine) == set()
    assert {"tenants", "users", "entities", "edges", "auth_tokens"} <= set(
        inspect(engine).get_table_names()
    )
