"""DATABASE_REPLICA_URL: search, entity reads and the SLO report come from the
replica; writes, logins and token checks stay on the primary. Two real
PostgreSQL databases (the test database and ``<name>_replica``) stand in for a
primary and its replica: each is given data the other lacks, so the answers
show which one was read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app import create_app
from app.alerting.service import statuses
from app.core.db import Database, utcnow
from app.core.tenancy import ALL_TENANTS
from app.demo.seed import seed
from app.graph import service as graph
from app.graph.models import Entity
from app.identity.models import Tenant
from app.identity.service import Passwords
from app.settings import SettingsError, load_settings
from tests.support.services import PG_URL, migrated_schema, postgres_reachable, require_service
from tests.support.world import PASSWORD, World, app_config, seed_world, services

pytestmark = pytest.mark.postgres


def _schema_in(database_url: str) -> Iterator[str]:
    return migrated_schema(database_url, prefix="summit_replica")


def _replica_database() -> str:
    """``<test database>_replica`` on the same server, made if missing."""
    base = make_url(PG_URL)
    name = f"{base.database}_replica"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
        if found is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def primary() -> Iterator[str]:
    require_service("PostgreSQL", postgres_reachable())
    yield from _schema_in(PG_URL)


@pytest.fixture
def replica() -> Iterator[str]:
    require_service("PostgreSQL", postgres_reachable())
    yield from _schema_in(_replica_database())


def _app(primary: str, tmp_path: Path, **extra: Any) -> Iterator[Flask]:
    application = create_app(app_config(primary, tmp_path / "var", **extra))
    yield application
    services(application).close()


@pytest.fixture
def replicated(primary: str, replica: str, tmp_path: Path) -> Iterator[Flask]:
    yield from _app(primary, tmp_path, DATABASE_REPLICA_URL=replica)


def _replicate_seed(replica: str) -> None:
    """What streaming replication would have copied: the same seed (its ids are
    deterministic, and both schemas are fresh, so tenant ids match too)."""
    db = Database(replica)
    seed(db=db, passwords=Passwords("cheapest"), password=PASSWORD, now=utcnow(),
         entities_per_tenant=3)  # fmt: skip
    db.dispose()


def _only_in(url: str, name: str) -> str:
    """An acme entity written to this database alone."""
    db = Database(url)
    with db.session(tenant_id=None) as session:
        acme = session.execute(select(Tenant.id).where(Tenant.slug == "acme")).scalar_one()
    with db.session(tenant_id=acme, write=True) as session:
        entity = graph.create_entity(
            session=session, kind="organization", name=name, dataset="osint", attributes={},
            subject=None, source="test", actor="test", now=utcnow(),
        )  # fmt: skip
        session.commit()
        entity_id = entity.id
    db.dispose()
    return entity_id


def _names(world: World, query: str) -> set[str]:
    response = world.client.get(f"/api/v1/search?q={query}", headers=world.headers("alice"))
    assert response.status_code == 200, response.get_json()
    return {hit["name"] for hit in response.get_json()["results"]}


def _exists_in(url: str, entity_id: str) -> bool:
    db = Database(url)
    with db.session(tenant_id=ALL_TENANTS) as session:
        found = session.execute(select(Entity.id).where(Entity.id == entity_id)).first()
    db.dispose()
    return found is not None


def test_reads_come_from_the_replica_and_writes_go_to_the_primary(
    replicated: Flask, primary: str, replica: str
) -> None:
    world = seed_world(replicated)  # the primary (logins and tokens live there)
    _replicate_seed(replica)
    on_replica = _only_in(replica, "Replica Falcon Works")
    on_primary = _only_in(primary, "Primary Falcon Works")

    assert _names(world, "falcon works") == {"Replica Falcon Works"}
    fetched = world.client.get(f"/api/v1/entities/{on_replica}", headers=world.headers("alice"))
    assert fetched.status_code == 200
    # Read-your-writes is lost: what the primary holds and the replica has not
    # received yet is not found.
    missing = world.client.get(f"/api/v1/entities/{on_primary}", headers=world.headers("alice"))
    assert missing.status_code == 404

    created = world.client.post(
        "/api/v1/entities", headers=world.headers("alice"),
        json={"kind": "person", "name": "Written Through", "dataset": "osint"},
    )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    new_id = created.get_json()["id"]
    assert _exists_in(primary, new_id)
    assert not _exists_in(replica, new_id)


def test_without_a_replica_every_read_is_the_primarys(
    primary: str, replica: str, tmp_path: Path
) -> None:
    for application in _app(primary, tmp_path):
        world = seed_world(application)
        _replicate_seed(replica)
        _only_in(replica, "Replica Falcon Works")
        _only_in(primary, "Primary Falcon Works")
        assert _names(world, "falcon works") == {"Primary Falcon Works"}


def test_the_slo_report_reads_the_replica(primary: str, replica: str, tmp_path: Path) -> None:
    settings = load_settings({"DATABASE_URL": primary, "SUMMIT_VAR_DIR": str(tmp_path)})
    on_primary = Database(primary)
    assert statuses(settings=settings, db=on_primary, now=utcnow())  # the primary answers
    on_primary.dispose()
    gone = Database(primary, replica_url=replica.replace("_replica?", "_no_such_replica?"))
    with pytest.raises(OperationalError, match="no_such_replica"):
        statuses(settings=settings, db=gone, now=utcnow())
    gone.dispose()


def test_readyz_checks_the_replica(primary: str, replica: str, tmp_path: Path) -> None:
    for application in _app(primary, tmp_path, DATABASE_REPLICA_URL=replica):
        body = application.test_client().get("/readyz").get_json()
        assert body["checks"]["replica"] == "ok"
    broken = replica.replace("_replica?", "_no_such_replica?")
    for application in _app(primary, tmp_path, DATABASE_REPLICA_URL=broken):
        answer = application.test_client().get("/readyz")
        assert answer.status_code == 503
        assert answer.get_json()["checks"]["replica"].startswith("unreachable")


def test_a_replica_needs_postgresql_on_both_sides() -> None:
    with pytest.raises(SettingsError, match="DATABASE_REPLICA_URL"):
        load_settings({"DATABASE_REPLICA_URL": "postgresql://db-replica/summit"})
    with pytest.raises(SettingsError, match=r"DATABASE_REPLICA_URL: .*must be a postgresql"):
        load_settings(
            {"DATABASE_URL": "postgresql://db/summit", "DATABASE_REPLICA_URL": "sqlite:///x.db"}
        )
    chosen = load_settings(
        {"DATABASE_URL": "postgresql://db/summit", "DATABASE_REPLICA_URL": "postgresql://r/summit"}
    )
    assert chosen.resolved_replica_url == "postgresql+psycopg://r/summit"
