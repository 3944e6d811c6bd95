"""The ops page (/ops): each probe's status, latest runs with step timings, a chart of
recent durations, failure artifacts and a "run now" button; and the incidents.
Server-rendered; the chart is SVG drawn here, styled by classes in style.css
(the CSP allows no inline script or style)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import redirect, render_template, url_for
from werkzeug.wrappers import Response

from alerts import incidents
from app.ops.views import (
    FILE,
    incident_out,
    probe_out,
    run_out,
    runtime,
    scheduler_state,
    send_artifact,
)
from app.web.context import db_session, principal
from app.web.docs import PAGE, WEB_UI
from app.web.guard import requires
from probes import service
from probes.models import ProbeRun

bp = APIBlueprint("ops_pages", __name__, tag=WEB_UI)
CHART_RUNS = 30
CHART_WIDTH, CHART_HEIGHT = 300, 60
BAR_MS = 1000.0  # the golden-path bar: one second per run with a warm browser
FORM_POST: dict[int | str, Any] = {
    status: {"description": text, "content": {"text/html": {}}}
    for status, text in (
        (302, "back to the ops page"),
        (400, "no or a wrong CSRF token"),
        (404, "no such probe"),
    )
}


def duration_chart(runs: list[ProbeRun]) -> dict[str, Any]:
    """Bars for ``runs`` (newest first), oldest on the left, scaled to the slowest
    run or the 1 s bar, whichever is higher; geometry only, as SVG attributes."""
    ordered = list(reversed(runs[:CHART_RUNS]))
    top = max([BAR_MS, *(run.duration_ms for run in ordered)])
    slot = CHART_WIDTH / CHART_RUNS
    bars = []
    for index, run in enumerate(ordered):
        height = max(1.0, run.duration_ms / top * CHART_HEIGHT)
        bars.append(
            {
                "x": round(index * slot, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(slot - 2, 1),
                "height": round(height, 1),
                "status": run.status,
                "label": f"{run.started_at:%H:%M:%S} {run.status} {run.duration_ms:.0f} ms",
            }
        )
    limit_y = round(CHART_HEIGHT - BAR_MS / top * CHART_HEIGHT, 1)
    return {"bars": bars, "width": CHART_WIDTH, "height": CHART_HEIGHT, "limit_y": limit_y,
            "top_ms": round(top)}  # fmt: skip


@bp.get("/ops")
@requires("view_ops", via="web")
@bp.doc(responses=PAGE)
def ops_page() -> str:
    """Probes (status, runs, chart, artifacts, run now) and incidents."""
    session = db_session()
    probes = []
    for name in runtime().names:
        runs = service.recent_runs(session=session, probe=name, limit=CHART_RUNS)
        probes.append(
            {
                **probe_out(name),
                "runs": [run_out(run, web=True) for run in runs[:10]],
                "chart": duration_chart(runs),
            }
        )
    found = incidents.list_incidents(session=session, limit=20)
    return render_template(
        "ops.html",
        probes=probes,
        incidents=[incident_out(incident, web=True) for incident in found],
        scheduler=scheduler_state(),
        caller=principal(),
    )


@bp.post("/ops/probes/<name>/run")
@requires("run_probes", via="web")
@bp.doc(responses=FORM_POST)
def run_now(name: str) -> Response:
    """Run a probe now, then show the ops page with its result."""
    db_session().rollback()  # hold no write lock while the probe (and its login) runs
    runtime().run(name, trigger="ui")
    return redirect(url_for("ops_pages.ops_page", _anchor=f"probe-{name}"))


@bp.get("/ops/probes/<name>/runs/<run_id>/artifacts/<artifact>")
@requires("view_ops", via="web")
@bp.doc(responses=FILE)
def artifact(name: str, run_id: str, artifact: str) -> Response:
    """Download a failed run's artifact from the ops page."""
    return send_artifact(name, run_id, artifact)
