"""Hostile input from schemathesis, generated from our own /openapi.json.

Every documented operation gets bounded, derandomized examples (the example
count is the `MAX_EXAMPLES` below), sent to a server on 127.0.0.1 as an
authenticated admin. No answer may be a 5xx, and every answer must match the
documented schema, status codes and content type.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from werkzeug.serving import make_server

from app import create_app
from tests.support.world import app_config, seed_world, services

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[dict[str, str]]:
    import shutil

    work = tmp_path_factory.mktemp("schemathesis")
    shutil.copy(sqlite_template, work / "summit.db")
    app = create_app(
        app_config(f"sqlite:///{work / 'summit.db'}", work / "var", SUMMIT_LOGIN_MAX_FAILURES=1000)
    )
    world = seed_world(app)
    token = world.login("alice")["token"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "token": token}
    server.shutdown()
    thread.join(timeout=10)
    services(app).close()


def _document() -> dict[str, object]:
    """The OpenAPI document, read from a throwaway app at collection time.

    (schemathesis.pytest.from_fixture breaks on pytest 9: it reads a removed
    private attribute. The document does not depend on the database.)
    """
    with tempfile.TemporaryDirectory() as work:
        app = create_app(app_config(f"sqlite:///{work}/x.db", Path(work) / "var"))
        document: dict[str, object] = app.test_client().get("/openapi.json").get_json()
        services(app).close()
    return document


# Logging out revokes the very token the run uses; logout has its own tests.
schema = schemathesis.openapi.from_dict(_document()).exclude(path_regex=r"logout$")
# Every request carries the admin's token (call_and_validate below). Left to
# generate the Authorization header, schemathesis would also drop it as a
# "negative" case that our token then quietly restores, and report the request
# as accepted negative data; missing and bad tokens have their own tests.
schema.config.generation.update(with_security_parameters=False)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_responses_match_the_schema(
    case: schemathesis.Case[Any], served: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=served["url"],
        headers={"Authorization": f"Bearer {served['token']}"},
        # A schema-valid request may still be refused on its meaning: an opaque
        # cursor we never issued, an id that is not the caller's (400/404 by
        # design). Every other check runs, negative_data_rejection included.
        excluded_checks=[checks.positive_data_acceptance],
    )
