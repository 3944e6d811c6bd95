"""The PagerDuty contract server (one per module, state reset per test) and
senders that deliver to it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from alerts import outbox
from alerts.pagerduty import Endpoints, PagerDuty
from app.core.db import Database
from tests.support.pagerduty import TOKEN, PagerDutyServer, State, pagerduty_server

ROUTING_KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"


@pytest.fixture(scope="module")
def pd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagerDutyServer]:
    with pagerduty_server(tmp_path_factory.mktemp("pagerduty")) as server:
        yield server


@pytest.fixture
def pd(pd_server: PagerDutyServer) -> Iterator[PagerDutyServer]:
    with pd_server.lock:
        pd_server.state = State()
    yield pd_server
    if pd_server._server is None:
        pd_server.up()
    assert pd_server.state.rejected == [], "a request broke PagerDuty's contract"


def client(server: PagerDutyServer) -> PagerDuty:
    return PagerDuty(Endpoints(events_url=server.url, rest_url=server.url,
                               verify=str(server.ca_file), rest_token=TOKEN,
                               rest_cooldown_seconds=0.05))  # fmt: skip


def make_sender(
    server: PagerDutyServer, db: Database, *, holder: str = "test-sender",
    key: str | None = ROUTING_KEY, **policy: object,
) -> outbox.Sender:  # fmt: skip
    defaults: dict[str, object] = {"base_seconds": 1.0, "claim_timeout": timedelta(seconds=30)}
    return outbox.Sender(
        db=db, pagerduty=client(server), routing_key=lambda _service: key, holder=holder,
        policy=outbox.RetryPolicy(**{**defaults, **policy}),  # type: ignore[arg-type]
    )  # fmt: skip


def paging_settings(server: PagerDutyServer, **extra: object) -> dict[str, object]:
    """App settings that page the contract server."""
    return {
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "PAGERDUTY_EVENTS_URL": server.url,
        "PAGERDUTY_API_URL": server.url, "PAGERDUTY_CA_FILE": str(server.ca_file),
        "PAGERDUTY_API_TOKEN": TOKEN, "SUMMIT_PUBLIC_URL": "https://summit.example.com",
        **extra,
    }  # fmt: skip


def ca_path(server: PagerDutyServer) -> Path:
    return server.ca_file
