"""End to end: a real Prometheus scrapes a live `summit serve`, error traffic
is driven at it, the SLO's page fires in a real Alertmanager within the
windows' math, reaches the control plane's webhook and PagerDuty's Events API
(the contract server: every request checked against PagerDuty's OpenAPI), and
resolves in both when the traffic heals.

The rules are built with every window divided by 120 (a test-only build
option), so the workbook's math plays out in seconds: the page needs an error
ratio above 14.4 x 0.5 % over 30 s (1 h) and 2.5 s (5 m), or 6 x over 3 m (6 h)
and 15 s (30 m). `SUMMIT_FAULTS=search` makes every search answer 500.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alerts import build
from app import create_app
from tests.alerts.sink import Sink, webhook_sink
from tests.alerts.support import build_into, secrets_for_alertmanager
from tests.support.live import api_login, serving
from tests.support.pagerduty import PagerDutyServer, pagerduty_server
from tests.support.prometheus import Prometheus, running_alertmanager, running_prometheus
from tests.support.world import app_config, seed_world, services

pytestmark = pytest.mark.slow

SCALE = 120
ALERT = "SummitAvailabilityBudgetBurn"
SHORT_WINDOW, LONG_SLOW_SHORT = 2.5, 15.0  # seconds: the page's 5m and 30m, scaled


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("served")
    with serving(var, SUMMIT_ENV="test", SUMMIT_FAULTS="search", SUMMIT_SCHEDULER="false") as url:
        yield url


def drive(url: str, path: str, headers: dict[str, str], until: Callable[[], bool],
          timeout: float) -> float:  # fmt: skip
    """Send GET ``path`` in bursts until ``until()``; returns the seconds it took.
    Bounded in time (and so in count: ~20 requests a second)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        for _ in range(5):
            requests.get(f"{url}{path}", headers=headers, timeout=5)
        if until():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s of driving {path}")


def page(am: str, severity: str = "page") -> dict[str, Any] | None:
    for found in requests.get(f"{am}/api/v2/alerts", timeout=5).json():
        labels = found["labels"]
        if labels.get("alertname") == ALERT and labels.get("sloth_severity") == severity:
            return dict(found)
    return None


def scraping(prom: Prometheus) -> None:
    prom.wait_for('up{job="summit"}', lambda r: bool(r) and r[0]["value"][1] == "1", timeout=60)


def routing_to(pd: PagerDutyServer, folder: Path) -> Path:
    """The committed routing, its PagerDuty receiver sent to the contract server
    (Events v2 URL and the CA its certificate chains to; the routing key file stays)."""
    text = build.ROUTING_FILE.read_text()
    key_line = '      routing_key_file: "/etc/alertmanager/secrets/pagerduty-routing-key"\n'
    assert key_line in text, "the test edits the committed routing's PagerDuty receiver"
    extra = f'      url: "{pd.url}/v2/enqueue"\n      ca_file: "{pd.ca_file}"\n'
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "routing.yaml"
    path.write_text(text.replace(key_line, key_line + extra))
    return path


def test_the_page_fires_in_alertmanager_and_resolves_when_traffic_heals(
    served: str, tmp_path: Path
) -> None:
    with webhook_sink() as sink, pagerduty_server(tmp_path / "pd") as pd:
        build_into(tmp_path / "out", base_url=sink.url, time_scale=SCALE,
                   routing_file=routing_to(pd, tmp_path / "routing"),
                   secrets_dir=secrets_for_alertmanager(tmp_path / "secrets"))  # fmt: skip
        rule_files = sorted((tmp_path / "out" / build.RULES_DIR).glob("*.yml"))
        with (
            running_alertmanager(tmp_path / "am", tmp_path / "out" / "alertmanager.yml") as am,
            running_prometheus(tmp_path / "prom", targets=[served.split("//")[1]],
                               rule_files=rule_files, alertmanager=am) as prom,
        ):  # fmt: skip
            scraping(prom)
            alice = api_login(served, "acme", "alice")
            fired_in = drive(served, "/api/v1/search?q=rocket", alice,
                             until=lambda: page(am) is not None, timeout=30)  # fmt: skip
            # Windows' math: the 2.5 s window must hold errors, plus a scrape and an
            # evaluation (1 s each) and the send to Alertmanager.
            assert fired_in <= SHORT_WINDOW + 6, fired_in
            firing = page(am)
            assert firing is not None
            assert firing["status"]["state"] == "active"
            assert [r["name"] for r in firing["receivers"]] == ["oncall-page"]
            assert firing["annotations"]["runbook_url"] == (
                f"{sink.url}/runbooks/summit-availability-budget-burn"
            )
            # The ticket's conditions hold too, but the page holds it back.
            ticket = page(am, "ticket")
            assert ticket is None or ticket["status"]["state"] == "suppressed"
            _delivered(sink, "firing")
            trigger = _paged(pd, "trigger")
            assert trigger["routing_key"] == "R0UT1NGKEY0000000000000000000000"
            assert trigger["payload"]["severity"] == "critical"
            assert {"href": f"{sink.url}/runbooks/summit-availability-budget-burn",
                    "text": "Runbook"} in trigger["links"]  # fmt: skip

            healed_in = drive(served, "/api/v1/quotas", alice,
                              until=lambda: page(am) is None, timeout=45)  # fmt: skip
            # The slow page condition's short window (15 s) must drain of errors.
            assert healed_in <= LONG_SLOW_SHORT + 10, healed_in
            _delivered(sink, "resolved")
            resolve = _paged(pd, "resolve")
            # One alert in PagerDuty, opened and closed by the same dedup key.
            assert resolve["dedup_key"] == trigger["dedup_key"]
            assert pd.state.alerts == {trigger["dedup_key"]: "resolved"}
        assert pd.state.rejected == [], "a request broke PagerDuty's contract"


def _paged(pd: PagerDutyServer, action: str) -> dict[str, Any]:
    """The first Events v2 event of ``action`` Alertmanager sent PagerDuty."""
    pd.wait_for(lambda state: any(e["event_action"] == action for e in state.events), timeout=60)
    with pd.lock:
        return next(e for e in pd.state.events if e["event_action"] == action)


def _delivered(sink: Sink, state: str) -> None:
    """The page's notification reached the receiver's webhook (group_wait 1 s here)."""

    def ok(posts: list[tuple[str, dict[str, Any]]]) -> bool:
        return any(body["receiver"] == "oncall-page" and body["status"] == state
                   and body["commonLabels"].get("alertname") == ALERT
                   for _, body in posts)  # fmt: skip

    sink.wait_for(ok, timeout=60)


def test_the_slo_api_reads_prometheus_when_it_is_configured(
    served: str, tmp_path: Path, sqlite_template: Path
) -> None:
    """Unscaled rules: the API shows what the recording rules say."""
    build_into(tmp_path / "out")
    rule_files = sorted((tmp_path / "out" / build.RULES_DIR).glob("*.yml"))
    with running_prometheus(tmp_path / "prom", targets=[served.split("//")[1]],
                            rule_files=rule_files) as prom:  # fmt: skip
        scraping(prom)
        alice = api_login(served, "acme", "alice")
        query = 'slo:period_error_budget_remaining:ratio{sloth_id="summit-availability"}'
        drive(served, "/api/v1/search?q=rocket", alice,
              until=lambda: bool(prom.query(query)), timeout=30)  # fmt: skip
        shutil.copy(sqlite_template, tmp_path / "cp.db")
        config = app_config(f"sqlite:///{tmp_path / 'cp.db'}", tmp_path / "var",
                            PROMETHEUS_URL=prom.url)  # fmt: skip
        world = seed_world(create_app(config))
        response = world.client.get("/api/v1/slo", headers=world.headers("ops"))
        services(world.app).close()
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["source"] == "prometheus"
    availability = next(s for s in body["slos"] if s["id"] == "summit-availability")
    assert availability["source"] == "prometheus", availability["note"]
    rates = {r["window"]: r["burn_rate"] for r in availability["burn_rates"]}
    assert rates["5m"] is not None
    assert rates["5m"] > 14.4
    assert availability["error_budget_remaining"] < 0
    assert availability["sli"] is not None
    assert availability["sli"] < 0.5
    assert any(p["remaining"] is not None for p in availability["chart"])
    assert availability["alerts"][0]["firing"] is True
