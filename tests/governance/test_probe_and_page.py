"""The governance probe against a served app (as each tenant's synthetic user, on
its own record only), its schedule, and the governance page."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.core.db import utcnow
from app.ops.scheduler import JOBS
from probes.journey import ProbeConfig, Target
from probes.journeys.governance import STEPS
from probes.runner import execute
from tests.governance.helpers import call, create, hold
from tests.support.world import PASSWORD, World, seed_world


@pytest.fixture
def served(make_app: Callable[..., Flask]) -> Iterator[tuple[str, World]]:
    app = make_app()
    world = seed_world(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", world
    server.shutdown()
    thread.join(timeout=10)


def config(url: str, tmp_path: Path) -> ProbeConfig:
    return ProbeConfig(
        target=Target(base_url=url, tenant="acme", username="synthetic", password=PASSWORD),
        artifacts_dir=tmp_path / "artifacts",
        timeout_seconds=10,
        governance_tenants=("acme", "globex"),
    )


def test_the_governance_probe_passes_for_each_tenant_and_leaves_no_hold(
    served: tuple[str, World], tmp_path: Path
) -> None:
    url, world = served
    result = execute("governance", config=config(url, tmp_path), browser=None, now=utcnow)  # type: ignore[arg-type]
    assert result.passed, (result.failed_step, result.error)
    assert [(s.name, s.ok) for s in result.steps] == [(name, True) for name in STEPS]
    for admin in ("alice", "carol"):
        assert call(world, "GET", "/api/v1/governance/holds", admin).get_json()["holds"] == []
        actions = [
            e["action"] for e in call(world, "GET", "/api/v1/audit", admin).get_json()["entries"]
        ]
        assert {"hold.place", "purge.refused", "hold.release", "export.download"} <= set(actions)
    assert "governance" in JOBS
    assert JOBS["governance"][0] == "probe_governance_interval_seconds"


def test_the_probe_fails_closed_when_the_hold_does_not_stop_the_purge(
    served: tuple[str, World], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.governance import decide

    url, _ = served
    monkeypatch.setattr(decide.Records, "purge", lambda self: lambda facts: True)
    result = execute("governance", config=config(url, tmp_path), browser=None, now=utcnow)  # type: ignore[arg-type]
    assert (result.passed, result.failed_step) == (False, "purge-held-refused")
    assert "not_deleted" in (result.error or "")  # the record is live: nothing was purged


def test_the_synthetic_user_may_not_hold_or_purge_real_records(world: World) -> None:
    real = create(world)
    headers = {"Authorization": f"Bearer {world.login('synthetic', 'acme')['token']}"}
    held = world.client.post(
        "/api/v1/governance/holds",
        json={"entity_ids": [real["id"]], "reason": "x"},
        headers=headers,
    )
    assert held.status_code == 403
    purged = world.client.post(
        "/api/v1/governance/purge", json={"entity_ids": [real["id"]]}, headers=headers
    )
    assert purged.status_code == 403
    for path in ("/api/v1/governance/holds", "/api/v1/governance/retention", "/api/v1/audit"):
        assert world.client.get(path, headers=headers).status_code == 403
    assert world.client.get("/api/v1/audit/verify", headers=headers).status_code == 200


def web_login(world: World, username: str, tenant: str) -> str:
    page = world.client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token
    form = {
        "csrf_token": token.group(1),
        "tenant": tenant,
        "username": username,
        "password": PASSWORD,
    }
    assert world.client.post("/login", data=form).status_code == 302
    page = world.client.get("/governance").get_data(as_text=True)
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return fresh.group(1) if fresh else ""


def test_the_governance_page_shows_and_changes_everything_for_admins(world: World) -> None:
    entity = create(world)
    placed = hold(world, [entity["id"]], reason="subpoena 42").get_json()
    csrf = web_login(world, "alice", "acme")
    page = world.client.get("/governance").get_data(as_text=True)
    assert "subpoena 42" in page
    assert "Not verified yet." in page
    changed = world.client.post(
        "/governance/retention", data={"csrf_token": csrf, "days": "30", "reason": "r"}
    )
    assert changed.status_code == 302
    refused = world.client.post("/governance/retention", data={"csrf_token": csrf, "days": "0"})
    assert refused.status_code == 400
    released = world.client.post(
        f"/governance/holds/{placed['id']}/release", data={"csrf_token": csrf, "reason": "done"}
    )
    assert released.status_code == 302
    verified = world.client.post("/governance/audit/verify", data={"csrf_token": csrf})
    assert verified.status_code == 302
    page = world.client.get("/governance?action=hold").get_data(as_text=True)
    assert "intact" in page
    assert "subpoena 42" not in page.split("Active legal holds")[1].split("Subject access")[0]
    assert "hold.release" in page
    assert call(world, "GET", "/api/v1/governance/retention").get_json()["days"] == 30


def test_analysts_and_operators_do_not_get_the_governance_page(world: World) -> None:
    web_login(world, "bob", "acme")
    assert world.client.get("/governance").status_code == 403
