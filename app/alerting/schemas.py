"""Bodies of the SLO API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Float, Integer, List, Nested, String
from apiflask.validators import OneOf


class BurnRateOut(Schema):
    window = String(required=True, metadata={"description": "a Prometheus duration: 5m … 3d"})
    burn_rate = Float(
        allow_none=True,
        metadata={"description": "error ratio over the window / error budget; null: no events"},
    )


class AlertConditionOut(Schema):
    severity = String(required=True, validate=OneOf(["page", "ticket"]))
    enabled = Boolean(required=True, metadata={"description": "false when the spec disables it"})
    long_window = String(required=True)
    short_window = String(required=True)
    factor = Float(required=True, metadata={"description": "burn rate above which it fires"})
    firing = Boolean(required=True, metadata={"description": "both windows above the factor now"})


class ChartPointOut(Schema):
    at = DateTime(required=True)
    remaining = Float(
        allow_none=True, metadata={"description": "budget left, counted from the period's start"}
    )


class SloOut(Schema):
    id = String(required=True, metadata={"description": "sloth_id: <service>-<slo>"})
    service = String(required=True)
    name = String(required=True)
    description = String(required=True)
    objective = Float(required=True, metadata={"description": "percent of good events"})
    source = String(required=True, validate=OneOf(["prometheus", "local", "none"]))
    sli = Float(allow_none=True, metadata={"description": "share of good events over the period"})
    error_budget_remaining = Float(
        allow_none=True, metadata={"description": "1 untouched, 0 spent, below 0 overspent"}
    )
    burn_rates = List(Nested(BurnRateOut), required=True)
    alerts = List(Nested(AlertConditionOut), required=True)
    chart = List(Nested(ChartPointOut), required=True)
    runbook = String(allow_none=True, metadata={"description": "the alerts' runbook URL"})
    note = String(required=True)


class SlosOut(Schema):
    period_days = Integer(required=True)
    source = String(
        required=True,
        validate=OneOf(["prometheus", "local"]),
        metadata={"description": "prometheus when PROMETHEUS_URL is set"},
    )
    generated_at = DateTime(required=True)
    slos = List(Nested(SloOut), required=True)
