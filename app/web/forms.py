"""CSRF protection for the cookie-authenticated pages (Flask-WTF)."""

from __future__ import annotations

from flask import request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


def protect_forms() -> None:
    """Pages authenticated by cookie need CSRF tokens; the bearer-token API does not."""
    if request.routing_exception is not None:
        return  # no such route or method: let routing answer 404/405 first
    if not request.path.startswith("/api/"):
        csrf.protect()
