"""Journeys fail closed, and the policy probe against a real decision API (the app
served by werkzeug on 127.0.0.1 in a thread)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.core.db import utcnow
from probes.journey import Journey, ProbeConfig, Steps, Target
from probes.journeys import JOURNEYS, UnknownProbe
from probes.journeys.policy import STEPS
from probes.runner import BrowserRunner, execute
from tests.support.journeys import JUMPER, SKIPPER
from tests.support.live import free_port
from tests.support.world import PASSWORD, seed_world


@pytest.fixture
def target(make_app: Callable[..., Flask]) -> Iterator[str]:
    app = make_app()
    seed_world(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def config(url: str, tmp_path: Path, **overrides: object) -> ProbeConfig:
    password = str(overrides.pop("password", PASSWORD))
    return ProbeConfig(
        target=Target(base_url=url, tenant="acme", username="synthetic", password=password),
        artifacts_dir=tmp_path / "artifacts",
        timeout_seconds=5,
        **overrides,  # type: ignore[arg-type]
    )


def run(name: str, cfg: ProbeConfig) -> object:
    return execute(name, config=cfg, browser=BrowserRunner(chromium_path="/unused"), now=utcnow)


def test_policy_probe_passes_every_case_against_the_decision_api(
    target: str, tmp_path: Path
) -> None:
    result = execute("policy", config=config(target, tmp_path), browser=None, now=utcnow)  # type: ignore[arg-type]
    assert result.passed, result.error
    assert [(step.name, step.ok) for step in result.steps] == [(name, True) for name in STEPS]
    assert all(step.ms > 0 for step in result.steps)
    assert result.artifacts == []


def test_policy_probe_fails_when_a_decision_is_over_its_latency_budget(
    target: str, tmp_path: Path
) -> None:
    cfg = config(target, tmp_path, decision_budget_ms=0.000001)
    result = execute("policy", config=cfg, browser=None, now=utcnow)  # type: ignore[arg-type]
    assert not result.passed
    assert result.failed_step == "allowed-read"
    assert "budget" in (result.error or "")
    [evidence] = result.artifacts
    assert evidence.endswith("decisions.json")
    assert json.loads((cfg.artifacts_dir / evidence).read_text()) == {}


def test_policy_probe_fails_at_login_with_a_wrong_password(target: str, tmp_path: Path) -> None:
    cfg = config(target, tmp_path, password="not-the-password")
    result = execute("policy", config=cfg, browser=None, now=utcnow)  # type: ignore[arg-type]
    assert (result.passed, result.failed_step) == (False, "login")
    assert "401" in (result.error or "")


def test_a_probe_fails_closed_when_its_target_is_down(tmp_path: Path) -> None:
    cfg = config(f"http://127.0.0.1:{free_port()}", tmp_path)
    result = execute("policy", config=cfg, browser=None, now=utcnow)  # type: ignore[arg-type]
    assert (result.passed, result.failed_step) == (False, "login")
    assert "ConnectionError" in (result.error or "")


def test_a_journey_that_skips_a_step_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(JOURNEYS, "skipper", SKIPPER)
    result = execute("skipper", config=config("http://x", tmp_path), browser=None, now=utcnow)  # type: ignore[arg-type]
    assert (result.passed, result.failed_step) == (False, "second")
    assert "never ran" in (result.error or "")


def test_a_journey_that_runs_steps_out_of_order_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(JOURNEYS, "jumper", JUMPER)
    result = execute("jumper", config=config("http://x", tmp_path), browser=None, now=utcnow)  # type: ignore[arg-type]
    assert (result.passed, result.failed_step) == (False, "first")
    assert "out of order" in (result.error or "")


@pytest.mark.parametrize(("stopping", "logged_out"), [(False, True), (True, False)])
def test_a_run_failing_while_the_server_stops_does_not_wait_to_log_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stopping: bool, logged_out: bool
) -> None:
    """Logging out of a stopping server waits out a timeout, for a run that will not
    be recorded: skipped then; always done otherwise, passed or failed."""
    finished: list[str] = []

    def fails(_client: object, _config: ProbeConfig, steps: Steps) -> None:
        with steps.step("first"):
            raise ConnectionError("the server is going away")

    journey = Journey(name="quitter", kind="http", steps=("first",), run=fails,
                      finish=lambda _client, _config: finished.append("logout"))  # fmt: skip
    monkeypatch.setitem(JOURNEYS, "quitter", journey)
    event = threading.Event()
    if stopping:
        event.set()
    result = execute("quitter", config=config("http://x", tmp_path), browser=None,  # type: ignore[arg-type]
                     now=utcnow, stopping=event)  # fmt: skip
    assert (result.passed, result.failed_step) == (False, "first")
    assert finished == (["logout"] if logged_out else [])


def test_a_run_that_passes_while_the_server_stops_still_logs_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    finished: list[str] = []

    def passes(_client: object, _config: ProbeConfig, steps: Steps) -> None:
        with steps.step("first"):
            pass

    journey = Journey(name="stayer", kind="http", steps=("first",), run=passes,
                      finish=lambda _client, _config: finished.append("logout"))  # fmt: skip
    monkeypatch.setitem(JOURNEYS, "stayer", journey)
    stopping = threading.Event()
    stopping.set()
    result = execute("stayer", config=config("http://x", tmp_path), browser=None,  # type: ignore[arg-type]
                     now=utcnow, stopping=stopping)  # fmt: skip
    assert result.passed
    assert finished == ["logout"]


def test_an_unknown_probe_is_an_error_not_a_failed_run(tmp_path: Path) -> None:
    with pytest.raises(UnknownProbe):
        execute("nope", config=config("http://x", tmp_path), browser=None, now=utcnow)  # type: ignore[arg-type]
