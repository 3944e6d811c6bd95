"""Panels that read the SLO recording rules (Sloth's names in app.core.metrics),
shared by the SLO overview (every SLO) and the dashboards that show one SLO
beside its raw signals (ingest)."""

from __future__ import annotations

from collections.abc import Iterable

from app.core import metrics as m
from dashboards import promql as q
from dashboards.style import HousePanel, Link, Query, Steps, timeseries

BUDGET_STEPS: Steps = [(None, "red"), (0.0, "orange"), (0.25, "green")]  # spent, low, healthy


def burn_rate(
    alert: m.BurnRateAlert, *matchers: str, legend: str, links: Iterable[Link] = ()
) -> HousePanel:
    """The burn rate over an alert's two windows, its factor drawn dashed: would it fire?"""
    long, short = m.slo_error_ratio(alert.long_window), m.slo_error_ratio(alert.short_window)
    return timeseries(
        f"{alert.severity.title()}: {alert.factor:g}× over {alert.long_window} and "
        f"{alert.short_window}",
        description=f"Would the {alert.severity} alert fire? It does when the burn rate over "
        f"both {alert.long_window} and {alert.short_window} is above {alert.factor:g}× "
        "(the dashed line); the short window makes it resolve soon after the burn stops.",
        unit="suffix:×",
        queries=[
            Query(q.per_slo(long, *matchers), f"{legend} {alert.long_window}"),
            Query(q.per_slo(short, *matchers), f"{legend} {alert.short_window}"),
        ],
        thresholds=[(None, "green"), (alert.factor, "red")],
        width=6,
        min=0,
        links=links,
    )
