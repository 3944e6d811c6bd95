"""/docs: the OpenAPI document in Swagger UI, its assets served from our static
files (app/web/static/vendor/swagger-ui), started by static/docs.js: the CSP
allows no inline script, which APIFlask's own docs page uses."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import render_template

from app.web.docs import WEB_UI, html
from app.web.guard import public

bp = APIBlueprint("explorer", __name__, tag=WEB_UI)


@bp.get("/docs")
@public
@bp.doc(responses=html(s200="the API explorer"))
def docs() -> str:
    """Browse and try the API (log in with POST /api/v1/auth/login, then Authorize)."""
    return render_template("docs.html")
