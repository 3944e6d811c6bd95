"""Escalation as code: ``alerts/escalation.yaml`` read, checked, and asked "who
gets paged?" from the file alone.

The file names users (a handle, name, e-mail, time zone), on-call schedules
(layers with a start, a turn length, the users in order and optional
restrictions, in the schedule's time zone), escalation policies (levels with a
delay and targets, repeated ``loops`` times) and services (an escalation policy
and quiet hours). Problems are reported all at once, each naming where it is.

Time rules, stated once: a layer's turns are counted in wall-clock time in the
schedule's zone, so a 09:00 handoff stays at 09:00 across a daylight-saving
change (as PagerDuty renders a rotation). Quiet hours hold non-critical pages
until they end; a held page is delivered then, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from alerts import weekly
from alerts.weekly import Window

FILE: Final = Path(__file__).resolve().parent / "escalation.yaml"
DEFAULT_SERVICE: Final = "summit"
_TURN = re.compile(r"^(\d+)([hdw])$")
_TURN_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HANDLE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
MAX_LOOPS: Final = 9  # PagerDuty's own limit


class EscalationError(ValueError):
    def __init__(self, path: Path | str, problems: list[str]) -> None:
        super().__init__(f"{path}:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class User:
    handle: str
    name: str
    email: str
    time_zone: str


@dataclass(frozen=True)
class Layer:
    name: str
    start: datetime  # aware, in the schedule's zone
    turn: timedelta
    users: tuple[str, ...]
    restrictions: tuple[Window, ...] = ()  # empty: the whole week
    end: datetime | None = None

    def on_call(self, at: datetime) -> str | None:
        """The handle on call in this layer at ``at``, or None when it does not cover it."""
        zone = self.start.tzinfo
        local = at.astimezone(zone)
        if at < self.start or (self.end is not None and at >= self.end):
            return None
        if self.restrictions and not weekly.covers(self.restrictions, local):
            return None
        # Wall-clock arithmetic: the handoff keeps its local time across DST.
        elapsed = local.replace(tzinfo=None) - self.start.replace(tzinfo=None)
        return self.users[int(elapsed // self.turn) % len(self.users)]


@dataclass(frozen=True)
class Schedule:
    key: str
    name: str
    time_zone: str
    layers: tuple[Layer, ...]

    def on_call(self, at: datetime) -> tuple[str, str] | None:
        """(handle, layer name) on call at ``at``; layers never overlap (checked)."""
        for layer in self.layers:
            handle = layer.on_call(at)
            if handle is not None:
                return handle, layer.name
        return None


@dataclass(frozen=True)
class Target:
    kind: str  # user | schedule
    key: str


@dataclass(frozen=True)
class Level:
    delay_minutes: int
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Policy:
    key: str
    name: str
    loops: int
    levels: tuple[Level, ...]


@dataclass(frozen=True)
class QuietHours:
    time_zone: str
    windows: tuple[Window, ...]

    def holds(self, at: datetime) -> datetime | None:
        """When quiet hours that hold ``at`` end (the held page goes then), else None."""
        zone = ZoneInfo(self.time_zone)
        end = weekly.window_end(self.windows, at.astimezone(zone))
        return None if end is None else end.astimezone(UTC)


@dataclass(frozen=True)
class Service:
    key: str
    name: str
    description: str
    policy: str
    quiet_hours: QuietHours | None = None


@dataclass(frozen=True)
class Escalation:
    users: dict[str, User] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    def service(self, key: str) -> Service:
        if key not in self.services:
            raise KeyError(f"no service {key!r} in the escalation file; known: "
                           f"{', '.join(sorted(self.services)) or 'none'}")  # fmt: skip
        return self.services[key]


def load(path: Path = FILE) -> Escalation:
    """Read and check the file; every problem is reported at once."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise EscalationError(path, [f"not YAML: {exc}"]) from None
    return parse(raw, source=str(path))


def parse(raw: Any, *, source: str = "escalation.yaml") -> Escalation:
    if not isinstance(raw, dict):
        raise EscalationError(source, ["the file must be a mapping"])
    problems: list[str] = []
    unknown = set(raw) - {"users", "schedules", "escalation_policies", "services"}
    if unknown:
        problems.append(f"unknown sections {sorted(unknown)}")
    users = {str(k): _user(str(k), v, problems) for k, v in _mapping(raw, "users", problems)}
    schedules = {str(k): _schedule(str(k), v, users, problems)
                 for k, v in _mapping(raw, "schedules", problems)}  # fmt: skip
    policies = {str(k): _policy(str(k), v, users, schedules, problems)
                for k, v in _mapping(raw, "escalation_policies", problems)}  # fmt: skip
    services = {str(k): _service(str(k), v, policies, problems)
                for k, v in _mapping(raw, "services", problems)}  # fmt: skip
    if problems:
        raise EscalationError(source, problems)
    return Escalation(users, schedules, policies, services)


def _mapping(raw: dict[str, Any], section: str, problems: list[str]) -> list[tuple[Any, Any]]:
    value = raw.get(section) or {}
    if not isinstance(value, dict):
        problems.append(f"{section}: must be a mapping of name -> definition")
        return []
    for key in value:
        if not _HANDLE.match(str(key)):
            problems.append(f"{section}.{key}: names are lower-case letters, digits, - _ .")
    return list(value.items())


def _zone(text: Any, where: str, problems: list[str]) -> str:
    try:
        ZoneInfo(str(text))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{where}: time zone {text!r} is not a time zone (e.g. Europe/London)")
        return "UTC"
    return str(text)


def _fields(raw: Any, where: str, allowed: set[str], problems: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping")
        return {}
    extra = set(raw) - allowed
    if extra:
        problems.append(f"{where}: unknown fields {sorted(extra)}")
    return raw


def _user(key: str, raw: Any, problems: list[str]) -> User:
    where = f"users.{key}"
    raw = _fields(raw, where, {"name", "email", "time_zone"}, problems)
    email = str(raw.get("email", ""))
    if not _EMAIL.match(email):
        problems.append(f"{where}: email {email!r} is not an e-mail address")
    zone = _zone(raw.get("time_zone"), where, problems)
    return User(key, str(raw.get("name") or key), email, zone)


def _schedule(key: str, raw: Any, users: dict[str, User], problems: list[str]) -> Schedule:
    where = f"schedules.{key}"
    raw = _fields(raw, where, {"name", "time_zone", "layers"}, problems)
    zone = _zone(raw.get("time_zone"), where, problems)
    layers = [_layer(f"{where}.layers[{i}]", r, zone, users, problems)
              for i, r in enumerate(raw.get("layers") or [])]  # fmt: skip
    if not layers:
        problems.append(f"{where}: a schedule needs at least one layer")
    _check_overlaps(where, layers, problems)
    return Schedule(key, str(raw.get("name") or key), zone, tuple(layers))


def _layer(where: str, raw: Any, zone: str, users: dict[str, User], problems: list[str]) -> Layer:
    raw = _fields(raw, where, {"name", "start", "end", "turn", "users", "restrictions"}, problems)
    name = str(raw.get("name") or where.rsplit(".", 1)[-1])
    start = _local_time(raw.get("start"), zone, f"{where}.start", problems)
    end = _local_time(raw["end"], zone, f"{where}.end", problems) if raw.get("end") else None
    if end is not None and end <= start:
        problems.append(f"{where}: end must be after start")
    handles = tuple(str(u) for u in raw.get("users") or [])
    if not handles:
        problems.append(f"{where}: a layer needs at least one user")
    for handle in handles:
        if handle not in users:
            problems.append(f"{where}: unknown user {handle!r}")
    windows = weekly.parse_windows(raw.get("restrictions") or [], f"{where}.restrictions",
                                   problems)  # fmt: skip
    turn = _turn(raw.get("turn"), f"{where}.turn", problems)
    return Layer(name, start, turn, handles, tuple(windows), end)


def _local_time(text: Any, zone: str, where: str, problems: list[str]) -> datetime:
    """An ISO time; without an offset it is read in the schedule's zone."""
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError:
        problems.append(f"{where}: {text!r} is not an ISO time like 2026-01-05T09:00")
        return datetime(2000, 1, 1, tzinfo=ZoneInfo(zone))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(ZoneInfo(zone))


def _turn(text: Any, where: str, problems: list[str]) -> timedelta:
    match = _TURN.match(str(text))
    if match is None or int(match.group(1)) == 0:
        problems.append(f"{where}: {text!r} is not a turn length like 1w, 1d or 12h")
        return timedelta(weeks=1)
    return int(match.group(1)) * _TURN_UNITS[match.group(2)]


def _check_overlaps(where: str, layers: list[Layer], problems: list[str]) -> None:
    """Two layers may not both cover one moment: "who is on call" has one answer."""
    for i, first in enumerate(layers):
        for second in layers[i + 1 :]:
            if not _periods_meet(first, second):
                continue
            shared = weekly.intersection(first.restrictions or weekly.WHOLE_WEEK,
                                         second.restrictions or weekly.WHOLE_WEEK)  # fmt: skip
            if shared:
                problems.append(
                    f"{where}: layers {first.name!r} and {second.name!r} overlap "
                    f"({weekly.describe(shared[0])})"
                )


def _periods_meet(first: Layer, second: Layer) -> bool:
    first_ends_before = first.end is not None and first.end <= second.start
    second_ends_before = second.end is not None and second.end <= first.start
    return not (first_ends_before or second_ends_before)


def _policy(
    key: str, raw: Any, users: dict[str, User], schedules: dict[str, Schedule],
    problems: list[str],
) -> Policy:  # fmt: skip
    where = f"escalation_policies.{key}"
    raw = _fields(raw, where, {"name", "loops", "levels"}, problems)
    loops = raw.get("loops", 0)
    if not isinstance(loops, int) or not 0 <= loops <= MAX_LOOPS:
        problems.append(f"{where}: loops must be a whole number from 0 to {MAX_LOOPS}")
        loops = 0
    levels = [_level(f"{where}.levels[{i}]", r, users, schedules, problems)
              for i, r in enumerate(raw.get("levels") or [])]  # fmt: skip
    if not levels:
        problems.append(f"{where}: a policy needs at least one level")
    return Policy(key, str(raw.get("name") or key), loops, tuple(levels))


def _level(
    where: str, raw: Any, users: dict[str, User], schedules: dict[str, Schedule],
    problems: list[str],
) -> Level:  # fmt: skip
    raw = _fields(raw, where, {"delay_minutes", "targets"}, problems)
    delay = raw.get("delay_minutes", 30)
    if not isinstance(delay, int) or delay < 1:
        problems.append(f"{where}: delay_minutes must be a whole number of minutes, at least 1")
        delay = 30
    targets = []
    for index, target in enumerate(raw.get("targets") or []):
        found = _target(f"{where}.targets[{index}]", target, users, schedules, problems)
        if found is not None:
            targets.append(found)
    if not raw.get("targets"):
        problems.append(f"{where}: a level needs at least one target (a user or a schedule)")
    return Level(delay, tuple(targets))


def _target(
    where: str, raw: Any, users: dict[str, User], schedules: dict[str, Schedule],
    problems: list[str],
) -> Target | None:  # fmt: skip
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("user", "schedule"):
        problems.append(f"{where}: a target is {{user: HANDLE}} or {{schedule: NAME}}")
        return None
    kind, key = next(iter(raw.items()))
    known = users if kind == "user" else schedules
    if str(key) not in known:
        problems.append(f"{where}: unknown {kind} {key!r}")
        return None
    return Target(kind, str(key))


def _service(key: str, raw: Any, policies: dict[str, Policy], problems: list[str]) -> Service:
    where = f"services.{key}"
    raw = _fields(raw, where, {"name", "description", "escalation_policy", "quiet_hours"},
                  problems)  # fmt: skip
    policy = str(raw.get("escalation_policy", ""))
    if policy not in policies:
        problems.append(f"{where}: escalation policy {policy!r} is not defined")
    quiet = None
    if raw.get("quiet_hours"):
        quiet_raw = _fields(raw["quiet_hours"], f"{where}.quiet_hours",
                            {"time_zone", "intervals"}, problems)  # fmt: skip
        zone = _zone(quiet_raw.get("time_zone"), f"{where}.quiet_hours", problems)
        windows = weekly.parse_windows(quiet_raw.get("intervals") or [],
                                       f"{where}.quiet_hours.intervals", problems)  # fmt: skip
        quiet = QuietHours(zone, tuple(windows))
    description = str(raw.get("description") or "")
    return Service(key, str(raw.get("name") or key), description, policy, quiet)
