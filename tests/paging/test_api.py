"""The paging API and what operators see: Alertmanager's webhook (its own token,
one incident per alert group, Alertmanager's dedup key), the test page, who is
on call, incidents filtered with their times, MTTA/MTTR on /metrics and /ops,
and acknowledging on /ops acknowledging the PagerDuty alert."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from alerts import incidents
from app.alerting import paging
from app.core.db import utcnow
from tests.paging.conftest import make_sender, paging_settings
from tests.support.pagerduty import PagerDutyServer
from tests.support.web import web_login
from tests.support.world import World, seed_world, services

TOKEN = "webhook-token-for-tests"
GROUP_KEY = (
    '{}/{severity="page"}:{alertname="SummitAvailabilityBudgetBurn", '
    'sloth_id="summit-availability"}'
)


def message(status: str = "firing", severity: str = "page", **labels: str) -> dict[str, Any]:
    common = {
        "alertname": "SummitAvailabilityBudgetBurn",
        "sloth_id": "summit-availability",
        "sloth_service": "summit",
        "severity": severity,
        "sloth_severity": severity,
        **labels,
    }
    notes = {
        "title": "Availability budget burn",
        "runbook_url": "https://s/runbooks/x",
        "dashboard_url": "https://s/ops/slo#summit-availability",
    }
    return {
        "version": "4",
        "groupKey": GROUP_KEY,
        "status": status,
        "receiver": "oncall-page",
        "groupLabels": {"alertname": common["alertname"], "sloth_id": "summit-availability"},
        "commonLabels": common,
        "commonAnnotations": notes,
        "externalURL": "http://am",
        "alerts": [
            {
                "status": status,
                "labels": common,
                "annotations": notes,
                "startsAt": "2026-11-26T10:00:00Z",
                "fingerprint": "abc",
            }
        ],
        "truncatedAlerts": 0,
    }


@pytest.fixture
def paged(make_app: Callable[..., Flask], pd: PagerDutyServer) -> World:
    return seed_world(make_app(**paging_settings(pd, SUMMIT_ALERTS_WEBHOOK_TOKEN=TOKEN)))


def post_webhook(
    world: World, body: dict[str, Any], token: str | None = TOKEN, query: str = ""
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return world.client.post(f"/api/v1/alerts/webhook{query}", json=body, headers=headers)


def test_the_webhook_needs_its_token(paged: World) -> None:
    assert post_webhook(paged, message(), token=None).status_code == 401
    wrong = post_webhook(paged, message(), token="nope")
    assert wrong.status_code == 401
    assert wrong.get_json()["error"]["code"] == "unauthorized"
    # An operator's own token is not the webhook's.
    ops = paged.headers("ops")["Authorization"].split(" ", 1)[1]
    assert post_webhook(paged, message(), token=ops).status_code == 401


def test_the_webhook_is_off_without_a_token(world: World) -> None:
    response = post_webhook(world, message())
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "webhook_disabled"


def test_a_malformed_message_is_refused_and_nothing_is_written(paged: World) -> None:
    body = message()
    del body["groupKey"]
    response = post_webhook(paged, body)
    assert response.status_code in (400, 422)
    with services(paged.app).db.session(tenant_id=None) as session:
        assert incidents.list_incidents(session=session) == []


def test_an_slo_alert_opens_one_incident_with_alertmanagers_dedup_key_and_resolves(
    paged: World, pd: PagerDutyServer
) -> None:
    first = post_webhook(paged, message(), query="?paged=alertmanager")
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["incident_key"] == "slo:summit-availability:page"
    post_webhook(paged, message(), query="?paged=alertmanager")  # repeated: still one
    listed = paged.client.get("/api/v1/incidents", headers=paged.headers("ops")).get_json()
    [incident] = listed["incidents"]
    assert incident["paging"]["dedup_key"] == hashlib.sha256(GROUP_KEY.encode()).hexdigest()
    assert incident["service"] == "summit"
    # Alertmanager paged by itself: Summit sends no second trigger.
    assert incident["paging"]["events"] == []
    post_webhook(paged, message("resolved"), query="?paged=alertmanager")
    resolved = paged.client.get("/api/v1/incidents", headers=paged.headers("ops")).get_json()
    assert resolved["incidents"][0]["state"] == "resolved"
    assert resolved["incidents"][0]["paging"]["events"] == []


def test_without_alertmanager_paging_summit_pages_with_the_same_key(
    paged: World, pd: PagerDutyServer
) -> None:
    post_webhook(paged, message())
    sender = make_sender(pd, services(paged.app).db)
    assert sender.deliver(now=utcnow()).sent == 1
    [event] = pd.state.events
    assert event["dedup_key"] == hashlib.sha256(GROUP_KEY.encode()).hexdigest()
    assert {link["text"]: link["href"] for link in event["links"]}[
        "Runbook"
    ] == "https://s/runbooks/x"


def test_tickets_are_recorded_not_paged_and_probe_alerts_are_left_to_summit(
    paged: World,
) -> None:
    ticket = post_webhook(paged, message(severity="ticket"))
    assert ticket.get_json()["incident_key"] == "slo:summit-availability:ticket"
    probe = post_webhook(paged, message(probe="golden-path"))
    assert probe.get_json()["ignored"] == 1
    body = paged.client.get("/api/v1/incidents", headers=paged.headers("ops")).get_json()
    [incident] = body["incidents"]
    assert incident["paging"]["events"] == []


def test_acknowledging_on_ops_acknowledges_the_pagerduty_alert(
    paged: World, pd: PagerDutyServer
) -> None:
    post_webhook(paged, message(), query="?paged=alertmanager")
    incident_id = paged.client.get("/api/v1/incidents", headers=paged.headers("ops")).get_json()[
        "incidents"
    ][0]["id"]
    acked = paged.client.post(
        f"/api/v1/incidents/{incident_id}/acknowledge", headers=paged.headers("ops")
    )
    assert acked.status_code == 200
    assert [e["action"] for e in acked.get_json()["paging"]["events"]] == ["acknowledge"]
    make_sender(pd, services(paged.app).db).deliver(now=utcnow())
    dedup = hashlib.sha256(GROUP_KEY.encode()).hexdigest()
    assert pd.actions() == [("acknowledge", dedup)]


def test_the_test_page_is_accepted_resolved_and_recorded(paged: World, pd: PagerDutyServer) -> None:
    response = paged.client.post("/api/v1/paging/test", json={}, headers=paged.headers("ops"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["accepted"], body["trigger"], body["resolve"]) == (True, "sent", "sent")
    assert [a for a, _ in pd.actions()] == ["trigger", "resolve"]
    assert pd.state.events[0]["dedup_key"] == body["dedup_key"]
    listed = paged.client.get(
        "/api/v1/incidents?state=resolved", headers=paged.headers("ops")
    ).get_json()
    assert [i["id"] for i in listed["incidents"]] == [body["incident"]]


def test_the_test_page_is_for_operators_and_needs_a_routing_key(paged: World, world: World) -> None:
    for user in ("alice", "bob", "carol"):
        refused = paged.client.post("/api/v1/paging/test", json={}, headers=paged.headers(user))
        assert refused.status_code == 403
    unknown = paged.client.post(
        "/api/v1/paging/test", json={"service": "nope"}, headers=paged.headers("ops")
    )
    assert unknown.status_code == 404
    no_key = world.client.post("/api/v1/paging/test", json={}, headers=world.headers("ops"))
    assert no_key.status_code == 409
    assert no_key.get_json()["error"]["code"] == "not_configured"


def test_the_test_page_says_when_pagerduty_is_away(paged: World, pd: PagerDutyServer) -> None:
    pd.down()
    response = paged.client.post("/api/v1/paging/test", json={}, headers=paged.headers("ops"))
    assert response.status_code == 502
    assert "unreachable" in response.get_json()["error"]["message"]


def test_who_answers_per_level_in_local_time(world: World) -> None:
    response = world.client.get(
        "/api/v1/paging/who?at=2026-11-28T03:00", headers=world.headers("ops")
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["service"] == "summit"
    first = body["levels"][0]["on_call"][0]
    assert first["time_zone"] == "America/New_York"
    assert first["local_time"] == "2026-11-27T22:00:00-05:00"
    assert body["quiet_hours"]["active"] is True
    assert body["quiet_hours"]["held_until"].startswith("2026-11-30T08:00:00")
    assert (
        world.client.get(
            "/api/v1/paging/who?service=nope", headers=world.headers("ops")
        ).status_code
        == 404
    )
    assert (
        world.client.get("/api/v1/paging/who?at=soon", headers=world.headers("ops")).status_code
        == 400
    )
    assert world.client.get("/api/v1/paging/who", headers=world.headers("bob")).status_code == 403


def open_at(
    app: Flask,
    key: str,
    opened: Any,
    *,
    acked: float | None = None,
    resolved: float | None = None,
    service: str = "summit",
) -> None:
    with services(app).db.session(tenant_id=None, write=True) as session:
        incident = incidents.open_incident(
            session=session,
            key=key,
            title=key,
            details={},
            now=opened,
            notifiers=[],
            service=service,
        )
        if acked is not None:
            incidents.acknowledge_incident(
                session=session,
                incident=incident,
                by="ops",
                now=opened + timedelta(seconds=acked),
                notifiers=[],
            )
        if resolved is not None:
            incidents.resolve_incident(
                session=session,
                incident=incident,
                now=opened + timedelta(seconds=resolved),
                notifiers=[],
            )
        session.commit()


def test_incidents_filter_by_state_service_and_time_with_mtta_and_mttr(world: World) -> None:
    now = utcnow()
    open_at(world.app, "a", now - timedelta(days=2), acked=60, resolved=600)
    open_at(world.app, "b", now - timedelta(days=1), acked=180, resolved=1200)
    open_at(world.app, "c", now - timedelta(hours=1), acked=30)
    open_at(world.app, "d", now - timedelta(minutes=5), service="ingest")
    ops = world.headers("ops")

    def keys(query: str) -> list[str]:
        response = world.client.get(f"/api/v1/incidents{query}", headers=ops)
        assert response.status_code == 200, response.get_json()
        return [i["key"] for i in response.get_json()["incidents"]]

    assert keys("?state=resolved") == ["b", "a"]
    assert keys("?state=acknowledged") == ["c"]
    assert keys("?state=triggered") == ["d"]
    assert keys("?service=ingest") == ["d"]
    since = (now - timedelta(hours=30)).isoformat().replace("+00:00", "Z")
    assert keys(f"?since={since}") == ["d", "c", "b"]
    assert world.client.get("/api/v1/incidents?state=lost", headers=ops).status_code == 400
    body = world.client.get("/api/v1/incidents?service=summit", headers=ops).get_json()
    [summit] = body["stats"]["services"]
    assert summit["mtta_seconds"] == pytest.approx((60 + 180 + 30) / 3)
    assert summit["mttr_seconds"] == pytest.approx((600 + 1200) / 2)
    incident = body["incidents"][-1]
    assert (incident["seconds_to_acknowledge"], incident["seconds_to_resolve"]) == (60.0, 600.0)
    assert body["stats"]["pages_per_week"] == {"summit": 3}


def test_mtta_mttr_and_pages_per_week_are_on_metrics_and_the_ops_page(world: World) -> None:
    now = utcnow()
    open_at(world.app, "a", now - timedelta(hours=3), acked=120, resolved=900)
    text = world.client.get("/metrics").get_data(as_text=True)
    assert 'summit_incident_mtta_seconds{service="summit"} 120.0' in text
    assert 'summit_incident_mttr_seconds{service="summit"} 900.0' in text
    assert 'summit_pages_per_week{service="summit"} 1.0' in text
    assert 'summit_paging_outbox_events{state="pending"} 0.0' in text


def test_the_ops_page_shows_the_outbox_when_no_key_is_configured(world: World) -> None:
    with services(world.app).db.session(tenant_id=None, write=True) as session:
        notifiers = incidents.load_notifiers(
            ["pagerduty"], paging.notifier_options(services(world.app).settings)
        )
        incidents.open_incident(
            session=session,
            key="probe:golden-path",
            title="t",
            details={"probe": "golden-path"},
            now=utcnow(),
            notifiers=notifiers,
        )
        session.commit()
    web_login(world.client, "", "ops")
    page = world.client.get("/ops").get_data(as_text=True)
    assert "summit</strong> not configured: pages are kept in the outbox below" in page
    assert "probe:golden-path" in page
    assert "no routing key configured" not in page  # not sent yet: no error to show
