"""Each dashboard's JSON for operators to download (``/ops/dashboards/<uid>.json``),
so the embedded default hands out the same dashboards `summit dashboards build`
writes, with their links pointing back at the server they came from."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, request, url_for

from app.web.context import services
from app.web.docs import WEB_UI, html
from app.web.errors import api_error
from app.web.guard import requires
from dashboards import build, style

bp = APIBlueprint("dashboard_pages", __name__, tag=WEB_UI)
DOWNLOAD: dict[int | str, Any] = {
    200: {"description": "the dashboard's JSON", "content": {"application/json": {}}},
    **html(s302="to /login when not logged in", s403="the role may not", s404="no such dashboard"),
}


def dashboard_links() -> list[dict[str, str]]:
    """Every dashboard's title and download URL, for the /ops page to list."""
    return [
        {"uid": uid, "title": title, "url": url_for("dashboard_pages.download", uid=uid)}
        for uid, title in build.titles().items()
    ]


@bp.get("/ops/dashboards/<uid>.json")
@requires("view_ops", via="web")
@bp.doc(responses=DOWNLOAD)
def download(uid: str) -> Response:
    """One Grafana dashboard as JSON, its links set to this server (import it in Grafana)."""
    summit_url = services().settings.public_url or request.host_url
    try:
        dashboard = build.build_one(uid, summit_url=summit_url)
    except build.UnknownDashboard as exc:
        raise api_error(404, "not_found", str(exc)) from None
    return Response(
        style.render(dashboard),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{uid}.json"'},
    )
