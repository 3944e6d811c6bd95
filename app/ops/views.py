"""The ops API: probes, their runs and artifacts, incidents. Operators only.

A thin adapter over ``probes.service`` and ``alerts.incidents``; running a
probe goes through this process's ``ProbeRuntime`` (app.ops.runtime).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from apiflask import APIBlueprint
from flask import current_app, send_file, url_for
from werkzeug.wrappers import Response

from alerts import incidents
from alerts.models import Incident
from app.ops import scheduler
from app.ops.runtime import ProbeRuntime
from app.ops.scheduler import JOBS
from app.ops.schemas import (
    IncidentOut,
    IncidentsOut,
    IncidentsQuery,
    ProbeOut,
    ProbesOut,
    RecordedRunOut,
    RunOut,
    RunsOut,
    RunsQuery,
)
from app.web.context import db_session
from app.web.errors import api_error
from app.web.guard import requires
from app.web.shapes import dump
from probes import service
from probes.journeys import load
from probes.models import ProbeRun

bp = APIBlueprint("ops", __name__, url_prefix="/api/v1", tag="Ops")
NOT_FOUND: dict[int | str, Any] = {404: "no such probe, run or artifact (or retention removed it)"}
FILE: dict[int | str, Any] = {200: {"description": "the file"}}


def runtime() -> ProbeRuntime:
    return cast(ProbeRuntime, current_app.extensions["summit.probes"])


def scheduler_state() -> str:
    """leader, standby or stopped for this process's scheduler; disabled when off."""
    return scheduler.state(current_app.extensions.get("summit.scheduler"))


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


def incident_out(incident: Incident, *, web: bool = False) -> dict[str, Any]:
    details = incident.details
    paths = [str(p) for p in details.get("artifacts", [])]
    probe, run_id = str(details.get("probe")), str(details.get("run_id"))
    return dump(IncidentOut, incident, artifacts=artifact_links(probe, run_id, paths, web=web))


def probe_out(name: str) -> dict[str, Any]:
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
    )


@bp.get("/probes")
@requires("view_ops")
@bp.output(ProbesOut)
def list_probes() -> Any:
    """Every probe: status (red while an incident is open), interval, latest run."""
    return {
        "probes": [probe_out(name) for name in runtime().names],
        "scheduler": scheduler_state(),
    }


@bp.post("/probes/<name>/run")
@requires("run_probes")
@bp.output(RecordedRunOut, status_code=201)
@bp.doc(responses=NOT_FOUND)
def run_probe(name: str) -> Any:
    """Run a probe now, wait for it, and return the recorded run (passed or not)."""
    # The guard opened a write transaction for this POST; a probe takes a second
    # and its own login must write a token, so hold no lock while it runs.
    db_session().rollback()
    return run_out(runtime().run(name, trigger="api"))


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


@bp.get("/probes/<name>/runs/<run_id>/artifacts/<artifact>")
@requires("view_ops")
@bp.doc(responses={**FILE, **NOT_FOUND})
def artifact(name: str, run_id: str, artifact: str) -> Response:
    """A failed run's artifact: ``trace.zip`` (open with ``playwright show-trace``),
    ``screenshot.png``, or the policy probe's ``decisions.json``."""
    return send_artifact(name, run_id, artifact)


def send_artifact(name: str, run_id: str, artifact: str) -> Response:
    run = service.get_run(session=db_session(), run_id=run_id)
    wanted = [
        p for p in (run.artifacts if run and run.probe == name else []) if Path(p).name == artifact
    ]
    root = runtime().config.artifacts_dir
    path = (root / wanted[0]).resolve() if wanted else None
    if path is None or not path.is_relative_to(root) or not path.is_file():
        raise api_error(404, "not_found", "no such artifact (retention may have removed it)")
    return send_file(path, as_attachment=True, download_name=f"{name}-{run_id[:8]}-{artifact}")


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
