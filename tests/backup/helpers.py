"""Helpers for the backup tests: the `summit` command on a test's database, the
demo data with audited governance actions, counting rows independently of the
code under test, and destroying a database as a disaster would."""

from __future__ import annotations

import base64
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.cli import main
from app.core.db import Database, utcnow
from app.graph.models import Entity
from app.identity.models import Tenant
from governance import holds

SIGNING_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SUMMIT_VAR_DIR": str(tmp_path / "var"),
        "SUMMIT_PASSWORD_HASH_PROFILE": "cheapest",
        "SUMMIT_ENV": "demo",
        "SUMMIT_AUDIT_SIGNING_KEY": SIGNING_KEY,
    }


def summit(database_url: str, tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env(database_url, tmp_path))


def seed_with_audit(database_url: str, tmp_path: Path) -> None:
    """The demo data, then holds placed and released in both tenants (each one
    an audit entry), and their chain heads signed."""
    seeded = summit(database_url, tmp_path, "demo", "--seed-only")
    assert seeded.exit_code == 0, seeded.output
    db = Database(database_url)
    try:
        for slug in ("acme", "globex"):
            place_holds(db, slug, count=3)
    finally:
        db.dispose()
    signed = summit(database_url, tmp_path, "audit", "checkpoint")
    assert signed.exit_code == 0, signed.output


def place_holds(db: Database, slug: str, *, count: int) -> None:
    with db.session(tenant_id=None) as session:
        tenant = session.execute(select(Tenant.id).where(Tenant.slug == slug)).scalar_one()
    with db.session(tenant_id=tenant, write=True) as session:
        ids = list(session.execute(select(Entity.id).order_by(Entity.id).limit(count)).scalars())
        for n, entity_id in enumerate(ids):
            hold = holds.place_hold(
                session=session, entity_ids=[entity_id], reason="litigation",
                case_id=f"C-{n}", owner="alice", now=utcnow(),
            )  # fmt: skip
            if n % 2:
                holds.release_hold(
                    session=session, hold_id=hold.id, reason="case closed", actor="alice",
                    now=utcnow(),
                )  # fmt: skip
        session.commit()


def row_counts(database_url: str) -> dict[str, int]:
    """Every table's rows, counted here (not by the code under test)."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            names = inspect(connection).get_table_names()
            if connection.dialect.name == "sqlite":  # FTS5's table and its shadows
                names = list(
                    connection.execute(
                        text(
                            "SELECT name FROM sqlite_master WHERE type = 'table' "
                            "AND name NOT LIKE 'sqlite_%'"
                        )
                    ).scalars()
                )
            return {
                name: connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
                for name in sorted(names)
            }
    finally:
        engine.dispose()


def destroy(database_url: str) -> None:
    """The disaster: the SQLite file is gone, or the PostgreSQL schema dropped."""
    if database_url.startswith("sqlite"):
        path = Path(str(make_url(database_url).database))
        for name in (path.name, path.name + "-wal", path.name + "-shm"):
            path.with_name(name).unlink(missing_ok=True)
        return
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.begin() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def rename_first_entity(database_url: str, name: str) -> None:
    """A change made after the backup (the analysts went on working)."""
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE entities SET name = :name WHERE pk = (SELECT min(pk) FROM entities)"),
            {"name": name},
        )
    engine.dispose()


def first_entity_name(database_url: str) -> str:
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT name FROM entities WHERE pk = (SELECT min(pk) FROM entities)")
        ).scalar_one()
    engine.dispose()
    return str(found)
