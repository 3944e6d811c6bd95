"""The operator's pages: /ops for triage (open incidents first, then a card per
probe), one page per run (/ops/probes/<name>/runs/<id>), "run now" and the
incident buttons. Server-rendered; charts and auto-refresh are static/ops.js
(the CSP allows no inline script or style)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask import APIBlueprint
from flask import flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.core.db import utcnow
from app.ops import board, history
from app.ops.scheduler import JOBS
from app.ops.views import (
    FILE,
    artifact_links,
    pending_request_or_404,
    respond,
    runtime,
    scheduler_facts,
    send_artifact,
)
from app.web.context import db_session, principal
from app.web.docs import PAGE, WEB_UI, html
from app.web.guard import requires
from probes import service
from probes.journeys import load

bp = APIBlueprint("ops_pages", __name__, tag=WEB_UI)
RUN_NOW = html(
    s202="asked for (to a script that sent Accept: application/json): where to watch it",
    s303="to the run's page, which shows the run when it finishes",
    s400="no or a wrong CSRF token",
    s404="no such probe",
)
FORM_POST = html(
    s303="back to the ops page", s400="no or a wrong CSRF token", s404="no such incident"
)
JSON_STATE: dict[int | str, Any] = {200: {"description": "the run's state, for ops.js"}}


def _interval(name: str) -> int:
    setting = JOBS[name][0] if name in JOBS else None
    return int(getattr(runtime().settings, setting)) if setting else 0


@bp.get("/ops")
@requires("view_ops", via="web")
@bp.doc(responses=PAGE)
def ops_page() -> str:
    """Open incidents, then each probe: status, uptime, last and next run, a
    duration chart and the last 90 runs; recently resolved incidents last."""
    session, now = db_session(), utcnow()
    facts = scheduler_facts()
    cards = [
        board.probe_card(session=session, name=name, interval=_interval(name), facts=facts, now=now)
        for name in runtime().names
    ]
    return render_template(
        "ops.html",
        open_incidents=board.incident_cards(session=session, status="open", limit=50),
        resolved=board.incident_cards(session=session, status="resolved", limit=10),
        cards=cards,
        facts=facts,
        now=now,
        caller=principal(),
    )


@bp.post("/ops/probes/<name>/run")
@requires("run_probes", via="web", writes=False)
@bp.doc(responses=RUN_NOW)
def run_now(name: str) -> Any:
    """Ask for a run now. Answered at once; the run goes on in the background."""
    asked = runtime().request_run(name, trigger="ui", requested_by=principal().username)
    page = url_for("ops_pages.run_page", name=name, run_id=asked.id)
    if request.accept_mimetypes.best == "application/json":
        state = url_for("ops_pages.run_state", name=name, run_id=asked.id)
        body = {
            "id": asked.id,
            "probe": name,
            "state": asked.state,
            "url": page,
            "state_url": state,
        }
        return jsonify(body), 202
    return redirect(page, code=303)


@bp.get("/ops/probes/<name>/runs/<run_id>")
@requires("view_ops", via="web")
@bp.doc(responses=PAGE | html(s404="no such run of this probe"))
def run_page(name: str, run_id: str) -> str:
    """One run: its steps as a waterfall, the error and the step that failed, the
    screenshot, the trace and how to open it, its trigger and its incident."""
    load(name)
    session = db_session()
    run = service.get_run(session=session, run_id=run_id)
    if run is None or run.probe != name:
        asked = pending_request_or_404(name, run_id)
        return render_template("run_pending.html", asked=asked, caller=principal())
    change = service.incident_change(session=session, run=run)
    links = {a["name"]: a["url"] for a in artifact_links(name, run.id, run.artifacts, web=True)}
    root = runtime().config.artifacts_dir
    files = {path.rsplit("/", 1)[-1]: str(root / path) for path in run.artifacts}
    neighbours = service.recent_runs(session=session, probe=name, limit=1)
    return render_template(
        "run.html",
        run=run,
        bars=history.waterfall(run.steps),
        links=links,
        files=files,
        change=change,
        trigger=board.trigger_word(run.trigger),
        is_latest=bool(neighbours) and neighbours[0].id == run.id,
        caller=principal(),
    )


@bp.get("/ops/probes/<name>/runs/<run_id>/state")
@requires("view_ops", via="web")
@bp.doc(responses=JSON_STATE | html(s404="no such run"))
def run_state(name: str, run_id: str) -> Any:
    """Where an asked-for run is: queued, running or done (with its result)."""
    load(name)
    page = url_for("ops_pages.run_page", name=name, run_id=run_id)
    run = service.get_run(session=db_session(), run_id=run_id)
    if run is not None and run.probe == name:
        words = f"{name} {'passed' if run.passed else 'failed'} in {board.ms(run.duration_ms)}"
        return jsonify({"state": "done", "status": run.status, "summary": words, "url": page})
    asked = pending_request_or_404(name, run_id)
    return jsonify({"state": asked.state, "status": None, "summary": None, "url": page})


@bp.get("/ops/probes/<name>/runs/<run_id>/artifacts/<artifact>")
@requires("view_ops", via="web")
@bp.doc(responses=FILE)
def artifact(name: str, run_id: str, artifact: str) -> Response:
    """A failed run's artifact: the screenshot opens in the browser, the trace downloads."""
    return send_artifact(name, run_id, artifact)


@bp.post("/ops/incidents/<incident_id>/acknowledge")
@requires("respond", via="web")
@bp.doc(responses=FORM_POST)
def acknowledge_page(incident_id: str) -> Response:
    """Acknowledge an incident (you are on it)."""
    incident = respond(incident_id, "acknowledge")
    flash(f"Acknowledged: {board.incident_card(incident).what}.", "status")
    return redirect(url_for("ops_pages.ops_page", _anchor=f"incident-{incident_id}"), code=303)


@bp.post("/ops/incidents/<incident_id>/resolve")
@requires("respond", via="web")
@bp.doc(responses=FORM_POST)
def resolve_page(incident_id: str) -> Response:
    """Resolve an incident by hand."""
    incident = respond(incident_id, "resolve")
    flash(f"Resolved: {board.incident_card(incident).what}.", "status")
    return redirect(url_for("ops_pages.ops_page"), code=303)


# --- words for times and numbers (filters for every template) ------------------------


@bp.app_template_filter("ago")
def ago(when: datetime) -> str:
    """ "12 s ago", "in 40 s", "3 h ago": relative to now, coarse on purpose."""
    seconds = (when - utcnow()).total_seconds()
    span = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if span >= size:
            amount = f"{span // size:.0f} {unit}"
            break
    else:
        amount = f"{span:.0f} s"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


@bp.app_template_filter("pct")
def pct(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return "100%" if ratio == 1 else f"{min(ratio, 0.9999) * 100:.2f}%"


@bp.app_template_filter("duration")
def duration(ms: float) -> str:
    return board.ms(ms)


@bp.app_template_filter("trigger")
def trigger(word: str) -> str:
    return board.trigger_word(word)
