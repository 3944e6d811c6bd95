"""`summit alerts build` and `summit alerts who` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from app.cli import main
from tests.alerts.support import write_spec


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SUMMIT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SUMMIT_PUBLIC_URL", "https://summit.example.com")
    return CliRunner()


def test_build_writes_and_checks_the_folder(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["alerts", "build", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'out' / 'alertmanager.yml'}" in result.output
    assert "promtool check rules: ok" in result.output
    rules = (tmp_path / "out" / "rules" / "api.rules.yml").read_text()
    assert "https://summit.example.com/runbooks/summit-availability-budget-burn" in rules


def test_build_refuses_bad_specs_naming_file_and_slo(runner: CliRunner, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "specs", "bad.yaml", 'version: "prometheus/v1"\nservice: s\n'
                      "slos:\n  - name: x\n    sli:\n      raw:\n        error_ratio_query: up\n"
                      "    alerting:\n      name: X\n")  # fmt: skip
    result = runner.invoke(
        main, ["alerts", "build", "--specs", str(spec.parent), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert f"{spec}: SLO 'x': objective is missing" in result.output
    assert f"{spec}: SLO 'x': sli.raw.error_ratio_query has no {{{{.window}}}}" in result.output
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_who_answers_route_receiver_and_quiet_hours(runner: CliRunner) -> None:
    labels = "severity=ticket,sloth_id=summit-availability"
    ticket = runner.invoke(main, ["alerts", "who", "--at", "2026-11-28T03:00", "--labels", labels])
    assert ticket.exit_code == 0, ticket.output
    assert ticket.output.splitlines() == [
        "at 2026-11-28T03:00:00+00:00 = 2026-11-28T03:00Z",
        'route tickets [severity="ticket"] -> receiver sre-tickets: MUTED by quiet-hours',
    ]
    page = runner.invoke(main, ["alerts", "who", "--at", "2026-11-28T03:00",
                                "--labels", "severity=page"])  # fmt: skip
    assert 'route pages [severity="page"] -> receiver oncall-page: delivered' in page.output
    bad = runner.invoke(main, ["alerts", "who", "--at", "soon", "--labels", "severity=page"])
    assert bad.exit_code == 1
    assert "Invalid isoformat string" in bad.output


def test_the_tests_alert_on_every_probe_the_build_alerts_on() -> None:
    """tests/alerts builds rules for a fixed list of probes: it must be the real one."""
    from app.alerting.commands import probe_alerts
    from app.settings import load_settings
    from tests.alerts.support import PROBES

    built = {alert.probe for alert in probe_alerts(load_settings({"SUMMIT_ENV": "test"}))}
    assert built == {alert.probe for alert in PROBES}


def test_build_moves_secret_files_into_secrets_dir(runner: CliRunner, tmp_path: Path) -> None:
    out, secrets = tmp_path / "out", tmp_path / "secrets"
    result = runner.invoke(main, ["alerts", "build", "--out", str(out),
                                  "--secrets-dir", str(secrets)])  # fmt: skip
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((out / "alertmanager.yml").read_text())
    named = {
        value
        for receiver in config["receivers"]
        for configs in receiver.values() if isinstance(configs, list)
        for one in configs
        for value in (
            one.get("routing_key_file"),
            one.get("http_config", {}).get("authorization", {}).get("credentials_file"),
        )
        if value
    }  # fmt: skip
    assert named == {
        str(secrets.resolve() / "summit-webhook-token"),
        str(secrets.resolve() / "pagerduty-routing-key"),
    }
