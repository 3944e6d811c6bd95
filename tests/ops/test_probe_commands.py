"""`summit probes run`, `summit jobs list|run`, the probe settings' refusals, and the
search fault switch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from app.cli import main
from app.settings import SettingsError, load_settings
from tests.support.live import free_port
from tests.support.world import seed_world


def env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SUMMIT_VAR_DIR": str(tmp_path / "var"),
        "SUMMIT_ENV": "test",
        "SUMMIT_PROBE_TARGET_URL": f"http://127.0.0.1:{free_port()}",  # nobody there
        "SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS": "90",
        **extra,
    }


def test_jobs_list_names_each_probe_with_its_interval(database_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["jobs", "list"], env=env(database_url, tmp_path))
    assert result.exit_code == 0, result.output
    assert "golden-path\tevery 90 s" in result.output
    assert "policy\tevery 60 s" in result.output


def test_a_failing_probe_run_prints_where_and_exits_1(database_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["probes", "run", "policy"], env=env(database_url, tmp_path))
    assert result.exit_code == 1, result.output
    assert "✗ login" in result.output
    assert "policy: fail" in result.output
    assert "failed at login: ConnectionError" in result.output


def test_jobs_run_records_a_run(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["jobs", "run", "policy"], env=env(database_url, tmp_path))
    assert result.exit_code == 0, result.output
    assert "policy: 1" in result.output


@pytest.mark.parametrize("command", [["probes", "run", "nope"], ["jobs", "run", "nope"]])
def test_an_unknown_name_is_refused_with_the_known_ones(
    database_url: str, tmp_path: Path, command: list[str]
) -> None:
    result = CliRunner().invoke(main, command, env=env(database_url, tmp_path))
    assert result.exit_code == 1
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
