"""Bodies of the SLO and paging APIs."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf
from marshmallow import EXCLUDE


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


# --- paging (issue 12) ----------------------------------------------------------------


class AlertIn(Schema):
    class Meta:
        unknown = EXCLUDE  # Alertmanager adds fields between versions; we read these

    status = String(required=True, validate=OneOf(["firing", "resolved"]))
    labels = Dict(keys=String(), values=String(), required=True)
    annotations = Dict(keys=String(), values=String(), load_default=dict)
    startsAt = String(load_default=None)
    endsAt = String(load_default=None)
    fingerprint = String(load_default=None)


class AlertmanagerIn(Schema):
    """Alertmanager's webhook message (version 4): one alert group."""

    class Meta:
        unknown = EXCLUDE

    version = String(required=True, validate=OneOf(["4"]))
    groupKey = String(required=True, validate=Length(1, 4096))
    status = String(required=True, validate=OneOf(["firing", "resolved"]))
    receiver = String(required=True)
    groupLabels = Dict(keys=String(), values=String(), required=True)
    commonLabels = Dict(keys=String(), values=String(), required=True)
    commonAnnotations = Dict(keys=String(), values=String(), required=True)
    externalURL = String(load_default=None)
    alerts = List(Nested(AlertIn), required=True, validate=Length(1, 1000))


class WebhookOut(Schema):
    opened = Integer(required=True, metadata={"description": "incidents opened (or kept open)"})
    resolved = Integer(required=True)
    ignored = Integer(
        required=True, metadata={"description": "probe alerts: the control plane pages those"}
    )
    incident_key = String(allow_none=True)


class TestPageIn(Schema):
    service = String(load_default="summit", validate=Length(1, 64))


class TestPageOut(Schema):
    accepted = Boolean(required=True, metadata={"description": "PagerDuty answered 202"})
    incident = String(required=True, metadata={"description": "the incident it is recorded as"})
    service = String(required=True)
    dedup_key = String(required=True)
    trigger = String(required=True, metadata={"description": "outbox state: sent, pending…"})
    resolve = String(required=True)


class WhoQuery(Schema):
    service = String(load_default="summit", validate=Length(1, 64))
    at = String(
        load_default=None,
        metadata={"description": "ISO time; without an offset, UTC. Default: now"},
    )


class OnCallOut(Schema):
    handle = String(required=True)
    name = String(required=True)
    email = String(required=True)
    time_zone = String(required=True)
    local_time = String(required=True, metadata={"description": "the moment, on their clock"})
    via = String(required=True)


class LevelOut(Schema):
    level = Integer(required=True)
    delay_minutes = Integer(required=True)
    after_minutes = Integer(required=True, metadata={"description": "paged this long after"})
    on_call = List(Nested(OnCallOut), required=True)
    gaps = List(String(), required=True, metadata={"description": "schedules with nobody on"})


class QuietOut(Schema):
    active = Boolean(required=True)
    held_until = DateTime(
        allow_none=True, metadata={"description": "when a held non-critical page goes"}
    )
    time_zone = String(allow_none=True)


class WhoOut(Schema):
    service = String(required=True)
    at = DateTime(required=True)
    escalation_policy = String(required=True)
    loops = Integer(required=True)
    levels = List(Nested(LevelOut), required=True)
    quiet_hours = Nested(QuietOut, required=True)


class WebhookQuery(Schema):
    paged = String(
        validate=OneOf(["alertmanager"]),
        metadata={"description": "set by `summit alerts build` when the receiver pages itself"},
    )
