"""A real Alertmanager running the generated config: quiet hours hold a ticket
back but not a page, and an SLO's page inhibits its ticket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from alerts import build
from tests.alerts.sink import Sink, webhook_sink
from tests.alerts.support import WEBHOOK_TOKEN, build_into, secrets_for_alertmanager
from tests.support.prometheus import running_alertmanager

pytestmark = pytest.mark.slow

ALWAYS_QUIET = """quiet_hours:
  location: "Europe/London"
  intervals:
    - weekdays: ["sunday:saturday"]
"""


def post(am: str, *alerts: dict[str, str]) -> None:
    now = datetime.now(UTC)
    body: list[dict[str, Any]] = [
        {"labels": labels, "annotations": {"summary": "test"}, "startsAt": now.isoformat(),
         "endsAt": (now + timedelta(minutes=5)).isoformat()}
        for labels in alerts
    ]  # fmt: skip
    response = requests.post(f"{am}/api/v2/alerts", json=body, timeout=5)
    assert response.status_code == 200, response.text


def alert(name: str, severity: str, sloth_id: str = "summit-availability") -> dict[str, str]:
    return {"alertname": name, "severity": severity, "sloth_severity": severity,
            "sloth_id": sloth_id}  # fmt: skip


def delivered(sink: Sink) -> set[tuple[str, str]]:
    return {(body["receiver"], a["labels"]["alertname"])
            for _, body in sink.received() for a in body["alerts"]}  # fmt: skip


def test_quiet_hours_hold_the_ticket_but_the_page_goes(tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    text = build.ROUTING_FILE.read_text()
    start, end = text.index("quiet_hours:"), text.index("# Receivers.")
    routing.write_text(text[:start] + ALWAYS_QUIET + "\n" + text[end:])
    with webhook_sink() as sink:
        build_into(tmp_path / "out", routing_file=routing, base_url=sink.url, time_scale=30,
                   secrets_dir=secrets_for_alertmanager(tmp_path / "secrets"))  # fmt: skip
        with running_alertmanager(tmp_path / "am", tmp_path / "out" / "alertmanager.yml") as am:
            post(am, alert("TicketOnly", "ticket", "a"), alert("PageOnly", "page", "b"))
            sink.wait_for(lambda _: ("oncall-page", "PageOnly") in delivered(sink), timeout=60)
            # The ticket route's group_wait is 10 s at this scale: wait it out, twice.
            deadline = datetime.now(UTC) + timedelta(seconds=12)
            while datetime.now(UTC) < deadline:
                assert ("sre-tickets", "TicketOnly") not in delivered(sink)
            states = {a["labels"]["alertname"]: a for a in am_alerts(am)}
            assert states["TicketOnly"]["status"]["state"] == "active"  # held, not lost
    assert all(path.split("?")[0] == "/api/v1/alerts/webhook" for path, _ in sink.received())
    # Alertmanager read the token from the secrets folder and sent it.
    assert set(sink.authorizations) == {f"Bearer {WEBHOOK_TOKEN}"}


def am_alerts(am: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = requests.get(f"{am}/api/v2/alerts", timeout=5).json()
    return found


def test_an_slos_page_inhibits_its_ticket_but_not_another_slos(tmp_path: Path) -> None:
    with webhook_sink() as sink:
        build_into(tmp_path / "out", base_url=sink.url, time_scale=30,
                   secrets_dir=secrets_for_alertmanager(tmp_path / "secrets"))  # fmt: skip
        with running_alertmanager(tmp_path / "am", tmp_path / "out" / "alertmanager.yml") as am:
            post(am, alert("Burn", "page", "slo-a"), alert("Burn", "ticket", "slo-a"),
                 alert("Other", "ticket", "slo-b"))  # fmt: skip
            deadline = datetime.now(UTC) + timedelta(seconds=10)
            states: dict[tuple[str, str], Any] = {}
            while datetime.now(UTC) < deadline and len(states) < 3:
                states = {(a["labels"]["sloth_id"], a["labels"]["severity"]): a["status"]
                          for a in am_alerts(am)}  # fmt: skip
            assert states[("slo-a", "page")]["state"] == "active"
            assert states[("slo-a", "ticket")]["state"] == "suppressed"
            assert states[("slo-a", "ticket")]["inhibitedBy"]
            assert states[("slo-b", "ticket")]["state"] == "active"
