"""The DLQ inspector (/ops/dlq): operators see every tenant's items as metadata
only; a tenant's admins see their own items with the raw event."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.ingest.helpers import event, ndjson, post
from tests.support.web import web_login
from tests.support.world import World

SECRET = (
    b'{"id":"leak-1","type":9,"ts":"2026-11-26T10:00:00Z","source":"crm",'
    b'"payload":{"ssn":"078-05-1120"}}'
)


def browser(app: Flask, tenant: str, user: str) -> FlaskClient:
    client = app.test_client()
    assert web_login(client, tenant, user).status_code == 302
    return client


def seed(world: World) -> str:
    post(world, ndjson(SECRET, event("fine")))
    post(world, ndjson(b"{globex-broken"), user="carol", query="?source=gx")
    items = world.client.get("/api/v1/ingest/dlq", headers=world.headers("alice")).get_json()
    item_id: str = items["items"][0]["id"]
    return item_id


def test_operators_see_every_tenants_items_but_no_tenant_data(world: World) -> None:
    item = seed(world)
    ops = browser(world.app, "", "ops")
    page = ops.get("/ops/dlq").get_data(as_text=True)
    assert "acme" in page
    assert "globex" in page
    assert "invalid_field" in page
    assert "malformed_json" in page
    for secret in ("078-05-1120", "leak-1", "globex-broken", "Expected"):
        assert secret not in page
    detail = ops.get(f"/ops/dlq/{item}")
    assert detail.status_code == 200
    text = detail.get_data(as_text=True)
    assert "078-05-1120" not in text
    assert "leak-1" not in text
    assert "operators do not see them" in text


def test_operators_filter_by_tenant_source_and_reason(world: World) -> None:
    seed(world)
    ops = browser(world.app, "", "ops")
    page = ops.get("/ops/dlq?tenant=globex").get_data(as_text=True)
    assert "<td>gx</td>" in page
    assert "<td>crm</td>" not in page
    page = ops.get("/ops/dlq?reason=invalid_field&source=crm").get_data(as_text=True)
    assert "<td>crm</td>" in page
    assert "<td>gx</td>" not in page
    assert "No DLQ items match" in ops.get("/ops/dlq?source=nothing").get_data(as_text=True)


def test_a_tenant_admin_sees_its_raw_events_and_nothing_of_others(world: World) -> None:
    item = seed(world)
    alice = browser(world.app, "acme", "alice")
    page = alice.get("/ops/dlq").get_data(as_text=True)
    assert "globex" not in page
    assert "<td>gx</td>" not in page
    detail = alice.get(f"/ops/dlq/{item}").get_data(as_text=True)
    assert "078-05-1120" in detail
    assert "leak-1" in detail
    carol = browser(world.app, "globex", "carol")
    assert carol.get(f"/ops/dlq/{item}").status_code == 404
    assert "078-05-1120" not in carol.get("/ops/dlq").get_data(as_text=True)


def test_analysts_may_not_open_the_inspector(world: World) -> None:
    seed(world)
    assert browser(world.app, "acme", "bob").get("/ops/dlq").status_code == 403
    anonymous = world.app.test_client().get("/ops/dlq")
    assert anonymous.status_code == 302
