"""Screenshots of the SLO view for the evidence pack: Playwright in Debian's
Chromium, launched as the probes launch it. Imports no Flask."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.evidence.parts import PartUnavailable
from probes.runner import CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize

# (file, path, what must be on the page before the shot)
PAGES = (
    ("ops-slo.png", "/ops/slo", "h1"),
    ("ops.png", "/ops", "h1"),
)
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


class ScreenshotError(Exception):
    """The pages could not be shot (no login, a page that failed)."""


class NoBrowser(PartUnavailable):
    """No Chromium where CHROMIUM_PATH says."""


@dataclass(frozen=True)
class Login:
    url: str
    tenant: str
    username: str
    password: str


def capture(
    *, login: Login, out: Path, chromium_path: str, timeout_ms: float = 30_000
) -> list[Path]:
    """Log in through the web form, then take a full-page screenshot of each page.

    Playwright's sync API runs in a thread of its own: it refuses a thread where
    an asyncio loop runs (another Playwright user in the same process, say)."""
    if not Path(chromium_path).exists():
        raise NoBrowser(f"no Chromium at {chromium_path} (CHROMIUM_PATH; scripts/setup)")
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence-browser") as pool:
        return pool.submit(
            _capture, login=login, out=out, chromium_path=chromium_path, timeout_ms=timeout_ms
        ).result()


def _capture(*, login: Login, out: Path, chromium_path: str, timeout_ms: float) -> list[Path]:
    from playwright.sync_api import Error, sync_playwright  # a browser only for this part

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path, args=list(CHROMIUM_ARGS), headless=True
            )
            try:
                page = browser.new_context(viewport=VIEWPORT).new_page()
                page.set_default_timeout(timeout_ms)
                _log_in(page, login)
                return [_shoot(page, login.url, name, path, ready, out)
                        for name, path, ready in PAGES]  # fmt: skip
            finally:
                browser.close()
    except Error as exc:
        raise ScreenshotError(str(exc).splitlines()[0]) from None


def _log_in(page: Page, login: Login) -> None:
    page.goto(f"{login.url}/login")
    page.get_by_label("Tenant").fill(login.tenant)
    page.get_by_label("Username").fill(login.username)
    page.get_by_label("Password").fill(login.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")
    if page.url.rstrip("/").endswith("/login"):
        raise ScreenshotError(f"could not log in to {login.url} as {login.username!r}")


def _shoot(page: Page, url: str, name: str, path: str, ready: str, out: Path) -> Path:
    answer = page.goto(f"{url}{path}")
    if answer is None or answer.status != 200:
        raise ScreenshotError(f"{path} answered {answer.status if answer else 'nothing'}")
    page.wait_for_selector(ready)
    page.wait_for_load_state("networkidle")
    target = out / name
    page.screenshot(path=str(target), full_page=True)
    return target
