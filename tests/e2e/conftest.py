"""A live `summit serve` (gunicorn, 2 workers) on 127.0.0.1 with the demo data, and a
real headless Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probes.runner import CHROMIUM_ARGS  # the flags production launches with
from tests.support.live import CHROMIUM, serving
from tests.support.services import require_service


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The README's run path: demo seed, then gunicorn. Stopped by PID at the end.
    Its scheduler is off, so no background probe runs among these tests' requests."""
    with serving(tmp_path_factory.mktemp("live") / "var", SUMMIT_SCHEDULER="false") as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    require_service("Chromium", None if Path(CHROMIUM).exists() else f"no {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
        )
        yield chromium
        chromium.close()
