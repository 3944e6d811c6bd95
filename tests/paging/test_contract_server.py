"""The contract server itself: it refuses what PagerDuty refuses, so a test that
passes through it means the request was valid."""

from __future__ import annotations

import filecmp
import ssl

import httpx2
import pytest

from alerts.pagerduty import Event, PagingError
from tests.paging.conftest import ROUTING_KEY, client
from tests.support.pagerduty import SHARED, VENDOR, PagerDutyServer


def test_the_copied_contracts_are_the_vendors(pd: PagerDutyServer) -> None:
    if not SHARED.is_dir():
        pytest.skip("no ../shared/vendor here to compare with (a machine without it)")
    for name in ("events-v2.openapi.json", "rest.openapi.json"):
        assert filecmp.cmp(VENDOR / name, SHARED / name, shallow=False), name


def test_an_invalid_event_gets_400_with_pagerdutys_error_body(pd: PagerDutyServer) -> None:
    context = ssl.create_default_context(cafile=str(pd.ca_file))
    body = {"routing_key": ROUTING_KEY, "event_action": "trigger",
            "payload": {"summary": "x", "source": "y", "severity": "fatal"}}  # fmt: skip
    response = httpx2.post(f"{pd.url}/v2/enqueue", json=body, verify=context)
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"
    assert any("fatal" in error for error in response.json()["errors"])
    no_key = httpx2.post(f"{pd.url}/v2/enqueue", verify=context,
                         json={"routing_key": ROUTING_KEY, "event_action": "resolve"})  # fmt: skip
    assert no_key.status_code == 400
    pd.state.rejected.clear()


def test_a_429_carries_retry_after_which_the_client_reports(pd: PagerDutyServer) -> None:
    pd.limit(1, retry_after=4)
    with pytest.raises(PagingError) as caught:
        client(pd).send(ROUTING_KEY, Event(action="trigger", dedup_key="k", summary="s"))
    assert (caught.value.status, caught.value.retry_after) == (429, 4.0)
    assert caught.value.permanent is False
    assert client(pd).send(ROUTING_KEY, Event(action="trigger", dedup_key="k", summary="s")) == "k"


def test_the_server_is_not_trusted_without_the_test_ca(pd: PagerDutyServer) -> None:
    with pytest.raises(httpx2.ConnectError):
        httpx2.post(f"{pd.url}/v2/enqueue", json={})
