"""Reading built dashboards as Grafana would: every target, its template variables
substituted, and the metric names it reads."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from app.core import metrics
from dashboards.schema import panels

# Grafana's rule: $__rate_interval = max($__interval + scrape interval, 4 x scrape interval),
# where $__interval is at least the panel's min interval (and the scrape interval).
DEFAULT_SCRAPE_SECONDS = 15
KEYWORDS = frozenset(
    {
        "by",
        "on",
        "without",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "le",
        "inf",
        "nan",
    }
)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def every_target(
    built: dict[str, dict[str, Any]],
) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(dashboard, panel, target) for every target of every panel."""
    for dashboard in built.values():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                yield dashboard, panel, target


def seconds(duration: str) -> int:
    return int(duration[:-1]) * UNITS[duration[-1]]


def rate_interval(panel: dict[str, Any], scrape_seconds: int) -> str:
    interval = max(seconds(panel.get("interval") or "0s"), scrape_seconds)
    return f"{max(interval + scrape_seconds, 4 * scrape_seconds)}s"


def variable_value(variable: dict[str, Any]) -> str:
    """The value Grafana substitutes for a variable's default selection."""
    current = variable.get("current", {})
    values = current.get("value", variable.get("query", ""))
    values = values if isinstance(values, list) else [values]
    if values == ["$__all"]:
        return str(variable["allValue"])
    return "|".join(values) if len(values) > 1 else str(values[0])


def substituted(
    expr: str,
    dashboard: dict[str, Any],
    panel: dict[str, Any],
    *,
    scrape_seconds: int = DEFAULT_SCRAPE_SECONDS,
) -> str:
    """``expr`` as Grafana sends it with the dashboard's default variable values."""
    values = {v["name"]: variable_value(v) for v in dashboard["templating"]["list"]}
    values["__rate_interval"] = rate_interval(panel, scrape_seconds)

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise AssertionError(f"${name} is not a variable of {dashboard['uid']}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def metric_names(expr: str) -> set[str]:
    """The metric (or recording-rule) names ``expr`` reads."""
    text = re.sub(r'"[^"]*"', " ", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for found in re.finditer(r"([A-Za-z_:][\w:]*)(\s*\()?", text):
        if not found.group(2) and found.group(1).lower() not in KEYWORDS:
            names.add(found.group(1))
    return names


def known_series() -> set[str]:
    """Every series name app.core.metrics defines: families with their suffixes, and
    the SLO recording rules."""
    names = {
        metrics.SLO_OBJECTIVE,
        metrics.SLO_ERROR_BUDGET,
        metrics.SLO_CURRENT_BURN_RATE,
        metrics.SLO_PERIOD_BURN_RATE,
        metrics.SLO_BUDGET_REMAINING,
    }
    names |= {metrics.slo_error_ratio(window) for window in metrics.SLO_WINDOWS}
    for value in vars(metrics).values():
        if isinstance(value, metrics.Name):
            names |= {value.family, value.total, value.bucket, value.count, value.sum}
    return names


@dataclass(frozen=True)
class Finding:
    """A target that failed against a live Prometheus."""

    dashboard: str
    panel: str
    ref: str
    expr: str
    problem: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}: {self.problem}\n    {self.expr}"


def evaluate(prometheus: str, expr: str, *, instant: bool, since: float, step: int) -> Any:
    """Prometheus' answer to ``expr`` as Grafana asks: an instant query now, or a range
    query from ``since`` to now."""
    params: dict[str, Any] = {"query": expr}
    if not instant:
        params |= {"start": since, "end": time.time(), "step": f"{step}s"}
    path = "/api/v1/query" if instant else "/api/v1/query_range"
    return requests.get(f"{prometheus}{path}", params=params, timeout=10).json()


def check_live(
    prometheus: str, built: dict[str, dict[str, Any]], *, scrape_seconds: int, since: float
) -> list[Finding]:
    """Every target, its variables substituted, evaluated by Prometheus: it must parse
    and return at least one series with a number in it (not only NaN: a ratio of
    two idle counters would draw nothing)."""
    findings = []
    for dashboard, panel, target in every_target(built):
        expr = substituted(target["expr"], dashboard, panel, scrape_seconds=scrape_seconds)
        answer = evaluate(
            prometheus, expr, instant=target["instant"], since=since, step=scrape_seconds
        )
        if answer.get("status") != "success":
            problem = f"does not evaluate: {answer.get('errorType')}: {answer.get('error')}"
        elif not answer["data"]["result"]:
            problem = "returned no series"
        elif not _finite(answer["data"]["result"]):
            problem = "returned only NaN"
        else:
            continue
        findings.append(Finding(dashboard["uid"], panel["title"], target["refId"], expr, problem))
    return findings


def _finite(result: list[dict[str, Any]]) -> bool:
    samples = [s.get("value") or s["values"][-1] for s in result] + [
        value for s in result for value in s.get("values", [])
    ]
    return any(not math.isnan(float(value)) for _, value in samples)
