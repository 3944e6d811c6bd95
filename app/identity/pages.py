"""The login and logout pages, and the site's front door."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app.identity.login import Throttled, end_session, start_session
from app.web import nav
from app.web.docs import WEB_UI, html
from app.web.guard import public, requires

bp = APIBlueprint("identity_pages", __name__, tag=WEB_UI)


class LoginForm(FlaskForm):
    tenant = StringField("Tenant", validators=[Optional(), Length(max=64)])
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


@bp.get("/")
@public
@bp.doc(responses=html(s302="to your home page (search, or /ops for operators), or /login"))
def home() -> Response:
    """Send the browser to its role's home, or to the login page."""
    caller = nav.web_caller()
    return redirect(nav.landing(caller) if caller else url_for("identity_pages.login"))


@bp.route("/login", methods=["GET", "POST"])
@public
@bp.doc(
    responses=html(
        s200="the form",
        s302="logged in: to next, or to the role's home (/search; /ops for operators)",
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
            return redirect(nav.after_login(nav.web_caller(), request.args.get("next")))
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
    return redirect(url_for("identity_pages.login"))
