"""The outbox against the PagerDuty contract server: one page per incident with
its links, written in the incident's transaction, kept when no key is set,
delivered through an outage and 429s, never doubled by a crash, rate limited
per routing key, held by quiet hours and delivered when they end."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from alerts import escalation, incidents, outbox
from alerts.models import Incident, PageEvent
from alerts.paging import NotifierOptions, PagingNotifier
from app.core.db import Database, utcnow
from tests.paging.conftest import ROUTING_KEY, make_sender
from tests.support.pagerduty import PagerDutyServer
from tests.support.world import services

OPTIONS = NotifierOptions(summit_url="https://summit.example.com", escalation=escalation.load())
NOTIFIERS = [PagingNotifier(OPTIONS)]


def db_of(app: Flask) -> Database:
    return services(app).db


def open_probe_incident(db: Database, probe: str = "golden-path", now: datetime | None = None,
                        **details: object) -> Incident:  # fmt: skip
    with db.session(tenant_id=None, write=True) as session:
        incident = incidents.open_incident(
            session=session, key=f"probe:{probe}", title=f"probe {probe} is failing at step search",
            details={"probe": probe, "run_id": "run-123", "failed_step": "search",
                     "error": "HTTP 500", **details},
            now=now or utcnow(), notifiers=NOTIFIERS,
        )  # fmt: skip
        session.commit()
        return incident


def resolve(db: Database, incident_id: str, now: datetime | None = None) -> None:
    with db.session(tenant_id=None, write=True) as session:
        found = session.get(Incident, incident_id)
        assert found is not None
        incidents.resolve_incident(session=session, incident=found, now=now or utcnow(),
                                   notifiers=NOTIFIERS)  # fmt: skip
        session.commit()


def rows(db: Database) -> list[PageEvent]:
    with db.session(tenant_id=None) as session:
        found = list(session.scalars(select(PageEvent).order_by(PageEvent.id)))
        session.expunge_all()
        return found


def test_a_probe_incident_pages_once_with_its_links_and_resolves(
    app: Flask, pd: PagerDutyServer
) -> None:
    db = db_of(app)
    incident = open_probe_incident(db)
    sender = make_sender(pd, db)
    assert sender.deliver(now=utcnow()).sent == 1
    assert sender.deliver(now=utcnow()).sent == 0  # delivered once
    [trigger] = pd.state.events
    assert trigger["routing_key"] == ROUTING_KEY
    assert trigger["dedup_key"] == "probe:golden-path"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["component"] == "golden-path"
    assert trigger["payload"]["custom_details"]["failed_step"] == "search"
    links = {link["text"]: link["href"] for link in trigger["links"]}
    assert (
        links["Runbook"] == "https://summit.example.com/runbooks/summit-probe-golden-path-failing"
    )
    assert links["Dashboard"] == "https://summit.example.com/ops#probe-golden-path"
    assert links["Failing run: steps, screenshot, trace"] == (
        "https://summit.example.com/ops/probes/golden-path/runs/run-123"
    )
    resolve(db, incident.id)
    assert sender.deliver(now=utcnow()).sent == 1
    assert pd.actions() == [("trigger", "probe:golden-path"), ("resolve", "probe:golden-path")]
    assert pd.state.alerts["probe:golden-path"] == "resolved"


def test_the_event_is_written_in_the_incidents_transaction(app: Flask) -> None:
    db = db_of(app)
    with db.session(tenant_id=None, write=True) as session:
        incidents.open_incident(session=session, key="probe:policy", title="t",
                                details={"probe": "policy"}, now=utcnow(),
                                notifiers=NOTIFIERS)  # fmt: skip
        session.rollback()
    assert rows(db) == []
    open_probe_incident(db, "policy")
    assert [(r.action, r.state) for r in rows(db)] == [("trigger", "pending")]


def test_without_a_routing_key_the_page_is_kept_and_says_why(
    app: Flask, pd: PagerDutyServer
) -> None:
    db = db_of(app)
    open_probe_incident(db)
    done = make_sender(pd, db, key=None).deliver(now=utcnow())
    assert (done.sent, done.no_key) == (0, 1)
    [row] = rows(db)
    assert row.state == "pending"
    assert row.last_error == "no routing key configured for service summit: kept in the outbox"
    assert pd.state.events == []
    # Configured later: the kept page goes.
    assert make_sender(pd, db).deliver(now=utcnow()).sent == 1


def test_an_outage_then_429s_then_recovery_delivers_every_page_once(
    app: Flask, pd: PagerDutyServer
) -> None:
    db = db_of(app)
    probes = ["golden-path", "policy", "governance"]
    for probe in probes:
        open_probe_incident(db, probe)
    sender = make_sender(pd, db)
    now = utcnow()
    pd.down()
    done = sender.deliver(now=now)
    assert (done.sent, done.retrying) == (0, 1)  # PagerDuty away: the pass stops at once
    [first, *_] = rows(db)
    assert first.state == "pending"
    assert first.last_error == "PagerDuty unreachable: ConnectError"
    assert now + timedelta(seconds=0.5) <= first.next_attempt_at <= now + timedelta(seconds=1)
    pd.up()
    pd.limit(1, retry_after=7)
    now += timedelta(seconds=2)
    done = sender.deliver(now=now)
    throttled = rows(db)[0]
    assert throttled.last_status == 429
    # Retry-After wins over the shorter backoff, for the key's other rows too.
    assert throttled.next_attempt_at >= now + timedelta(seconds=7)
    assert all(r.next_attempt_at >= now + timedelta(seconds=7) for r in rows(db)
               if r.state == "pending")  # fmt: skip
    assert sender.deliver(now=now + timedelta(seconds=3)).sent == 0  # still waiting
    sent = sender.deliver(now=now + timedelta(seconds=8)).sent
    assert sent == 3
    keys = [f"probe:{probe}" for probe in probes]
    assert sorted(pd.state.alerts_created) == sorted(keys)
    assert all(count == 1 for count in pd.state.alerts_created.values())
    assert [r.state for r in rows(db)] == ["sent"] * 3


class Killed(BaseException):
    """Stands for the sender's process dying between the send and the mark."""


def test_a_sender_killed_between_send_and_mark_resends_the_same_dedup_key(
    app: Flask, pd: PagerDutyServer
) -> None:
    db = db_of(app)
    open_probe_incident(db)
    doomed = make_sender(pd, db, holder="doomed")

    def die(_row: PageEvent) -> None:
        raise Killed

    doomed.after_send = die
    now = utcnow()
    with pytest.raises(Killed):
        doomed.deliver(now=now)
    [row] = rows(db)
    assert (row.state, row.claimed_by) == ("sending", "doomed")
    heir = make_sender(pd, db, holder="heir")
    assert heir.deliver(now=now + timedelta(seconds=29)).sent == 0  # the claim still holds
    assert heir.deliver(now=now + timedelta(seconds=31)).sent == 1
    # Sent twice, one alert: PagerDuty deduplicates by the key, so nobody is paged twice.
    assert len(pd.events_for("probe:golden-path")) == 2
    assert pd.state.alerts_created["probe:golden-path"] == 1
    assert rows(db)[0].state == "sent"


def test_at_most_the_per_minute_limit_goes_to_one_routing_key(
    app: Flask, pd: PagerDutyServer
) -> None:
    db = db_of(app)
    for index in range(5):
        open_probe_incident(db, f"probe-{index}")
    sender = make_sender(pd, db, per_minute=3)
    now = utcnow()
    done = sender.deliver(now=now)
    assert (done.sent, done.rate_limited) == (3, 2)
    assert sender.deliver(now=now + timedelta(seconds=30)).sent == 0
    assert sender.deliver(now=now + timedelta(seconds=61)).sent == 2


def test_a_refused_event_fails_at_once_and_says_why(app: Flask, pd: PagerDutyServer) -> None:
    db = db_of(app)
    incident = open_probe_incident(db)
    with db.session(tenant_id=None, write=True) as session:
        row = session.scalars(select(PageEvent)).one()
        row.body = {**row.body, "payload": {"summary": "no source or severity"}}
        session.commit()
    done = make_sender(pd, db).deliver(now=utcnow())
    assert done.failed == 1
    [failed] = rows(db)
    assert failed.state == "failed"
    assert failed.last_status == 400
    assert "'source' is a required property" in (failed.last_error or "")
    pd.state.rejected.clear()  # refused on purpose
    resolve(db, incident.id)  # the resolve behind it is not stuck
    assert make_sender(pd, db).deliver(now=utcnow()).sent == 1


def test_quiet_hours_hold_a_warning_until_they_end_then_deliver_it(
    app: Flask, pd: PagerDutyServer
) -> None:
    db = db_of(app)
    saturday_night = datetime.fromisoformat("2026-06-06T01:00:00+00:00")
    open_probe_incident(db, now=saturday_night, severity="warning")
    [row] = rows(db)
    monday_morning = datetime.fromisoformat("2026-06-08T07:00:00+00:00")  # 08:00 in London
    assert row.held_until == monday_morning
    sender = make_sender(pd, db)
    assert sender.deliver(now=monday_morning - timedelta(minutes=1)).sent == 0
    assert sender.deliver(now=monday_morning).sent == 1
    assert pd.state.events[0]["payload"]["severity"] == "warning"


def test_a_critical_page_is_never_held(app: Flask) -> None:
    db = db_of(app)
    saturday_night = datetime.fromisoformat("2026-06-06T01:00:00+00:00")
    open_probe_incident(db, now=saturday_night)
    assert rows(db)[0].held_until is None


def test_outbox_counts_every_state(app: Flask, pd: PagerDutyServer) -> None:
    db = db_of(app)
    open_probe_incident(db)
    open_probe_incident(db, "policy")
    make_sender(pd, db, per_minute=1).deliver(now=utcnow())
    with db.session(tenant_id=None) as session:
        assert outbox.counts(session=session) == {
            "pending": 1, "sending": 0, "sent": 1, "failed": 0
        }  # fmt: skip
        assert session.scalar(select(func.count()).select_from(PageEvent)) == 2
