"""``summit paging plan|sync``: make PagerDuty's schedules, escalation policies and
services match the escalation file, through the REST API v2, idempotently.

Objects are found by name. Each one Summit writes carries, in its description,
a fingerprint of the fields Summit manages (``[summit:3f2a9c1b0d4e]``). So a
plan can tell the two reasons an object differs from the file: the file
changed (the object still matches its fingerprint: an update), or someone
changed the object by hand in PagerDuty (it no longer matches: drift, shown
field by field, and overwritten by sync). Users are never created: they are
looked up by e-mail, and one missing from PagerDuty stops the sync.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from alerts import weekly
from alerts.escalation import Escalation, Layer, Policy, Schedule, Service
from alerts.pagerduty import PagerDuty, PagingError

MARKER: Final = re.compile(r"\s*\[summit:([0-9a-f]{12})\]\s*$")
MANAGED: Final = "Managed by Summit (alerts/escalation.yaml): change the file, not this page."
ORDER: Final = ("schedules", "escalation_policies", "services")


@dataclass(frozen=True)
class Change:
    resource: str
    key: str
    name: str
    action: str  # create | update | unchanged
    drift: bool = False
    differences: tuple[str, ...] = ()
    ident: str | None = None


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[Change]:
        return [change for change in self.changes if change.action != "unchanged"]

    @property
    def drifted(self) -> list[Change]:
        return [change for change in self.changes if change.drift]


class SyncError(RuntimeError):
    pass


def fingerprint(normalised: dict[str, Any]) -> str:
    text = json.dumps(normalised, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --- the file, in the managed fields' terms (names, e-mails; never ids) ---------------------


def want_schedule(schedule: Schedule, users: dict[str, str]) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "time_zone": schedule.time_zone,
        "layers": [_want_layer(layer, users) for layer in schedule.layers],
    }


def _want_layer(layer: Layer, users: dict[str, str]) -> dict[str, Any]:
    return {
        "name": layer.name,
        "start": _utc(layer.start.isoformat()),
        "end": _utc(layer.end.isoformat()) if layer.end else None,
        "turn_seconds": int(layer.turn.total_seconds()),
        "users": [users[handle] for handle in layer.users],
        "restrictions": [_restriction(w) for w in layer.restrictions],
    }


def _restriction(window: weekly.Window) -> dict[str, Any]:
    start, end = window
    day = start // weekly.DAY
    minutes = start % weekly.DAY
    return {
        "type": "weekly_restriction",
        "start_day_of_week": day or 7,  # ISO: Monday 1
        "start_time_of_day": f"{minutes // 60:02d}:{minutes % 60:02d}:00",
        "duration_seconds": (end - start) * 60,
    }


def want_policy(policy: Policy, escalation: Escalation) -> dict[str, Any]:
    def target(kind: str, key: str) -> list[str]:
        if kind == "user":
            return ["user", escalation.users[key].email]
        return ["schedule", escalation.schedules[key].name]

    return {
        "name": policy.name,
        "num_loops": policy.loops,
        "rules": [
            {
                "delay": level.delay_minutes,
                "targets": [target(t.kind, t.key) for t in level.targets],
            }
            for level in policy.levels
        ],
    }


def want_service(service: Service, escalation: Escalation) -> dict[str, Any]:
    return {"name": service.name, "escalation_policy": escalation.policies[service.policy].name}


# --- PagerDuty's objects, in the same terms ------------------------------------------


@dataclass
class Remote:
    """What PagerDuty holds: objects by name per resource, and id -> name maps."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # e-mail -> id
    names: dict[str, str] = field(default_factory=dict)  # id -> name (or e-mail)


def read_remote(escalation: Escalation, client: PagerDuty) -> tuple[Remote, list[str]]:
    remote, problems = Remote(), []
    for user in escalation.users.values():
        found = [u for u in client.list("users", query=user.email) if u.get("email") == user.email]
        if not found:
            problems.append(
                f"user {user.handle} ({user.email}) is not in PagerDuty: invite them there first"
            )
            continue
        remote.users[user.email] = str(found[0]["id"])
        remote.names[str(found[0]["id"])] = user.email
    wanted = {
        "schedules": [s.name for s in escalation.schedules.values()],
        "escalation_policies": [p.name for p in escalation.policies.values()],
        "services": [s.name for s in escalation.services.values()],
    }
    for resource in ORDER:
        remote.objects[resource] = {}
        for name in wanted[resource]:
            for listed in client.list(resource, query=name):
                if listed.get("name") == name:
                    full = client.get(resource, str(listed["id"]))
                    remote.objects[resource][name] = full
                    remote.names[str(full["id"])] = name
    return remote, problems


def have(resource: str, found: dict[str, Any], remote: Remote) -> dict[str, Any]:
    if resource == "schedules":
        return {
            "name": found.get("name"),
            "time_zone": found.get("time_zone"),
            "layers": [_have_layer(layer, remote) for layer in found.get("schedule_layers", [])],
        }
    if resource == "escalation_policies":
        return {
            "name": found.get("name"),
            "num_loops": found.get("num_loops", 0),
            "rules": [
                {
                    "delay": rule.get("escalation_delay_in_minutes"),
                    "targets": [
                        [
                            t.get("type", "").split("_")[0],
                            remote.names.get(str(t.get("id")), t.get("id")),
                        ]
                        for t in rule.get("targets", [])
                    ],
                }
                for rule in found.get("escalation_rules", [])
            ],
        }
    policy = found.get("escalation_policy") or {}
    return {
        "name": found.get("name"),
        "escalation_policy": remote.names.get(str(policy.get("id")), policy.get("id")),
    }


def _have_layer(layer: dict[str, Any], remote: Remote) -> dict[str, Any]:
    return {
        "name": layer.get("name"),
        "start": _utc(layer.get("start")),
        "end": _utc(layer["end"]) if layer.get("end") else None,
        "turn_seconds": layer.get("rotation_turn_length_seconds"),
        "users": [
            remote.names.get(str(u["user"]["id"]), u["user"]["id"]) for u in layer.get("users", [])
        ],
        "restrictions": [
            {
                k: r.get(k)
                for k in ("type", "start_day_of_week", "start_time_of_day", "duration_seconds")
            }
            for r in layer.get("restrictions", [])
        ],
    }


def _utc(text: Any) -> str | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text)).astimezone(UTC).isoformat()


# --- plan and sync --------------------------------------------------------------------


def wanted(escalation: Escalation) -> dict[str, dict[str, dict[str, Any]]]:
    """resource -> our key -> the managed fields the file asks for."""
    emails = {handle: user.email for handle, user in escalation.users.items()}
    return {
        "schedules": {k: want_schedule(s, emails) for k, s in escalation.schedules.items()},
        "escalation_policies": {
            k: want_policy(p, escalation) for k, p in escalation.policies.items()
        },
        "services": {k: want_service(s, escalation) for k, s in escalation.services.items()},
    }


def plan(escalation: Escalation, client: PagerDuty) -> Plan:
    remote, problems = read_remote(escalation, client)
    out = Plan(problems=problems)
    for resource, objects in wanted(escalation).items():
        for key, desired in objects.items():
            out.changes.append(_compare(resource, key, desired, remote))
    return out


def _compare(resource: str, key: str, desired: dict[str, Any], remote: Remote) -> Change:
    found = remote.objects[resource].get(desired["name"])
    if found is None:
        return Change(resource, key, desired["name"], "create")
    actual = have(resource, found, remote)
    marker = MARKER.search(str(found.get("description") or ""))
    recorded = marker.group(1) if marker else None
    target = fingerprint(desired)
    drift = recorded is not None and recorded != fingerprint(actual)
    differences = tuple(_differences(actual, desired))
    action = "unchanged" if fingerprint(actual) == target and recorded == target else "update"
    return Change(resource, key, desired["name"], action, drift, differences, str(found["id"]))


def _differences(actual: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    out = []
    for name in desired:
        if actual.get(name) != desired[name]:
            was, now = json.dumps(actual.get(name))[:160], json.dumps(desired[name])[:160]
            out.append(f"{name}: {was} -> {now}")
    return out


def sync(escalation: Escalation, client: PagerDuty) -> Plan:
    """Apply the plan (schedules, then policies, then services); returns it."""
    found = plan(escalation, client)
    if found.problems:
        raise SyncError("cannot sync:\n  " + "\n  ".join(found.problems))
    remote, _ = read_remote(escalation, client)
    ids = {
        name: str(obj["id"]) for objects in remote.objects.values() for name, obj in objects.items()
    }
    for change in found.changes:
        if change.action == "unchanged":
            continue
        body = _body(change, escalation, remote.users, ids)
        try:
            if change.action == "create":
                created = client.create(change.resource, body)
                ids[change.name] = str(created["id"])
            else:
                client.update(change.resource, str(change.ident), body)
        except PagingError as exc:
            raise SyncError(f"{change.resource} {change.name}: {exc}") from None
    return found


def _body(
    change: Change, escalation: Escalation, users: dict[str, str], ids: dict[str, str]
) -> dict[str, Any]:
    desired = wanted(escalation)[change.resource][change.key]
    marker = f"[summit:{fingerprint(desired)}]"
    if change.resource == "schedules":
        schedule = escalation.schedules[change.key]
        return {
            "schedule": {
                "type": "schedule",
                "name": schedule.name,
                "time_zone": schedule.time_zone,
                "description": f"{MANAGED} {marker}",
                "schedule_layers": [
                    _layer_body(layer, escalation, users) for layer in schedule.layers
                ],
            }
        }
    if change.resource == "escalation_policies":
        policy = escalation.policies[change.key]
        return {
            "escalation_policy": {
                "type": "escalation_policy",
                "name": policy.name,
                "num_loops": policy.loops,
                "description": f"{MANAGED} {marker}",
                "escalation_rules": [
                    {
                        "escalation_delay_in_minutes": level.delay_minutes,
                        "targets": [
                            _target(t.kind, t.key, escalation, users, ids) for t in level.targets
                        ],
                    }
                    for level in policy.levels
                ],
            }
        }
    service = escalation.services[change.key]
    return {
        "service": {
            "type": "service",
            "name": service.name,
            "description": f"{service.description} {MANAGED} {marker}".strip(),
            "escalation_policy": {
                "type": "escalation_policy_reference",
                "id": ids[escalation.policies[service.policy].name],
            },
        }
    }


def _layer_body(layer: Layer, escalation: Escalation, users: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": layer.name,
        "start": layer.start.isoformat(),
        "rotation_virtual_start": layer.start.isoformat(),
        "rotation_turn_length_seconds": int(layer.turn.total_seconds()),
        "users": [
            {"user": {"type": "user_reference", "id": users[escalation.users[h].email]}}
            for h in layer.users
        ],
        "restrictions": [_restriction(w) for w in layer.restrictions],
    }
    if layer.end is not None:
        body["end"] = layer.end.isoformat()
    return body


def _target(
    kind: str, key: str, escalation: Escalation, users: dict[str, str], ids: dict[str, str]
) -> dict[str, str]:
    if kind == "user":
        return {"type": "user_reference", "id": users[escalation.users[key].email]}
    return {"type": "schedule_reference", "id": ids[escalation.schedules[key].name]}
