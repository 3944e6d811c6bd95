"""Runs journeys. Browser journeys go to :class:`BrowserRunner`, the one thread that
owns Playwright and Chromium: the sync API's objects belong to the thread that
created them (another thread gets ``greenlet.error``), so every call is made
there, one run at a time, and the browser is closed there at shutdown.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import requests

from probes.journey import (
    PROBE_HEADER,
    Journey,
    ProbeConfig,
    ProbeFailure,
    RunResult,
    StepListener,
    Steps,
    describe,
)
from probes.journeys import load
from probes.redact import scrub_zip

log = logging.getLogger("summit.probes")
T = TypeVar("T")

# Debian's Chromium in a container: no sandbox (no user namespaces), no GPU, no
# background traffic of its own (updates, sync) to muddy timings. See RECIPES.
# The second group trims work a probe does not need (it visits one site, so
# per-site renderer processes buy nothing): measured 15-200 ms less per warm
# run on 2 cores, mostly in the login step, where argon2 shares the CPU.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-ipc-flooding-protection",
    "--disable-software-rasterizer",
    "--disable-site-isolation-trials",
    "--disable-features=site-per-process,IsolateOrigins,Translate,OptimizationHints,"
    "MediaRouter,BackForwardCache,PaintHolding",
)


class BrowserRunner:
    """One daemon thread with Playwright and a Chromium, launched on first use and
    relaunched when it has died. ``keep_warm()`` false closes it after each run
    (a process that is not the scheduler leader need not hold ~400 MB)."""

    def __init__(self, *, chromium_path: str, keep_warm: Callable[[], bool] = lambda: True) -> None:
        self.chromium_path = chromium_path
        self.keep_warm = keep_warm
        self.launches = 0
        self._jobs: queue.Queue[tuple[Callable[[Any], Any], Future[Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._playwright: Any = None
        self._browser: Any = None

    def run(self, work: Callable[[Any], T], *, timeout: float) -> T:
        """Run ``work(browser)`` on the browser thread; wait at most ``timeout`` s."""
        future: Future[T] = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="summit-browser", daemon=True
                )
                self._thread.start()
            self._jobs.put((work, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"the browser run took longer than {timeout:.0f} s") from None

    def close(self, timeout: float = 30) -> None:
        """Close the browser from its own thread (else its temp dirs stay in /tmp)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._jobs.put(None)
        thread.join(timeout)

    def _loop(self) -> None:
        while (item := self._jobs.get()) is not None:
            work, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work(self._ensure_browser()))
            except BaseException as exc:
                future.set_exception(exc)
            finally:
                if not self.keep_warm():
                    self._close_browser()
        self._close_browser()
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None

    def _ensure_browser(self) -> Any:
        # After Chromium dies, is_connected() can stay true until the next call
        # fails; new_context() below is that call, and relaunches once.
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        self._close_browser()
        if self._playwright is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=self.chromium_path, args=list(CHROMIUM_ARGS), headless=True
        )
        self.launches += 1
        return self._browser

    def new_context(self, browser: Any, **options: Any) -> Any:
        """A fresh context; relaunches a browser that died since the last run."""
        from playwright.sync_api import Error

        try:
            return browser.new_context(**options)
        except Error as exc:
            log.warning("browser gone (%s); relaunching", describe(exc))
            self._close_browser()
            return self._ensure_browser().new_context(**options)

    def _close_browser(self) -> None:
        browser, self._browser = self._browser, None
        if browser is not None:
            try:
                browser.close()
            except Exception as exc:  # already dead: nothing left to close
                log.info("closing the browser: %s", describe(exc))


def execute(
    name: str,
    *,
    config: ProbeConfig,
    browser: BrowserRunner,
    now: Callable[[], datetime],
    clock: Callable[[], float] = time.perf_counter,
    run_id: str | None = None,
    on_step: StepListener | None = None,
    stopping: threading.Event | None = None,
) -> RunResult:
    """Run one journey and say how it went. Never raises for a failing journey:
    every failure (including a missing browser or a timeout) is a failed result.

    ``run_id``: the id promised to whoever asked for the run (else a new one);
    ``on_step`` hears of each step as it starts and ends; ``stopping`` set means
    the server is shutting down: a run that fails then is not recorded (its
    target is going away), so it keeps no evidence and does not log out, each of
    which would wait out a timeout against the stopping server (~16 s in all)."""
    journey = load(name)
    run_id = run_id or str(uuid.uuid4())
    run_dir = config.artifacts_dir / name / run_id
    steps = Steps(journey.steps, clock, on_step)
    started_at, started = now(), clock()
    error: BaseException | None = None
    artifacts: list[str] = []
    try:
        if journey.kind == "browser":
            limit = config.timeout_seconds * (len(journey.steps) + 2)
            work = _in_browser(journey, config, steps, run_dir, browser, stopping)
            error, artifacts = browser.run(work, timeout=limit)
        else:
            error = _over_http(journey, config, steps, stopping)
    except Exception as exc:  # launch failure, timeout: the run failed
        error = exc
    passed = error is None and steps.complete
    if not passed:
        artifacts += _keep_evidence(steps.evidence, run_dir)
        if error is None:
            error = ProbeFailure(f"step {steps.first_unfinished()!r} never ran")
    return RunResult(
        id=run_id,
        probe=name,
        passed=passed,
        started_at=started_at,
        duration_ms=(clock() - started) * 1000,
        steps=list(steps.records),
        failed_step=None if passed else steps.first_unfinished(),
        error=None if passed or error is None else describe(error),
        artifacts=[str(Path(name) / run_id / a) for a in artifacts],
    )


def _over_http(
    journey: Journey, config: ProbeConfig, steps: Steps, stopping: threading.Event | None
) -> BaseException | None:
    with requests.Session() as http:
        http.headers[PROBE_HEADER] = journey.name
        error: BaseException | None = None
        try:
            journey.run(http, config, steps)
        except Exception as exc:
            error = exc
        _finish(journey, http, config, skip=_given_up(error, steps, stopping))
    return error


def _given_up(error: BaseException | None, steps: Steps, stopping: threading.Event | None) -> bool:
    """A run that failed while the server stops: not recorded, so not cleaned up."""
    return (error is not None or not steps.complete) and stopping is not None and stopping.is_set()


def _finish(journey: Journey, handle: Any, config: ProbeConfig, *, skip: bool = False) -> None:
    """The journey's clean-up (logging out); its failure is logged, not the run's.
    ``skip``: the server is stopping and the run failed; the session it leaves
    ends with its expiry (and the prune job)."""
    if journey.finish is None:
        return
    if skip:
        log.info("probe %s failed while the server stops: not logging out", journey.name)
        return
    try:
        journey.finish(handle, config)
    except Exception as exc:
        log.warning("probe %s could not log out: %s", journey.name, describe(exc))


def _in_browser(
    journey: Journey,
    config: ProbeConfig,
    steps: Steps,
    run_dir: Path,
    runner: BrowserRunner,
    stopping: threading.Event | None,
) -> Callable[[Any], tuple[BaseException | None, list[str]]]:
    def work(browser: Any) -> tuple[BaseException | None, list[str]]:
        context = runner.new_context(browser, extra_http_headers={PROBE_HEADER: journey.name})
        try:
            context.set_default_timeout(config.timeout_seconds * 1000)
            # DOM snapshots per action, no screencast: the screencast cost 0.1-0.25 s
            # a run (measured, benchmarks/golden_path.py), and a failure gets a
            # full-page screenshot of its own below.
            context.tracing.start(screenshots=False, snapshots=True)
            page = context.new_page()
            error: BaseException | None = None
            try:
                journey.run(page, config, steps)
            except Exception as exc:
                error = exc
            secrets = [config.target.password, *(c["value"] for c in context.cookies())]
            given_up = _given_up(error, steps, stopping)
            if (error is None and steps.complete) or given_up:
                context.tracing.stop()  # a passing run (or one not recorded) keeps nothing
                kept = []
            else:
                kept = _browser_evidence(context, page, run_dir)
            _finish(journey, page, config, skip=given_up)
        finally:
            context.close()
        if "trace.zip" in kept:
            scrub_zip(run_dir / "trace.zip", secrets)
        return error, kept

    return work


def _browser_evidence(context: Any, page: Any, run_dir: Path) -> list[str]:
    """A full-page screenshot and the Playwright trace; each as far as the
    browser still allows (a crashed page gives neither, and says so in the log)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    savers: dict[str, Callable[[str], object]] = {
        "screenshot.png": lambda path: page.screenshot(path=path, full_page=True, timeout=5000),
        "trace.zip": lambda path: context.tracing.stop(path=path),
    }
    kept = []
    for name, save in savers.items():
        try:
            save(str(run_dir / name))
            kept.append(name)
        except Exception as exc:
            log.warning("could not keep %s: %s", name, describe(exc))
    return kept


def _keep_evidence(evidence: dict[str, bytes], run_dir: Path) -> list[str]:
    if not evidence:
        return []
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, data in evidence.items():
        (run_dir / name).write_bytes(data)
    return list(evidence)


def remove_artifacts(root: Path, relative: list[str]) -> None:
    """Delete a run's artifact folder (all its files share one)."""
    folders = {(root / path).parent for path in relative}
    for folder in folders:
        if folder.resolve().is_relative_to(root.resolve()):
            shutil.rmtree(folder, ignore_errors=True)
