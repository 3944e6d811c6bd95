"""Weekly windows of wall-clock time ("monday:friday 09:00-17:00"), written as
Alertmanager writes its time intervals: weekday names or ranges (weeks start
on Sunday), times HH:MM-HH:MM with the start before the end (24:00 ends a day).
Used by layers' restrictions and services' quiet hours.

A window is (start, end) in minutes since Sunday 00:00, local wall-clock time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

WEEKDAYS: Final = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
DAY: Final = 1440
WEEK: Final = 7 * DAY
_TIME = re.compile(r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")

Window = tuple[int, int]
WHOLE_WEEK: Final[tuple[Window, ...]] = ((0, WEEK),)


def parse_windows(raw: Any, where: str, problems: list[str]) -> list[Window]:
    """``[{weekdays: [...], times: [...]}, ...]`` -> merged windows; problems appended."""
    if not isinstance(raw, list):
        problems.append(f"{where}: must be a list of {{weekdays, times}}")
        return []
    windows: list[Window] = []
    for index, entry in enumerate(raw):
        here = f"{where}[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"weekdays", "times"}:
            problems.append(f"{here}: only weekdays and times are supported")
            continue
        days = _days(entry.get("weekdays") or ["sunday:saturday"], here, problems)
        spans = _spans(entry.get("times") or ["00:00-24:00"], here, problems)
        windows += [(d * DAY + s, d * DAY + e) for d in days for s, e in spans]
    merged = merge(windows)
    if merged == list(WHOLE_WEEK):
        problems.append(f"{where}: covers the whole week")
    return merged


def _days(raw: Iterable[Any], where: str, problems: list[str]) -> list[int]:
    days: list[int] = []
    for text in raw:
        first, _, last = str(text).partition(":")
        last = last or first
        if (
            first not in WEEKDAYS
            or last not in WEEKDAYS
            or (WEEKDAYS.index(first) > WEEKDAYS.index(last))
        ):
            problems.append(
                f"{where}: {text!r} is not a weekday or a range of them "
                "(weeks start on Sunday, as in Alertmanager)"
            )
            continue
        days += range(WEEKDAYS.index(first), WEEKDAYS.index(last) + 1)
    return days


def _spans(raw: Iterable[Any], where: str, problems: list[str]) -> list[tuple[int, int]]:
    spans = []
    for text in raw:
        start, _, end = str(text).partition("-")
        if not (_TIME.match(start) and _TIME.match(end)) or start >= end or start == "24:00":
            problems.append(f"{where}: {text!r} is not a time range like 09:00-17:00")
            continue
        spans.append((_minutes(start), _minutes(end)))
    return spans


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def merge(windows: Iterable[Window]) -> list[Window]:
    """Sorted, with touching and overlapping windows joined."""
    out: list[Window] = []
    for start, end in sorted(windows):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def minute_of_week(local: datetime) -> float:
    day = local.isoweekday() % 7  # Sunday 0
    return day * DAY + local.hour * 60 + local.minute + local.second / 60


def covers(windows: Sequence[Window], local: datetime) -> bool:
    minute = minute_of_week(local)
    return any(start <= minute < end for start, end in windows)


def window_end(windows: Sequence[Window], local: datetime) -> datetime | None:
    """When the window holding ``local`` ends, following it across the week's end
    (Saturday night into Sunday morning); None when no window holds ``local``."""
    minute = minute_of_week(local)
    current = next(((s, e) for s, e in windows if s <= minute < e), None)
    if current is None:
        return None
    end = current[1]
    if end == WEEK and windows and windows[0][0] == 0:
        end = WEEK + windows[0][1]  # quiet on Saturday night runs on into Sunday
    week_start = local.replace(tzinfo=None, second=0, microsecond=0) - timedelta(
        minutes=int(minute)
    )
    return (week_start + timedelta(minutes=end)).replace(tzinfo=local.tzinfo)


def intersection(first: Sequence[Window], second: Sequence[Window]) -> list[Window]:
    shared = [(max(a, c), min(b, d)) for a, b in first for c, d in second if max(a, c) < min(b, d)]
    return merge(shared)


def describe(window: Window) -> str:
    """(1980, 2040) -> "monday 09:00-10:00"."""
    start, end = window
    day = WEEKDAYS[start // DAY]
    return f"{day} {_clock(start % DAY)}-{_clock(end - start // DAY * DAY)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}" if minutes < DAY else "24:00+"
