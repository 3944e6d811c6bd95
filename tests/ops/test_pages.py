"""The operator's pages: landing by role, navigation by what the policy allows,
error pages in plain words, a run's page, incidents taken and closed, the
public status page and the API explorer."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from flask.testing import FlaskClient

from app.core import leases
from app.core.db import utcnow
from app.ops import service as ops
from app.ops.runtime import ProbeRuntime
from app.ops.scheduler import FIRE
from probes import service
from probes.journey import RunResult, StepRecord
from probes.models import ProbeRun
from tests.support.web import csrf_token, web_login
from tests.support.world import World, services

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
TENANT_WORDS = ("acme", "Acme", "globex", "Globex", "Rocket", "alice", "carol")


def logged_in(world: World, username: str) -> FlaskClient:
    client = world.app.test_client()
    tenant = {"alice": "acme", "bob": "acme", "carol": "globex"}.get(username, "")
    web_login(client, tenant, username)
    return client


def runtime(app: Flask) -> ProbeRuntime:
    found: ProbeRuntime = app.extensions["summit.probes"]
    return found


def record(
    app: Flask, *, passed: bool, minutes_ago: float = 0, with_files: bool = True
) -> ProbeRun:
    """A golden-path run as the runner would leave it: steps, error, screenshot, trace."""
    rt = runtime(app)
    started = utcnow() - timedelta(minutes=minutes_ago)
    run_id = f"{int(started.timestamp() * 1e6):x}-0000-4000-8000-000000000000"[:36]
    steps = [StepRecord("login", 310.0, True), StepRecord("search", 95.5, passed,
                        None if passed else "ProbeFailure: search answered 500")]  # fmt: skip
    artifacts = []
    if not passed and with_files:
        folder = rt.config.artifacts_dir / "golden-path" / run_id
        folder.mkdir(parents=True)
        (folder / "screenshot.png").write_bytes(PNG)
        (folder / "trace.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
        artifacts = [f"golden-path/{run_id}/screenshot.png", f"golden-path/{run_id}/trace.zip"]
    result = RunResult(
        id=run_id, probe="golden-path", passed=passed, started_at=started,
        duration_ms=405.5, steps=steps, failed_step=None if passed else "search",
        error=None if passed else "ProbeFailure: search answered 500", artifacts=artifacts,
    )  # fmt: skip
    with services(app).db.session(tenant_id=None, write=True) as session:
        run = service.record_run(
            session=session, result=result, trigger="schedule", now=started, policy=rt.policy,
            notifiers=rt.notifiers, retention=rt.retention,
        )  # fmt: skip
        session.commit()
    return run


# --- landing, navigation, error pages --------------------------------------------------


def test_each_role_lands_on_its_home(world: World) -> None:
    ops, alice = world.app.test_client(), world.app.test_client()
    assert web_login(ops, "", "ops").headers["Location"] == "/ops"
    assert web_login(alice, "acme", "alice").headers["Location"] == "/search"
    assert ops.get("/").headers["Location"] == "/ops"
    assert alice.get("/").headers["Location"] == "/search"
    assert world.app.test_client().get("/").headers["Location"] == "/login"
    # Sent to log in from a page the role may not open, an operator still lands home.
    sent = world.app.test_client()
    landed = web_login(sent, "", "ops", next_path="/search")
    assert landed.headers["Location"] == "/ops"
    kept = world.app.test_client()
    assert (
        web_login(kept, "", "ops", next_path="/admin/quotas").headers["Location"] == "/admin/quotas"
    )


def nav_labels(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert nav
    return re.findall(r">([^<>]+)</a>", nav.group(1))


def test_the_navigation_offers_only_what_the_role_may_open(world: World) -> None:
    ops = nav_labels(logged_in(world, "ops").get("/ops").get_data(as_text=True))
    assert ops == ["Ops", "SLOs", "Quotas", "Status", "API"]
    alice = nav_labels(logged_in(world, "alice").get("/search").get_data(as_text=True))
    assert alice == ["Search", "Feedback", "Governance", "Status", "API"]
    anonymous = nav_labels(world.app.test_client().get("/status").get_data(as_text=True))
    assert anonymous == ["Status", "API"]


def test_error_pages_keep_the_navigation_and_speak_plainly(world: World) -> None:
    ops = logged_in(world, "ops")
    refused = ops.get("/search")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 403
    assert (
        "Operators don&#39;t see tenant data" in html or "Operators don't see tenant data" in html
    )
    assert nav_labels(html) == ["Ops", "SLOs", "Quotas", "Status", "API"]
    assert 'aria-label="Signed in as">ops' in html
    assert '<a href="/ops">Go to your home page</a>' in html
    assert "may not search" not in html
    assert "view_ops" not in html
    alice = logged_in(world, "alice").get("/ops").get_data(as_text=True)
    assert "This page is for platform operators." in alice
    assert '<a href="/search">Go to your home page</a>' in alice
    missing = ops.get("/no/such/page")
    assert missing.status_code == 404
    assert 'aria-label="Signed in as">ops' in missing.get_data(as_text=True)
    assert "There is no such page" in missing.get_data(as_text=True)


# --- a run's page ----------------------------------------------------------------------


def test_a_failed_runs_page_has_the_waterfall_error_screenshot_and_trace(world: World) -> None:
    run = record(world.app, passed=False)
    client = logged_in(world, "ops")
    page = client.get(f"/ops/probes/golden-path/runs/{run.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Failed at step <strong>search</strong>" in html
    assert re.search(r"<th scope=\"row\">✓ login</th>\s*<td>\+0 ms</td>\s*<td>310 ms</td>", html)
    assert re.search(r"<th scope=\"row\">✗ search</th>\s*<td>\+310 ms</td>\s*<td>96 ms</td>", html)
    assert 'class="wf-fail" x="764.49"' in html  # search starts 310/405.5 of the way in
    assert "ProbeFailure: search answered 500" in html
    shot = re.search(r'<img src="([^"]+screenshot\.png)"', html)
    assert shot
    served = client.get(shot.group(1))
    assert (served.status_code, served.mimetype, served.data) == (200, "image/png", PNG)
    assert served.headers["Content-Disposition"].startswith("inline")
    trace_file = runtime(world.app).config.artifacts_dir / "golden-path" / run.id / "trace.zip"
    assert f"playwright show-trace {trace_file}" in html
    assert f"playwright show-trace golden-path-{run.id[:8]}-trace.zip" in html
    trace = client.get(f"/ops/probes/golden-path/runs/{run.id}/artifacts/trace.zip")
    assert trace.headers["Content-Disposition"].startswith("attachment")
    assert "Schedule" in html  # the trigger, in words
    assert "style=" not in html


def test_a_runs_page_names_the_incident_it_opened_and_the_one_it_resolved(world: World) -> None:
    failures = [record(world.app, passed=False, minutes_ago=m) for m in (3, 2, 1)]
    client = logged_in(world, "ops")
    html = client.get(f"/ops/probes/golden-path/runs/{failures[-1].id}").get_data(as_text=True)
    assert "This run opened" in html
    recovered = [record(world.app, passed=True, minutes_ago=m) for m in (0.5, 0)]
    html = client.get(f"/ops/probes/golden-path/runs/{recovered[-1].id}").get_data(as_text=True)
    assert "This run resolved" in html
    board = client.get("/ops").get_data(as_text=True)
    assert "golden-path failed at step search" in board  # resolved: not "is failing"
    assert "golden-path is failing" not in board
    assert "recovered" in board


def test_a_run_not_finished_yet_shows_as_queued_and_then_as_abandoned(world: World) -> None:
    rt = runtime(world.app)
    with services(world.app).db.session(tenant_id=None, write=True) as session:
        asked = ops.create_request(
            session=session, probe="policy", trigger="api", requested_by="ops",
            holder="elsewhere:1:x", now=utcnow(),
        )  # fmt: skip
        session.commit()
    client = logged_in(world, "ops")
    page = client.get(f"/ops/probes/policy/runs/{asked.id}").get_data(as_text=True)
    assert "Queued" in page
    assert '<meta http-equiv="refresh" content="2">' in page
    api = world.client.get(f"/api/v1/probes/policy/runs/{asked.id}", headers=world.headers("ops"))
    assert (api.status_code, api.get_json()["state"]) == (202, "queued")
    with services(world.app).db.session(tenant_id=None, write=True) as session:
        session.get_one(type(asked), asked.id).requested_at = utcnow() - rt.stale_after * 2
        session.commit()
    gone = world.client.get(f"/api/v1/probes/policy/runs/{asked.id}", headers=world.headers("ops"))
    assert (gone.status_code, gone.get_json()["error"]["code"]) == (404, "run_abandoned")
    other = world.client.get(
        f"/api/v1/probes/golden-path/runs/{asked.id}", headers=world.headers("ops")
    )
    assert other.status_code == 404


# --- incidents ---------------------------------------------------------------------------


def test_operators_acknowledge_and_resolve_incidents(world: World) -> None:
    for minutes in (3, 2, 1):
        record(world.app, passed=False, minutes_ago=minutes)
    ops_headers = world.headers("ops")
    [incident] = world.client.get("/api/v1/incidents?status=open", headers=ops_headers).get_json()[
        "incidents"
    ]
    for persona in ("alice", "carol"):
        url = f"/api/v1/incidents/{incident['id']}/acknowledge"
        assert world.client.post(url, headers=world.headers(persona)).status_code == 403
    acked = world.client.post(
        f"/api/v1/incidents/{incident['id']}/acknowledge", headers=ops_headers
    )
    assert (acked.status_code, acked.get_json()["acknowledged_by"]) == (200, "ops")
    client = logged_in(world, "ops")
    board = client.get("/ops").get_data(as_text=True)
    assert "acknowledged by ops" in board
    resolved = client.post(f"/ops/incidents/{incident['id']}/resolve",
                           data={"csrf_token": csrf_token(client, "/ops")})  # fmt: skip
    assert resolved.status_code == 303
    after = world.client.get("/api/v1/incidents", headers=ops_headers).get_json()["incidents"][0]
    assert (after["status"], after["resolved_by"]) == ("resolved", "ops")
    missing = world.client.post("/api/v1/incidents/nope/resolve", headers=ops_headers)
    assert missing.status_code == 404


# --- what every worker agrees on ---------------------------------------------------------


def test_the_scheduler_state_comes_from_the_lease_and_next_runs_from_the_job_store(
    world: World,
) -> None:
    db = services(world.app).db
    listed = world.client.get("/api/v1/probes", headers=world.headers("ops")).get_json()
    assert (listed["scheduler"], listed["scheduler_leader"]) == ("disabled", None)
    with db.session(tenant_id=None, write=True) as session:
        leases.claim(session=session, name=ops.SCHEDULER_LEASE, holder="other-host:42:cafe",
                     now=utcnow(), ttl=timedelta(seconds=60))  # fmt: skip
        session.commit()
    # APScheduler's own job store, as a leader on another host leaves it.
    aps = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=db.engine, tablename=ops.JOBSTORE_TABLE)},
        timezone=UTC,
    )
    aps.start(paused=True)
    job = aps.add_job(FIRE, trigger=IntervalTrigger(seconds=40), args=["policy"], id="policy")
    expected = job.next_run_time
    aps.shutdown(wait=False)
    with db.session(tenant_id=None) as session:
        facts = ops.scheduler_facts(session=session, enabled=True, now=utcnow())
    assert (facts.state, facts.leader) == ("running", "other-host:42:cafe")
    assert facts.next_runs == {"policy": expected}


# --- public pages --------------------------------------------------------------------------


def test_the_status_page_is_public_with_90_daily_bars_and_nothing_of_any_tenant(
    world: World,
) -> None:
    for minutes in (3, 2, 1):
        record(world.app, passed=False, minutes_ago=minutes)
    page = world.app.test_client().get("/status")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for component in ("Tenant surface", "Policy decisions", "Probes"):
        assert f"<h2>{component}</h2>" in html
    assert html.count('class="day day-') == 3 * 90
    assert 'class="day day-poor" title="' in html  # today: every golden-path run failed
    assert "Outage" in html
    assert "Not scheduled" in html  # SUMMIT_SCHEDULER is off in tests
    for word in TENANT_WORDS:
        assert word not in html, word
    assert "search answered" not in html  # run errors may quote tenant data


def test_the_api_explorer_serves_its_assets_itself(world: World) -> None:
    client = world.app.test_client()
    html = client.get("/docs").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in assets
    assert "/static/docs.js" in assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert not re.search(r'(?:src|href)="https?://', html)
    assert 'data-spec="/openapi.json"' in html


def test_static_vendor_files_carry_their_licences() -> None:
    vendor = Path(__file__).parents[2] / "app" / "web" / "static" / "vendor"
    assert (vendor / "uplot" / "LICENSE").read_text().startswith("The MIT License")
    assert "Apache License" in (vendor / "swagger-ui" / "LICENSE").read_text()


def test_ops_shows_the_service_levels_runbooks_and_dashboards(world: World) -> None:
    html = logged_in(world, "ops").get("/ops").get_data(as_text=True)
    assert 'aria-labelledby="slo-heading"' in html
    assert re.search(r'href="/ops/slo#summit-availability"', html)
    assert 'href="/runbooks/incident-response"' in html
    assert re.search(r'href="/ops/dashboards/[a-z0-9-]+\.json" download', html)
