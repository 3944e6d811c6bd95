"""PromQL for the panels, composed from the metric names in ``app.core.metrics``.

Every range selector is ``[$__rate_interval]``: Grafana sizes it to cover at
least four scrapes at any zoom, so a panel neither goes blank when zoomed in
nor aliases when zoomed out (Grafana's own linter rule ``target-rate-interval``).
"""

from __future__ import annotations

from app.core import metrics

RATE_INTERVAL = "$__rate_interval"

# Matchers the dashboards share.
TENANT = 'tenant=~"$tenant"'  # the tenant template variable ("All" is .*)
USER = 'traffic="user"'  # real callers; probes are traffic="synthetic"
SYNTHETIC = 'traffic="synthetic"'
SLO = 'sloth_id=~"$slo"'
PROBE = 'probe=~"$probe"'
# The read path the read-latency SLO covers: search and entity fetch (route templates).
READ_ROUTES = 'route=~"/api/v1/search|/api/v1/entities/<entity_id>", method="GET"'


def sel(series: str, *matchers: str) -> str:
    """``series{m1, m2}``: an instant vector selector."""
    return f"{series}{{{', '.join(matchers)}}}" if matchers else series


def rate(series: str, *matchers: str) -> str:
    return f"rate({sel(series, *matchers)}[{RATE_INTERVAL}])"


def increase(series: str, *matchers: str) -> str:
    return f"increase({sel(series, *matchers)}[{RATE_INTERVAL}])"


def sum_by(labels: str, expr: str) -> str:
    return f"sum by ({labels}) ({expr})"


def max_by(labels: str, expr: str) -> str:
    return f"max by ({labels}) ({expr})"


def topk(k: int, expr: str) -> str:
    return f"topk({k}, {expr})"


def ratio(numerator: str, denominator: str, *, on: str = "") -> str:
    """``numerator / denominator``, matched ``on`` the given labels when set."""
    matching = f" on ({on})" if on else ""
    return f"{numerator} /{matching} {denominator}"


def quantile(q: float, bucket: str, by: str, *matchers: str) -> str:
    """The ``q`` quantile of a histogram's ``bucket`` series, per ``by`` labels."""
    grouping = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, {sum_by(grouping, rate(bucket, *matchers))})"


def per_slo(series: str, *matchers: str) -> str:
    """A per-SLO recording rule joined to its SLO's error budget: a burn rate.

    Sloth's budget series carry sloth_id (and the spec's labels) but no
    sloth_window, so the window label of the left side is kept.
    """
    budget = sel(metrics.SLO_ERROR_BUDGET, *matchers)
    return f"{sel(series, *matchers)} / on (sloth_id) group_left () {budget}"
