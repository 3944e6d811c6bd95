"""Retention and the purge, with an injected clock: only what has expired goes,
in batches, with its edges; held entities stay and the attempt is audited;
one worker at a time purges a tenant; the scheduled job is registered by name."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.core.db import Database
from app.core.tenancy import ALL_TENANTS
from app.governance.decide import job_purge
from app.governance.jobs import purge_all
from app.graph.models import Edge, Entity
from app.graph.service import create_edge, create_entity, delete_entity
from app.ops.runtime import ProbeRuntime
from app.ops.scheduler import JOBS, run_job
from app.quotas.models import TenantUsage
from governance import audit, holds, retention
from governance.models import RetentionPolicy
from governance.retention import PurgeInProgress
from tests.governance.helpers import call, create, tenant_id
from tests.support.world import World, services

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def make(db: Database, tenant: int, name: str, *, deleted: datetime | None = None) -> str:
    with db.session(tenant_id=tenant, write=True) as session:
        entity = create_entity(
            session=session, kind="person", name=name, dataset="osint", attributes={"n": name},
            subject="s", source="test", actor="alice", now=T0 - 1000 * DAY,
        )  # fmt: skip
        if deleted is not None:
            delete_entity(session=session, entity_id=entity.id, actor="alice", now=deleted)
        session.commit()
        return entity.id


def soft_delete(db: Database, tenant: int, entity_id: str, at: datetime) -> None:
    with db.session(tenant_id=tenant, write=True) as session:
        delete_entity(session=session, entity_id=entity_id, actor="alice", now=at)
        session.commit()


def edge(db: Database, tenant: int, source: str, target: str) -> None:
    with db.session(tenant_id=tenant, write=True) as session:
        create_edge(session=session, source_id=source, target_id=target, kind="knows",
                    attributes={}, source="test", actor="alice", now=T0 - 999 * DAY)  # fmt: skip
        session.commit()


def existing(db: Database, ids: list[str]) -> set[str]:
    with db.session(tenant_id=ALL_TENANTS) as session:
        return set(session.scalars(select(Entity.id).where(Entity.id.in_(ids))))


def run_purge(app: Flask, clock: Callable[[], datetime], tenant: int, **kw: Any) -> Any:
    svc = services(app)
    return retention.purge_expired(
        db=svc.db, tenant_id=tenant, holder=kw.pop("holder", "w1"), actor="retention-job",
        decide=job_purge("acme"), default_days=365, batch_size=kw.pop("batch_size", 1000),
        now=clock, **kw,
    )  # fmt: skip


def place(db: Database, tenant: int, ids: list[str], at: datetime = T0) -> str:
    with db.session(tenant_id=tenant, write=True) as session:
        hold = holds.place_hold(
            session=session, entity_ids=ids, reason="case", case_id="C", owner="alice", now=at
        )
        session.commit()
        return hold.id


def test_only_expired_entities_are_purged_with_their_edges(world: World) -> None:
    db, acme = services(world.app).db, tenant_id(world.app, "acme")
    old, young, live = make(db, acme, "old"), make(db, acme, "young"), make(db, acme, "live")
    edge(db, acme, live, old)
    edge(db, acme, live, young)
    soft_delete(db, acme, old, T0 - 366 * DAY)
    soft_delete(db, acme, young, T0 - 364 * DAY)
    with db.session(tenant_id=acme) as session:
        before = session.get_one(TenantUsage, acme).storage_bytes
    outcome = run_purge(world.app, Clock(T0), acme)
    assert (outcome.purged, outcome.edges, outcome.held) == (1, 1, 0)
    assert existing(db, [old, young, live]) == {young, live}
    with db.session(tenant_id=acme) as session:
        assert session.scalar(select(func.count(Edge.id)).where(Edge.source_id == live)) == 1
        assert session.get_one(TenantUsage, acme).storage_bytes < before  # bytes given back
    # a day later the young one has expired too
    assert run_purge(world.app, Clock(T0 + 2 * DAY), acme).purged == 1
    assert existing(db, [young, live]) == {live}


def test_retention_is_per_tenant_and_changes_are_audited(world: World) -> None:
    db, acme = services(world.app).db, tenant_id(world.app, "acme")
    entity = make(db, acme, "month-old", deleted=T0 - 30 * DAY)
    response = call(world, "PUT", "/api/v1/governance/retention",
                    json={"days": 7, "reason": "policy P-7"})  # fmt: skip
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["days"], body["updated_by"]) == (7, "alice")
    [change] = body["changes"]
    assert (change["old_days"], change["new_days"], change["reason"]) == (365, 7, "policy P-7")
    assert call(world, "GET", "/api/v1/governance/retention", "carol").get_json()["days"] == 365
    assert run_purge(world.app, Clock(T0), acme).purged == 1
    assert existing(db, [entity]) == set()
    found = world.client.get(
        "/api/v1/audit?action=retention.change", headers=world.headers("alice")
    )
    [entry] = found.get_json()["entries"]
    assert entry["payload"] == {"old_days": 365, "new_days": 7, "reason": "policy P-7"}


@pytest.mark.parametrize("days", [0, -1, 36501, "7", 1.5, None])
def test_a_retention_of_zero_negative_or_nonsense_days_is_400(world: World, days: Any) -> None:
    response = call(world, "PUT", "/api/v1/governance/retention", json={"days": days})
    assert response.status_code == 400, response.get_json()
    assert call(world, "GET", "/api/v1/governance/retention").get_json()["changes"] == []
    assert (
        call(world, "PUT", "/api/v1/governance/retention", "bob", json={"days": 9}).status_code
        == 403
    )


def test_a_held_entity_is_never_purged_and_the_attempt_is_audited(world: World) -> None:
    db, acme = services(world.app).db, tenant_id(world.app, "acme")
    held = make(db, acme, "held", deleted=T0 - 400 * DAY)
    free = make(db, acme, "free", deleted=T0 - 400 * DAY)
    hold_id = place(db, acme, [held])
    outcome = run_purge(world.app, Clock(T0), acme)
    assert (outcome.purged, outcome.held) == (1, 1)
    assert existing(db, [held, free]) == {held}
    with db.session(tenant_id=None) as session:
        [entry] = audit.search(session=session, tenant_id=acme,
                               query=audit.Query(action="retention.purge"))  # fmt: skip
    assert entry["payload"]["kept_entity_ids"] == [held]
    assert entry["payload"]["entity_ids"] == [free]
    # release, then the next purge takes it
    with db.session(tenant_id=acme, write=True) as session:
        holds.release_hold(session=session, hold_id=hold_id, reason="closed", actor="alice", now=T0)
        session.commit()
    assert run_purge(world.app, Clock(T0 + DAY), acme).purged == 1
    assert existing(db, [held]) == set()


def test_stacked_holds_keep_an_entity_until_both_are_released(world: World) -> None:
    db, acme = services(world.app).db, tenant_id(world.app, "acme")
    entity = make(db, acme, "twice held", deleted=T0 - 400 * DAY)
    first, second = place(db, acme, [entity]), place(db, acme, [entity])
    for hold_id, expected in ((first, {entity}), (second, set())):
        with db.session(tenant_id=acme, write=True) as session:
            holds.release_hold(session=session, hold_id=hold_id, reason="r", actor="a", now=T0)
            session.commit()
        run_purge(world.app, Clock(T0), acme)
        assert existing(db, [entity]) == expected


def test_the_purge_goes_in_batches_each_with_its_audit_entry(world: World) -> None:
    db, acme = services(world.app).db, tenant_id(world.app, "acme")
    ids = [make(db, acme, f"e{n}", deleted=T0 - (500 - n) * DAY) for n in range(5)]
    place(db, acme, [ids[1]])
    sizes: list[int] = []
    outcome = run_purge(world.app, Clock(T0), acme, batch_size=2,
                        on_batch=lambda b: sizes.append(b.purged + b.held))  # fmt: skip
    assert (outcome.purged, outcome.held) == (4, 1)
    assert sizes == [2, 2, 1]
    with db.session(tenant_id=None) as session:
        entries = audit.search(session=session, tenant_id=acme,
                               query=audit.Query(action="retention.purge"))  # fmt: skip
    assert len(entries) == 3


def test_a_hold_placed_between_batches_wins(world: World) -> None:
    db, acme = services(world.app).db, tenant_id(world.app, "acme")
    ids = [make(db, acme, f"e{n}", deleted=T0 - (500 - n) * DAY) for n in range(3)]

    def hold_the_last(batch: retention.Batch) -> None:
        if batch.purged == 1 and not holds_placed:
            holds_placed.append(place(db, acme, [ids[2]]))

    holds_placed: list[str] = []
    outcome = run_purge(world.app, Clock(T0), acme, batch_size=1, on_batch=hold_the_last)
    assert holds_placed
    assert (outcome.purged, outcome.held) == (2, 1)
    assert existing(db, ids) == {ids[2]}


def test_one_worker_at_a_time_purges_a_tenant(world: World) -> None:
    db, acme = services(world.app).db, tenant_id(world.app, "acme")
    make(db, acme, "old", deleted=T0 - 400 * DAY)
    with db.session(tenant_id=acme, write=True) as session:
        assert retention.claim(session=session, holder="w1", now=T0, default_days=365)
        session.commit()
    with pytest.raises(PurgeInProgress):
        run_purge(world.app, Clock(T0 + timedelta(minutes=1)), acme, holder="w2")
    # w1 died: its claim lapses and w2 takes over
    assert run_purge(world.app, Clock(T0 + timedelta(minutes=6)), acme, holder="w2").purged == 1
    with db.session(tenant_id=acme) as session:
        assert session.scalars(select(RetentionPolicy)).one().purge_holder is None


def test_the_api_runs_the_tenants_retention_purge(world: World) -> None:
    db, acme = services(world.app).db, tenant_id(world.app, "acme")
    old = make(db, acme, "old", deleted=datetime.now(UTC) - 400 * DAY)
    held = make(db, acme, "held", deleted=datetime.now(UTC) - 400 * DAY)
    place(db, acme, [held])
    response = call(world, "POST", "/api/v1/governance/purge", json={})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"purged": 1, "held": 1, "edges": 0}
    assert existing(db, [old, held]) == {held}
    assert call(world, "POST", "/api/v1/governance/purge", "bob", json={}).status_code == 403
    assert call(world, "POST", "/api/v1/governance/purge", "ops", json={}).status_code == 403


@pytest.mark.parametrize("body", [{"entity_ids": []}, {"entity_ids": [""]}, {"ids": ["x"]},
                                  {"entity_ids": "x"}, {"entity_ids": [1]}])  # fmt: skip
def test_bad_purge_requests_are_400(world: World, body: dict[str, Any]) -> None:
    assert call(world, "POST", "/api/v1/governance/purge", json=body).status_code == 400


def test_an_explicit_purge_of_unknown_live_or_foreign_ids_purges_nothing(world: World) -> None:
    live, doomed = create(world), create(world)
    call(world, "DELETE", f"/api/v1/entities/{doomed['id']}")
    theirs = create(world, user="carol")
    for ids, status, code in (
        (["nope"], 404, "not_found"),
        ([doomed["id"], theirs["id"]], 404, "not_found"),
        ([doomed["id"], live["id"]], 409, "not_deleted"),
    ):
        response = call(world, "POST", "/api/v1/governance/purge", json={"entity_ids": ids})
        assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    db = services(world.app).db
    assert existing(db, [live["id"], doomed["id"], theirs["id"]]) == {
        live["id"], doomed["id"], theirs["id"],
    }  # fmt: skip


def test_purge_expired_is_a_job_runnable_by_name(world: World) -> None:
    assert JOBS["purge-expired"][0] == "purge_interval_seconds"
    svc = services(world.app)
    acme = tenant_id(world.app, "acme")
    old = make(svc.db, acme, "old", deleted=datetime.now(UTC) - 400 * DAY)
    runtime = ProbeRuntime(settings=svc.settings, db=svc.db, metrics=svc.metrics)
    try:
        assert run_job(runtime, "purge-expired") == 1
    finally:
        runtime.close()
    assert existing(svc.db, [old]) == set()
    metrics = world.client.get("/metrics").get_data(as_text=True)
    assert 'summit_governance_entities_purged_total{tenant="acme"} 1.0' in metrics
    assert 'summit_governance_holds_active{tenant="acme"} 0.0' in metrics


def test_housekeeping_forgets_released_holds_after_retention(world: World) -> None:
    svc, acme = services(world.app), tenant_id(world.app, "acme")
    entity = make(svc.db, acme, "x")
    hold_id = place(svc.db, acme, [entity], at=T0 - 400 * DAY)
    with svc.db.session(tenant_id=acme, write=True) as session:
        holds.release_hold(session=session, hold_id=hold_id, reason="r", actor="a",
                           now=T0 - 399 * DAY)  # fmt: skip
        session.commit()
    purge_all(db=svc.db, settings=svc.settings, metrics=None, decide_for=job_purge, now=Clock(T0))
    with svc.db.session(tenant_id=acme) as session:
        assert holds.list_holds(session=session, active_only=False) == []


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_hold_being_placed_during_a_purge_batch_is_never_lost(
    make_app: Callable[..., Flask],
) -> None:
    """A hold placed while a batch holds its row locks either waits and then finds
    the entity gone (404: nothing is held that no longer exists), or the batch
    skipped the row the hold was locking: never a purged entity under a hold."""
    app = make_app()
    from tests.support.world import seed_world

    seed_world(app)
    db, acme = services(app).db, tenant_id(app, "acme")
    first = make(db, acme, "first", deleted=T0 - 400 * DAY)
    second = make(db, acme, "second", deleted=T0 - 400 * DAY)
    # 1. a hold transaction is open on `second` when the purge runs: the purge skips it
    holding = db.session(tenant_id=acme, write=True)
    holds.place_hold(session=holding, entity_ids=[second], reason="r", case_id=None,
                     owner="alice", now=T0)  # fmt: skip
    result: list[Any] = []
    purging = threading.Thread(target=lambda: result.append(run_purge(app, Clock(T0), acme)))
    purging.start()
    purging.join(1.0)  # it skipped the locked row; its audit entry waits for the hold's
    holding.commit()
    holding.close()
    purging.join(10)
    assert result[0].purged == 1
    assert existing(db, [first, second]) == {second}
    # 2. a hold arrives while the batch holds its locks: it waits, then finds it gone
    third = make(db, acme, "third", deleted=T0 - 400 * DAY)
    outcome: dict[str, Any] = {}

    def hold_now() -> None:
        try:
            outcome["hold"] = place(db, acme, [third])
        except Exception as exc:
            outcome["error"] = exc

    def decide_slowly(facts: retention.PurgeFacts) -> bool:
        if "thread" not in outcome:
            outcome["thread"] = threading.Thread(target=hold_now)
            outcome["thread"].start()
            outcome["thread"].join(1.0)  # blocked on our row lock
            assert outcome["thread"].is_alive()
        return job_purge("acme")(facts)

    with db.session(tenant_id=acme, write=True) as session:
        batch = retention.purge_batch(
            session=session, cutoff=T0 - 365 * DAY, after=None, size=10, actor="job",
            decide=decide_slowly, now=T0,
        )  # fmt: skip
        session.commit()
    outcome["thread"].join(10)
    assert batch.purged == 1
    assert type(outcome["error"]).__name__ == "NotFound"
    assert existing(db, [third]) == set()
