"""The public status page's facts: per component, its state now and its daily
uptime over the last 90 days, computed from the probe record (as Gatus and
Uptime Kuma do). Nothing tenant-specific: states and ratios only, never a
run's error text (which may quote a tenant's data). Imports no Flask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.ops.history import Day, daily, first_run_at
from app.ops.service import SchedulerFacts
from probes import service
from probes.models import ProbeRun

DAYS = 90
GOOD, FAIR = 0.995, 0.95  # a day at or above GOOD is green; at or above FAIR, amber


@dataclass(frozen=True)
class Component:
    slug: str
    name: str
    description: str
    probes: tuple[str, ...]  # none: the probes' own schedule is what is watched


COMPONENTS = (
    Component(
        "tenant-surface", "Tenant surface",
        "Logging in, searching and opening an entity, checked in a real browser.",
        ("golden-path",),
    ),
    Component(
        "policy-decisions", "Policy decisions",
        "The decision API answers as it must, within its time budget.", ("policy",),
    ),
    Component("probes", "Probes", "The synthetic checks above run on schedule.", ()),
)  # fmt: skip
STATES = {
    "operational": "Operational",
    "degraded": "Degraded",
    "outage": "Outage",
    "paused": "Not scheduled",
    "unknown": "No data yet",
}
_WORST = ("outage", "degraded", "unknown", "operational")


@dataclass(frozen=True)
class DayBar:
    day: date
    ratio: float | None
    level: str  # good | fair | poor | none
    label: str


@dataclass(frozen=True)
class ComponentStatus:
    component: Component
    state: str
    bars: list[DayBar]

    @property
    def state_label(self) -> str:
        return STATES[self.state]

    @property
    def uptime(self) -> float | None:
        """The mean of the days that have data."""
        known = [bar.ratio for bar in self.bars if bar.ratio is not None]
        return sum(known) / len(known) if known else None


def board(
    *, session: Session, intervals: dict[str, int], facts: SchedulerFacts, now: datetime
) -> list[ComponentStatus]:
    found = []
    for component in COMPONENTS:
        if component.probes:
            found.append(_probed(session, component, now))
        else:
            found.append(_schedule(session, component, intervals, facts, now))
    return found


def _probed(session: Session, component: Component, now: datetime) -> ComponentStatus:
    states = []
    for probe in component.probes:
        status, _incident = service.status(session=session, probe=probe)
        states.append({"red": "outage", "failing": "degraded", "green": "operational"}.get(
            status, "unknown"))  # fmt: skip
    state = next(s for s in _WORST if s in states) if states else "unknown"
    days = daily(session=session, probes=component.probes, days=DAYS, now=now)
    return ComponentStatus(component, state, [_bar(day, "runs passed") for day in days])


def _bar(day: Day, what: str) -> DayBar:
    ratio = day.ratio
    if ratio is None:
        return DayBar(day.day, None, "none", f"{day.day:%d %b %Y}: no data")
    level = "good" if ratio >= GOOD else "fair" if ratio >= FAIR else "poor"
    label = f"{day.day:%d %b %Y}: {ratio:.2%} of {day.runs:,} {what}"
    return DayBar(day.day, ratio, level, label)


def _schedule(
    session: Session,
    component: Component,
    intervals: dict[str, int],
    facts: SchedulerFacts,
    now: datetime,
) -> ComponentStatus:
    """The probes' own health: is a leader scheduling them, did they run on time,
    and each day, the share of the scheduled runs that happened."""
    probes = tuple(intervals)
    started = first_run_at(session=session, probes=probes)
    days = daily(session=session, probes=probes, days=DAYS, now=now, trigger="schedule")
    bars = [_schedule_bar(day, intervals, started, now) for day in days]
    return ComponentStatus(component, _schedule_state(session, intervals, facts, now), bars)


def _schedule_bar(
    day: Day, intervals: dict[str, int], started: datetime | None, now: datetime
) -> DayBar:
    begin = datetime(day.day.year, day.day.month, day.day.day, tzinfo=UTC)
    begin, end = max(begin, started or now), min(begin + timedelta(days=1), now)
    seconds = (end - begin).total_seconds()
    expected = sum(seconds / interval for interval in intervals.values())
    if started is None or expected < 1:
        return DayBar(day.day, None, "none", f"{day.day:%d %b %Y}: no data")
    return _ran(day, min(1.0, day.runs / expected))


def _ran(day: Day, ratio: float) -> DayBar:
    level = "good" if ratio >= GOOD else "fair" if ratio >= FAIR else "poor"
    return DayBar(day.day, ratio, level, f"{day.day:%d %b %Y}: {ratio:.1%} of scheduled runs ran")


def _schedule_state(
    session: Session, intervals: dict[str, int], facts: SchedulerFacts, now: datetime
) -> str:
    if not facts.enabled:
        return "paused"
    if facts.leader is None:
        return "outage"
    for probe, interval in intervals.items():
        latest = session.scalar(
            select(func.max(ProbeRun.started_at)).where(
                ProbeRun.probe == probe, ProbeRun.trigger == "schedule"
            )
        )
        # Late: two intervals and a minute (a slow browser run) without a run.
        if latest is None or latest < now - timedelta(seconds=2 * interval + 60):
            return "degraded"
    return "operational"
