"""The generated rules, checked and exercised by the Prometheus project's own
promtool: `check rules` on every file, and `test rules` proving for each SLO
that the page fires on a fast burn, the ticket on a slow burn and nothing on a
healthy series; and the probe alerts' N of M."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build, slo
from app.core import metrics
from tests.alerts.support import build_into
from tests.support.prometheus import require_tools

PER_MINUTE = 1000  # events a minute in the synthetic series


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    require_tools("promtool")
    return subprocess.run(
        ["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("alerts")
    build_into(out)
    return out


@pytest.mark.parametrize("time_scale", [1.0, 120.0])
def test_promtool_checks_every_generated_rule_file(tmp_path: Path, time_scale: float) -> None:
    build_into(tmp_path, time_scale=time_scale)
    files = sorted(str(p) for p in (tmp_path / build.RULES_DIR).glob("*.yml"))
    assert len(files) == 5
    for path in files:
        done = promtool("check", "rules", path, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout


def test_promtool_checks_the_prometheus_config(built: Path) -> None:
    done = promtool("check", "config", "prometheus.yml", cwd=built)
    assert done.returncode == 0, done.stdout + done.stderr


def counter(start_per_minute: float, minutes: int) -> str:
    return f"0+{start_per_minute:g}x{minutes}"


# Each SLO's input series, for a share ``bad`` of bad events (per minute).
Series = list[dict[str, str]]


def availability(bad: float, minutes: int) -> Series:
    labels = 'route="/api/v1/search",method="GET",tenant="acme",traffic="user"'
    errors = PER_MINUTE * bad
    return [
        {"series": f'{metrics.HTTP_REQUESTS.total}{{{labels},status="200"}}',
         "values": counter(PER_MINUTE - errors, minutes)},
        {"series": f'{metrics.HTTP_REQUESTS.total}{{{labels},status="500"}}',
         "values": counter(errors, minutes)},
        {"series": f"{metrics.HTTP_ERRORS.total}{{{labels}}}", "values": counter(errors, minutes)},
        # Health checks are no user's requests: they never dilute the ratio.
        {"series": f'{metrics.HTTP_REQUESTS.total}{{route="/healthz",method="GET",tenant="-",'
                   'traffic="user",status="200"}', "values": counter(PER_MINUTE * 50, minutes)},
    ]  # fmt: skip


def read_latency(bad: float, minutes: int) -> Series:
    labels = 'route="/api/v1/entities/<entity_id>",method="GET",tenant="acme",traffic="user"'
    family = metrics.HTTP_DURATION
    return [
        {"series": f"{family.count}{{{labels}}}", "values": counter(PER_MINUTE, minutes)},
        {"series": f'{family.bucket}{{{labels},le="0.3"}}',
         "values": counter(PER_MINUTE * (1 - bad), minutes)},
    ]  # fmt: skip


def policy_latency(bad: float, minutes: int) -> Series:
    family = metrics.POLICY_DECISION_DURATION
    return [
        {"series": f'{family.count}{{source="route"}}', "values": counter(PER_MINUTE, minutes)},
        {"series": f'{family.bucket}{{source="route",le="0.01"}}',
         "values": counter(PER_MINUTE * (1 - bad), minutes)},
    ]  # fmt: skip


def ingest_write_latency(bad: float, minutes: int) -> Series:
    family = metrics.INGEST_BATCH_DURATION
    labels = 'tenant="acme",connector="crm"'
    return [
        {"series": f"{family.count}{{{labels}}}", "values": counter(PER_MINUTE, minutes)},
        {"series": f'{family.bucket}{{{labels},le="1.5"}}',
         "values": counter(PER_MINUTE * (1 - bad), minutes)},
    ]  # fmt: skip


def golden_path(bad: float, minutes: int) -> Series:
    runs = metrics.PROBE_RUNS.total
    return [
        {"series": f'{runs}{{probe="golden-path",result="fail"}}', "values": counter(bad, minutes)},
        {"series": f'{runs}{{probe="golden-path",result="pass"}}',
         "values": counter(1 - bad, minutes)},
    ]  # fmt: skip


INPUTS: dict[str, Callable[[float, int], Series]] = {
    "summit-availability": availability,
    "summit-read-latency": read_latency,
    "summit-policy-latency": policy_latency,
    "summit-golden-path": golden_path,
    "summit-ingest-write-latency": ingest_write_latency,
}


def firing(alert: str, severity: str, expected: int, at: str) -> dict[str, Any]:
    query = (
        f'count(ALERTS{{alertname="{alert}",alertstate="firing",sloth_severity="{severity}"}})'
        " or vector(0)"
    )
    return {"expr": query, "eval_time": at, "exp_samples": [{"labels": "{}", "value": expected}]}


def burn_case(one: slo.SLO, burn: float, *, page: int, ticket: int, at: str) -> dict[str, Any]:
    """``burn``: how many times faster than the budget allows the errors come."""
    assert one.page is not None
    bad = min(1.0, burn * one.error_budget)
    return {
        "interval": "1m",
        "input_series": INPUTS[one.id](bad, 75),
        "promql_expr_test": [
            firing(one.page.name, "page", page, at),
            firing(one.page.name, "ticket", ticket, at),
        ],
    }


@pytest.mark.parametrize("sloth_id", sorted(INPUTS))
def test_page_on_fast_burn_ticket_on_slow_burn_nothing_when_healthy(
    built: Path, tmp_path: Path, sloth_id: str
) -> None:
    one = {s.id: s for s in slo.load_dir(build.SPECS_DIR).slos}[sloth_id]
    budget = one.error_budget
    fast = 20 if budget * 20 <= 1 else 1 / budget  # golden path: every run fails
    tests = [
        # Fast: pages within minutes (14.4x over 1h and 5m); the ticket's
        # conditions hold too (Alertmanager holds it back while the page fires).
        burn_case(one, fast, page=1, ticket=1, at="15m"),
        # Slow: 4x is under both page factors (14.4, 6) but over the ticket's 3x.
        burn_case(one, 4, page=0, ticket=1, at="1h"),
        # Healthy: a fifth of the budget's pace, past the page's longest window.
        burn_case(one, 0.2, page=0, ticket=0, at="70m"),
    ]
    rules_files = [str(built / build.RULES_DIR / f"{Path(one.source).stem}.rules.yml")]
    case = tmp_path / "case.yml"
    case.write_text(
        yaml.safe_dump({"rule_files": rules_files, "evaluation_interval": "1m", "tests": tests})
    )
    done = promtool("test", "rules", str(case), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_probe_alert_fires_on_n_failures_in_m_runs_only(built: Path, tmp_path: Path) -> None:
    runs = metrics.PROBE_RUNS.total
    alert = (
        'count(ALERTS{alertname="SummitProbeGoldenPathFailing",alertstate="firing"}) or vector(0)'
    )

    def case(fail: str, passed: str, expected: int) -> dict[str, Any]:
        return {
            "interval": "1m",
            "input_series": [
                {"series": f'{runs}{{probe="golden-path",result="fail"}}', "values": fail},
                {"series": f'{runs}{{probe="golden-path",result="pass"}}', "values": passed},
            ],
            "promql_expr_test": [{"expr": alert, "eval_time": "6m",
                                  "exp_samples": [{"labels": "{}", "value": expected}]}],
        }  # fmt: skip

    tests = [
        case("0 0 0 0 1 2 3", "0 1 2 3 3 3 3", 1),  # three failed runs in a row
        case("0 0 0 1 1 2 2", "0 1 2 2 3 3 4", 0),  # two of the last three
        case("0 1 2 3 3 3 3", "0 0 0 0 1 2 3", 0),  # recovered: three passes since
    ]
    path = tmp_path / "probes.yml"
    rule_file = str(built / build.RULES_DIR / build.PROBE_RULES)
    path.write_text(yaml.safe_dump({"rule_files": [rule_file], "tests": tests}))
    done = promtool("test", "rules", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_carries_summary_description_runbook_and_dashboard(built: Path) -> None:
    for path in (built / build.RULES_DIR).glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    notes = rule["annotations"]
                    assert {"summary", "description", "runbook_url", "dashboard_url"} <= set(notes)
                    assert notes["runbook_url"].startswith("https://summit.example.com/runbooks/")


def test_a_time_scaled_build_keeps_the_workbooks_burn_factors(tmp_path: Path) -> None:
    """Windows shrink with the scale; the factors (budget share per window) do not."""
    build_into(tmp_path, time_scale=120)
    groups = yaml.safe_load((tmp_path / build.RULES_DIR / "api.rules.yml").read_text())["groups"]
    alerts = [
        r for g in groups for r in g["rules"] if r.get("alert") == "SummitAvailabilityBudgetBurn"
    ]
    page, ticket = alerts
    assert "ratio_rate2s500ms" in page["expr"]
    assert "ratio_rate30s" in page["expr"]
    assert "(14.4 * 0.005)" in page["expr"]
    assert "(6 * 0.005)" in page["expr"]
    assert "(3 * 0.005)" in ticket["expr"]
    assert "(1 * 0.005)" in ticket["expr"]
