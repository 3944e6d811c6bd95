"""Checks every generated dashboard must pass before it is written or pushed.

Two kinds: Grafana's own JSON schema (vendored in ``grafana_schema/``: the
dashboard, each panel kind's ``options``, each Prometheus target), and the
house rules that Grafana's dashboard linter names (a ``datasource``
variable used by every panel and target, a unit and a description on every
panel, ``$__rate_interval`` in every range) plus what makes a dashboard
safe to push (a stable uid, unique panel ids, panels that do not overlap).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from dashboards.conform import SCHEMA_VERSION

SCHEMA_DIR = Path(__file__).parent / "grafana_schema"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
UID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # Grafana allows 40 characters
RANGE = re.compile(r"\[([^\]]*)\]")
VARIABLE = re.compile(r"\$\{?(\w+)")
BUILT_IN = frozenset({"__rate_interval", "__interval", "__range"})
# Panel kinds whose options (and field config) have a vendored schema.
KIND_DEFINITIONS = {
    "timeseries": ("Options", "FieldConfig"),
    "stat": ("Options",),
    "bargauge": ("Options",),
}


class DashboardInvalid(ValueError):
    """A dashboard failed Grafana's schema or a house rule; ``problems`` says where."""

    def __init__(self, uid: str, problems: list[str]) -> None:
        super().__init__(f"dashboard {uid}: " + "; ".join(problems))
        self.problems = problems


@cache
def validator(name: str, definition: str = "") -> Draft7Validator:
    """A draft-07 validator for ``<name>.jsonschema.json`` (or one of its definitions)."""
    schema = json.loads((SCHEMA_DIR / f"{name}.jsonschema.json").read_text())
    if definition:
        schema = {**schema, "$ref": f"#/definitions/{definition}"}
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def _errors(name: str, document: Any, where: str, definition: str = "") -> list[str]:
    found = validator(name, definition).iter_errors(document)
    return [f"{where}{_path(error.absolute_path)}: {error.message}" for error in found]


def _path(parts: Any) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included (nested panels of collapsed rows too)."""
    for item in dashboard.get("panels", []):
        yield item
        yield from item.get("panels", [])


def schema_problems(dashboard: dict[str, Any]) -> list[str]:
    """Where ``dashboard`` breaks Grafana's schema: dashboard, panel options, targets."""
    problems = _errors("dashboard", dashboard, "dashboard")
    for panel in panels(dashboard):
        where = f"panel {panel.get('id')} ({panel.get('title')!r})"
        kinds = KIND_DEFINITIONS.get(panel.get("type", ""), ())
        if "Options" in kinds:
            problems += _errors(panel["type"], panel.get("options"), f"{where} options", "Options")
        if "FieldConfig" in kinds:
            custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
            problems += _errors(panel["type"], custom, f"{where} custom", "FieldConfig")
        for target in panel.get("targets", []):
            problems += _errors("prometheus", target, f"{where} target {target.get('refId')}")
    return problems


def house_problems(dashboard: dict[str, Any]) -> list[str]:
    """Where ``dashboard`` breaks a house rule (see the module docstring)."""
    problems = _dashboard_rules(dashboard)
    seen: set[int] = set()
    for panel in panels(dashboard):
        where = f"panel {panel.get('id')} ({panel.get('title')!r})"
        if panel.get("id") in seen:
            problems.append(f"{where}: id {panel.get('id')} is used twice")
        seen.add(panel.get("id", -1))
        problems += [f"{where}: {problem}" for problem in _panel_rules(dashboard, panel)]
    return problems + _overlaps(dashboard)


def _dashboard_rules(dashboard: dict[str, Any]) -> list[str]:
    problems = []
    if not UID.match(str(dashboard.get("uid", ""))):
        problems.append(f"uid {dashboard.get('uid')!r}: want 1-40 of [a-z0-9-], set by hand")
    if dashboard.get("schemaVersion") != SCHEMA_VERSION:
        problems.append(f"schemaVersion {dashboard.get('schemaVersion')}: want {SCHEMA_VERSION}")
    types = {v["name"]: v["type"] for v in dashboard["templating"]["list"]}
    if types.get("datasource") != "datasource" or list(types.values()).count("datasource") != 1:
        problems.append("want exactly one data source variable, named datasource")
    if types.get("tenant") != "query":
        problems.append("no tenant variable")
    return problems


def _panel_rules(dashboard: dict[str, Any], panel: dict[str, Any]) -> list[str]:
    problems = []
    if panel.get("datasource") != DATASOURCE:
        problems.append(f"datasource {panel.get('datasource')}: want {DATASOURCE}")
    if panel.get("type") == "row":
        return problems
    if not panel.get("description"):
        problems.append("no description (which question does it answer?)")
    if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
        problems.append("no unit")
    if not panel.get("targets"):
        problems.append("no targets")
    for target in panel.get("targets", []):
        problems += [f"target {target.get('refId')}: {p}" for p in _target_rules(dashboard, target)]
    return problems


def _target_rules(dashboard: dict[str, Any], target: dict[str, Any]) -> list[str]:
    problems = []
    if target.get("datasource") != DATASOURCE:
        problems.append(f"datasource {target.get('datasource')}: want {DATASOURCE}")
    expr = str(target.get("expr", ""))
    for window in RANGE.findall(expr):
        if window != "$__rate_interval":
            problems.append(f"range [{window}]: want [$__rate_interval]")
    defined = {v["name"] for v in dashboard["templating"]["list"]} | BUILT_IN
    for name in sorted(set(VARIABLE.findall(expr)) - defined):
        problems.append(f"${name} is not a variable of this dashboard")
    return problems


def _overlaps(dashboard: dict[str, Any]) -> list[str]:
    cells: dict[tuple[int, int], str] = {}
    problems = []
    for panel in dashboard.get("panels", []):
        grid = panel["gridPos"]
        if grid["x"] + grid["w"] > 24:
            problems.append(f"panel {panel['id']}: wider than the 24-column grid")
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                if (x, y) in cells:
                    problems.append(f"panel {panel['id']} overlaps {cells[(x, y)]} at {x},{y}")
                    return problems
                cells[(x, y)] = f"panel {panel['id']}"
    return problems


def validate(dashboard: dict[str, Any]) -> dict[str, Any]:
    """``dashboard`` itself when it passes every check; DashboardInvalid otherwise."""
    problems = schema_problems(dashboard) + house_problems(dashboard)
    if problems:
        raise DashboardInvalid(str(dashboard.get("uid")), problems)
    return dashboard
