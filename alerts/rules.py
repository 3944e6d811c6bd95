"""Prometheus rules from SLOs: Sloth's recording rules, the SRE workbook's
multi-window multi-burn-rate alerts, and probe alerts (N failures in M runs).

Names and labels are Sloth's, so dashboards written for Sloth read these:
``slo:sli_error:ratio_rate<window>`` per window (labels ``sloth_id``,
``sloth_service``, ``sloth_slo``, ``sloth_window`` and the spec's labels),
``slo:objective:ratio``, ``slo:error_budget:ratio``, ``slo:time_period:days``,
``slo:current_burn_rate:ratio``, ``slo:period_burn_rate:ratio`` and
``slo:period_error_budget_remaining:ratio``. Alerts carry ``sloth_severity``
(page or ticket) and the spec's labels. Output is deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Any

from alerts import durations
from alerts.slo import SLO, AlertMeta, render
from app.core import metrics
from app.core.metrics import PROBE_RUNS

# The names live with every other metric name (app.core.metrics), where the
# dashboards read them too.
SLI_ERROR = metrics.SLO_ERROR_RATIO_PREFIX
OBJECTIVE = metrics.SLO_OBJECTIVE
ERROR_BUDGET = metrics.SLO_ERROR_BUDGET
PERIOD_DAYS = metrics.SLO_PERIOD_DAYS
CURRENT_BURN_RATE = metrics.SLO_CURRENT_BURN_RATE
PERIOD_BURN_RATE = metrics.SLO_PERIOD_BURN_RATE
BUDGET_REMAINING = metrics.SLO_BUDGET_REMAINING
DEFAULT_PERIOD = timedelta(days=30)


@dataclass(frozen=True)
class Window:
    """One multi-window condition: burn ``budget_percent`` of the period's budget
    within ``long``, confirmed by ``short`` (so it resets quickly once fixed)."""

    budget_percent: Fraction
    short: timedelta
    long: timedelta

    def factor(self, period: timedelta) -> float:
        """The burn rate that spends ``budget_percent`` in ``long``: 14.4 for 2 % in 1 h of 30 d."""
        return float(self.budget_percent / 100 * Fraction(period / self.long))


@dataclass(frozen=True)
class AlertWindows:
    """The Google SRE workbook's parameters; a period other than 30 d keeps the
    windows and budget shares, so its burn factors scale (Sloth does the same)."""

    page_quick: Window
    page_slow: Window
    ticket_quick: Window
    ticket_slow: Window

    @property
    def windows(self) -> list[timedelta]:
        """Every window a recording rule is needed for, shortest first."""
        found = {w for a in self.all for w in (a.short, a.long)}
        return sorted(found)

    @property
    def all(self) -> tuple[Window, ...]:
        return (self.page_quick, self.page_slow, self.ticket_quick, self.ticket_slow)

    def scaled(self, scale: float) -> AlertWindows:
        def one(w: Window) -> Window:
            return Window(w.budget_percent, w.short / scale, w.long / scale)

        return AlertWindows(*(one(w) for w in self.all))


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


WORKBOOK = AlertWindows(
    page_quick=Window(Fraction(2), timedelta(minutes=5), _h(1)),
    page_slow=Window(Fraction(5), timedelta(minutes=30), _h(6)),
    ticket_quick=Window(Fraction(10), _h(2), _h(24)),
    ticket_slow=Window(Fraction(10), _h(6), _h(72)),
)


@dataclass(frozen=True)
class Links:
    """Where alerts point people: the control plane's runbooks and SLO view.

    ``dashboard`` is a format string with ``{sloth_id}``, ``{service}``, ``{slo}``
    and ``{probe}``; empty means the control plane's own /ops/slo page.
    """

    base_url: str
    dashboard: str = ""

    def runbook(self, slug: str) -> str:
        return f"{self.base_url.rstrip('/')}/runbooks/{slug}"

    def dashboard_for(self, **fields: str) -> str:
        if self.dashboard:
            return self.dashboard.format_map(_Blank(fields))
        base = self.base_url.rstrip("/")
        if "sloth_id" in fields:
            return f"{base}/ops/slo#{fields['sloth_id']}"
        return f"{base}/ops#probe-{fields.get('probe', '')}"


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class ProbeAlert:
    """Alert when ``failures`` of a probe's runs fail within ``window`` runs' time."""

    probe: str
    interval: timedelta
    failures: int
    window: int
    severity: str = "page"


@dataclass(frozen=True)
class Options:
    links: Links
    period: timedelta = DEFAULT_PERIOD
    windows: AlertWindows = WORKBOOK
    # Test-only: divide every window (and the period) by this, so an end-to-end
    # test sees the same math in seconds instead of hours.
    time_scale: float = 1.0

    @property
    def scaled_period(self) -> timedelta:
        return self.period / self.time_scale

    @property
    def scaled_windows(self) -> AlertWindows:
        return self.windows.scaled(self.time_scale)


def slug(alert_name: str) -> str:
    """The runbook slug of an alert: ``SummitAvailability`` -> ``summit-availability``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", alert_name).lower()


def number(value: float) -> str:
    """A float as Go's %v writes it (so output matches Sloth's): 6, 14.4, 0.005."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def selector(labels: Mapping[str, str]) -> str:
    body = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + body + "}"


def slo_groups(slo: SLO, options: Options) -> list[dict[str, Any]]:
    """The three rule groups Sloth writes for one SLO (alerts only when enabled)."""
    groups = [
        {"name": f"sloth-slo-sli-recordings-{slo.id}", "rules": sli_rules(slo, options)},
        {"name": f"sloth-slo-meta-recordings-{slo.id}", "rules": meta_rules(slo, options)},
    ]
    alerts = alert_rules(slo, options)
    if alerts:
        groups.append({"name": f"sloth-slo-alerts-{slo.id}", "rules": alerts})
    return groups


def sli_rules(slo: SLO, options: Options) -> list[dict[str, Any]]:
    rules = [_sli_rule(slo, durations.format(w)) for w in options.scaled_windows.windows]
    rules.append(_period_rule(slo, options))
    return rules


def _sli_rule(slo: SLO, window: str) -> dict[str, Any]:
    if slo.error_ratio_query is not None:
        expr = f"({render(slo.error_ratio_query, window)})"
    else:
        error, total = slo.error_query or "", slo.total_query or ""
        expr = f"({render(error, window)})\n/\n({render(total, window)})\n"
    labels = {**slo.id_labels, "sloth_window": window, **slo.labels}
    return {"record": f"{SLI_ERROR}{window}", "expr": expr, "labels": dict(sorted(labels.items()))}


def _period_rule(slo: SLO, options: Options) -> dict[str, Any]:
    """The period's ratio averages the shortest window's ratio over the period
    (sum over count: a ratio of sums, not an average of averages), as Sloth does."""
    window = durations.format(options.scaled_period)
    short = f"{SLI_ERROR}{durations.format(options.scaled_windows.page_quick.short)}"
    series = short + selector(slo.id_labels)
    expr = (
        f"sum_over_time({series}[{window}])\n/ ignoring (sloth_window)\n"
        f"count_over_time({series}[{window}])\n"
    )
    # Sloth sets only sloth_window here (the rest come from the 5m series); the
    # id labels too make each SLO's rule distinct for `promtool check rules`'
    # duplicate lint, and change no recorded series.
    labels = {**slo.id_labels, "sloth_window": window}
    return {"record": f"{SLI_ERROR}{window}", "expr": expr, "labels": dict(sorted(labels.items()))}


def meta_rules(slo: SLO, options: Options) -> list[dict[str, Any]]:
    labels = dict(sorted({**slo.id_labels, **slo.labels}.items()))
    ratio = slo.objective / 100
    ids = selector(slo.id_labels)
    short = durations.format(options.scaled_windows.page_quick.short)
    period = durations.format(options.scaled_period)
    days = options.period / timedelta(days=1)

    def burn(window: str) -> str:
        return (
            f"{SLI_ERROR}{window}{ids}\n"
            f"/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
            f"{ERROR_BUDGET}{ids}\n"
        )

    rules = [
        (OBJECTIVE, f"vector({number(ratio)})"),
        (ERROR_BUDGET, f"vector(1-{number(ratio)})"),
        (PERIOD_DAYS, f"vector({number(days)})"),
        (CURRENT_BURN_RATE, burn(short)),
        (PERIOD_BURN_RATE, burn(period)),
        (BUDGET_REMAINING, f"1 - {PERIOD_BURN_RATE}{ids}"),
    ]
    return [{"record": name, "expr": expr, "labels": labels} for name, expr in rules]


def alert_rules(slo: SLO, options: Options) -> list[dict[str, Any]]:
    windows = options.scaled_windows
    out = []
    for severity, meta, quick, slow in (
        ("page", slo.page, windows.page_quick, windows.page_slow),
        ("ticket", slo.ticket, windows.ticket_quick, windows.ticket_slow),
    ):
        if meta is not None:
            out.append(_alert(slo, meta, severity, quick, slow, options))
    return out


def _condition(slo: SLO, window: Window, options: Options) -> tuple[str, str]:
    factor = number(window.factor(options.scaled_period))
    budget = f"({factor} * {number(slo.error_budget)})"
    ids = selector(slo.id_labels)
    short = f"{SLI_ERROR}{durations.format(window.short)}{ids}"
    long = f"{SLI_ERROR}{durations.format(window.long)}{ids}"
    return f"({short} > {budget})", f"({long} > {budget})"


def _alert(
    slo: SLO, meta: AlertMeta, severity: str, quick: Window, slow: Window, options: Options
) -> dict[str, Any]:
    q_short, q_long = _condition(slo, quick, options)
    s_short, s_long = _condition(slo, slow, options)
    expr = (
        f"(\n    {q_short}\n    and ignoring (sloth_window)\n    {q_long}\n)\n"
        f"or ignoring (sloth_window)\n"
        f"(\n    {s_short}\n    and ignoring (sloth_window)\n    {s_long}\n)\n"
    )
    defaults = _slo_annotations(slo, meta, severity, (quick, slow), options)
    labels = {"sloth_severity": severity, **meta.labels}
    return {
        "alert": meta.name,
        "expr": expr,
        "labels": dict(sorted(labels.items())),
        "annotations": dict(sorted({**defaults, **meta.annotations}.items())),
    }


def _slo_annotations(
    slo: SLO, meta: AlertMeta, severity: str, pair: tuple[Window, Window], options: Options
) -> dict[str, str]:
    what = slo.description.rstrip(".") or f"SLO {slo.name} of {slo.service}"
    period = durations.format(options.period)

    def burn(w: Window) -> str:
        scale = options.time_scale
        return (
            f"{number(w.factor(options.scaled_period))}x over {durations.format(w.long * scale)} "
            f"(and {durations.format(w.short * scale)})"
        )

    return {
        "title": f"({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} "
        "SLO error budget burn rate is too fast.",
        "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget "
        "burn rate is over expected.",
        "description": (
            f"{what}. Objective {number(slo.objective)} % over {period}; the error budget "
            f"burns faster than {burn(pair[0])} or {burn(pair[1])}."
        ),
        "runbook_url": options.links.runbook(slug(meta.name)),
        "dashboard_url": options.links.dashboard_for(
            sloth_id=slo.id, service=slo.service, slo=slo.name
        ),
    }


def probe_alert_name(probe: str) -> str:
    words = re.split(r"[^a-zA-Z0-9]+", probe)
    return "SummitProbe" + "".join(w[:1].upper() + w[1:] for w in words if w) + "Failing"


def probe_group(probes: Sequence[ProbeAlert], options: Options) -> dict[str, Any]:
    return {"name": "summit-probe-alerts", "rules": [_probe_rule(p, options) for p in probes]}


def _probe_rule(probe: ProbeAlert, options: Options) -> dict[str, Any]:
    """N of M from counters: failures within M intervals. Counters survive scrape
    gaps (a gauge sampled every scrape would miss runs between scrapes)."""
    window = durations.format(probe.interval * probe.window / options.time_scale)
    runs = f'{PROBE_RUNS.total}{{probe="{probe.probe}", result="fail"}}'
    name = probe_alert_name(probe.probe)
    return {
        "alert": name,
        "expr": f"sum by (probe) (increase({runs}[{window}])) >= {probe.failures}\n",
        "labels": {"severity": probe.severity},
        "annotations": {
            "summary": f"Probe {probe.probe} failed {probe.failures} of its last "
            f"{probe.window} runs.",
            "description": (
                f'{{{{ $value | printf "%.0f" }}}} failed runs of the {probe.probe} probe '
                f"within {window} (it runs every {durations.format(probe.interval)}). "
                "The run records on the ops page show the failing step, a screenshot and a trace."
            ),
            "runbook_url": options.links.runbook(slug(name)),
            "dashboard_url": options.links.dashboard_for(probe=probe.probe),
        },
    }
