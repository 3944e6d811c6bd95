"""Alertmanager's configuration from ``alerts/routing.yaml``.

The routing file says who gets what: receivers, one route per kind of alert
(``page`` or ``ticket``), and the responders' quiet hours in their time zone.
The generated config routes by those matchers; quiet hours become a
``time_intervals`` entry with a ``location`` that mutes ticket routes only (a
page route with quiet hours is refused); and an SLO's ticket is inhibited
while its page fires (same ``sloth_id``), so one problem wakes one person once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from alerts import durations

QUIET_HOURS = "quiet-hours"
WEBHOOK_PATH = "/api/v1/alerts/webhook"  # the control plane's receiver (the paging issue)
TIMINGS = ("group_wait", "group_interval", "repeat_interval")
DEFAULT_TIMINGS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
# In Alertmanager's order: its weeks start on Sunday, so "monday:sunday" is refused.
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_TIME = re.compile(r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')
KINDS = ("page", "ticket")
PAGERDUTY_FIELDS = frozenset({"routing_key_file", "url", "ca_file", "severity"})


class RoutingError(ValueError):
    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Route:
    name: str
    kind: str  # page | ticket
    matchers: list[str]
    receiver: str
    quiet_hours: bool
    timings: dict[str, str]


@dataclass(frozen=True)
class Routing:
    location: str
    quiet_hours: list[dict[str, Any]]
    receivers: dict[str, dict[str, Any]]
    default_receiver: str
    group_by: list[str]
    routes: list[Route]
    timings: dict[str, str] = field(default_factory=dict)
    # Where Alertmanager reads the bearer token of the control plane's webhook.
    webhook_credentials_file: str | None = None


def load(path: Path) -> Routing:
    """Read and check ``routing.yaml``; every problem is reported at once."""
    raw = yaml.safe_load(path.read_text())
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise RoutingError(path, ["the routing file must be a mapping"])
    quiet = raw.get("quiet_hours") or {}
    location = str(quiet.get("location", ""))
    _check_location(location, problems)
    intervals = [_interval(i, problems) for i in quiet.get("intervals") or []]
    receivers = raw.get("receivers") or {}
    if not isinstance(receivers, dict) or not receivers:
        problems.append("receivers: name at least one receiver")
        receivers = {}
    routes = [_route(r, n, receivers, problems) for n, r in enumerate(raw.get("routes") or [])]
    default = str(raw.get("default_receiver", ""))
    if default not in receivers:
        problems.append(f"default_receiver {default!r} is not one of the receivers")
    if not any(route.quiet_hours for route in routes) and intervals:
        problems.append("quiet_hours are defined but no ticket route observes them")
    for name, receiver in receivers.items():
        _check_pagerduty(str(name), receiver, problems)
    control = raw.get("control_plane") or {}
    if problems:
        raise RoutingError(path, problems)
    return Routing(
        location=location,
        quiet_hours=intervals,
        receivers={str(k): dict(v or {}) for k, v in receivers.items()},
        default_receiver=default,
        group_by=[str(label) for label in raw.get("group_by") or ["alertname"]],
        routes=routes,
        timings=_timings(raw, problems),
        webhook_credentials_file=control.get("credentials_file") if control else None,
    )


def _check_pagerduty(name: str, raw: Any, problems: list[str]) -> None:
    """``pagerduty:`` (Summit's shorthand for one Events v2 pagerduty_config) needs
    the file Alertmanager reads the routing key from; nothing else is required."""
    found = (raw or {}).get("pagerduty") if isinstance(raw, dict) else None
    if found is None:
        return
    if not isinstance(found, dict) or not found.get("routing_key_file"):
        problems.append(f"receiver {name}: pagerduty needs routing_key_file (the key is a secret)")
        return
    extra = set(found) - PAGERDUTY_FIELDS
    if extra:
        problems.append(f"receiver {name}: pagerduty: unknown fields {sorted(extra)}")


def _check_location(location: str, problems: list[str]) -> None:
    try:
        ZoneInfo(location)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            f"quiet_hours.location {location!r} is not a time zone (e.g. Europe/Berlin)"
        )


def _interval(raw: Any, problems: list[str]) -> dict[str, Any]:
    """One quiet-hours entry: ``weekdays`` (names or ranges) and ``times`` (HH:MM-HH:MM)."""
    if not isinstance(raw, dict) or set(raw) - {"weekdays", "times"}:
        problems.append(f"quiet_hours.intervals: {raw!r}: only weekdays and times are supported")
        return {}
    out: dict[str, Any] = {}
    for day_range in raw.get("weekdays") or []:
        days = str(day_range).split(":")
        if any(d not in WEEKDAYS for d in days) or WEEKDAYS.index(days[0]) > WEEKDAYS.index(
            days[-1]
        ):
            problems.append(
                f"quiet_hours: {day_range!r} is not a weekday or a range of them "
                "(weeks start on Sunday, as in Alertmanager)"
            )
    if raw.get("weekdays"):
        out["weekdays"] = [str(day) for day in raw["weekdays"]]
    times = []
    for span in raw.get("times") or []:
        start, _, end = str(span).partition("-")
        if not (_TIME.match(start) and _TIME.match(end)) or start >= end or start == "24:00":
            problems.append(f"quiet_hours: {span!r} is not a time range like 22:00-24:00")
        times.append({"start_time": start, "end_time": end})
    if times:
        out["times"] = times
    return out


def _route(raw: Any, index: int, receivers: Any, problems: list[str]) -> Route:
    raw = raw if isinstance(raw, dict) else {}
    name = str(raw.get("name") or f"routes[{index}]")
    kind = str(raw.get("kind"))
    if kind not in KINDS:
        problems.append(f"route {name}: kind must be page or ticket, got {kind!r}")
    quiet = bool(raw.get("quiet_hours", False))
    if quiet and kind == "page":
        problems.append(f"route {name}: a page route may not observe quiet hours: pages always go")
    matchers = [str(m) for m in raw.get("matchers") or []]
    if not matchers or not all(_MATCHER.match(m) for m in matchers):
        problems.append(f"route {name}: matchers must be like 'severity=\"page\"'")
    receiver = str(raw.get("receiver"))
    if receiver not in receivers:
        problems.append(f"route {name}: receiver {receiver!r} is not one of the receivers")
    return Route(name, kind, matchers, receiver, quiet, _timings(raw, problems, name))


def _timings(raw: dict[str, Any], problems: list[str], where: str = "") -> dict[str, str]:
    out = {}
    for key in TIMINGS:
        if key in raw:
            try:
                durations.parse(str(raw[key]))
            except ValueError as exc:
                problems.append(f"{where or 'root'}: {key}: {exc}")
            out[key] = str(raw[key])
    return out


def alertmanager_config(
    routing: Routing, *, base_url: str, time_scale: float = 1.0, secrets_dir: Path | None = None
) -> dict[str, Any]:
    """The ``alertmanager.yml`` content; ``time_scale`` (tests only) shortens timings.
    ``secrets_dir`` moves every secret file the routing names (the webhook's bearer
    token, PagerDuty routing keys) into that folder, keeping each file's name."""

    def timed(values: dict[str, str]) -> dict[str, str]:
        return {k: _scaled(v, time_scale) for k, v in values.items()}

    root: dict[str, Any] = {
        "receiver": routing.default_receiver,
        "group_by": routing.group_by,
        **timed({**DEFAULT_TIMINGS, **routing.timings}),
        "routes": [_am_route(route, timed) for route in routing.routes],
    }
    config: dict[str, Any] = {
        "global": {"resolve_timeout": _scaled("5m", time_scale)},
        "route": root,
        "inhibit_rules": [
            {
                # One problem, one notification: while an SLO pages, its ticket waits.
                "source_matchers": ['sloth_severity="page"'],
                "target_matchers": ['sloth_severity="ticket"'],
                "equal": ["sloth_id"],
            }
        ],
        "receivers": [
            _receiver(n, r, base_url, routing.webhook_credentials_file)
            for n, r in sorted(routing.receivers.items())
        ],
    }
    if routing.quiet_hours:
        intervals = [{**i, "location": routing.location} for i in routing.quiet_hours]
        config["time_intervals"] = [{"name": QUIET_HOURS, "time_intervals": intervals}]
    if secrets_dir is not None:
        _relocate_secrets(config["receivers"], secrets_dir)
    return config


SECRET_FILE_KEYS = frozenset({"credentials_file", "routing_key_file", "service_key_file"})


def secret_files(receivers: list[dict[str, Any]]) -> list[str]:
    """Every secret file path the receivers name, in order, once each."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SECRET_FILE_KEYS and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(receivers)
    return list(dict.fromkeys(found))


def _relocate_secrets(node: Any, secrets_dir: Path) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SECRET_FILE_KEYS and isinstance(value, str):
                node[key] = str(secrets_dir / Path(value).name)
            else:
                _relocate_secrets(value, secrets_dir)
    elif isinstance(node, list):
        for item in node:
            _relocate_secrets(item, secrets_dir)


def _am_route(route: Route, timed: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"receiver": route.receiver, "matchers": route.matchers}
    out.update(timed(route.timings))
    if route.quiet_hours:
        out["mute_time_intervals"] = [QUIET_HOURS]
    return out


def _receiver(
    name: str, raw: dict[str, Any], base_url: str, credentials_file: str | None = None
) -> dict[str, Any]:
    """A receiver from the routing file: ``control_plane: true`` is a webhook to the
    control plane; ``pagerduty:`` pages through Events v2 with the runbook and
    dashboard links; any Alertmanager ``*_configs`` pass through as written."""
    out: dict[str, Any] = {"name": name}
    pages_itself = bool(raw.get("pagerduty") or raw.get("pagerduty_configs"))
    if raw.get("control_plane"):
        # The control plane opens the same incident; told that Alertmanager pages
        # itself, it sends no second trigger (same dedup key either way).
        url = base_url.rstrip("/") + WEBHOOK_PATH + ("?paged=alertmanager" if pages_itself else "")
        webhook: dict[str, Any] = {"url": url, "send_resolved": True}
        if credentials_file:
            webhook["http_config"] = {
                "authorization": {"type": "Bearer", "credentials_file": credentials_file}
            }
        out["webhook_configs"] = [webhook]
    if raw.get("pagerduty"):
        out["pagerduty_configs"] = [_pagerduty(raw["pagerduty"], base_url)]
    for key, value in sorted(raw.items()):
        if key.endswith("_configs"):
            out[key] = [*out.get(key, []), *value]
    return out


def _pagerduty(raw: dict[str, Any], base_url: str) -> dict[str, Any]:
    """One Events API v2 config: its dedup key is Alertmanager's (the SHA-256 of the
    group key), which the webhook's incident uses too."""
    config: dict[str, Any] = {
        "routing_key_file": raw["routing_key_file"],
        "send_resolved": True,
        "severity": raw.get("severity", "critical"),
        "client": "Summit (Alertmanager)",
        "client_url": base_url.rstrip("/") + "/ops",
        "description": "{{ or .CommonAnnotations.title .CommonLabels.alertname }}",
        "class": "slo",
        "component": "{{ .CommonLabels.sloth_id }}",
        "group": "{{ .CommonLabels.sloth_service }}",
        "links": [
            {"href": "{{ .CommonAnnotations.runbook_url }}", "text": "Runbook"},
            {"href": "{{ .CommonAnnotations.dashboard_url }}", "text": "Dashboard"},
        ],
    }
    if raw.get("url"):
        config["url"] = raw["url"]
    if raw.get("ca_file"):
        config["http_config"] = {"tls_config": {"ca_file": raw["ca_file"]}}
    return config


def _scaled(text: str, scale: float) -> str:
    if scale == 1:
        return text
    return durations.format(max(durations.parse(text) / scale, timedelta(seconds=1)))


def route_for(routing: Routing, name: str) -> Route:
    return next(route for route in routing.routes if route.name == name)


def matcher_parts(matcher: str) -> tuple[str, str, str]:
    """``'severity="page"'`` -> ``("severity", "=", "page")``."""
    match = _MATCHER.match(matcher)
    if match is None:
        raise ValueError(f"not a matcher: {matcher!r}")
    return match.group(1), match.group(2), match.group(3)
