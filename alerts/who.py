"""Where would an alert go at a given moment? Walks an Alertmanager config's route
tree as Alertmanager does (first matching child wins unless ``continue``; a
route without a receiver inherits its parent's) and checks the matched route's
``mute_time_intervals``/``active_time_intervals`` in each interval's time zone.

Supports what ``alerts.routing`` generates: ``matchers`` (=, !=, =~, !~) and the
legacy ``match``/``match_re``; time intervals with ``weekdays`` and ``times``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.routing import WEEKDAYS, matcher_parts


@dataclass(frozen=True)
class Destination:
    path: tuple[int, ...]  # child indexes from the root: () is the root route
    receiver: str
    matchers: tuple[str, ...]
    muted_by: tuple[str, ...]  # the time intervals that silence it at that moment

    @property
    def muted(self) -> bool:
        return bool(self.muted_by)


def who(config: Mapping[str, Any], labels: Mapping[str, str], at: datetime) -> list[Destination]:
    """Every route the alert with ``labels`` reaches (several with ``continue``)."""
    if at.tzinfo is None:
        raise ValueError("`at` needs a time zone")
    intervals = {entry["name"]: entry["time_intervals"] for entry in _intervals(config)}
    found = _walk(config["route"], labels, (), config["route"]["receiver"])
    return [_muting(found_route, intervals, at) for found_route in found]


def _intervals(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [*config.get("time_intervals", []), *config.get("mute_time_intervals", [])]


@dataclass(frozen=True)
class _Found:
    route: Mapping[str, Any]
    path: tuple[int, ...]
    receiver: str


def _walk(
    route: Mapping[str, Any], labels: Mapping[str, str], path: tuple[int, ...], receiver: str
) -> list[_Found]:
    receiver = route.get("receiver", receiver)
    found: list[_Found] = []
    for index, child in enumerate(route.get("routes") or []):
        if not matches(child, labels):
            continue
        found.extend(_walk(child, labels, (*path, index), receiver))
        if not child.get("continue", False):
            break
    return found or [_Found(route, path, receiver)]


def matches(route: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for matcher in route.get("matchers") or []:
        name, op, value = matcher_parts(matcher)
        if not _test(labels.get(name, ""), op, value):
            return False
    exact = all(labels.get(k, "") == v for k, v in (route.get("match") or {}).items())
    regex = all(
        re.fullmatch(v, labels.get(k, "")) for k, v in (route.get("match_re") or {}).items()
    )
    return exact and regex


def _test(actual: str, op: str, value: str) -> bool:
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    hit = re.fullmatch(value, actual) is not None
    return hit if op == "=~" else not hit


def _muting(found: _Found, intervals: Mapping[str, Any], at: datetime) -> Destination:
    muted = [n for n in found.route.get("mute_time_intervals") or [] if _in(intervals[n], at)]
    active = found.route.get("active_time_intervals") or []
    if active and not any(_in(intervals[n], at) for n in active):
        muted.append("outside " + ", ".join(active))
    return Destination(
        found.path,
        found.receiver,
        tuple(found.route.get("matchers") or ()),
        tuple(muted),
    )


def _in(entries: list[Mapping[str, Any]], at: datetime) -> bool:
    return any(_in_one(entry, at) for entry in entries)


def _in_one(entry: Mapping[str, Any], at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(entry.get("location", "UTC")))
    days = entry.get("weekdays")
    weekday = (local.weekday() + 1) % 7  # Alertmanager counts from Sunday
    if days and not any(_day_in(weekday, span) for span in days):
        return False
    times = entry.get("times")
    minute = local.hour * 60 + local.minute
    return not times or any(
        _minutes(t["start_time"]) <= minute < _minutes(t["end_time"]) for t in times
    )


def _day_in(weekday: int, span: str) -> bool:
    first, _, last = span.partition(":")
    low, high = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
    return low <= weekday <= high


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def parse_labels(text: str) -> dict[str, str]:
    """``"severity=ticket,sloth_id=summit-availability"`` -> a dict; raises ValueError."""
    labels = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name.strip()):
            raise ValueError(f"{part!r} is not NAME=VALUE")
        labels[name.strip()] = value.strip().strip('"')
    return labels


def parse_at(text: str, default_zone: str) -> datetime:
    """An ISO time; without an offset it is read in ``default_zone`` (the responders')."""
    at = datetime.fromisoformat(text)
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(default_zone))
