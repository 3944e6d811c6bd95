"""grafanalib 0.7's JSON, mapped onto Grafana's current dashboard schema.

grafanalib emits the legacy shape: ``schemaVersion`` 12, top-level ``rows``,
``hideControls``, ``sharedCrosshair``, ``style`` and ``__inputs``, panel
fields set to ``null``, ``span``/``height``/``editable`` on panels, targets
with Graphite-era keys (``target``, ``metric``, ``step``), and bar gauges in
the pre-7 ``fieldOptions`` form. Grafana still imports much of it but its own
schema (vendored in ``dashboards/grafana_schema``) rejects it. Each function
here keeps what the current schema defines, by explicit lists, and takes
panel ``options`` and ``fieldConfig`` defaults from the house style, which
writes them in the current form.
"""

from __future__ import annotations

from typing import Any

# Grafana's dashboard schema version this output follows: the vendored schema's
# default (grafana-foundation-sdk, Grafana 12).
SCHEMA_VERSION = 42

DASHBOARD_KEYS = (
    "annotations",
    "description",
    "editable",
    "graphTooltip",
    "links",
    "panels",
    "refresh",
    "tags",
    "templating",
    "time",
    "timepicker",
    "timezone",
    "title",
    "uid",
)
PANEL_KEYS = (
    "datasource",
    "description",
    "gridPos",
    "id",
    "interval",
    "links",
    "targets",
    "title",
    "type",
)
ROW_KEYS = ("collapsed", "datasource", "gridPos", "id", "panels", "title", "type")
TARGET_KEYS = ("datasource", "expr", "format", "instant", "interval", "legendFormat", "refId")
VARIABLE_KEYS = (
    "allValue",
    "current",
    "datasource",
    "hide",
    "includeAll",
    "label",
    "multi",
    "name",
    "query",
    "refresh",
    "regex",
    "sort",
    "type",
)
# Selection settings only mean something for a variable with options to pick from.
SELECTION_KEYS = ("allValue", "includeAll", "multi", "sort")
REFRESH_INTERVALS = ["30s", "1m", "5m", "15m", "30m", "1h"]


def _keep(raw: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The listed keys that grafanalib set to something (it writes null for "unset")."""
    return {key: raw[key] for key in keys if raw.get(key) not in (None, "")}


def dashboard(
    raw: dict[str, Any],
    *,
    options: list[dict[str, Any]],
    defaults: list[dict[str, Any]],
    descriptions: list[str],
) -> dict[str, Any]:
    """The dashboard with panels ``i`` given ``options[i]`` and ``defaults[i]``, and
    template variable ``j`` described by ``descriptions[j]``."""
    out = _keep(raw, DASHBOARD_KEYS)
    out["schemaVersion"] = SCHEMA_VERSION
    out["timepicker"] = {"refresh_intervals": REFRESH_INTERVALS}
    out["panels"] = [
        panel(item, options=extra, defaults=field)
        for item, extra, field in zip(raw["panels"], options, defaults, strict=True)
    ]
    out["templating"] = {
        "list": [
            variable(item, text)
            for item, text in zip(raw["templating"]["list"], descriptions, strict=True)
        ]
    }
    return out


def panel(
    raw: dict[str, Any], *, options: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    if raw["type"] == "row":
        return _keep(raw, ROW_KEYS) | {"collapsed": False, "panels": []}
    out = _keep(raw, PANEL_KEYS)
    out["targets"] = [target(item) for item in raw["targets"]]
    out["options"] = options or _timeseries_options(raw["options"])
    out["fieldConfig"] = {"defaults": _field_defaults(raw, defaults), "overrides": []}
    if not out.get("links"):
        out.pop("links", None)
    return out


def _timeseries_options(raw: dict[str, Any]) -> dict[str, Any]:
    # grafanalib's legend lacks showLegend, which the current schema requires.
    return {"legend": {**raw["legend"], "showLegend": True}, "tooltip": raw["tooltip"]}


def _field_defaults(raw: dict[str, Any], house: dict[str, Any]) -> dict[str, Any]:
    if raw["type"] != "timeseries":
        return house
    grafanalib = raw["fieldConfig"]["defaults"]
    custom = {key: value for key, value in grafanalib["custom"].items() if value is not None}
    custom["stacking"] = custom.get("stacking") or {"mode": "none", "group": "A"}
    return {"color": grafanalib["color"], "custom": custom, "mappings": []} | house


def target(raw: dict[str, Any]) -> dict[str, Any]:
    """A Prometheus query in the current data-query model (range or instant)."""
    out = _keep(raw, TARGET_KEYS)
    out["instant"] = bool(raw.get("instant"))
    out["range"] = not out["instant"]
    out["editorMode"] = "code"
    return out


def variable(raw: dict[str, Any], description: str) -> dict[str, Any]:
    out = _keep(raw, VARIABLE_KEYS) | {"description": description}
    current = raw.get("current") or {}
    if current.get("value") is None:
        out.pop("current", None)
    elif current["value"] == "$__all":
        out["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    else:
        out["current"] = {"selected": True, "text": current["text"], "value": current["value"]}
    if raw["type"] == "query":
        out["definition"] = raw["query"]
    else:
        out = {key: value for key, value in out.items() if key not in SELECTION_KEYS}
    return out
