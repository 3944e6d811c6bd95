"""Create or migrate the schema (``summit init``). Imports no Flask."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to every head (later features add their own branches)."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


@cache
def heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(_config()).get_heads())


def pending(engine: Engine) -> set[str]:
    """Heads not yet applied: empty when the schema is current."""
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return set(heads()) - current
