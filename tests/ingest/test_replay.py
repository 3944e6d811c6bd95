"""DLQ replay: dry run, corrections, each item ingested once, paced, audited;
and the auto-replay job within each connector's max attempts."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from app.core.db import utcnow
from app.core.tenancy import ALL_TENANTS
from app.identity.models import Tenant
from app.ingest.models import IngestEvent
from app.ingest.replay import ReplayRequest, auto_replay, replay
from app.ingest.service import Limits, Sender
from governance import audit
from tests.ingest.helpers import TS, event, ndjson, post, stats
from tests.support.world import World, services

LIMITS = Limits(max_batch=10_000, max_event_bytes=65_536)


def dead_letter(world: World, count: int, *, user: str = "alice") -> list[dict[str, Any]]:
    """``count`` events without a type, in the DLQ."""
    lines = [
        orjson.dumps({"id": f"r{i}", "ts": TS, "source": "crm", "payload": {"i": i}})
        for i in range(count)
    ]
    assert post(world, ndjson(*lines), user=user).get_json()["rejected"] == count
    items: list[dict[str, Any]] = world.client.get(
        "/api/v1/ingest/dlq", headers=world.headers(user)
    ).get_json()["items"]
    return items


def audit_entries(world: World) -> list[dict[str, Any]]:
    """acme's audit entries of DLQ replays, newest first."""
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        acme = session.scalars(select(Tenant.id).where(Tenant.slug == "acme")).one()
        query = audit.Query(action="ingest.dlq_replay")
        return audit.search(session=session, tenant_id=acme, query=query)


def replay_call(world: World, body: dict[str, Any]) -> Any:
    return world.client.post("/api/v1/ingest/dlq/replay", json=body, headers=world.headers("alice"))


def corrected(item: dict[str, Any]) -> dict[str, Any]:
    fixed: dict[str, Any] = orjson.loads(item["raw"]) | {"type": "fixed"}
    return fixed


def events(world: World) -> list[tuple[str, str]]:
    with services(world.app).db.session(tenant_id=ALL_TENANTS) as session:
        return sorted(session.execute(select(IngestEvent.event_id, IngestEvent.type)).all())


def test_a_dry_run_says_what_would_happen_and_writes_nothing_but_the_audit(world: World) -> None:
    items = dead_letter(world, 3)
    body = {
        "corrections": {items[0]["id"]: corrected(items[0])},
        "ids": [items[1]["id"]],
        "dry_run": True,
    }
    response = replay_call(world, body)
    assert response.status_code == 200, response.get_json()
    outcome = response.get_json()
    assert (outcome["stored"], outcome["still_invalid"], outcome["dry_run"]) == (1, 1, True)
    assert events(world) == []
    assert stats(world)["dlq"] == 3
    [entry] = audit_entries(world)
    assert (entry["actor"], entry["action"]) == ("alice", "ingest.dlq_replay")
    assert entry["payload"]["request"]["dry_run"] is True
    assert entry["payload"]["request"]["corrections"] == [items[0]["id"]]  # ids, not content
    assert entry["payload"]["outcome"]["stored"] == 1


def test_corrected_items_are_ingested_once_however_often_replayed(world: World) -> None:
    items = dead_letter(world, 4)
    corrections = {item["id"]: corrected(item) for item in items[:3]}
    first = replay_call(world, {"corrections": corrections}).get_json()
    assert (first["stored"], first["duplicates"], first["skipped"]) == (3, 0, 0)
    again = replay_call(world, {"corrections": corrections}).get_json()
    assert (again["stored"], again["skipped"]) == (0, 3)
    assert events(world) == [("r0", "fixed"), ("r1", "fixed"), ("r2", "fixed")]
    totals = stats(world, verify="true")
    assert (totals["received"], totals["stored"], totals["dlq"], totals["replayed"]) == (4, 3, 1, 3)
    assert totals["balanced"] is True
    item = world.client.get(
        f"/api/v1/ingest/dlq/{items[0]['id']}", headers=world.headers("alice")
    ).get_json()
    assert (item["status"], item["replayed_by"]) == ("replayed", "alice")
    assert len(audit_entries(world)) == 2


def test_a_replayed_event_already_stored_counts_as_a_duplicate(world: World) -> None:
    [item] = dead_letter(world, 1)
    post(world, ndjson(event("r0")))  # the sender sent a corrected copy itself
    outcome = replay_call(world, {"corrections": {item["id"]: corrected(item)}}).get_json()
    assert (outcome["stored"], outcome["duplicates"]) == (0, 1)
    assert events(world) == [("r0", "login")]
    assert stats(world, verify="true")["balanced"] is True


def test_items_still_invalid_stay_pending_with_one_more_attempt(world: World) -> None:
    items = dead_letter(world, 2)
    outcome = replay_call(world, {"source": "crm", "reason": "missing_field"}).get_json()
    assert (outcome["still_invalid"], outcome["stored"]) == (2, 0)
    after = world.client.get("/api/v1/ingest/dlq", headers=world.headers("alice")).get_json()
    assert [i["attempts"] for i in after["items"]] == [2, 2]
    assert all(i["status"] == "pending" for i in after["items"])
    assert {i["id"] for i in after["items"]} == {i["id"] for i in items}


def test_replay_is_paced_to_its_max_rate(world: World) -> None:
    dead_letter(world, 3)
    slept: list[float] = []
    app = world.app
    db = services(app).db
    with db.session(tenant_id=ALL_TENANTS) as session:
        acme = session.scalars(select(Tenant.id).where(Tenant.slug == "acme")).one()
    replay(
        db=db,
        sender=Sender(acme, "acme", "alice"),
        request=ReplayRequest(max_rate=1.0),
        limits=LIMITS,
        wait=5,
        clock=utcnow,
        sleep=slept.append,
    )
    assert slept
    assert 2.0 < sum(slept) <= 3.0  # 3 items at 1 a second


def test_replay_asks_for_a_bounded_run(world: World) -> None:
    response = replay_call(world, {"limit": 10_000, "max_rate": 10})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "replay_too_long"


def test_auto_replay_ingests_items_a_connector_now_accepts_within_max_attempts(
    world: World,
) -> None:
    headers = world.headers("alice")
    spec = {
        "rate": 100,
        "burst": 100,
        "batch_size": 100,
        "event_types": ["login"],
        "auto_replay": True,
        "max_attempts": 3,
    }
    world.client.put("/api/v1/ingest/connectors/crm", json=spec, headers=headers)
    post(world, ndjson(event("a1", type="signup"), b'{"id":"never","source":"crm"}'))
    db = services(world.app).db

    def run() -> int:
        return auto_replay(db=db, limits=LIMITS, wait=5, clock=utcnow)

    assert run() == 0  # signup is still not accepted: one more attempt
    spec["event_types"] = ["login", "signup"]
    world.client.put("/api/v1/ingest/connectors/crm", json=spec, headers=headers)
    assert run() == 1
    assert ("a1", "signup") in events(world)
    assert run() == 0  # 'never' has had its 3 attempts: left for a person
    items = world.client.get("/api/v1/ingest/dlq?status=pending", headers=headers).get_json()
    [left] = items["items"]
    assert (left["event_id"], left["attempts"]) == ("never", 3)
    assert stats(world, verify="true")["balanced"] is True
