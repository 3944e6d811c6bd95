"""`summit probes run`, `summit jobs list|run`, the probe settings' refusals, and the
search fault switch."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from app.cli import main
from app.core import leases
from app.core.db import Database, utcnow
from app.ops import service as ops
from app.settings import SettingsError, load_settings
from probes.models import ProbeRun
from tests.support.live import free_port
from tests.support.metrics import labels, samples
from tests.support.world import PASSWORD, seed_world


def env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SUMMIT_VAR_DIR": str(tmp_path / "var"),
        "SUMMIT_ENV": "test",
        "SUMMIT_PROBE_TARGET_URL": f"http://127.0.0.1:{free_port()}",  # nobody there
        "SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS": "90",
        **extra,
    }


def test_jobs_list_shows_each_jobs_interval_last_and_next_run(
    database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["jobs", "list"], env=env(database_url, tmp_path))
    assert listed.exit_code == 0, listed.output
    assert re.search(r"golden-path +90 s +never +- +not scheduled", listed.output)
    assert re.search(r"policy +60 s +never", listed.output)
    runner.invoke(main, ["jobs", "run", "policy"], env=env(database_url, tmp_path))
    with Database(database_url).session(tenant_id=None, write=True) as session:
        session.add(ProbeRun(id="x", probe="policy", trigger="schedule", status="pass",
                             started_at=utcnow(), recorded_at=utcnow(), duration_ms=1.0,
                             steps=[], artifacts=[]))  # fmt: skip
        leases.claim(session=session, name="scheduler", holder="host:1:abc", now=utcnow(),
                     ttl=timedelta(seconds=60))  # fmt: skip
        session.commit()
    listed = runner.invoke(main, ["jobs", "list"], env=env(database_url, tmp_path))
    assert "scheduler: led by host:1:abc" in listed.output
    assert re.search(r"policy +60 s +\d{4}-\d\d-\d\d [\d:]+ UTC \(cli\) +FAILED in", listed.output)
    assert "last error of policy: probe policy failed at login" in listed.output


def test_a_failing_probe_run_prints_where_and_exits_1(database_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["probes", "run", "policy"], env=env(database_url, tmp_path))
    assert result.exit_code == 1, result.output
    assert "✗ login" in result.output
    assert "policy: fail" in result.output
    assert "failed at login: ConnectionError" in result.output


def test_jobs_run_exits_1_when_the_job_fails_and_records_the_trigger(
    database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["jobs", "run", "policy"], env=env(database_url, tmp_path))
    assert result.exit_code == 1, result.output
    assert "job policy failed: probe policy failed at login" in result.output
    with Database(database_url).session(tenant_id=None) as session:
        assert [run.trigger for run in session.scalars(select(ProbeRun))] == ["cli"]
        status = ops.job_statuses(session=session)["policy"]
    assert (status.trigger, status.ok) == ("cli", False)


def test_a_probe_run_from_the_cli_shows_in_the_servers_metrics(
    make_app: Callable[..., Flask], database_url: str, tmp_path: Path
) -> None:
    app = make_app()
    before = samples(app)
    assert before[("summit_probe_runs_total", labels(probe="policy", result="fail"))] == 0
    assert ("summit_probe_success", labels(probe="policy")) not in before
    result = CliRunner().invoke(main, ["probes", "run", "policy"], env=env(database_url, tmp_path))
    assert result.exit_code == 1
    after = samples(app)  # the server's /metrics: another process made the run
    assert after[("summit_probe_runs_total", labels(probe="policy", result="fail"))] == 1
    assert after[("summit_probe_success", labels(probe="policy"))] == 0
    step = labels(probe="policy", step="login")
    assert after[("summit_probe_duration_seconds_count", step)] == 1
    assert after[("summit_probe_last_run_timestamp_seconds", labels(probe="policy"))] > 0


def test_a_probe_run_from_the_cli_says_what_it_did_to_the_incident(
    make_app: Callable[..., Flask], database_url: str, tmp_path: Path
) -> None:
    app = make_app()
    seed_world(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = env(
        database_url, tmp_path, SUMMIT_PROBE_FAIL_THRESHOLD="1", SUMMIT_PROBE_FAIL_WINDOW="1",
        SUMMIT_PROBE_TARGET_URL=f"http://127.0.0.1:{server.server_port}",
        SUMMIT_PROBE_PASSWORD=PASSWORD, SUMMIT_PROBE_DECISION_BUDGET_MS="1e-9",
        SUMMIT_PROBE_RECOVER_AFTER="1",
    )  # fmt: skip
    try:
        failed = CliRunner().invoke(main, ["probes", "run", "policy"], env=settings)
        settings["SUMMIT_PROBE_DECISION_BUDGET_MS"] = "1000"
        passed = CliRunner().invoke(main, ["probes", "run", "policy"], env=settings)
    finally:
        server.shutdown()
    assert failed.exit_code == 1, failed.output
    assert "incident opened: policy is failing at step allowed-read" in failed.output
    artifact = re.search(r"artifact: (\S+)", failed.output)
    assert artifact
    path = Path(artifact.group(1))
    assert (path.is_absolute(), path.name, path.is_file()) == (True, "decisions.json", True)
    assert passed.exit_code == 0, passed.output
    assert "incident resolved: policy failed at step allowed-read" in passed.output


@pytest.mark.parametrize("command", [["probes", "run", "nope"], ["jobs", "run", "nope"]])
def test_an_unknown_name_is_refused_with_the_known_ones(
    database_url: str, tmp_path: Path, command: list[str]
) -> None:
    result = CliRunner().invoke(main, command, env=env(database_url, tmp_path))
    assert result.exit_code == 2  # a usage mistake, not a failed check
    assert "golden-path" in result.output


def test_faults_are_refused_outside_the_test_environment() -> None:
    with pytest.raises(SettingsError, match="SUMMIT_ENV=test"):
        load_settings({"SUMMIT_ENV": "demo", "SUMMIT_FAULTS": "search"})
    with pytest.raises(SettingsError, match="unknown faults"):
        load_settings({"SUMMIT_ENV": "test", "SUMMIT_FAULTS": "everything"})


def test_a_failure_threshold_above_its_window_is_refused() -> None:
    with pytest.raises(SettingsError, match="SUMMIT_PROBE_FAIL_WINDOW"):
        load_settings({"SUMMIT_PROBE_FAIL_THRESHOLD": 4, "SUMMIT_PROBE_FAIL_WINDOW": 3})


def test_the_probe_password_is_the_demo_password_only_in_demo_mode() -> None:
    assert load_settings({"SUMMIT_ENV": "demo"}).probe_secret == "summit-demo"
    assert (
        load_settings({"SUMMIT_ENV": "production", "SUMMIT_DEMO_PASSWORD": "x"}).probe_secret == ""
    )
    assert load_settings({"SUMMIT_PROBE_PASSWORD": "p"}).probe_secret == "p"


def test_the_search_fault_breaks_search_and_only_search(make_app: Callable[..., Flask]) -> None:
    world = seed_world(make_app(SUMMIT_FAULTS="search"))
    alice = world.headers("alice")
    broken = world.client.get("/api/v1/search?q=rocket", headers=alice)
    assert (broken.status_code, broken.get_json()["error"]["code"]) == (500, "fault_injected")
    assert world.client.get("/api/v1/entities", headers=alice).status_code == 200
