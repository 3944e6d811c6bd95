"""Request and response bodies of the ops API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range


class StepOut(Schema):
    name = String(required=True)
    ms = Float(required=True)
    ok = Boolean(required=True)
    error = String(allow_none=True)


class ArtifactOut(Schema):
    name = String(required=True)
    url = String(required=True, metadata={"description": "download (operator token)"})


class RunOut(Schema):
    id = String(required=True)
    probe = String(required=True)
    trigger = String(required=True, metadata={"description": "schedule, api, ui or cli"})
    status = String(required=True, validate=OneOf(["pass", "fail"]))
    started_at = DateTime(required=True)
    duration_ms = Float(required=True)
    steps = List(Nested(StepOut), required=True)
    failed_step = String(allow_none=True)
    error = String(allow_none=True)
    artifacts = List(Nested(ArtifactOut), required=True)


class RecordedRunOut(RunOut):
    """RunOut at the top level (apispec warns when one class is both nested and top-level)."""


class RunRequestOut(Schema):
    """A run asked for and not finished yet: poll ``url`` until it answers 200."""

    id = String(required=True, metadata={"description": "the id the run is recorded under"})
    probe = String(required=True)
    trigger = String(required=True, metadata={"description": "api or ui"})
    state = String(required=True, validate=OneOf(["queued", "running", "done", "abandoned"]))
    requested_at = DateTime(required=True)
    requested_by = String(allow_none=True)
    url = String(required=True, metadata={"description": "GET it: 202 until the run is done"})


class ProbeOut(Schema):
    name = String(required=True)
    kind = String(required=True, validate=OneOf(["browser", "http"]))
    interval_seconds = Integer(required=True)
    status = String(required=True, validate=OneOf(["unknown", "green", "failing", "red"]))
    last_run = Nested(RunOut, allow_none=True)
    open_incident = String(allow_none=True)
    next_run_at = DateTime(
        allow_none=True, metadata={"description": "from the scheduler's job store; null when off"}
    )


class ProbesOut(Schema):
    probes = List(Nested(ProbeOut), required=True)
    scheduler = String(
        required=True,
        validate=OneOf(["running", "no leader", "disabled"]),
        metadata={"description": "from the scheduler lease: the same on every worker"},
    )
    scheduler_leader = String(
        allow_none=True, metadata={"description": "host:pid:nonce of the process that leads"}
    )


class RunsQuery(Schema):
    limit = Integer(load_default=20, validate=Range(1, 200))


class RunsOut(Schema):
    runs = List(Nested(RunOut), required=True)


class PageEventOut(Schema):
    action = String(required=True, validate=OneOf(["trigger", "acknowledge", "resolve"]))
    state = String(required=True, validate=OneOf(["pending", "sending", "sent", "failed"]))
    enqueued_at = DateTime(
        required=True, metadata={"description": "written with the incident change"}
    )
    sent_at = DateTime(allow_none=True)
    held_until = DateTime(
        allow_none=True, metadata={"description": "quiet hours hold it until then"}
    )
    attempts = Integer(required=True)
    error = String(allow_none=True)


class PagingOut(Schema):
    dedup_key = String(required=True, metadata={"description": "PagerDuty's dedup key"})
    events = List(Nested(PageEventOut), required=True)


class IncidentOut(Schema):
    id = String(required=True)
    key = String(required=True)
    title = String(required=True)
    status = String(required=True, validate=OneOf(["open", "resolved"]))
    opened_at = DateTime(required=True)
    resolved_at = DateTime(allow_none=True)
    details = Dict(required=True)
    artifacts = List(Nested(ArtifactOut), required=True)
    acknowledged_at = DateTime(allow_none=True)
    acknowledged_by = String(allow_none=True)
    resolved_by = String(
        allow_none=True, metadata={"description": "who resolved it; null when it recovered"}
    )
    # paging (issue 12)
    service = String(required=True, metadata={"description": "its escalation service"})
    state = String(required=True, validate=OneOf(["triggered", "acknowledged", "resolved"]))
    triggered_at = DateTime(required=True, metadata={"description": "= opened_at"})
    seconds_to_acknowledge = Float(allow_none=True)
    seconds_to_resolve = Float(allow_none=True)
    paging = Nested(PagingOut, required=True)


class ResponseTimesOut(Schema):
    service = String(required=True)
    opened = Integer(required=True, metadata={"description": "incidents opened in the window"})
    pages = Integer(required=True, metadata={"description": "of which paged someone"})
    mtta_seconds = Float(allow_none=True, metadata={"description": "mean time to acknowledge"})
    mttr_seconds = Float(allow_none=True, metadata={"description": "mean time to resolve"})


class IncidentStatsOut(Schema):
    window_days = Integer(required=True)
    services = List(Nested(ResponseTimesOut), required=True)
    pages_per_week = Dict(
        keys=String(), values=Integer(), required=True,
        metadata={"description": "per service: incidents that paged in the last 7 days"},
    )  # fmt: skip


class RespondedIncidentOut(IncidentOut):
    """IncidentOut at the top level."""


class IncidentsQuery(Schema):
    status = String(validate=OneOf(["open", "resolved"]))
    state = String(validate=OneOf(["triggered", "acknowledged", "resolved"]))
    service = String(validate=Length(1, 64))
    since = DateTime(metadata={"description": "opened at or after (ISO, with an offset)"})
    until = DateTime(metadata={"description": "opened before"})
    limit = Integer(load_default=50, validate=Range(1, 500))


class IncidentsOut(Schema):
    incidents = List(Nested(IncidentOut), required=True)
    stats = Nested(IncidentStatsOut, required=True)
