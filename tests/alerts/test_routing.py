"""Alertmanager routing from alerts/routing.yaml: amtool checks it, routes each
kind of alert, and quiet hours mute tickets but never pages; `who` answers as
Alertmanager would."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build, routing, who
from tests.alerts.support import build_into
from tests.support.prometheus import require_tools

TICKET = {"alertname": "SummitAvailabilityBudgetBurn", "severity": "ticket",
          "sloth_severity": "ticket", "sloth_id": "summit-availability"}  # fmt: skip
PAGE = {**TICKET, "severity": "page", "sloth_severity": "page"}
PROBE = {"alertname": "SummitProbeGoldenPathFailing", "severity": "page", "probe": "golden-path"}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    require_tools("amtool")
    return subprocess.run(
        ["amtool", *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("am")
    build_into(out)
    return out


@pytest.fixture(scope="module")
def config(built: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((built / "alertmanager.yml").read_text())
    return loaded


def test_amtool_checks_the_generated_config(built: Path) -> None:
    done = amtool("check-config", str(built / "alertmanager.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [(TICKET, "sre-tickets"), (PAGE, "oncall-page"), (PROBE, "oncall-page"),
     ({"alertname": "Other"}, "sre-tickets")],
)  # fmt: skip
def test_amtool_routes_each_kind_of_alert(
    built: Path, labels: dict[str, str], receiver: str
) -> None:
    args = [f"{k}={v}" for k, v in labels.items()]
    done = amtool("config", "routes", "test", f"--config.file={built / 'alertmanager.yml'}",
                  f"--verify.receivers={receiver}", *args)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == receiver
    # And `who` agrees with Alertmanager's own tool.
    config = yaml.safe_load((built / "alertmanager.yml").read_text())
    at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert [d.receiver for d in who.who(config, labels, at)] == [receiver]


def test_quiet_hours_mute_the_ticket_route_and_never_the_page_route(
    built: Path, config: dict[str, Any]
) -> None:
    """amtool names the route each alert takes; that route's mute_time_intervals
    (checked by amtool check-config to exist) say whether quiet hours apply."""
    routes = config["route"]["routes"]
    for labels, muted in ((TICKET, ["quiet-hours"]), (PAGE, None), (PROBE, None)):
        tree = amtool("config", "routes", "test", f"--config.file={built / 'alertmanager.yml'}",
                      "--tree", *[f"{k}={v}" for k, v in labels.items()])  # fmt: skip
        assert tree.returncode == 0, tree.stderr
        [taken] = [r for r in routes if who.matches(r, labels)]
        assert taken.get("mute_time_intervals") == muted
        assert taken["receiver"] in tree.stdout
    assert "mute_time_intervals" not in config["route"]
    [interval] = config["time_intervals"]
    assert interval["name"] == "quiet-hours"
    assert {entry["location"] for entry in interval["time_intervals"]} == {"Europe/London"}


@pytest.mark.parametrize(
    ("at", "labels", "muted"),
    [
        ("2026-11-28T03:00:00+00:00", TICKET, True),  # Saturday night: quiet
        ("2026-11-28T03:00:00+00:00", PAGE, False),  # pages always go
        ("2026-11-25T10:00:00+00:00", TICKET, False),  # Wednesday morning: working hours
        ("2026-11-25T07:59:00+00:00", TICKET, True),  # before 08:00
        ("2026-11-25T19:00:00+00:00", TICKET, True),  # from 19:00
        ("2026-11-25T18:59:00+00:00", TICKET, False),
        # Summer time: 07:30 UTC is 08:30 in London (BST), working hours there.
        ("2026-07-01T07:30:00+00:00", TICKET, False),
        ("2026-07-01T06:30:00+00:00", TICKET, True),
    ],
)
def test_who_says_whether_quiet_hours_mute_an_alert(
    config: dict[str, Any], at: str, labels: dict[str, str], muted: bool
) -> None:
    [found] = who.who(config, labels, datetime.fromisoformat(at))
    assert found.muted is muted
    assert found.muted_by == (("quiet-hours",) if muted else ())


def test_a_time_without_offset_is_read_in_the_responders_zone() -> None:
    at = who.parse_at("2026-07-01T08:30", "Europe/London")
    assert at.astimezone(UTC).hour == 7


def test_who_parses_labels_and_refuses_nonsense() -> None:
    assert who.parse_labels('severity=ticket, slo="a"') == {"severity": "ticket", "slo": "a"}
    with pytest.raises(ValueError, match="is not NAME=VALUE"):
        who.parse_labels("severity")


def bad_routing(tmp_path: Path, change: str, old: str) -> list[str]:
    text = build.ROUTING_FILE.read_text()
    assert old in text
    path = tmp_path / "routing.yaml"
    path.write_text(text.replace(old, change))
    with pytest.raises(routing.RoutingError) as caught:
        routing.load(path)
    return caught.value.problems


def test_a_page_route_may_not_observe_quiet_hours(tmp_path: Path) -> None:
    problems = bad_routing(
        tmp_path, 'receiver: "oncall-page"\n    quiet_hours: true', 'receiver: "oncall-page"'
    )
    assert problems == ["route pages: a page route may not observe quiet hours: pages always go"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"Europe/London"', '"Mars/Olympus"',
         "quiet_hours.location 'Mars/Olympus' is not a time zone"),
        ('"19:00-24:00"', '"19:00-25:00"', "quiet_hours: '19:00-25:00' is not a time range"),
        ('["saturday", "sunday"]', '["caturday"]', "quiet_hours: 'caturday' is not a weekday"),
        ('["saturday", "sunday"]', '["monday:sunday"]',
         "quiet_hours: 'monday:sunday' is not a weekday or a range of them (weeks start on Sunday"),
        ('receiver: "sre-tickets"\n    quiet', 'receiver: "nobody"\n    quiet',
         "route tickets: receiver 'nobody' is not one of the receivers"),
        ('group_wait: "5m"', 'group_wait: "five"',
         "tickets: group_wait: 'five' is not a Prometheus duration"),
    ],
)  # fmt: skip
def test_bad_routing_is_refused_with_a_clear_message(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    problems = bad_routing(tmp_path, new, old)
    assert any(p.startswith(message) for p in problems), problems


def test_receivers_pass_alertmanager_configs_through(tmp_path: Path) -> None:
    """The paging issue adds PagerDuty as written in routing.yaml."""
    text = build.ROUTING_FILE.read_text().replace(
        "  oncall-page:\n    control_plane: true",
        "  oncall-page:\n    control_plane: true\n    pagerduty_configs:\n"
        "      - routing_key_file: /run/secrets/pd\n        severity: critical",
    )
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    config = routing.alertmanager_config(routing.load(path), base_url="http://cp:8000")
    [page] = [r for r in config["receivers"] if r["name"] == "oncall-page"]
    assert page["pagerduty_configs"] == [
        {"routing_key_file": "/run/secrets/pd", "severity": "critical"}
    ]
    assert page["webhook_configs"] == [
        {"url": "http://cp:8000/api/v1/alerts/webhook", "send_resolved": True}
    ]
