"""Probes: does the golden path (login, search, open an entity in Chromium) and the
policy probe pass, how long does each step take, and when did runs fail?

A failed run keeps a screenshot and a Playwright trace; the panels link to
Summit's /ops page, which lists each run with them.
"""

from __future__ import annotations

from typing import Any

from app.core import metrics as m
from dashboards import promql as q
from dashboards.style import (
    Query,
    Variable,
    dashboard,
    link,
    query_variable,
    row,
    stat,
    timeseries,
)

UID = "summit-probes"
TITLE = "Summit / Probes"
# Probes run every 60 s by default: a window of at least two periods always
# holds a run, so rates over $__rate_interval never fall between two runs.
PROBE_INTERVAL = "2m"
RUN_BAR = 1.0  # the golden path's bar: one second per run with a warm browser
OPS = link("Failed runs on /ops", "/ops", "Each run's steps, screenshot and trace")
TOTAL = 'step="total"'


def _probe_variable() -> Variable:
    return query_variable(
        "probe", "Probe", f"label_values({m.PROBE_RUNS.total}, probe)", "Probes to show."
    )


def _now() -> Any:
    failures = q.sum_by("probe", q.increase(m.PROBE_RUNS.total, q.PROBE, 'result="fail"'))
    return row(
        "Now",
        stat(
            "Latest run",
            description="Did each probe's latest run pass? A red probe has a failed run "
            "with a screenshot and trace on /ops.",
            unit="bool",
            queries=[Query(q.sel(str(m.PROBE_SUCCESS), q.PROBE), "{{probe}}", instant=True)],
            mappings={"0": ("fail", "red"), "1": ("pass", "green")},
            width=8,
            links=[OPS],
        ),
        stat(
            "Run time P95",
            description="How long does a whole run take? The golden path's bar is 1 s with "
            "a warm browser.",
            unit="s",
            queries=[Query(_duration("probe", TOTAL), "{{probe}}", instant=True)],
            thresholds=[(None, "green"), (RUN_BAR, "orange"), (5.0, "red")],
            width=8,
            interval=PROBE_INTERVAL,
        ),
        stat(
            "Failed runs (recent)",
            description="How many runs failed in the last few probe periods? Three failures "
            "in a row open an incident.",
            unit="short",
            queries=[Query(failures, "{{probe}}", instant=True)],
            thresholds=[(None, "green"), (1.0, "red")],
            width=8,
            interval=PROBE_INTERVAL,
            links=[OPS],
        ),
    )


def _duration(by: str, *matchers: str) -> str:
    return q.quantile(0.95, m.PROBE_DURATION.bucket, by, q.PROBE, *matchers)


def _runs() -> Any:
    runs = q.sum_by("probe, result", q.increase(m.PROBE_RUNS.total, q.PROBE))
    passing = f"avg by (probe) (avg_over_time({q.sel(str(m.PROBE_SUCCESS), q.PROBE)}"
    return row(
        "Runs",
        timeseries(
            "Runs by result",
            description="When did runs fail, and for which probe? Open /ops for the failed "
            "run's step, screenshot and trace.",
            unit="short",
            queries=[Query(runs, "{{probe}} {{result}}")],
            bars=True,
            interval=PROBE_INTERVAL,
            links=[OPS],
        ),
        timeseries(
            "Passing share",
            description="What share of the time was each probe's latest run passing? "
            "Below 100 % a user on the same path would have failed too.",
            unit="percentunit",
            queries=[Query(f"{passing}[{q.RATE_INTERVAL}]))", "{{probe}}")],
            thresholds=[(None, "red"), (0.99, "green")],
            min=0,
            max=1,
            interval=PROBE_INTERVAL,
        ),
    )


def _steps() -> Any:
    return row(
        "Step durations",
        timeseries(
            "Step duration P95",
            description="Which step got slower: login, search, opening the entity, or the "
            "page's checks? The slow step names the part of Summit to look at.",
            unit="s",
            queries=[Query(_duration("probe, step", 'step!="total"'), "{{probe}} {{step}}")],
            interval=PROBE_INTERVAL,
        ),
        timeseries(
            "Run duration P95 against the bar",
            description="Is a whole run within the 1 s bar (dashed)? A cold browser takes "
            "about 1.5 s once after a restart.",
            unit="s",
            queries=[Query(_duration("probe", TOTAL), "{{probe}}")],
            thresholds=[(None, "green"), (RUN_BAR, "red")],
            interval=PROBE_INTERVAL,
        ),
    )


def _synthetic_traffic() -> Any:
    matchers = (q.SYNTHETIC, q.TENANT)
    by_route = q.sum_by("route, status", q.rate(m.HTTP_REQUESTS.total, *matchers))
    latency = q.quantile(0.95, m.HTTP_DURATION.bucket, "route", *matchers)
    return row(
        "What the server saw of the probes",
        timeseries(
            "Synthetic requests by route and status",
            description="Which requests did the probes make, and what did Summit answer? "
            "Probe traffic is labelled synthetic and kept out of the user SLOs.",
            unit="reqps",
            queries=[Query(by_route, "{{route}} {{status}}")],
        ),
        timeseries(
            "Synthetic request P95 by route",
            description="Was a slow step slow on the server, or in the browser? Compare "
            "this with the step durations above.",
            unit="s",
            queries=[Query(latency, "{{route}}")],
        ),
    )


def build(*, summit_url: str) -> dict[str, Any]:
    return dashboard(
        uid=UID,
        title=TITLE,
        description="Golden-path and policy probes: pass or fail, step durations, and "
        "failed runs with their screenshot and trace on /ops.",
        tags=["summit", "probes"],
        rows=[_now(), _runs(), _steps(), _synthetic_traffic()],
        variables=[_probe_variable()],
        summit_url=summit_url,
        links=[OPS],
    )
