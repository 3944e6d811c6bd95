"""Logging in to the web UI from a Flask test client, CSRF token and all."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.world import PASSWORD


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def web_login(
    client: FlaskClient, tenant: str, username: str, password: str = PASSWORD, next_path: str = ""
) -> TestResponse:
    url = "/login" + (f"?next={next_path}" if next_path else "")
    return client.post(
        url,
        data={
            "csrf_token": csrf_token(client),
            "tenant": tenant,
            "username": username,
            "password": password,
        },
    )
