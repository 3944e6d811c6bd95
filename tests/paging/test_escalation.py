"""Escalation as code: the file is checked with clear errors, and "who gets paged"
is answered from it alone, across a handoff, a daylight-saving change and quiet
hours in two time zones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from alerts import escalation, oncall
from alerts.escalation import EscalationError

FILE = """
users:
  ana: {name: Ana, email: ana@example.com, time_zone: Europe/London}
  ben: {name: Ben, email: ben@example.com, time_zone: Europe/London}
  cy: {name: Cy, email: cy@example.com, time_zone: America/New_York}
schedules:
  daily:
    time_zone: Europe/London
    layers:
      - name: rota
        start: "2026-03-23T09:00"
        turn: 1d
        users: [ana, ben]
escalation_policies:
  london:
    loops: 1
    levels:
      - delay_minutes: 10
        targets: [{schedule: daily}]
      - delay_minutes: 20
        targets: [{user: cy}]
services:
  summit:
    escalation_policy: london
    quiet_hours:
      time_zone: Europe/London
      intervals:
        - weekdays: ["monday:friday"]
          times: ["00:00-08:00", "19:00-24:00"]
        - weekdays: [saturday, sunday]
  ingest:
    escalation_policy: london
    quiet_hours:
      time_zone: America/New_York
      intervals:
        - times: ["00:00-07:00", "22:00-24:00"]
"""


def load(text: str = FILE) -> escalation.Escalation:
    return escalation.parse(yaml.safe_load(text))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def first(at: str, service: str = "summit") -> str:
    answer = oncall.who(load(), service=service, at=utc(at))
    return answer.levels[0].people[0].handle


def test_the_shipped_file_is_valid_and_names_the_default_service() -> None:
    shipped = escalation.load()
    assert escalation.DEFAULT_SERVICE in shipped.services


def test_the_rotation_hands_off_at_its_time() -> None:
    # Mon 23 March 2026, London is on GMT: the 09:00 handoff is 09:00 UTC.
    assert first("2026-03-24T08:59") == "ana"
    assert first("2026-03-24T09:00") == "ben"
    assert first("2026-03-25T09:00") == "ana"


def test_the_handoff_keeps_its_wall_clock_time_across_the_clocks_going_forward() -> None:
    # 29 March 2026: London moves to BST. 09:00 local is now 08:00 UTC.
    # Saturday 28th 09:00 began Ben's turn (the sixth since the start); Ana's next
    # begins at 09:00 BST on the 29th, not at 10:00 BST as 24 h of seconds would say.
    assert first("2026-03-29T07:59") == "ben"  # 08:59 BST
    assert first("2026-03-29T08:00") == "ana"  # 09:00 BST
    answer = oncall.who(load(), service="summit", at=utc("2026-03-29T08:00"))
    person = answer.levels[0].people[0]
    assert person.local_time.isoformat() == "2026-03-29T09:00:00+01:00"


def test_each_level_answers_in_the_responders_own_time_zone() -> None:
    answer = oncall.who(load(), service="summit", at=utc("2026-06-01T12:00"))
    second = answer.levels[1]
    assert second.after_minutes == 10
    [cy] = second.people
    assert (cy.handle, cy.local_time.isoformat()) == ("cy", "2026-06-01T08:00:00-04:00")
    assert cy.via == "directly"
    assert answer.levels[0].people[0].via == "schedule daily (layer rota)"


@pytest.mark.parametrize(
    ("service", "at", "held_until"),
    [
        # London: Friday 20:00 BST is quiet until Monday 08:00 BST.
        ("summit", "2026-06-05T19:00", "2026-06-08T07:00:00+00:00"),
        ("summit", "2026-06-08T07:00", None),  # Monday 08:00 BST: working hours
        ("summit", "2026-06-08T06:59", "2026-06-08T07:00:00+00:00"),
        # New York: 23:00 EDT (03:00 UTC) is quiet until 07:00 EDT (11:00 UTC).
        ("ingest", "2026-06-09T03:00", "2026-06-09T11:00:00+00:00"),
        # The same instant is working hours in London and quiet in New York.
        ("summit", "2026-06-09T10:30", None),
        ("ingest", "2026-06-09T10:30", "2026-06-09T11:00:00+00:00"),
    ],
)
def test_quiet_hours_hold_in_the_services_own_time_zone(
    service: str, at: str, held_until: str | None
) -> None:
    answer = oncall.who(load(), service=service, at=utc(at))
    found = answer.held_until.isoformat() if answer.held_until else None
    assert found == held_until
    assert answer.quiet_hours is (held_until is not None)


def test_quiet_hours_never_hold_a_critical_page() -> None:
    at = utc("2026-06-06T03:00")  # Saturday night
    assert oncall.held_until(load(), service="summit", severity="critical", at=at) is None
    held = oncall.held_until(load(), service="summit", severity="warning", at=at)
    assert held == utc("2026-06-08T07:00")


def bad(change: dict[str, Any]) -> list[str]:
    raw = yaml.safe_load(FILE)
    for path, value in change.items():
        node = raw
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    with pytest.raises(EscalationError) as caught:
        escalation.parse(raw)
    return caught.value.problems


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"escalation_policies.london.levels.0.targets": []},
         "escalation_policies.london.levels[0]: a level needs at least one target"),
        ({"escalation_policies.london.levels.1.targets": [{"user": "zed"}]},
         "escalation_policies.london.levels[1].targets[0]: unknown user 'zed'"),
        ({"schedules.daily.layers.0.users": ["ana", "zed"]},
         "schedules.daily.layers[0]: unknown user 'zed'"),
        ({"schedules.daily.time_zone": "Mars/Olympus"},
         "schedules.daily: time zone 'Mars/Olympus' is not a time zone"),
        ({"services.summit.escalation_policy": "nope"},
         "services.summit: escalation policy 'nope' is not defined"),
        ({"schedules.daily.layers.0.turn": "fortnightly"},
         "schedules.daily.layers[0].turn: 'fortnightly' is not a turn length"),
        ({"users.ana.email": "ana"}, "users.ana: email 'ana' is not an e-mail address"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_with_a_clear_message(change: dict[str, Any], message: str) -> None:
    problems = bad(change)
    assert any(p.startswith(message) for p in problems), problems


def test_overlapping_layers_are_refused() -> None:
    raw = yaml.safe_load(FILE)
    raw["schedules"]["daily"]["layers"].append(
        {"name": "days", "start": "2026-03-23T09:00", "turn": "1w", "users": ["cy"],
         "restrictions": [{"weekdays": ["monday"], "times": ["09:00-10:00"]}]}
    )  # fmt: skip
    with pytest.raises(EscalationError) as caught:
        escalation.parse(raw)
    assert caught.value.problems == [
        "schedules.daily: layers 'rota' and 'days' overlap (monday 09:00-10:00)"
    ]


def test_layers_that_take_turns_through_the_day_do_not_overlap() -> None:
    shipped = escalation.load()
    schedule = shipped.schedules["summit-primary"]
    assert len(schedule.layers) == 2
    # Every hour of a week has exactly one person on call.
    for hour in range(7 * 24):
        at = utc("2026-11-30T00:00") + hour * (utc("2026-01-01T01:00") - utc("2026-01-01T00:00"))
        assert schedule.on_call(at) is not None, at


def test_every_problem_is_reported_at_once() -> None:
    problems = bad({"schedules.daily.time_zone": "Nowhere/Else", "users.ben.email": "x"})
    assert len(problems) == 2
