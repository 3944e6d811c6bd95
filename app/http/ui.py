"""The web UI: server-rendered pages with labelled controls a browser probe can find."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import redirect, render_template, request, session
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app import faults, graph
from app.errors import NotFound
from app.http.auth import Throttled, end_session, public, requires, start_session
from app.http.context import db_session, principal, services
from app.http.errors import api_error
from app.search import search_entities

bp = APIBlueprint("ui", __name__, tag="Web UI")
csrf = CSRFProtect()


def html(**statuses: str) -> dict[int | str, Any]:
    """OpenAPI responses of a page: each status as text/html (redirects have no body)."""
    return {
        int(code.removeprefix("s")): {"description": text}
        | ({} if code.startswith("s3") else {"content": {"text/html": {}}})
        for code, text in statuses.items()
    }


PAGE = html(s200="the page", s302="to /login when not logged in", s403="the role may not")


class LoginForm(FlaskForm):
    tenant = StringField("Tenant", validators=[Optional(), Length(max=64)])
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/search"


@bp.get("/")
@public
@bp.doc(responses=html(s302="to /search"))
def home() -> Response:
    """Send the browser to search (which sends it to login when needed)."""
    return redirect("/search")


@bp.route("/login", methods=["GET", "POST"])
@public
@bp.doc(
    responses=html(
        s200="the form",
        s302="logged in: to next or /search",
        s400="invalid form or CSRF token",
        s401="wrong credentials",
        s429="too many failed logins",
    )
)
def login() -> Any:
    """Log in with tenant, username and password (operators leave the tenant empty)."""
    form = LoginForm()
    if form.validate_on_submit():
        try:
            issued = start_session(
                tenant=(form.tenant.data or "").strip() or None,
                username=form.username.data or "",
                password=form.password.data or "",
                kind="web",
            )
        except Throttled as exc:
            form.password.errors = [f"Too many failed logins. Try again in {exc.retry_after} s."]
            page = render_template("login.html", form=form)
            return page, 429, {"Retry-After": str(exc.retry_after)}
        if issued is not None:
            raw, _token, _user = issued
            session.clear()
            session.permanent = True
            session["token"] = raw
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors = ["Wrong tenant, username or password."]
        return render_template("login.html", form=form), 401
    status = 400 if request.method == "POST" else 200
    return render_template("login.html", form=form), status


@bp.post("/logout")
@requires("session", via="web")
@bp.doc(responses=html(s302="to /login", s400="missing CSRF token"))
def logout() -> Response:
    """End this browser session (the token is revoked, not just forgotten)."""
    end_session()
    session.clear()
    return redirect("/login")


@bp.get("/search")
@requires("search", via="web")
@bp.doc(responses=PAGE)
def search_page() -> str:
    """Search the graph of your tenant."""
    query = request.args.get("q", "").strip()[:256]
    if query:  # the empty form (where login lands) runs no search
        faults.trip(services().settings, "search")
    hits = search_entities(session=db_session(), query=query, limit=50) if query else []
    return render_template("search.html", query=query, hits=hits, caller=principal())


@bp.get("/entities/<entity_id>")
@requires("read", via="web")
@bp.doc(responses=PAGE | html(s404="not an entity of your tenant"))
def entity_page(entity_id: str) -> str:
    """One entity: its attributes, provenance and connections."""
    dbs = db_session()
    try:
        entity = graph.get_entity(session=dbs, entity_id=entity_id)
    except NotFound:
        raise api_error(404, "not_found", "No such entity in your tenant.") from None
    edges = graph.entity_edges(session=dbs, entity_id=entity.id)
    return render_template("entity.html", entity=entity, edges=edges, caller=principal())


def protect_forms() -> None:
    """Pages authenticated by cookie need CSRF tokens; the bearer-token API does not."""
    if request.routing_exception is not None:
        return  # no such route or method: let routing answer 404/405 first
    if not request.path.startswith("/api/"):
        csrf.protect()
