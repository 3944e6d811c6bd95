"""Who gets paged, from the escalation file alone: for a service at a moment,
the person on call at each level (in their own time zone), and whether quiet
hours hold a non-critical page until they end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alerts.escalation import Escalation, Level

CRITICAL = "critical"


@dataclass(frozen=True)
class OnCall:
    handle: str
    name: str
    email: str
    time_zone: str
    local_time: datetime  # the moment asked about, on the responder's clock
    via: str  # "schedule summit-primary (layer weekdays)" or "directly"


@dataclass(frozen=True)
class LevelAnswer:
    number: int
    delay_minutes: int
    after_minutes: int  # when this level is paged, counted from the trigger (first loop)
    people: list[OnCall]
    gaps: list[str]  # schedules with nobody on call at that moment


@dataclass(frozen=True)
class Answer:
    service: str
    at: datetime
    policy: str
    loops: int
    levels: list[LevelAnswer]
    quiet_hours: bool
    held_until: datetime | None  # when a held non-critical page is delivered
    quiet_time_zone: str | None


def who(escalation: Escalation, *, service: str, at: datetime) -> Answer:
    """Raises KeyError for an unknown service."""
    found = escalation.service(service)
    policy = escalation.policies[found.policy]
    at = at.astimezone(UTC)
    levels, after = [], 0
    for number, level in enumerate(policy.levels, start=1):
        levels.append(_level(escalation, level, number, after, at))
        after += level.delay_minutes
    held = found.quiet_hours.holds(at) if found.quiet_hours else None
    zone = found.quiet_hours.time_zone if found.quiet_hours else None
    return Answer(found.key, at, policy.key, policy.loops, levels, held is not None, held, zone)


def _level(
    escalation: Escalation, level: Level, number: int, after: int, at: datetime
) -> LevelAnswer:
    people, gaps = [], []
    for target in level.targets:
        if target.kind == "user":
            people.append(_person(escalation, target.key, at, "directly"))
            continue
        schedule = escalation.schedules[target.key]
        on_call = schedule.on_call(at)
        if on_call is None:
            gaps.append(target.key)
            continue
        handle, layer = on_call
        people.append(_person(escalation, handle, at, f"schedule {target.key} (layer {layer})"))
    return LevelAnswer(number, level.delay_minutes, after, people, gaps)


def _person(escalation: Escalation, handle: str, at: datetime, via: str) -> OnCall:
    user = escalation.users[handle]
    local = at.astimezone(ZoneInfo(user.time_zone))
    return OnCall(user.handle, user.name, user.email, user.time_zone, local, via)


def held_until(
    escalation: Escalation | None, *, service: str, severity: str, at: datetime
) -> datetime | None:
    """When a page of ``severity`` for ``service`` raised at ``at`` may go: None
    for now. Critical pages always go; others wait out the service's quiet hours.
    An unknown service has no quiet hours (its pages go now)."""
    if escalation is None or severity == CRITICAL or service not in escalation.services:
        return None
    quiet = escalation.services[service].quiet_hours
    return quiet.holds(at) if quiet else None
