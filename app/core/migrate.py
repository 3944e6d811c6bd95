"""Create or migrate the schema (``summit init``). Imports no Flask."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

MIGRATIONS = Path(__file__).parent.parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
_VERSIONS = text("SELECT version_num FROM alembic_version")


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
    """Heads not yet applied: empty when the schema is current.

    Reads Alembic's version table itself: /readyz asks on every call, and
    Alembic's MigrationContext logs two INFO lines each time it is configured.
    """
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return set(heads())
        current = tuple(sorted(connection.execute(_VERSIONS).scalars()))
    return set(heads()) - applied(current)


@cache
def applied(current: tuple[str, ...]) -> frozenset[str]:
    """Every revision the stored ones stand for: Alembic keeps only the newest of
    each branch, and a branch that depends on another's revision stands for it."""
    script = ScriptDirectory.from_config(_config())
    try:
        return frozenset(rev.revision for rev in script.iterate_revisions(current, "base"))
    except Exception:  # a revision we do not know: a newer Summit migrated this database
        return frozenset(current)


def unknown_revisions(revisions: Iterable[str]) -> set[str]:
    """Revisions this Summit's migrations do not know: a newer Summit wrote them."""
    script = ScriptDirectory.from_config(_config())
    missing = set()
    for revision in revisions:
        try:
            if script.get_revision(revision) is None:
                missing.add(revision)
        except Exception:  # Alembic's ResolutionError and friends: not ours
            missing.add(revision)
    return missing
