"""The ops API and page: operators only; run now; runs, incidents and artifacts.

Probes run for real: the policy probe against this same app, served by
werkzeug on 127.0.0.1 in a thread (its own login and decisions go over HTTP).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.support.live import free_port
from tests.support.metrics import labels, samples
from tests.support.web import csrf_token, web_login
from tests.support.world import PASSWORD, World, seed_world

WorldFactory = Callable[..., World]


@pytest.fixture
def served_world(make_app: Callable[..., Flask]) -> Iterator[WorldFactory]:
    """A seeded app with extra settings whose probes target the app itself."""
    servers: list[Any] = []

    def build(**settings: Any) -> World:
        port = free_port()
        app = make_app(
            SUMMIT_PROBE_TARGET_URL=f"http://127.0.0.1:{port}",
            SUMMIT_PROBE_PASSWORD=PASSWORD,
            **settings,
        )
        world = seed_world(app)
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return world

    yield build
    for server in servers:
        server.shutdown()


def run_now(world: World, probe: str = "policy") -> dict[str, Any]:
    """Ask for a run (answered at once with 202), then wait for it to be recorded."""
    ops = world.headers("ops")
    asked = world.client.post(f"/api/v1/probes/{probe}/run", headers=ops)
    assert asked.status_code == 202, asked.get_json()
    assert asked.headers["Location"] == asked.get_json()["url"]
    return wait_for_run(world, asked.get_json()["url"])


def wait_for_run(world: World, url: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = world.client.get(url, headers=world.headers("ops"))
        if got.status_code == 200:
            body: dict[str, Any] = got.get_json()
            return body
        assert got.status_code == 202, got.get_json()
        time.sleep(0.05)
    raise AssertionError(f"{url} not recorded within {timeout} s")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/probes"),
        ("POST", "/api/v1/probes/policy/run"),
        ("GET", "/api/v1/probes/policy/runs"),
        ("GET", "/api/v1/incidents"),
    ],
)
def test_only_operators_reach_the_ops_api(world: World, method: str, path: str) -> None:
    assert world.client.open(path, method=method).status_code == 401
    for persona in ("alice", "bob", "carol"):
        refused = world.client.open(path, method=method, headers=world.headers(persona))
        assert refused.status_code == 403, persona


def test_run_now_records_the_run_and_its_metrics(served_world: WorldFactory) -> None:
    world = served_world()
    run = run_now(world)
    assert (run["probe"], run["status"], run["trigger"]) == ("policy", "pass", "api")
    assert [step["name"] for step in run["steps"]] == [
        "login",
        "allowed-read",
        "cross-tenant-read",
        "purge-under-legal-hold",
    ]
    runs = world.client.get("/api/v1/probes/policy/runs", headers=world.headers("ops"))
    assert [r["id"] for r in runs.get_json()["runs"]] == [run["id"]]
    listed = world.client.get("/api/v1/probes", headers=world.headers("ops")).get_json()
    policy = next(p for p in listed["probes"] if p["name"] == "policy")
    assert (policy["status"], policy["last_run"]["id"], policy["kind"]) == (
        "green",
        run["id"],
        "http",
    )
    assert listed["scheduler"] == "disabled"
    seen = samples(world.app)
    assert seen[("summit_probe_success", labels(probe="policy"))] == 1
    assert seen[("summit_probe_runs_total", labels(probe="policy", result="pass"))] == 1
    assert seen[("summit_probe_runs_total", labels(probe="golden-path", result="fail"))] == 0
    step = labels(probe="policy", step="cross-tenant-read")
    assert seen[("summit_probe_duration_seconds_count", step)] == 1


def test_probe_traffic_is_tagged_synthetic_in_the_http_metrics(served_world: WorldFactory) -> None:
    world = served_world()
    run_now(world)
    decide = labels(
        route="/api/v1/policy/decide", method="POST", tenant="acme", traffic="synthetic"
    )
    assert samples(world.app)[("summit_http_requests_total", decide | {("status", "200")})] == 3


def test_failing_runs_open_an_incident_that_links_the_failing_runs_artifacts(
    served_world: WorldFactory,
) -> None:
    world = served_world(
        SUMMIT_PROBE_DECISION_BUDGET_MS=1e-9,  # no decision is that fast: every run fails
        SUMMIT_PROBE_FAIL_THRESHOLD=2,
        SUMMIT_PROBE_FAIL_WINDOW=2,
    )
    ops = world.headers("ops")
    first = run_now(world)
    assert (first["status"], first["failed_step"]) == ("fail", "allowed-read")
    assert world.client.get("/api/v1/incidents", headers=ops).get_json()["incidents"] == []
    second = run_now(world)
    [incident] = world.client.get("/api/v1/incidents?status=open", headers=ops).get_json()[
        "incidents"
    ]
    assert incident["key"] == "probe:policy"
    assert incident["details"]["run_id"] == second["id"]
    [artifact] = incident["artifacts"]
    assert artifact["name"] == "decisions.json"
    download = world.client.get(artifact["url"], headers=ops)
    assert download.status_code == 200
    assert "allowed-read" not in download.get_json()  # the failing case left no answer
    assert world.client.get(artifact["url"], headers=world.headers("bob")).status_code == 403
    listed = world.client.get("/api/v1/probes", headers=ops).get_json()["probes"]
    assert next(p for p in listed if p["name"] == "policy")["status"] == "red"


@pytest.mark.parametrize(
    "artifact", ["trace.zip", "..%2F..%2Fsecret_key", "decisions.json%00", "..", "."]
)
def test_artifacts_outside_a_runs_list_are_not_found(
    served_world: WorldFactory, artifact: str
) -> None:
    world = served_world(SUMMIT_PROBE_DECISION_BUDGET_MS=1e-9)
    run = run_now(world)
    url = f"/api/v1/probes/policy/runs/{run['id']}/artifacts/{artifact}"
    # 400: a NUL byte in a path is refused before routing
    assert world.client.get(url, headers=world.headers("ops")).status_code in (400, 404)
    other_probe = f"/api/v1/probes/golden-path/runs/{run['id']}/artifacts/decisions.json"
    assert world.client.get(other_probe, headers=world.headers("ops")).status_code == 404


def test_an_unknown_probe_is_404(world: World) -> None:
    for method, path in (("POST", "/api/v1/probes/nope/run"), ("GET", "/api/v1/probes/nope/runs")):
        response = world.client.open(path, method=method, headers=world.headers("ops"))
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "unknown_probe"


def test_ops_page_puts_incidents_first_then_a_card_per_probe(served_world: WorldFactory) -> None:
    world = served_world(
        SUMMIT_PROBE_DECISION_BUDGET_MS=1e-9, SUMMIT_PROBE_FAIL_THRESHOLD=1,
        SUMMIT_PROBE_FAIL_WINDOW=1,
    )  # fmt: skip
    failed = run_now(world)
    client = world.app.test_client()
    assert web_login(client, "", "ops").headers["Location"] == "/ops"
    html = client.get("/ops").get_data(as_text=True)
    assert html.index('id="incidents-heading"') < html.index('id="probes-heading"')
    assert "policy is failing at step allowed-read" in html
    assert f'href="/ops/probes/policy/runs/{failed["id"]}"' in html  # the failing run's page
    for fact in ("Uptime 24 h", "Uptime 30 d", "Last run", "Next run"):
        assert fact in html
    assert "0.00%" in html  # one run, failed
    data = re.search(r'<script type="application/json" id="chart-data-policy">(.*?)</script>', html)
    assert data
    series = json.loads(data.group(1))
    assert len(series["t"]) == 1
    assert (series["pass"], series["fail"][0] > 0) == ([None], True)
    assert re.search(r'<div class="history" role="img" aria-label="Last 1 runs[^"]*1 failed"', html)
    assert 'class="cell cell-fail"' in html
    assert "style=" not in html
    scripts = re.findall(r"<script[^>]*>", html)
    assert all('src="/static/' in tag or 'type="application/json"' in tag for tag in scripts)
    assert re.search(r"Scheduler: <strong[^>]*>disabled</strong>", html)


def test_run_now_from_the_page_answers_at_once(served_world: WorldFactory) -> None:
    world = served_world(SUMMIT_PROBE_DECISION_BUDGET_MS=1000)  # pass, even on a busy machine
    client = world.app.test_client()
    web_login(client, "", "ops")
    token = csrf_token(client, "/ops")
    asked = client.post(
        "/ops/probes/policy/run", data={"csrf_token": token}, headers={"Accept": "application/json"}
    )
    assert asked.status_code == 202
    body = asked.get_json()
    assert body["state"] in ("queued", "running")
    assert body["url"] == f"/ops/probes/policy/runs/{body['id']}"
    deadline = time.monotonic() + 30
    while client.get(body["state_url"]).get_json()["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.get(body["state_url"]).get_json()["summary"].startswith("policy passed in")
    plain = client.post("/ops/probes/policy/run", data={"csrf_token": token})
    assert plain.status_code == 303
    assert plain.headers["Location"].startswith("/ops/probes/policy/runs/")
    wait_for_run(world, "/api/v1/probes/policy/runs/" + plain.headers["Location"].rsplit("/", 1)[1])
    runs = world.client.get("/api/v1/probes/policy/runs", headers=world.headers("ops"))
    assert [r["trigger"] for r in runs.get_json()["runs"]] == ["ui", "ui"]


def test_asking_twice_while_a_run_is_pending_runs_it_once(served_world: WorldFactory) -> None:
    world = served_world()
    runtime = world.app.extensions["summit.probes"]
    first = runtime.request_run("policy", trigger="api", requested_by="ops")
    second = runtime.request_run("policy", trigger="api", requested_by="ops")
    assert second.id == first.id
    wait_for_run(world, f"/api/v1/probes/policy/runs/{first.id}")


def test_ops_page_refuses_tenant_users_and_a_form_without_csrf(world: World) -> None:
    client = world.app.test_client()
    web_login(client, "acme", "alice")
    assert client.get("/ops").status_code == 403
    operator = world.app.test_client()
    web_login(operator, "", "ops", next_path="/ops")
    assert operator.post("/ops/probes/policy/run").status_code == 400
