"""Each tenant's stored bytes and quota limits on /metrics, read from the database when
scraped: what the top-offenders and quota dashboards rank and compare."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from app.core.metrics import QUOTA_RESOURCES, QuotaUse, TenantUsageCollector, exposition
from tests.support.metrics import labels, samples
from tests.support.world import World


def quota_overview(world: World, tenant: str) -> dict[str, dict[str, int]]:
    answer = world.client.get(
        f"/api/v1/admin/tenants/{tenant}/quotas", headers=world.headers("ops")
    )
    assert answer.status_code == 200
    body: dict[str, dict[str, int]] = answer.get_json()
    return body


def test_metrics_show_each_tenants_storage_and_limits_as_the_database_has_them(
    world: World,
) -> None:
    found = samples(world)
    for tenant in ("acme", "globex"):
        overview = quota_overview(world, tenant)
        stored = found[("summit_tenant_storage_bytes", labels(tenant=tenant))]
        assert stored == overview["usage"]["storage_bytes"] > 0
        for resource in QUOTA_RESOURCES:
            limit = found[("summit_tenant_quota_limit", labels(tenant=tenant, resource=resource))]
            assert limit == overview["limits"][resource]


def test_a_write_and_a_quota_bump_show_on_the_next_scrape(world: World) -> None:
    before = samples(world)[("summit_tenant_storage_bytes", labels(tenant="acme"))]
    created = world.client.post(
        "/api/v1/entities",
        json={"kind": "org", "name": "Metered", "dataset": "d", "attributes": {"n": "x" * 500}},
        headers=world.headers("alice"),
    )
    assert created.status_code == 201
    bump = world.client.patch(
        "/api/v1/admin/tenants/globex/quotas",
        json={"qps": 7, "reason": "test"},
        headers=world.headers("ops"),
    )
    assert bump.status_code == 200
    after = samples(world)
    assert after[("summit_tenant_storage_bytes", labels(tenant="acme"))] > before + 500
    assert after[("summit_tenant_quota_limit", labels(tenant="globex", resource="qps"))] == 7
    assert after[("summit_tenant_quota_limit", labels(tenant="acme", resource="qps"))] == 100


def families(text: bytes) -> set[str]:
    """The tenant families in a scrape (process metrics are in every scrape too)."""
    found = {family.name for family in text_string_to_metric_families(text.decode())}
    return {name for name in found if name.startswith("summit_tenant_")}


def test_a_failing_read_drops_these_gauges_but_not_the_scrape() -> None:
    def broken() -> Sequence[QuotaUse]:
        raise OSError("database is gone")

    registry = CollectorRegistry()
    registry.register(TenantUsageCollector(broken))
    assert families(exposition(registry)[0]) == set()


def test_in_multiprocess_mode_the_gauges_join_the_aggregate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = QuotaUse("acme", 42, dict.fromkeys(QUOTA_RESOURCES, 1))
    collector = TenantUsageCollector(lambda: [row])
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text, _ = exposition(CollectorRegistry(), [collector])
    assert families(text) == {"summit_tenant_storage_bytes", "summit_tenant_quota_limit"}
    assert b'summit_tenant_storage_bytes{tenant="acme"} 42.0' in text
