"""Backpressure and quotas: a refused batch says when to come back and writes
nothing; accepted bytes count against the tenant's storage quota exactly."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text

from app.core.tenancy import ALL_TENANTS
from app.identity.models import Tenant
from app.quotas.models import TenantUsage
from tests.ingest.helpers import event, ndjson, post, stats
from tests.support.world import World, seed_world, services


def usage(world: World) -> int:
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        row = session.execute(
            select(TenantUsage.storage_bytes)
            .join(Tenant, Tenant.id == TenantUsage.tenant_id)
            .where(Tenant.slug == "acme")
        ).one()
        return int(row[0])


def test_accepted_and_dead_lettered_bytes_are_charged_exactly(world: World) -> None:
    lines = [ndjson(event("q1"))[:-1], ndjson(event("q2", payload={"s": "x" * 50}))[:-1]]
    bad = b'{"id":"q3"}'
    before = usage(world)
    post(world, ndjson(*lines, bad, lines[0]))  # q1 twice: charged once
    assert usage(world) - before == len(lines[0]) + len(lines[1]) + len(bad)
    assert stats(world)["stored_bytes"] == len(lines[0]) + len(lines[1])


def test_a_batch_over_the_storage_quota_is_413_and_stores_nothing(world: World) -> None:
    used = usage(world)
    ops = world.headers("ops")
    patch = world.client.patch(
        "/api/v1/admin/tenants/acme/quotas",
        json={"storage_bytes": used + 100, "reason": "test"},
        headers=ops,
    )
    assert patch.status_code == 200
    response = post(world, ndjson(*(event(f"big{i}") for i in range(5)), b"{bad"))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "storage_quota_exceeded"
    assert usage(world) == used
    totals = stats(world, verify="true")
    assert (totals["received"], totals["rows"]) == (0, {"events": 0, "dlq_pending": 0})
    assert post(world, ndjson(event("small"))).status_code == 202  # ~80 bytes still fit


def test_a_process_with_every_slot_busy_answers_503_with_retry_after(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SUMMIT_INGEST_MAX_IN_FLIGHT=1, SUMMIT_INGEST_WRITE_WAIT_SECONDS=0.2)
    world = seed_world(app)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with app.extensions["summit.ingest"].slot(wait=1):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(5)
        response = post(world, ndjson(event("w1")))
    finally:
        release.set()
        holder.join()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"]["code"] == "ingest_busy"
    assert stats(world)["received"] == 0
    assert post(world, ndjson(event("w1"))).status_code == 202  # the slot is free again


@contextmanager
def writer_held(world: World) -> Iterator[None]:
    """Another transaction holds what the batch's writer needs: SQLite's write
    lock, or on PostgreSQL the tenant's usage row (the quota charge)."""
    url = services(world.app).db.url
    if url.startswith("sqlite"):
        other = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    engine = create_engine(url)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1 FROM tenant_usage FOR UPDATE"))
        yield
        conn.rollback()
    engine.dispose()


def test_a_saturated_writer_answers_503_and_writes_nothing(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SUMMIT_INGEST_WRITE_WAIT_SECONDS=0.3)
    world = seed_world(app)
    world.headers("alice")  # log in first: logging in writes too
    with writer_held(world):
        response = post(world, ndjson(event("s1"), b"{bad"))
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "writer_saturated"
    assert response.headers["Retry-After"] == "1"
    totals = stats(world, verify="true")
    assert (totals["received"], totals["rows"]) == (0, {"events": 0, "dlq_pending": 0})
    assert post(world, ndjson(event("s1"))).get_json()["accepted"] == 1


def put_connector(world: World, name: str = "crm", **spec: object) -> dict[str, object]:
    body = {"rate": 1, "burst": 10, "batch_size": 10} | spec
    response = world.client.put(
        f"/api/v1/ingest/connectors/{name}", json=body, headers=world.headers("alice")
    )
    assert response.status_code == 200, response.get_json()
    out: dict[str, object] = response.get_json()
    return out


def test_a_connector_over_its_token_bucket_gets_429_with_retry_after(world: World) -> None:
    put_connector(world, rate=1, burst=10, batch_size=10)
    assert post(world, ndjson(*(event(f"t{i}") for i in range(10)))).status_code == 202
    refused = post(world, ndjson(*(event(f"u{i}") for i in range(5))))
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "connector_throttled"
    assert 4 <= int(refused.headers["Retry-After"]) <= 5  # 5 tokens at 1 a second
    assert stats(world, source="crm")["received"] == 10
    other_source = post(world, ndjson(event("o1", source="erp")))
    assert other_source.status_code == 202  # only crm's bucket is empty
    metrics = world.client.get("/metrics").get_data(as_text=True)
    assert (
        'summit_ingest_throttled_total{connector="crm",reason="connector_rate",tenant="acme"} 1.0'
        in metrics
    )


def test_a_connector_limits_its_batch_size_and_event_types(world: World) -> None:
    put_connector(world, rate=1000, burst=1000, batch_size=3, event_types=["login"])
    too_many = post(world, ndjson(*(event(f"b{i}") for i in range(4))))
    assert too_many.status_code == 413
    assert too_many.get_json()["error"]["code"] == "batch_too_large"
    mixed = post(world, ndjson(event("ok"), event("odd", type="logout"))).get_json()
    assert (mixed["accepted"], mixed["rejected"]) == (1, 1)
    assert mixed["errors"][0]["reason"] == "unknown_type"


def test_a_connector_whose_batch_cannot_fit_its_bucket_is_refused(world: World) -> None:
    response = world.client.put(
        "/api/v1/ingest/connectors/crm",
        json={"rate": 1, "burst": 5, "batch_size": 10},
        headers=world.headers("alice"),
    )
    assert response.status_code == 400


def test_connectors_list_their_counters_and_last_success(world: World) -> None:
    put_connector(world, rate=100, burst=100, batch_size=100, auto_replay=True, max_attempts=2)
    post(world, ndjson(event("c1"), b'{"id":"c2","source":"crm"}'))
    [connector] = world.client.get(
        "/api/v1/ingest/connectors", headers=world.headers("alice")
    ).get_json()["connectors"]
    assert (connector["received"], connector["stored"], connector["dlq"]) == (2, 1, 1)
    assert connector["last_success_at"] is not None
    assert (connector["auto_replay"], connector["max_attempts"]) == (True, 2)


@pytest.mark.parametrize("name", ["x" * 129])
def test_connector_names_are_bounded(world: World, name: str) -> None:
    response = world.client.put(
        f"/api/v1/ingest/connectors/{name}",
        json={"rate": 1, "burst": 1, "batch_size": 1},
        headers=world.headers("alice"),
    )
    assert response.status_code == 400
