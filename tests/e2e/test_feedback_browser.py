"""Thumbs on search results in a real Chromium against the live server: the
click is a form POST with its CSRF token, the vote shows as pressed, and the
/feedback page counts it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import DEMO_PASSWORD

pytestmark = pytest.mark.slow


def test_bob_rates_a_result_and_the_feedback_page_counts_it(live_server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.get_by_label("Tenant").fill("acme")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/search$"))
    page.get_by_label("Search entities").fill("rocket")
    page.get_by_role("button", name="Search", exact=True).click()

    rating = page.get_by_role("form", name="Rate Acme Rocket Works")
    down = rating.get_by_role("button", name="Thumbs down")
    expect(down).to_have_attribute("aria-pressed", "false")
    down.click()
    page.wait_for_url(re.compile(r".*/search\?q=rocket#result-[0-9a-f-]+$"))
    expect(page.get_by_role("status")).to_contain_text("recorded")
    rating = page.get_by_role("form", name="Rate Acme Rocket Works")
    expect(rating.get_by_role("button", name="Thumbs down")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(rating.get_by_role("button", name="Thumbs up")).to_have_attribute(
        "aria-pressed", "false"
    )

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Feedback").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Search feedback")
    table = page.get_by_role("table", name="Feedback by dataset")
    expect(table.get_by_role("row", name=re.compile(r"^registry"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Votes per day"))).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Acme Rocket Works" in text
    assert ",rocket,down,bob," in text
    context.close()
