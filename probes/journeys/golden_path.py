"""The golden path in a real browser: log in as the synthetic user, search, open the
entity, check its page. Each step waits for the response it caused and checks
its status, so a broken page fails at once instead of at a locator timeout."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, Response, expect

from probes.journey import Journey, ProbeConfig, ProbeFailure, Steps

STEPS = ("login", "search", "open-entity", "assert-page")


def _document(path: str, method: str = "GET") -> Any:
    def matches(response: Response) -> bool:
        request = response.request
        return (
            request.resource_type == "document"
            and request.method == method
            and urlsplit(response.url).path == path
        )

    return matches


def _expect_status(response: Response, allowed: tuple[int, ...], what: str) -> None:
    if response.status not in allowed:
        raise ProbeFailure(f"{what} answered {response.status} at {response.url}")


def run(page: Page, config: ProbeConfig, steps: Steps) -> None:
    target, ms = config.target, config.timeout_seconds * 1000
    if not target.password:
        raise ProbeFailure("no password for the synthetic user (set SUMMIT_PROBE_PASSWORD)")
    with steps.step("login"):
        opened = page.goto(f"{target.base_url}/login", wait_until="domcontentloaded")
        if opened is None:
            raise ProbeFailure("the login page did not load")
        _expect_status(opened, (200,), "the login page")
        page.get_by_label("Tenant").fill(target.tenant or "")
        page.get_by_label("Username").fill(target.username)
        page.get_by_label("Password").fill(target.password)
        with page.expect_response(_document("/login", "POST"), timeout=ms) as posted:
            page.get_by_role("button", name="Log in").click()
        _expect_status(posted.value, (302, 303), "logging in")
        page.wait_for_url(re.compile(r"/search$"), wait_until="domcontentloaded", timeout=ms)
        expect(page.get_by_label("Signed in as")).to_contain_text(target.username, timeout=ms)
    with steps.step("search"):
        page.get_by_label("Search entities").fill(config.search_query)
        with page.expect_response(_document("/search"), timeout=ms) as found:
            page.get_by_role("button", name="Search").click()
        _expect_status(found.value, (200,), "search")
        hit = page.get_by_role("list", name="Search results").get_by_role(
            "link", name=config.entity_name, exact=True
        )
        expect(hit).to_have_count(1, timeout=ms)
    with steps.step("open-entity"):
        with page.expect_response(
            lambda r: r.request.resource_type == "document" and "/entities/" in r.url, timeout=ms
        ) as opened_entity:
            hit.click()
        _expect_status(opened_entity.value, (200,), "the entity page")
    with steps.step("assert-page"):
        expect(page.get_by_role("heading", level=1)).to_have_text(config.entity_name, timeout=ms)
        expect(page.get_by_role("table", name="Connections")).to_be_visible(timeout=ms)
        expect(page.get_by_role("heading", name="Provenance")).to_be_visible(timeout=ms)


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def finish(page: Page, config: ProbeConfig) -> None:
    """Log out, whatever page the run stopped on: a CSRF token read with the
    session, then the logout form's POST (the server revokes the token)."""
    base, ms = config.target.base_url, config.timeout_seconds * 1000
    http = page.context.request
    token = _CSRF.search(http.get(f"{base}/login", timeout=ms).text())
    if token is not None:
        http.post(f"{base}/logout", form={"csrf_token": token.group(1)}, max_redirects=0,
                  timeout=ms)  # fmt: skip


JOURNEY = Journey(name="golden-path", kind="browser", steps=STEPS, run=run, finish=finish)
