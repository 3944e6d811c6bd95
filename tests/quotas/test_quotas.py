"""Per-tenant quotas: rate limits with headers, storage, jobs, the operator's bump."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from app.core.db import utcnow
from app.core.tenancy import ALL_TENANTS
from app.graph.models import Entity
from app.identity.models import Tenant
from app.quotas.service import JobQuotaExceeded, finish_job, start_job
from tests.support.world import World, seed_world, services


def patch(world: World, tenant: str, body: dict[str, Any], user: str = "ops") -> Any:
    return world.client.patch(
        f"/api/v1/admin/tenants/{tenant}/quotas", json=body, headers=world.headers(user)
    )


def entity_count(world: World) -> int:
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        return session.scalar(select(func.count()).select_from(Entity)) or 0


def test_a_tenant_reads_its_own_quotas_and_usage(world: World) -> None:
    body = world.client.get("/api/v1/quotas", headers=world.headers("bob")).get_json()
    assert body["tenant"] == "acme"
    assert body["limits"] == {
        "qps": 100,
        "burst": 100,
        "concurrent_jobs": 2,
        "storage_bytes": 1024**3,
    }
    assert body["usage"]["storage_bytes"] > 0  # the seeded entities are counted
    assert body["usage"]["running_jobs"] == 0
    assert world.client.get("/api/v1/quotas", headers=world.headers("ops")).status_code == 403


def test_operator_bump_is_audited_with_who_old_new_and_why(world: World) -> None:
    response = patch(world, "acme", {"qps": 7, "burst": 3, "reason": "ticket OPS-1"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["limits"]["qps"] == 7
    assert body["limits"]["burst"] == 3
    assert body["limits"]["storage_bytes"] == 1024**3  # untouched
    [change] = body["changes"]
    assert change["changed_by"] == "ops"
    assert change["reason"] == "ticket OPS-1"
    assert (change["old"]["qps"], change["new"]["qps"]) == (100, 7)
    other = world.client.get("/api/v1/admin/tenants/globex/quotas", headers=world.headers("ops"))
    assert other.get_json()["limits"]["qps"] == 100


@pytest.mark.parametrize(
    "body",
    [
        {"qps": -1},
        {"qps": 0},
        {"burst": -5},
        {"qps": 10**9},
        {"storage_bytes": -1},
        {"storage_bytes": 10**20},
        {"concurrent_jobs": 5000},
        {"qps": "lots"},
        {"qps": 1.5},
        {"tenant_id": 2},
    ],
)
def test_negative_absurd_or_unknown_quota_values_are_400(
    world: World, body: dict[str, Any]
) -> None:
    response = patch(world, "acme", body)
    assert response.status_code == 400
    # Past 64 bits a number is refused before the schema sees it (unsupported_value).
    assert response.get_json()["error"]["code"] in ("validation_error", "unsupported_value")
    after = world.client.get("/api/v1/admin/tenants/acme/quotas", headers=world.headers("ops"))
    assert after.get_json()["changes"] == []


def test_only_operators_change_quotas_and_unknown_tenants_are_404(world: World) -> None:
    for user in ("alice", "bob", "carol"):
        assert patch(world, "acme", {"qps": 1}, user=user).status_code == 403
        own = world.client.get("/api/v1/admin/tenants/acme/quotas", headers=world.headers(user))
        assert own.status_code == 403
    assert patch(world, "initech", {"qps": 5}).status_code == 404
    anonymous = world.client.patch("/api/v1/admin/tenants/acme/quotas", json={"qps": 1})
    assert anonymous.status_code == 401


# --- rate limits --------------------------------------------------------------------


def search(world: World, user: str = "alice") -> Any:
    return world.client.get("/api/v1/search?q=rocket", headers=world.headers(user))


def test_rate_limit_admits_limit_plus_burst_then_429_with_headers(world: World) -> None:
    world.headers("alice")
    world.headers("carol")  # log in before the budget is small
    patch(world, "acme", {"qps": 2, "burst": 3, "reason": "test"})
    # The bucket holds the burst (3) and refills 2 a second: any second admits
    # at most qps + burst. These eight arrive within far less than half a second.
    statuses = [search(world) for _ in range(8)]
    assert [r.status_code for r in statuses] == [200] * 3 + [429] * 5
    first, refused = statuses[0], statuses[3]
    assert first.headers["RateLimit-Limit"] == "5"
    assert first.headers["RateLimit-Remaining"] == "2"
    assert first.headers["RateLimit-Policy"] == '"tenant";q=5;w=1'
    assert first.headers["RateLimit"] == '"tenant";r=2;t=1'
    assert statuses[2].headers["RateLimit-Remaining"] == "0"
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert search(world, "carol").status_code == 200  # globex has its own budget


def test_every_429_is_counted_and_logged_without_flooding(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.headers("alice")
    patch(world, "acme", {"qps": 1, "burst": 0, "reason": "test"})
    with caplog.at_level(logging.WARNING, logger="summit.auth"):
        codes = [search(world).status_code for _ in range(12)]
    assert codes.count(429) == 11
    assert len([r for r in caplog.records if r.getMessage() == "rate limited"]) == 1
    metrics = world.client.get("/metrics").get_data(as_text=True)
    assert 'summit_rate_limited_total{route="/api/v1/search",tenant="acme"} 11.0' in metrics
    services(world.app).rejections.flush()
    view = world.client.get("/api/v1/admin/tenants/acme/quotas", headers=world.headers("ops"))
    assert view.get_json()["recent_429s"] == [
        {"route": "/api/v1/search", "reason": "rate", "count": 11}
    ]


def test_a_bump_takes_effect_on_the_next_request(world: World) -> None:
    world.headers("alice")
    patch(world, "acme", {"qps": 1, "burst": 0, "reason": "test"})
    assert [search(world).status_code for _ in range(2)] == [200, 429]
    patch(world, "acme", {"qps": 1000, "burst": 1000, "reason": "raise"})
    response = search(world)
    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == "2000"


def test_operators_are_not_rate_limited_as_a_tenant(world: World) -> None:
    patch(world, "acme", {"qps": 1, "burst": 0, "reason": "test"})
    for _ in range(5):
        view = world.client.get("/api/v1/admin/tenants/acme/quotas", headers=world.headers("ops"))
        assert view.status_code == 200
        assert "RateLimit" not in view.headers


# --- storage ----------------------------------------------------------------------------


def create(world: World, **fields: Any) -> Any:
    body = {"kind": "organization", "name": "Big Co", "dataset": "d", **fields}
    return world.client.post("/api/v1/entities", json=body, headers=world.headers("alice"))


def used(world: World) -> int:
    usage = world.client.get("/api/v1/quotas", headers=world.headers("alice")).get_json()["usage"]
    return int(usage["storage_bytes"])


def test_writes_are_accounted_and_refused_past_the_storage_quota(world: World) -> None:
    before = used(world)
    created = create(world, attributes={"note": "x" * 100}).get_json()
    grown = used(world)
    assert grown > before + 100
    world.client.patch(
        f"/api/v1/entities/{created['id']}", json={"attributes": {}}, headers=world.headers("alice")
    )
    assert used(world) < grown
    patch(world, "acme", {"storage_bytes": used(world) + 50, "reason": "tight"})
    count = entity_count(world)
    refused = create(world, attributes={"note": "y" * 200})
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "storage_quota_exceeded"
    assert error["details"]["quota_bytes"] == error["details"]["used_bytes"] + 50
    assert entity_count(world) == count  # nothing half-written
    assert create(world, name="ok").status_code == 201  # a small one still fits


# --- concurrent jobs --------------------------------------------------------------------


def test_concurrent_jobs_are_limited_per_tenant(world: World) -> None:
    patch(world, "acme", {"concurrent_jobs": 1, "reason": "test"})
    db = services(world.app).db
    acme, globex = 1, 2
    with db.session(tenant_id=acme, write=True) as session:
        job = start_job(session=session, kind="export", actor="alice", now=utcnow())
        session.commit()
    with db.session(tenant_id=acme, write=True) as session, pytest.raises(JobQuotaExceeded):
        start_job(session=session, kind="purge", actor="alice", now=utcnow())
    with db.session(tenant_id=globex, write=True) as session:
        start_job(session=session, kind="export", actor="carol", now=utcnow())  # its own slots
        session.commit()
    view = world.client.get("/api/v1/quotas", headers=world.headers("alice")).get_json()
    assert view["usage"]["running_jobs"] == 1
    with db.session(tenant_id=acme, write=True) as session:
        finish_job(session=session, job_id=job, status="done", now=utcnow())
        start_job(session=session, kind="purge", actor="alice", now=utcnow())
        session.commit()


# --- the operator's page ----------------------------------------------------------------


def web_login_ops(world: World) -> None:
    from tests.support.web import web_login

    assert web_login(world.client, "", "ops").status_code == 302


def test_quota_page_shows_tenants_and_changes_them_with_a_reason(world: World) -> None:
    web_login_ops(world)
    page = world.client.get("/admin/quotas").get_data(as_text=True)
    assert 'aria-labelledby="tenant-acme"' in page
    assert 'aria-labelledby="tenant-globex"' in page
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {
        "csrf_token": token,
        "qps": "42",
        "burst": "7",
        "concurrent_jobs": "3",
        "storage_bytes": str(2 * 1024**3),
    }
    missing_reason = world.client.post("/admin/quotas/acme", data=form)
    assert missing_reason.status_code == 400
    done = world.client.post("/admin/quotas/acme", data={**form, "reason": "customer call"})
    assert done.status_code == 302
    view = world.client.get("/api/v1/admin/tenants/acme/quotas", headers=world.headers("ops"))
    assert view.get_json()["limits"] == {
        "qps": 42,
        "burst": 7,
        "concurrent_jobs": 3,
        "storage_bytes": 2 * 1024**3,
    }
    assert "customer call" in world.client.get("/admin/quotas").get_data(as_text=True)


def test_quota_page_is_for_operators_only(world: World) -> None:
    from tests.support.web import web_login

    web_login(world.client, "acme", "alice")
    assert world.client.get("/admin/quotas").status_code == 403


def test_tenants_get_quota_rows_at_start_up(make_app: Callable[..., Flask]) -> None:
    from app.quotas.models import TenantQuota

    seed_world(make_app(), entities_per_tenant=0)
    restarted = make_app(SUMMIT_DEFAULT_QPS=5)
    with services(restarted).db.session(tenant_id=ALL_TENANTS) as session:
        rows = session.scalars(select(TenantQuota)).all()
    assert len(rows) == 2
    assert {row.qps for row in rows} == {100}  # existing rows are not overwritten


def statements_during(app: Flask, call: Callable[[], Any]) -> tuple[Any, int]:
    count = 0

    def counted(*_: Any) -> None:
        nonlocal count
        count += 1

    engine = services(app).db.engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        return call(), count
    finally:
        event.remove(engine, "before_cursor_execute", counted)


def test_a_tenant_over_its_limit_is_refused_before_any_database_work(world: World) -> None:
    """Fairness: a flood that is refused must cost the other tenants next to
    nothing; its 429s were answered after a token query."""
    world.headers("alice")
    patch(world, "acme", {"qps": 1, "burst": 1, "reason": "test"})
    assert search(world).status_code == 200
    first_refusal, _ = statements_during(world.app, lambda: search(world))
    assert first_refusal.status_code == 429  # learnt with one token query
    again, statements = statements_during(world.app, lambda: search(world))
    assert again.status_code == 429
    assert again.get_json()["error"]["code"] == "rate_limited"
    assert int(again.headers["Retry-After"]) >= 1
    assert statements == 0
    assert search(world, "carol").status_code == 200  # the other tenant is served


def test_a_tenant_at_its_in_flight_cap_is_refused(make_app: Callable[..., Flask]) -> None:
    app = make_app(SUMMIT_TENANT_MAX_INFLIGHT=1)
    world = seed_world(app)
    with services(app).db.session(tenant_id=ALL_TENANTS) as session:
        acme = str(session.scalar(select(Tenant.id).where(Tenant.slug == "acme")))
    held, done = threading.Event(), threading.Event()

    def hold_a_slot() -> None:  # another worker thread busy with an acme request
        assert services(app).limiter.acquire(tenant=acme, cap=1)
        held.set()
        done.wait(10)
        services(app).limiter.release()

    holder = threading.Thread(target=hold_a_slot)
    holder.start()
    try:
        held.wait(10)
        busy = search(world)
        assert busy.status_code == 429
        assert busy.get_json()["error"]["code"] == "too_many_in_flight"
        assert busy.headers["Retry-After"] == "1"
        assert search(world, "carol").status_code == 200  # globex has its own slots
    finally:
        done.set()
        holder.join()
    assert search(world).status_code == 200  # the slot given back, and ours too
    assert search(world).status_code == 200
