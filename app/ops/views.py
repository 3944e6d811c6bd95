"""The ops API: probes, their runs and artifacts, incidents. Operators only.

A thin adapter over ``probes.service``, ``alerts.incidents`` and
``app.ops.service``; running a probe is a request answered at once (202) and
run on this process's ``ProbeRuntime`` (app.ops.runtime).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from apiflask import APIBlueprint
from flask import current_app, send_file, url_for
from werkzeug.wrappers import Response

from alerts import incidents
from alerts.models import Incident
from app.core.db import utcnow
from app.ops import scheduler
from app.ops import service as ops
from app.ops.models import ProbeRequest
from app.ops.runtime import ProbeRuntime
from app.ops.scheduler import JOBS
from app.ops.schemas import (
    IncidentOut,
    IncidentsOut,
    IncidentsQuery,
    ProbeOut,
    ProbesOut,
    RecordedRunOut,
    RespondedIncidentOut,
    RunOut,
    RunRequestOut,
    RunsOut,
    RunsQuery,
)
from app.web.context import db_session, principal, services
from app.web.errors import api_error
from app.web.guard import requires
from app.web.shapes import dump, json_response
from probes import service
from probes.journeys import load
from probes.models import ProbeRun

bp = APIBlueprint("ops", __name__, url_prefix="/api/v1", tag="Ops")
NOT_FOUND: dict[int | str, Any] = {404: "no such probe, run or artifact (or retention removed it)"}
FILE: dict[int | str, Any] = {200: {"description": "the file"}}
PENDING: dict[int | str, Any] = {
    202: {
        "description": "asked for, not finished: poll again",
        "content": {"application/json": {"schema": RunRequestOut}},
    }
}
# Opened in the browser rather than downloaded: what an operator reads at once.
INLINE = {".png": "image/png", ".json": "application/json"}


def runtime() -> ProbeRuntime:
    return cast(ProbeRuntime, current_app.extensions["summit.probes"])


def scheduler_state() -> str:
    """leader, standby or stopped for this process's scheduler; disabled when off.
    Readiness asks this; pages show scheduler_facts(), which every worker shares."""
    return scheduler.state(current_app.extensions.get("summit.scheduler"))


def scheduler_facts() -> ops.SchedulerFacts:
    enabled = services().settings.scheduler
    return ops.scheduler_facts(session=db_session(), enabled=enabled, now=utcnow())


def artifact_links(probe: str, run_id: str, paths: list[str], *, web: bool) -> list[dict[str, str]]:
    endpoint = "ops_pages.artifact" if web else "ops.artifact"
    names = [Path(path).name for path in paths]
    return [
        {"name": n, "url": url_for(endpoint, name=probe, run_id=run_id, artifact=n)} for n in names
    ]


def run_out(run: ProbeRun, *, web: bool = False) -> dict[str, Any]:
    """A run in RunOut's shape (values as Python objects)."""
    links = artifact_links(run.probe, run.id, run.artifacts, web=web)
    return dump(RunOut, run, artifacts=links, duration_ms=round(run.duration_ms, 3))


def request_out(request: ProbeRequest) -> dict[str, Any]:
    state = ops.request_state(request, now=utcnow(), stale_after=runtime().stale_after)
    url = url_for("ops.get_run", name=request.probe, run_id=request.id)
    return dump(RunRequestOut, request, state=state, url=url)


def incident_out(incident: Incident, *, web: bool = False) -> dict[str, Any]:
    details = incident.details
    paths = [str(p) for p in details.get("artifacts", [])]
    probe, run_id = str(details.get("probe")), str(details.get("run_id"))
    return dump(IncidentOut, incident, artifacts=artifact_links(probe, run_id, paths, web=web))


def probe_out(name: str, facts: ops.SchedulerFacts) -> dict[str, Any]:
    session = db_session()
    status, incident = service.status(session=session, probe=name)
    latest = service.recent_runs(session=session, probe=name, limit=1)
    setting = JOBS[name][0] if name in JOBS else None
    return dump(
        ProbeOut,
        None,
        name=name,
        kind=load(name).kind,
        interval_seconds=getattr(runtime().settings, setting) if setting else 0,
        status=status,
        last_run=run_out(latest[0]) if latest else None,
        open_incident=incident.id if incident else None,
        next_run_at=facts.next_runs.get(name),
    )


@bp.get("/probes")
@requires("view_ops")
@bp.output(ProbesOut)
def list_probes() -> Any:
    """Every probe: status (red while an incident is open), interval, latest and next
    run; the scheduler as its lease says (the same whichever worker answers)."""
    facts = scheduler_facts()
    return {
        "probes": [probe_out(name, facts) for name in runtime().names],
        "scheduler": facts.state,
        "scheduler_leader": facts.leader,
    }


@bp.post("/probes/<name>/run")
@requires("run_probes", writes=False)
@bp.output(RunRequestOut, status_code=202)
@bp.doc(responses=NOT_FOUND)
def run_probe(name: str) -> Any:
    """Ask for a run now; answered at once. Poll ``url`` (also the Location
    header): 202 while it runs, then the recorded run. Asking while a run of
    the same probe is queued or running returns that run."""
    request = runtime().request_run(name, trigger="api", requested_by=principal().username)
    body = request_out(request)
    return body, 202, {"Location": body["url"]}


@bp.get("/probes/<name>/runs")
@requires("view_ops")
@bp.input(RunsQuery, location="query", arg_name="query")
@bp.output(RunsOut)
@bp.doc(responses=NOT_FOUND)
def list_runs(name: str, query: dict[str, Any]) -> Any:
    """A probe's latest runs, newest first, with per-step timings."""
    load(name)
    runs = service.recent_runs(session=db_session(), probe=name, limit=query["limit"])
    return {"runs": [run_out(run) for run in runs]}


@bp.get("/probes/<name>/runs/<run_id>")
@requires("view_ops")
@bp.output(RecordedRunOut)
@bp.doc(responses={**PENDING, **NOT_FOUND})
def get_run(name: str, run_id: str) -> Any:
    """One run: 200 once recorded, 202 while asked for and not finished, 404 when
    unknown or abandoned (the process running it stopped first)."""
    load(name)
    run = service.get_run(session=db_session(), run_id=run_id)
    if run is not None and run.probe == name:
        return run_out(run)
    request = pending_request_or_404(name, run_id)
    return json_response(RunRequestOut, request_out(request), status=202)


def pending_request_or_404(name: str, run_id: str) -> ProbeRequest:
    """The request for a run not recorded yet; 404 when there is none to wait for."""
    request = ops.get_request(session=db_session(), request_id=run_id)
    if request is None or request.probe != name:
        raise api_error(404, "not_found", f"no run {run_id} of probe {name}")
    state = ops.request_state(request, now=utcnow(), stale_after=runtime().stale_after)
    if state not in ops.PENDING:
        reason = request.error or "the process running it stopped first"
        raise api_error(404, "run_abandoned", f"run {run_id} was not recorded: {reason}")
    return request


@bp.get("/probes/<name>/runs/<run_id>/artifacts/<artifact>")
@requires("view_ops")
@bp.doc(responses={**FILE, **NOT_FOUND})
def artifact(name: str, run_id: str, artifact: str) -> Response:
    """A failed run's artifact: ``trace.zip`` (open with ``playwright show-trace``),
    ``screenshot.png``, or the policy probe's ``decisions.json``."""
    return send_artifact(name, run_id, artifact)


def send_artifact(name: str, run_id: str, artifact: str) -> Response:
    """The one way an artifact leaves the server: only a file the run lists, under
    the artifacts folder. Screenshots and JSON open in the browser; traces download."""
    run = service.get_run(session=db_session(), run_id=run_id)
    wanted = [
        p for p in (run.artifacts if run and run.probe == name else []) if Path(p).name == artifact
    ]
    root = runtime().config.artifacts_dir
    path = (root / wanted[0]).resolve() if wanted else None
    if path is None or not path.is_relative_to(root) or not path.is_file():
        raise api_error(404, "not_found", "no such artifact (retention may have removed it)")
    inline = path.suffix in INLINE
    return send_file(
        path,
        mimetype=INLINE.get(path.suffix),
        as_attachment=not inline,
        download_name=f"{name}-{run_id[:8]}-{artifact}",
    )


@bp.get("/incidents")
@requires("view_ops")
@bp.input(IncidentsQuery, location="query", arg_name="query")
@bp.output(IncidentsOut)
def list_incidents(query: dict[str, Any]) -> Any:
    """Incidents, newest first, each with its failing run and that run's artifacts."""
    found = incidents.list_incidents(
        session=db_session(), status=query.get("status"), limit=query["limit"]
    )
    return {"incidents": [incident_out(incident) for incident in found]}


@bp.post("/incidents/<incident_id>/acknowledge")
@requires("respond")
@bp.output(RespondedIncidentOut)
@bp.doc(responses={404: "no such incident"})
def acknowledge(incident_id: str) -> Any:
    """Say you are on it (recorded with your name; notifiers are told)."""
    return incident_out(respond(incident_id, "acknowledge"))


@bp.post("/incidents/<incident_id>/resolve")
@requires("respond")
@bp.output(RespondedIncidentOut)
@bp.doc(responses={404: "no such incident"})
def resolve(incident_id: str) -> Any:
    """Close an incident by hand. A probe's failures count afresh from here, so a
    probe still failing opens a new incident once it crosses its threshold."""
    return incident_out(respond(incident_id, "resolve"))


def respond(incident_id: str, what: str) -> Incident:
    """Acknowledge or resolve, in the request's write transaction."""
    session = db_session()
    incident = incidents.get_incident(session=session, incident_id=incident_id)
    if incident is None:
        raise api_error(404, "not_found", f"no incident {incident_id}")
    who, now, notifiers = principal().username, utcnow(), runtime().notifiers
    if what == "acknowledge":
        return incidents.acknowledge_incident(
            session=session, incident=incident, by=who, now=now, notifiers=notifiers
        )
    return incidents.resolve_incident(
        session=session, incident=incident, now=now, notifiers=notifiers, by=who
    )
