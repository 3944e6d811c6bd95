"""SLO status: objective, current SLI, error budget left, burn rate per alert
window, and the budget over the period as a chart.

Two sources give the same figures. With Prometheus (``PROMETHEUS_URL``) the
windows are read from the recording rules (``slo:sli_error:ratio_rate<w>``).
Without it, the control plane counts from its own recorded statistics: each
events SLI's queries (sums of ``rate``/``increase`` of one series, added or
subtracted) are evaluated over a :class:`Counts` source, since a ratio of rates
over one window is the ratio of the increases. Either way the chart adds up
errors and events step by step from the start of the period.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import requests

from alerts import durations, rules
from alerts.slo import SLO, render

CHART_STEPS = 30
Matcher = tuple[str, str, str]  # label, op (=, !=, =~, !~), value
_TERM = re.compile(
    r"sum\s*\(\s*(?:rate|increase)\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:{([^}]*)})?"
    r"\s*\[[^\]]+\]\s*\)\s*\)"
)
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_NON_ZERO = re.compile(r"\s*>\s*0\s*$")


class Unsupported(Exception):
    """This SLI cannot be computed from the local statistics."""


class Counts(Protocol):
    def increases(
        self, series: str, matchers: Sequence[Matcher], start: datetime, step: timedelta, n: int
    ) -> list[float]:
        """How much ``series`` (filtered by ``matchers``) grew in each of ``n``
        steps from ``start``; raises :class:`Unsupported` for what it does not record."""


@dataclass
class Status:
    id: str
    service: str
    name: str
    description: str
    objective: float  # percent
    source: str  # prometheus | local | none
    sli: float | None = None  # the share of good events over the period, 0..1
    error_budget_remaining: float | None = None  # 1 = untouched, < 0 = overspent
    burn_rates: dict[str, float | None] = field(default_factory=dict)  # window -> burn rate
    chart: list[dict[str, Any]] = field(default_factory=list)  # {at, remaining}
    note: str = ""


def _blank(slo: SLO, source: str, note: str = "") -> Status:
    return Status(slo.id, slo.service, slo.name, slo.description, slo.objective, source, note=note)


def alert_windows(windows: rules.AlertWindows = rules.WORKBOOK) -> list[timedelta]:
    return windows.windows


# --- local: evaluating the SLI's queries over recorded counts -------------------------


@dataclass(frozen=True)
class _Expression:
    terms: list[tuple[str, list[Matcher]]]
    formula: str  # "T0 - T1" etc., checked to hold nothing else


def parse(query: str) -> _Expression:
    """``(sum(rate(a{x="1"}[5m])) - sum(rate(b[5m]))) > 0`` -> terms and a formula."""
    text = _NON_ZERO.sub("", render(query, "1m"))
    terms: list[tuple[str, list[Matcher]]] = []

    def term(match: re.Match[str]) -> str:
        terms.append((match.group(1), _matchers(match.group(2) or "")))
        return f"T{len(terms) - 1}"

    formula = _TERM.sub(term, text)
    if not terms or not re.fullmatch(r"[\sT0-9()+-]*", formula):
        raise Unsupported("only sums of rate() or increase() of one series, added or subtracted")
    return _Expression(terms, formula)


def _matchers(body: str) -> list[Matcher]:
    found, end = [], 0
    for match in _MATCHER.finditer(body):
        if match.start() != end:
            break
        found.append((match.group(1), match.group(2), match.group(3).replace('\\"', '"')))
        end = match.end()
    if body[end:].strip():
        raise Unsupported(f"cannot read the selector {{{body}}}")
    return found


def evaluate(formula: str, values: Sequence[float]) -> float:
    """``formula`` with Tn replaced by ``values[n]``: only +, - and parentheses."""
    tree = ast.parse(re.sub(r"T(\d+)", r"v\1", formula), mode="eval")
    return _eval(tree.body, values)


def _eval(node: ast.AST, values: Sequence[float]) -> float:
    if isinstance(node, ast.Name):
        return values[int(node.id[1:])]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        left, right = _eval(node.left, values), _eval(node.right, values)
        return left + right if isinstance(node.op, ast.Add) else left - right
    raise Unsupported("only + and - combine terms")


def _series(
    counts: Counts, expr: _Expression, start: datetime, step: timedelta, n: int
) -> list[float]:
    per_term = [counts.increases(name, m, start, step, n) for name, m in expr.terms]
    return [evaluate(expr.formula, [column[i] for column in per_term]) for i in range(n)]


def local_status(slo: SLO, counts: Counts, *, now: datetime, period: timedelta) -> Status:
    if slo.error_query is None or slo.total_query is None:
        return _blank(slo, "none", "a raw SLI can only be read from Prometheus (PROMETHEUS_URL)")
    try:
        error, total = parse(slo.error_query), parse(slo.total_query)
        return _from_series(slo, now, period, lambda s, st, n: (
            _series(counts, error, s, st, n), _series(counts, total, s, st, n)
        ))  # fmt: skip
    except Unsupported as exc:
        return _blank(slo, "none", f"not computable from local statistics: {exc}")


Fetch = Callable[[datetime, timedelta, int], tuple[list[float], list[float]]]


def _from_series(slo: SLO, now: datetime, period: timedelta, fetch: Fetch) -> Status:
    status = _blank(slo, "local")
    for window in alert_windows():
        errors, totals = fetch(now - window, window, 1)
        status.burn_rates[durations.format(window)] = _burn(slo, errors[0], totals[0])
    step = period / CHART_STEPS
    errors, totals = fetch(now - period, step, CHART_STEPS)
    status.chart = _chart(slo, now - period, step, errors, totals)
    spent_errors, spent_total = sum(errors), sum(totals)
    if spent_total > 0:
        status.sli = 1 - spent_errors / spent_total
        status.error_budget_remaining = 1 - (spent_errors / spent_total) / slo.error_budget
    return status


def _burn(slo: SLO, errors: float, total: float) -> float | None:
    return None if total <= 0 else (errors / total) / slo.error_budget


def _chart(
    slo: SLO, start: datetime, step: timedelta, errors: Sequence[float], totals: Sequence[float]
) -> list[dict[str, Any]]:
    """Budget left at the end of each step, counting from the start of the period."""
    points, spent_errors, spent_total = [], 0.0, 0.0
    for index, (e, t) in enumerate(zip(errors, totals, strict=True)):
        spent_errors, spent_total = spent_errors + e, spent_total + t
        remaining = 1 - (spent_errors / spent_total) / slo.error_budget if spent_total else None
        points.append({"at": start + step * (index + 1), "remaining": remaining})
    return points


# --- Prometheus -----------------------------------------------------------------------


class Prometheus(Protocol):
    def instant(self, query: str, at: datetime) -> list[tuple[dict[str, str], float]]: ...

    def range(
        self, query: str, start: datetime, end: datetime, step: timedelta
    ) -> list[list[tuple[datetime, float]]]: ...


def prometheus_status(slo: SLO, prom: Prometheus, *, now: datetime, period: timedelta) -> Status:
    status = _blank(slo, "prometheus")
    selector = rules.selector(slo.id_labels)
    for window in alert_windows():
        name = durations.format(window)
        found = prom.instant(f"{rules.SLI_ERROR}{name}{selector}", now)
        status.burn_rates[name] = found[0][1] / slo.error_budget if found else None
    remaining = prom.instant(f"{rules.BUDGET_REMAINING}{selector}", now)
    if remaining:
        status.error_budget_remaining = remaining[0][1]
        status.sli = 1 - (1 - remaining[0][1]) * slo.error_budget
    if slo.error_query is not None and slo.total_query is not None:
        step = period / CHART_STEPS
        errors = _steps(prom, slo.error_query, now - period, step)
        totals = _steps(prom, slo.total_query, now - period, step)
        status.chart = _chart(slo, now - period, step, errors, totals)
    return status


def _steps(prom: Prometheus, query: str, start: datetime, step: timedelta) -> list[float]:
    """Each step's increase: the rate over the step, times its length, at its end."""
    window = durations.format(step)
    expr = _NON_ZERO.sub("", render(query, window))
    series = prom.range(expr, start + step, start + step * CHART_STEPS, step)
    out = [0.0] * CHART_STEPS
    for points in series:
        for at, value in points:
            index = round((at - start) / step) - 1
            if 0 <= index < CHART_STEPS and value == value:  # NaN: no events then
                out[index] += value * step.total_seconds()
    return out


class PrometheusHTTP:
    """Prometheus' HTTP API (instant and range queries); errors raise."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str]) -> Any:
        response = requests.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus: {body.get('errorType')}: {body.get('error')}")
        return body["data"]["result"]

    def instant(self, query: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        result = self._get("/api/v1/query", {"query": query, "time": str(at.timestamp())})
        return [(item["metric"], float(item["value"][1])) for item in result]

    def range(
        self, query: str, start: datetime, end: datetime, step: timedelta
    ) -> list[list[tuple[datetime, float]]]:
        params = {
            "query": query,
            "start": str(start.timestamp()),
            "end": str(end.timestamp()),
            "step": str(step.total_seconds()),
        }
        return [
            [(datetime.fromtimestamp(float(t), tz=UTC), float(v)) for t, v in item["values"]]
            for item in self._get("/api/v1/query_range", params)
        ]
