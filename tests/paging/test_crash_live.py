"""A real `summit serve` killed (SIGKILL, master and workers) while PagerDuty
holds back its answer to a trigger: started again, the new leader sends the
same page again once the dead sender's claim expires, PagerDuty's dedup key
makes the two sends one alert, and the page is recorded as sent — nothing lost,
nothing doubled."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.ingest.live_server import live
from tests.paging.conftest import ROUTING_KEY
from tests.paging.test_api import GROUP_KEY, TOKEN, message
from tests.support.live import DEMO_PASSWORD
from tests.support.pagerduty import PagerDutyServer, State

pytestmark = pytest.mark.slow
KEY = hashlib.sha256(GROUP_KEY.encode()).hexdigest()


@pytest.fixture
def pd_live(pd_server: PagerDutyServer) -> Iterator[PagerDutyServer]:
    pd_server.state = State()
    yield pd_server
    assert pd_server.state.rejected == [], "a request broke PagerDuty's contract"


def sends(state: State) -> list[dict[str, Any]]:
    """The triggers for KEY (read under the server's lock: wait_for holds it)."""
    return [e for e in state.events if e.get("dedup_key") == KEY and e["event_action"] == "trigger"]


def incident_paging(url: str) -> dict[str, Any]:
    body = {"tenant": None, "username": "ops", "password": DEMO_PASSWORD}
    login = requests.post(f"{url}/api/v1/auth/login", json=body, timeout=10)
    ops = {"Authorization": f"Bearer {login.json()['token']}"}
    [incident] = requests.get(f"{url}/api/v1/incidents", headers=ops, timeout=10).json()[
        "incidents"
    ]
    paging: dict[str, Any] = incident["paging"]
    return paging


def test_a_server_killed_while_pagerduty_answers_sends_the_page_again_once_restarted(
    tmp_path: Path, pd_live: PagerDutyServer
) -> None:
    pd = pd_live
    env: dict[str, Any] = {
        "SUMMIT_SCHEDULER": "true", "SUMMIT_SCHEDULER_LEASE_SECONDS": "3",
        "SUMMIT_PAGING_OUTBOX_INTERVAL_SECONDS": "1", "SUMMIT_PAGING_CLAIM_SECONDS": "3",
        "SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS": "3600",
        "SUMMIT_PROBE_POLICY_INTERVAL_SECONDS": "3600",
        "SUMMIT_PROBE_GOVERNANCE_INTERVAL_SECONDS": "3600",
        "SUMMIT_ALERTS_WEBHOOK_TOKEN": TOKEN, "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "PAGERDUTY_EVENTS_URL": pd.url, "PAGERDUTY_CA_FILE": str(pd.ca_file),
    }  # fmt: skip
    with live(tmp_path / "var", database="sqlite", **env) as server:
        held = pd.hold()  # PagerDuty records the trigger but keeps its 202 back
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        opened = requests.post(
            f"{server.url}/api/v1/alerts/webhook", json=message(), headers=bearer, timeout=10
        )
        assert opened.status_code == 200, opened.text
        pd.wait_for(lambda state: len(sends(state)) == 1, timeout=30)
        server.kill()  # the sender dies before it hears the 202
        held.set()
        time.sleep(0.5)
        assert incident_paging_unsent_before_restart(tmp_path)
        server.start()
        pd.wait_for(lambda state: len(sends(state)) == 2, timeout=45)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            paging = incident_paging(server.url)
            if [e["state"] for e in paging["events"]] == ["sent"]:
                break
            time.sleep(0.5)
        assert paging["dedup_key"] == KEY
        assert [(e["action"], e["state"]) for e in paging["events"]] == [("trigger", "sent")]
        assert paging["events"][0]["attempts"] >= 2
    # Two sends, one dedup key: one alert in PagerDuty.
    assert len(sends(pd.state)) == 2
    assert pd.state.alerts_created[KEY] == 1
    assert pd.state.alerts == {KEY: "open"}


def incident_paging_unsent_before_restart(var_parent: Path) -> bool:
    """While the server is down its outbox row is still not sent (read from the
    SQLite file directly: nothing serves the API now)."""
    import sqlite3

    with sqlite3.connect(var_parent / "var" / "summit.db") as db:
        states = [row[0] for row in db.execute("SELECT state FROM page_events")]
    return states == ["sending"] or states == ["pending"]
