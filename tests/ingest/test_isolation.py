"""Tenant isolation on every ingest route: the bulk path stamps the caller's
tenant itself (it runs below the session's scoping), and every read goes
through a tenant-scoped session. Another tenant's ids are 404, roles are
refused, operators read no tenant data."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from app.core.tenancy import ALL_TENANTS
from app.identity.models import Tenant
from app.ingest.models import DlqItem, IngestBatch, IngestCounter, IngestEvent
from app.ingest.service import events_for_subject
from tests.ingest.helpers import event, ndjson, post, stats
from tests.support.world import World, services

ROUTES = [
    ("post", "/api/v1/ingest/events"),
    ("get", "/api/v1/ingest/stats"),
    ("get", "/api/v1/ingest/dlq"),
    ("get", "/api/v1/ingest/dlq/{item}"),
    ("post", "/api/v1/ingest/dlq/replay"),
    ("get", "/api/v1/ingest/connectors"),
    ("put", "/api/v1/ingest/connectors/crm"),
]


def seed_acme(world: World) -> str:
    """acme has events, a DLQ item and a connector; returns the item's id."""
    put = world.client.put(
        "/api/v1/ingest/connectors/crm",
        json={"rate": 100, "burst": 100, "batch_size": 50},
        headers=world.headers("alice"),
    )
    assert put.status_code == 200, put.get_json()
    post(world, ndjson(event("acme-1", payload={"subject": "sam"}), b"{broken"))
    items = world.client.get("/api/v1/ingest/dlq", headers=world.headers("alice")).get_json()
    item_id: str = items["items"][0]["id"]
    return item_id


def test_rows_are_stamped_with_the_callers_tenant(world: World) -> None:
    seed_acme(world)
    post(world, ndjson(event("acme-1"), event("globex-1"), b"{bad"), user="carol")
    db = services(world.app).db
    with db.session(tenant_id=ALL_TENANTS) as session:
        slugs = dict(session.execute(select(Tenant.id, Tenant.slug)).all())
        owners = {
            (slugs[t], e)
            for t, e in session.execute(select(IngestEvent.tenant_id, IngestEvent.event_id))
        }
        assert owners == {("acme", "acme-1"), ("globex", "acme-1"), ("globex", "globex-1")}
        for model in (DlqItem, IngestBatch, IngestCounter):
            assert set(session.scalars(select(model.tenant_id))) == set(slugs)


def test_another_tenant_sees_none_of_it_and_its_ids_are_404(world: World) -> None:
    item = seed_acme(world)
    carol = world.headers("carol")
    assert world.client.get(f"/api/v1/ingest/dlq/{item}", headers=carol).status_code == 404
    assert world.client.get("/api/v1/ingest/dlq", headers=carol).get_json()["items"] == []
    assert world.client.get("/api/v1/ingest/connectors", headers=carol).get_json() == {
        "connectors": []
    }
    assert stats(world, user="carol")["received"] == 0
    replay = world.client.post("/api/v1/ingest/dlq/replay", json={"ids": [item]}, headers=carol)
    assert replay.status_code == 404
    assert (
        world.client.get(f"/api/v1/ingest/dlq/{item}", headers=world.headers("alice")).get_json()[
            "status"
        ]
        == "pending"
    )
    # carol's connector of the same name is hers, and leaves acme's alone
    world.client.put(
        "/api/v1/ingest/connectors/crm",
        json={"rate": 1, "burst": 1, "batch_size": 1},
        headers=carol,
    )
    acme = world.client.get("/api/v1/ingest/connectors", headers=world.headers("alice")).get_json()
    assert acme["connectors"][0]["burst"] == 100


def test_a_subjects_events_are_read_within_the_sessions_tenant(world: World) -> None:
    seed_acme(world)
    post(world, ndjson(event("g-1", payload={"subject": "sam"})), user="carol")
    db = services(world.app).db
    with db.session(tenant_id=ALL_TENANTS) as session:
        acme = session.scalars(select(Tenant.id).where(Tenant.slug == "acme")).one()
    with db.session(tenant_id=acme) as session:
        records = list(events_for_subject(session=session, subject="sam"))
    assert [r.event_id for r in records] == ["acme-1"]
    record = records[0]
    assert (record.source, record.created_by, record.subject) == ("crm", "alice", "sam")
    assert record.payload == {"subject": "sam"}
    assert record.batch_id
    assert record.received_at


def test_every_ingest_route_refuses_analysts_operators_and_strangers(world: World) -> None:
    item = seed_acme(world)
    for method, path in ROUTES:
        url = path.format(item=item)
        kwargs: dict[str, Any] = {"json": {}} if method in ("post", "put") else {}
        if path.endswith("/events"):
            kwargs = {"data": ndjson(event("z")), "content_type": "application/x-ndjson"}
        call = getattr(world.client, method)
        assert call(url, **kwargs).status_code == 401, url
        for user in ("bob", "ops"):
            response = call(url, headers=world.headers(user), **kwargs)
            assert response.status_code == 403, (user, url, response.get_json())
    assert stats(world)["received"] == 2  # only alice's seed


def test_the_bulk_path_cannot_be_pointed_at_another_tenant_by_the_body(world: World) -> None:
    seed_acme(world)
    sneaky = orjson.dumps(event("s1") | {"tenant_id": 2})
    body = post(world, ndjson(sneaky), user="carol").get_json()
    assert body["rejected"] == 1
    assert body["errors"][0]["reason"] == "unknown_field"
