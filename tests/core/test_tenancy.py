"""Tenant scoping is applied by the session, for every query, in one place."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, update

from app.core.db import Database, utcnow
from app.core.tenancy import ALL_TENANTS, TenantScopeError
from app.demo.seed import SYNTHETIC, synthetic_edges
from app.graph.models import Edge, Entity
from app.graph.service import create_entity
from app.identity.models import Tenant
from tests.support.world import World, services

# The world's seed: three demo entities and two edges per tenant, plus the
# probes' synthetic records.
ENTITIES_PER_TENANT = 3 + len(SYNTHETIC) + 1  # and the governance probe's record
EDGES_PER_TENANT = 2 + len(synthetic_edges("x"))


def tenant_ids(db: Database) -> dict[str, int]:
    with db.session(tenant_id=ALL_TENANTS) as session:
        return dict(session.execute(select(Tenant.slug, Tenant.id)).all())


def test_a_tenant_session_sees_only_its_own_rows(world: World) -> None:
    db = services(world.app).db
    ids = tenant_ids(db)
    with db.session(tenant_id=ids["globex"]) as session:
        names = session.scalars(select(Entity.name)).all()
        assert names
        assert not any(name.startswith("Acme") for name in names)
        assert session.scalar(select(func.count()).select_from(Edge)) == EDGES_PER_TENANT
        joined = session.execute(select(Entity.name).join(Edge, Edge.source_id == Entity.id)).all()
        assert all(not row.name.startswith("Acme") for row in joined)


def test_updates_and_deletes_cannot_reach_another_tenant(world: World) -> None:
    db = services(world.app).db
    ids = tenant_ids(db)
    with db.session(tenant_id=ids["globex"]) as session:
        session.execute(update(Entity).values(name="overwritten"))
        session.execute(delete(Edge))
        session.commit()
    with db.session(tenant_id=ids["acme"]) as session:
        assert "Acme Rocket Works" in session.scalars(select(Entity.name)).all()
        assert session.scalar(select(func.count()).select_from(Edge)) == EDGES_PER_TENANT


def test_a_session_without_a_tenant_refuses_tenant_rows(world: World) -> None:
    db = services(world.app).db
    with db.session(tenant_id=None) as session:
        with pytest.raises(TenantScopeError):
            session.scalars(select(Entity)).all()
        assert session.scalars(select(Tenant.slug)).all()  # platform rows are fine


def test_rows_are_stamped_with_the_sessions_tenant(world: World) -> None:
    db = services(world.app).db
    ids = tenant_ids(db)
    with db.session(tenant_id=ids["globex"]) as session:
        entity = create_entity(
            session=session,
            kind="x",
            name="stamped",
            dataset="d",
            attributes={},
            subject=None,
            source="test",
            actor="t",
            now=utcnow(),
        )
        session.commit()
        assert entity.tenant_id == ids["globex"]


def test_inserting_into_another_tenant_is_refused(world: World) -> None:
    db = services(world.app).db
    ids = tenant_ids(db)
    with db.session(tenant_id=ids["globex"]) as session:
        session.add(
            Entity(
                tenant_id=ids["acme"],
                kind="x",
                name="smuggled",
                dataset="d",
                source="t",
                created_by="t",
                updated_by="t",
            )
        )
        with pytest.raises(TenantScopeError):
            session.flush()


def test_get_by_primary_key_is_scoped_too(app: Flask, world: World) -> None:
    db = services(app).db
    ids = tenant_ids(db)
    with db.session(tenant_id=ids["acme"]) as session:
        pk = session.scalars(select(Entity.pk)).first()
    with db.session(tenant_id=ids["globex"]) as session:
        assert session.get(Entity, pk) is None


def test_a_session_without_a_tenant_refuses_counts_and_subqueries(world: World) -> None:
    db = services(world.app).db
    with db.session(tenant_id=None) as session:
        for statement in (
            select(func.count()).select_from(Edge),
            select(func.count()).select_from(select(Entity.pk).subquery()),
            select(Tenant.slug).where(Tenant.id.in_(select(Entity.tenant_id))),
        ):
            with pytest.raises(TenantScopeError):
                session.execute(statement).all()


def test_counts_and_subqueries_are_scoped(world: World) -> None:
    db = services(world.app).db
    ids = tenant_ids(db)
    with db.session(tenant_id=ALL_TENANTS) as session:
        everything = session.scalar(select(func.count()).select_from(Entity))
    with db.session(tenant_id=ids["globex"]) as session:
        assert session.scalar(select(func.count()).select_from(Edge)) == EDGES_PER_TENANT
        inner = select(Entity.pk).subquery()
        assert (
            session.scalar(select(func.count()).select_from(inner))
            == ENTITIES_PER_TENANT
            < (everything or 0)
        )


def test_core_statements_on_tenant_tables_are_refused_in_a_tenant_session(world: World) -> None:
    db = services(world.app).db
    ids = tenant_ids(db)
    with db.session(tenant_id=ids["globex"]) as session, pytest.raises(TenantScopeError):
        session.execute(select(Entity.__table__.c.name)).all()


def test_one_prebuilt_statement_serves_each_tenant_its_own_rows(world: World) -> None:
    """The scoped copy of a statement is made once and reused (its cache key with
    it); the tenant stays a bound parameter, so tenants taking turns on the same
    statement object each see their own rows only."""
    db = services(world.app).db
    ids = tenant_ids(db)
    owners = select(Entity.tenant_id, Entity.name).order_by(Entity.name)
    seen: dict[str, list[tuple[int, str]]] = {}
    for slug in ("acme", "globex", "acme", "globex"):
        with db.session(tenant_id=ids[slug]) as session:
            rows = [(owner, name) for owner, name in session.execute(owners)]
        assert rows
        assert {owner for owner, _ in rows} == {ids[slug]}
        assert seen.setdefault(slug, rows) == rows
    assert "Acme Rocket Works" in {name for _, name in seen["acme"]}
    assert "Acme Rocket Works" not in {name for _, name in seen["globex"]}
