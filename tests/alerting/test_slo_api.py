"""GET /api/v1/slo and the SLO page, from the control plane's own request
statistics (no Prometheus): operators only, real figures after real traffic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.support.web import web_login
from tests.support.world import World, seed_world, services


def flush(world: World) -> None:
    """Write the recorded statistics now, the current minute included."""
    stats = services(world.app).request_stats
    assert stats is not None
    stats.close()  # drains every minute; a later request restarts the writer


def slo_body(world: World) -> dict[str, Any]:
    response = world.client.get("/api/v1/slo", headers=world.headers("ops"))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {slo["id"]: slo for slo in body["slos"]}


def test_only_operators_see_slo_status(world: World) -> None:
    assert world.client.get("/api/v1/slo").status_code == 401
    for persona in ("alice", "bob", "carol"):
        refused = world.client.get("/api/v1/slo", headers=world.headers(persona))
        assert refused.status_code == 403, persona
        assert refused.get_json()["error"]["code"] == "forbidden"


def test_every_slo_is_listed_with_its_objective_and_alert_windows(world: World) -> None:
    body = slo_body(world)
    assert (body["source"], body["period_days"]) == ("local", 30)
    slos = by_id(body)
    assert set(slos) == {"summit-availability", "summit-read-latency",
                         "summit-policy-latency", "summit-golden-path",
                         "summit-ingest-write-latency"}  # fmt: skip
    availability = slos["summit-availability"]
    assert availability["objective"] == 99.5
    assert [r["window"] for r in availability["burn_rates"]] == [
        "5m", "30m", "1h", "2h", "6h", "1d", "3d"
    ]  # fmt: skip
    assert [(a["severity"], a["long_window"], a["short_window"], a["factor"])
            for a in availability["alerts"]] == [
        ("page", "1h", "5m", 14.4), ("page", "6h", "30m", 6.0),
        ("ticket", "1d", "2h", 3.0), ("ticket", "3d", "6h", 1.0),
    ]  # fmt: skip
    assert availability["runbook"] == "/runbooks/summit-availability-budget-burn"
    assert len(availability["chart"]) == 30


def test_errors_burn_the_availability_budget(make_app: Callable[..., Flask]) -> None:
    world = seed_world(make_app(SUMMIT_FAULTS="search"))
    alice = world.headers("alice")
    for _ in range(3):
        assert world.client.get("/api/v1/search?q=acme", headers=alice).status_code == 500
    for _ in range(7):
        assert world.client.get("/api/v1/quotas", headers=alice).status_code == 200
    flush(world)
    availability = by_id(slo_body(world))["summit-availability"]
    # 3 of 11 user requests failed (alice's login counts; the health routes do not).
    rates = {r["window"]: r["burn_rate"] for r in availability["burn_rates"]}
    ratio = rates["5m"] * 0.005
    assert ratio == pytest.approx(3 / 11), availability
    assert rates["5m"] == rates["3d"]
    assert availability["sli"] == pytest.approx(1 - ratio)
    assert availability["error_budget_remaining"] == pytest.approx(1 - ratio / 0.005)
    assert [a["firing"] for a in availability["alerts"]] == [True, True, True, True]
    assert availability["chart"][-1]["remaining"] == pytest.approx(1 - ratio / 0.005)
    assert availability["chart"][0]["remaining"] is None  # no events back then


def test_slow_reads_count_against_the_read_latency_slo_only(world: World) -> None:
    alice = world.headers("alice")
    for _ in range(4):
        assert world.client.get("/api/v1/search?q=acme", headers=alice).status_code == 200
    flush(world)
    slos = by_id(slo_body(world))
    read = slos["summit-read-latency"]
    assert read["source"] == "local"
    assert read["sli"] == 1.0  # in-process reads take milliseconds
    assert slos["summit-availability"]["error_budget_remaining"] == 1.0
    # Policy decisions are read from the decision log, probe runs from their table.
    assert slos["summit-policy-latency"]["source"] == "local"
    assert slos["summit-golden-path"]["sli"] is None  # no probe has run


def test_the_slo_page_shows_each_slo_with_a_budget_chart(world: World) -> None:
    world.client.get("/api/v1/quotas", headers=world.headers("alice"))
    flush(world)
    client = world.app.test_client()
    web_login(client, "", "ops")
    page = client.get("/ops/slo")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="summit-availability"' in html
    assert 'aria-label="Error budget left of summit-availability over the period"' in html
    assert "<polyline" in html
    assert 'href="/runbooks/summit-availability-budget-burn"' in html
    assert "script" not in html.split("<main", 1)[1]


def test_the_slo_page_needs_an_operator_session(world: World) -> None:
    client = world.app.test_client()
    assert client.get("/ops/slo").status_code == 302
    web_login(client, "acme", "alice")
    assert client.get("/ops/slo").status_code == 403
