"""What the probe record says over time: uptime, recent durations, daily uptime,
and one run's step waterfall. Plain values for the pages; imports no Flask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from probes.models import ProbeRun


@dataclass(frozen=True)
class Point:
    run_id: str
    started_at: datetime
    ms: float
    passed: bool
    trigger: str


@dataclass(frozen=True)
class Uptime:
    runs: int
    passed: int

    @property
    def ratio(self) -> float | None:
        return self.passed / self.runs if self.runs else None


@dataclass(frozen=True)
class Day:
    day: date
    runs: int
    passed: int

    @property
    def ratio(self) -> float | None:
        return self.passed / self.runs if self.runs else None


@dataclass(frozen=True)
class StepBar:
    """One step of a run on the waterfall: where it starts and how long it took,
    in ms and as a share (0-1000) of the run, for an SVG's x and width."""

    name: str
    start_ms: float
    ms: float
    ok: bool
    error: str | None
    x: float
    width: float


def points(*, session: Session, probe: str, since: datetime, limit: int = 2000) -> list[Point]:
    """The probe's runs since ``since``, oldest first (at most ``limit``, the newest)."""
    rows = session.execute(
        select(ProbeRun.id, ProbeRun.started_at, ProbeRun.duration_ms, ProbeRun.status,
               ProbeRun.trigger)
        .where(ProbeRun.probe == probe, ProbeRun.started_at >= since)
        .order_by(ProbeRun.started_at.desc())
        .limit(limit)
    )  # fmt: skip
    found = [Point(r.id, r.started_at, r.duration_ms, r.status == "pass", r.trigger) for r in rows]
    return found[::-1]


def uptime(*, session: Session, probe: str, since: datetime) -> Uptime:
    runs, passed = session.execute(
        select(func.count(), func.coalesce(func.sum(_passed()), 0)).where(
            ProbeRun.probe == probe, ProbeRun.started_at >= since
        )
    ).one()
    return Uptime(int(runs), int(passed))


def _passed() -> ColumnElement[int]:
    return case((ProbeRun.status == "pass", 1), else_=0)


def daily(
    *, session: Session, probes: tuple[str, ...], days: int, now: datetime, trigger: str = ""
) -> list[Day]:
    """One Day per UTC day of the last ``days`` (today last), over ``probes``' runs
    (only runs with ``trigger``, when given); a day with no runs has runs=0."""
    first = (now - timedelta(days=days - 1)).date()
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    day = _utc_day(session)
    statement = (
        select(day, func.count(), func.coalesce(func.sum(_passed()), 0))
        .where(ProbeRun.probe.in_(probes), ProbeRun.started_at >= since)
        .group_by(day)
    )
    if trigger:
        statement = statement.where(ProbeRun.trigger == trigger)
    counts = {_as_date(d): (int(n), int(p)) for d, n, p in session.execute(statement)}
    return [
        Day(first + timedelta(days=i), *counts.get(first + timedelta(days=i), (0, 0)))
        for i in range(days)
    ]


def _utc_day(session: Session) -> ColumnElement[Any]:
    # SQLite keeps UTC as naive text; PostgreSQL's date() of a timestamptz would
    # use the session's time zone, so name UTC there.
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", ProbeRun.started_at))
    return func.date(ProbeRun.started_at)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def first_run_at(*, session: Session, probes: tuple[str, ...]) -> datetime | None:
    found: datetime | None = session.scalar(
        select(func.min(ProbeRun.started_at)).where(ProbeRun.probe.in_(probes))
    )
    return found


def waterfall(steps: list[dict[str, Any]]) -> list[StepBar]:
    """Steps run one after another: each starts where the previous ended."""
    total = sum(float(step["ms"]) for step in steps) or 1.0
    bars, start = [], 0.0
    for step in steps:
        ms = float(step["ms"])
        bars.append(
            StepBar(str(step["name"]), start, ms, bool(step["ok"]), step.get("error"),
                    round(start / total * 1000, 2), max(round(ms / total * 1000, 2), 2.0))
        )  # fmt: skip
        start += ms
    return bars


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]
