"""The house style: builders over grafanalib that every dashboard module uses.

A dashboard module describes rows of panels with :func:`timeseries`,
:func:`stat` and :func:`bargauge`; :func:`dashboard` lays them out on
Grafana's 24-column grid, numbers them, adds the shared template variables
(``datasource``, ``tenant``, ``summit_url``) and returns JSON in the current
dashboard schema (``dashboards.conform`` maps grafanalib's output onto it).

House rules, checked by ``dashboards.schema.house_problems``: every panel has
a description saying which question it answers and a unit; every panel and
target names its datasource as ``{type, uid}`` through the ``datasource``
variable; every rate uses ``$__rate_interval``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import attr
from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from app.core import metrics
from dashboards import conform

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SUMMIT_URL = "${summit_url}"  # links to the control plane (/ops, /runbooks)
GRID_WIDTH = 24
ALL = "$__all"

Steps = Sequence[tuple[float | None, str]]  # threshold steps: (from value, colour)


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False  # evaluated once at the range's end (stat, bar gauge)


@dataclass(frozen=True)
class Link:
    title: str
    url: str
    tooltip: str = ""


@dataclass
class HousePanel:
    """A grafanalib panel plus what grafanalib cannot express in the current schema."""

    panel: Any
    width: int
    height: int
    options: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[HousePanel]


@dataclass(frozen=True)
class Variable:
    template: Any
    description: str


def row(title: str, *panels: HousePanel) -> Row:
    return Row(title, panels)


def link(title: str, path: str, tooltip: str = "") -> Link:
    """A link to a path of the control plane (``summit_url`` + ``path``)."""
    return Link(title, f"{SUMMIT_URL}{path}", tooltip)


def _targets(queries: Sequence[Query]) -> list[Any]:
    return [
        g.Target(
            expr=query.expr,
            legendFormat=query.legend,
            refId=chr(ord("A") + index),
            instant=query.instant,
            datasource=DATASOURCE,
        )
        for index, query in enumerate(queries)
    ]


def _links(links: Iterable[Link]) -> list[Any]:
    return [
        g.DashboardLink(
            title=item.title,
            type="link",
            uri=item.url,
            icon="doc",
            tooltip=item.tooltip,
            targetBlank=True,
            keepTime=False,
        )
        for item in links
    ]


def _common(
    title: str, description: str, queries: Sequence[Query], links: Iterable[Link], interval: str
) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "dataSource": DATASOURCE,
        "targets": _targets(queries),
        "links": _links(links),
        "interval": interval or None,
    }


def _defaults(unit: str, thresholds: Steps, **extra: Any) -> dict[str, Any]:
    steps = [{"value": value, "color": colour} for value, colour in thresholds]
    found = {
        "unit": unit,
        "thresholds": {"mode": "absolute", "steps": steps or [{"value": None, "color": "green"}]},
    }
    return found | {key: value for key, value in extra.items() if value is not None}


def timeseries(
    title: str,
    *,
    description: str,
    unit: str,
    queries: Sequence[Query],
    thresholds: Steps = (),
    width: int = 12,
    height: int = 8,
    min: float | None = None,
    max: float | None = None,
    links: Iterable[Link] = (),
    interval: str = "",
    bars: bool = False,
    legend: Sequence[str] = ("mean", "max", "lastNotNull"),
) -> HousePanel:
    """A graph over time; thresholds are drawn as dashed lines (an SLO's bar, an alert's)."""
    panel = g.TimeSeries(
        **_common(title, description, queries, links, interval),
        unit=unit,
        drawStyle="bars" if bars else "line",
        fillOpacity=60 if bars else 10,
        lineWidth=1,
        showPoints="never",
        thresholdsStyleMode="dashed" if thresholds else "off",
        legendDisplayMode="table",
        legendPlacement="bottom",
        legendCalcs=list(legend),
        tooltipMode="multi",
        tooltipSort="desc",
    )
    return HousePanel(panel, width, height, defaults=_defaults(unit, thresholds, min=min, max=max))


def stat(
    title: str,
    *,
    description: str,
    unit: str,
    queries: Sequence[Query],
    thresholds: Steps = (),
    mappings: dict[str, tuple[str, str]] | None = None,
    width: int = 6,
    height: int = 5,
    links: Iterable[Link] = (),
    interval: str = "",
) -> HousePanel:
    """One big number per series (the latest value), coloured by ``thresholds``;
    ``mappings`` turn values into words ({"0": ("fail", "red")})."""
    panel = g.Stat(**_common(title, description, queries, links, interval), format=unit)
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "value_and_name",
        "wideLayout": True,
        "showPercentChange": False,
        "percentChangeColorMode": "standard",
    }
    defaults = _defaults(
        unit, thresholds, color={"mode": "thresholds"}, mappings=_value_map(mappings)
    )
    return HousePanel(panel, width, height, options=options, defaults=defaults)


def _value_map(mappings: dict[str, tuple[str, str]] | None) -> list[dict[str, Any]] | None:
    if not mappings:
        return None
    results = {
        value: {"text": text, "color": colour, "index": index}
        for index, (value, (text, colour)) in enumerate(sorted(mappings.items()))
    }
    return [{"type": "value", "options": results}]


def bargauge(
    title: str,
    *,
    description: str,
    unit: str,
    queries: Sequence[Query],
    thresholds: Steps = (),
    width: int = 6,
    height: int = 8,
    min: float | None = 0,
    max: float | None = None,
    links: Iterable[Link] = (),
    interval: str = "",
) -> HousePanel:
    """Horizontal bars, one per series (its latest value): a ranking."""
    panel = g.BarGauge(**_common(title, description, queries, links, interval), format=unit)
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient",
        "valueMode": "color",
        "namePlacement": "auto",
        "showUnfilled": True,
        "sizing": "auto",
        "minVizWidth": 8,
        "minVizHeight": 16,
        "maxVizHeight": 300,
        "orientation": "horizontal",
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": False},
    }
    defaults = _defaults(unit, thresholds, color={"mode": "thresholds"}, min=min, max=max)
    return HousePanel(panel, width, height, options=options, defaults=defaults)


def query_variable(
    name: str, label: str, query: str, description: str, *, all_value: str = ".*"
) -> Variable:
    """A multi-select variable from a ``label_values(...)`` query; "All" by default."""
    template = g.Template(
        name=name,
        label=label,
        query=query,
        type="query",
        dataSource=DATASOURCE,
        includeAll=True,
        multi=True,
        allValue=all_value,
        default=ALL,
        refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
        sort=g.SORT_ALPHA_ASC,
    )
    return Variable(template, description)


def _shared_variables(summit_url: str) -> list[Variable]:
    datasource = g.Template(
        name="datasource",
        label="Data source",
        query="prometheus",
        type="datasource",
        refresh=g.REFRESH_ON_DASHBOARD_LOAD,
    )
    constant = g.Template(
        name="summit_url",
        label="Summit",
        query=summit_url,
        type="constant",
        hide=g.HIDE_VARIABLE,
        default=summit_url,
    )
    return [
        Variable(datasource, "The Prometheus that scrapes Summit's /metrics."),
        query_variable(
            "tenant",
            "Tenant",
            f"label_values({metrics.HTTP_REQUESTS.total}, tenant)",
            'Tenants to show ("-" is traffic with no tenant: anonymous and operator calls).',
        ),
        Variable(constant, "Where Summit serves /ops and /runbooks (set at build time)."),
    ]


def _place(rows: Sequence[Row]) -> list[HousePanel]:
    """Lay rows out top to bottom, each row's panels left to right, wrapping at 24 columns."""
    placed: list[HousePanel] = []
    y = 0
    for section in rows:
        header = g.RowPanel(
            title=section.title, dataSource=DATASOURCE, gridPos=g.GridPos(1, 24, 0, y)
        )
        placed.append(HousePanel(header, GRID_WIDTH, 1))
        y, x, tallest = y + 1, 0, 0
        for item in section.panels:
            if x + item.width > GRID_WIDTH:
                y, x, tallest = y + tallest, 0, 0
            grid = g.GridPos(h=item.height, w=item.width, x=x, y=y)
            placed.append(
                HousePanel(
                    attr.evolve(item.panel, gridPos=grid),
                    item.width,
                    item.height,
                    item.options,
                    item.defaults,
                )
            )
            x, tallest = x + item.width, max(tallest, item.height)
        y += tallest
    return placed


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    tags: Sequence[str],
    rows: Sequence[Row],
    summit_url: str,
    variables: Sequence[Variable] = (),
    links: Iterable[Link] = (),
) -> dict[str, Any]:
    """The dashboard as JSON in the current schema: panels placed and numbered."""
    placed = _place(rows)
    every_variable = [*_shared_variables(summit_url), *variables]
    built = g.Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=list(tags),
        panels=[item.panel for item in placed],
        links=_links(links),
        templating=g.Templating(list=[v.template for v in every_variable]),
        time=g.Time("now-6h", "now"),
        timezone="utc",
        refresh="1m",
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        editable=False,
    ).auto_panel_ids()
    raw = json.loads(json.dumps(built.to_json_data(), cls=DashboardEncoder))
    return conform.dashboard(
        raw,
        options=[item.options for item in placed],
        defaults=[item.defaults for item in placed],
        descriptions=[v.description for v in every_variable],
    )


def render(dashboard_json: dict[str, Any]) -> str:
    """Deterministic text: sorted keys, two-space indent, one trailing newline."""
    return json.dumps(dashboard_json, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
