"""The golden path against a live `summit serve`: through the API and in a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live import DEMO_PASSWORD, api_login

pytestmark = pytest.mark.slow


def test_golden_path_through_the_api(live_server: str) -> None:
    alice = api_login(live_server, "acme", "alice")
    found = requests.get(f"{live_server}/api/v1/search?q=rocket", headers=alice, timeout=10)
    rocket = next(hit for hit in found.json()["results"] if hit["name"] == "Acme Rocket Works")
    entity = requests.get(
        f"{live_server}/api/v1/entities/{rocket['id']}", headers=alice, timeout=10
    )
    assert entity.status_code == 200
    assert entity.json()["edges"]

    carol = api_login(live_server, "globex", "carol")
    theirs = requests.get(
        f"{live_server}/api/v1/entities/{rocket['id']}", headers=carol, timeout=10
    )
    assert theirs.status_code == 404
    names = [
        hit["name"]
        for hit in requests.get(
            f"{live_server}/api/v1/search?q=rocket", headers=carol, timeout=10
        ).json()["results"]
    ]
    assert "Acme Rocket Works" not in names


def log_in(page: Any, url: str, tenant: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Tenant").fill(tenant)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/search$"))


def test_golden_path_in_a_real_browser(live_server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_server, "acme", "alice")
    page.get_by_label("Search entities").fill("rocket")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Acme Rocket Works").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Rocket Works")
    expect(page.get_by_role("table", name="Connections")).to_be_visible()
    entity_url = page.url
    context.close()

    outsider = browser.new_context()
    page = outsider.new_page()
    log_in(page, live_server, "globex", "carol")
    response = page.goto(entity_url)
    assert response is not None
    assert response.status == 404
    expect(page.get_by_text("Acme Rocket Works")).to_have_count(0)
    page.goto(f"{live_server}/search?q=rocket")
    expect(page.get_by_role("link", name="Globex Rocket Testing Range")).to_be_visible()
    expect(page.get_by_role("link", name="Acme Rocket Works")).to_have_count(0)
    outsider.close()


def test_metrics_aggregate_every_gunicorn_worker(live_server: str) -> None:
    alice = api_login(live_server, "acme", "alice")
    for _ in range(20):  # spread over both workers by the kernel's accept queue
        requests.get(f"{live_server}/api/v1/search?q=rocket", headers=alice, timeout=10)
    text = requests.get(f"{live_server}/metrics", timeout=10).text
    total = sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "summit_http_requests_total"
        and sample.labels.get("route") == "/api/v1/search"
        and sample.labels.get("tenant") == "acme"
        and sample.labels.get("status") == "200"
    )
    assert total >= 20
