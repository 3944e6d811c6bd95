"""Every target of every panel against Debian's Prometheus scraping a live `summit
serve` after real traffic: tenants searching and fetching, one tenant flooded past
its rate limit, the scheduler running both probes (the golden path in Chromium),
ingest through a connector with a DLQ and a refusal, an incident paged and
resolved, and governance (hold, purge, export, audit verify; one chain broken).

The template variables are substituted as Grafana does for the dashboards'
defaults (tenant "All", $__rate_interval from the panel's min interval and the
scrape interval); each query must parse and return at least one series. A
metric renamed under a panel makes the check fail (shown below). The SLO
overview and the ingest dashboard read the recording rules `summit alerts build`
generates, loaded into this Prometheus.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from app.core import metrics
from dashboards import build, governance, ingest, probe_health, slo_overview
from dashboards.schema import panels
from tests.dashboards import live_traffic
from tests.support.dashboards import Finding, check_live, every_target, substituted
from tests.support.live import api_login, server_env, summit, summit_server
from tests.support.prometheus import Prometheus, running_prometheus

pytestmark = pytest.mark.slow
# Prometheus caps a scrape's timeout at its interval: 2 s leaves a loaded CI
# machine (the golden path runs Chromium every 3 s here) room to answer /metrics.
SCRAPE_SECONDS = 2
# Dashboards with panels on the SLO recording rules of `summit alerts build`.
READS_RULES = {slo_overview.UID, ingest.UID}


@dataclass
class Stack:
    summit: str
    server_pid: int  # gunicorn's master, leader of the server's process group
    prometheus: Prometheus
    since: float
    rules: list[Path]
    rules_problem: str | None


def slo_rules(out: Path) -> tuple[list[Path], str | None]:
    """The rule files `summit alerts build` writes, or why there are none."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "alerts", "build", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SUMMIT_VAR_DIR": str(out)},
    )
    if done.returncode != 0:
        return [], f"`summit alerts build` failed ({done.returncode}): {done.stderr.strip()[-300:]}"
    rules = sorted(p for p in out.rglob("*.y*ml") if "groups:" in p.read_text())
    return rules, None if rules else f"`summit alerts build` wrote no rule files into {out}"


def drive_traffic(url: str, database: Path) -> None:
    """Ingest, a page, governance (globex's audit chain broken); searches (cache
    misses, then hits), entity fetches and a write for acme; then globex squeezed
    to 1 request/s and flooded, so it collects 429s."""
    alice, carol = api_login(url, "acme", "alice"), api_login(url, "globex", "carol")
    ops = api_login(url, None, "ops")
    live_traffic.drive_ingest(url, alice)
    live_traffic.drive_paging(url, ops)
    live_traffic.drive_governance(url, alice)
    live_traffic.break_a_chain(url, carol, database)
    squeeze = requests.patch(
        f"{url}/api/v1/admin/tenants/globex/quotas",
        headers=ops,
        timeout=10,
        json={"qps": 1, "burst": 0, "reason": "dashboards live test"},
    )
    assert squeeze.status_code == 200, squeeze.text
    for query in ("rocket", "acme", "rocket", "acme", "rocket"):
        found = requests.get(f"{url}/api/v1/search", params={"q": query}, headers=alice, timeout=10)
        assert found.status_code == 200, found.text
        for hit in found.json()["results"][:2]:
            requests.get(f"{url}/api/v1/entities/{hit['id']}", headers=alice, timeout=10)
    created = requests.post(
        f"{url}/api/v1/entities",
        headers=alice,
        timeout=10,
        json={"kind": "org", "name": "Live Dashboards Ltd", "dataset": "live", "attributes": {}},
    )
    assert created.status_code == 201, created.text
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda _: (
                    requests.get(f"{url}/api/v1/quotas", headers=carol, timeout=10).status_code
                ),
                range(20),
            )
        )
    assert 429 in statuses, statuses


def keep_busy(url: str, stop: threading.Event) -> None:
    """Steady reads, and a small ingest batch about once a second, while panels are
    checked, so "now" has data too (and the ingest SLO's windows hold batches)."""
    alice = api_login(url, "acme", "alice")
    tick = 0
    while not stop.wait(0.25):
        requests.get(f"{url}/api/v1/search", params={"q": "rocket"}, headers=alice, timeout=10)
        tick += 1
        if tick % 4 == 0:
            live_traffic.ingest_a_little(url, alice)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("dashboards-live")
    rules, problem = slo_rules(work / "alerts")
    since = time.time()
    env = server_env(
        work / "var",
        SUMMIT_ENV="test",
        SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS="3",
        SUMMIT_PROBE_POLICY_INTERVAL_SECONDS="2",
        SUMMIT_PROBE_TIMEOUT_SECONDS="5",
        SUMMIT_SCHEDULER_LEASE_SECONDS="3",
        SUMMIT_ALERTS_WEBHOOK_TOKEN=live_traffic.WEBHOOK_TOKEN,
    )
    summit("demo", "--seed-only", env=env)
    with summit_server(env, workers=2, log=work / "var" / "serve.log") as server:
        url = server.url
        drive_traffic(url, work / "var" / "summit.db")
        target = url.removeprefix("http://")
        with running_prometheus(
            work / "prometheus", targets=[target], rule_files=rules, interval=f"{SCRAPE_SECONDS}s"
        ) as prometheus:
            stop = threading.Event()
            searcher = threading.Thread(target=keep_busy, args=(url, stop), daemon=True)
            searcher.start()
            try:
                wait_until_scraped(prometheus)
                yield Stack(url, server.pid, prometheus, since, rules, problem)
            finally:
                stop.set()
                searcher.join(timeout=10)


def wait_until_scraped(prometheus: Prometheus) -> None:
    """Both probes have run and been scraped, and rate windows hold two samples."""
    every = f"count(count by (probe) ({metrics.PROBE_DURATION.count}))"
    prometheus.wait_for(every, lambda result: bool(result) and float(result[0]["value"][1]) >= 2)
    steps = f'{metrics.PROBE_DURATION.count}{{step="search"}}'
    prometheus.wait_for(steps, bool, timeout=30)
    ingest_slo = f'{{sloth_id="{metrics.INGEST_SLO_ID}"}}'
    prometheus.wait_for(f"{metrics.SLO_BUDGET_REMAINING}{ingest_slo}", bool, timeout=30)
    time.sleep(4 * SCRAPE_SECONDS)  # the shortest $__rate_interval: four scrapes


def checked(stack: Stack, built: dict[str, dict[str, Any]]) -> list[Finding]:
    """check_live over scrapes that all succeeded. A failed scrape (a timeout on a
    loaded machine) marks every series of the target stale, so an instant query
    finds nothing whatever the panel asks: that says nothing about the panel, and
    the check is run again once the shortest rate window holds only clean scrapes
    (three tries; then the findings carry what the scrape said)."""
    findings: list[Finding] = []
    for _ in range(3):
        wait_for_clean_scrapes(stack.prometheus)
        started = time.monotonic()
        findings = check_live(
            stack.prometheus.url, built, scrape_seconds=SCRAPE_SECONDS, since=stack.since
        )
        if stack.prometheus.scraped_cleanly(time.monotonic() - started + SCRAPE_SECONDS):
            return findings
    errors = stack.prometheus.scrape_errors() or ["(the target is up again now)"]
    return [*findings, Finding("-", "-", "-", "; ".join(errors), "a scrape failed in every try")]


def wait_for_clean_scrapes(prometheus: Prometheus) -> None:
    """Every scrape within the shortest $__rate_interval (four scrapes) succeeded."""
    window = f"min(min_over_time(up[{4 * SCRAPE_SECONDS}s]))"
    prometheus.wait_for(window, lambda up: bool(up) and up[0]["value"][1] == "1", timeout=90)


@pytest.mark.parametrize("uid", list(build.DEFINITIONS))
def test_every_panel_returns_series_from_a_live_prometheus(stack: Stack, uid: str) -> None:
    if uid in READS_RULES:
        assert stack.rules_problem is None, (
            f"{uid} reads the rules of `summit alerts build`: {stack.rules_problem}"
        )
    dashboard = {uid: build.build_one(uid)}
    findings = checked(stack, dashboard)
    assert findings == [], "\n".join(map(str, findings))
    assert len(list(every_target(dashboard))) >= 8


def test_the_audit_stat_is_red_for_the_tenant_whose_chain_is_broken(stack: Stack) -> None:
    dashboard = build.build_one(governance.UID)
    panel = next(p for p in panels(dashboard) if p["title"] == "Chain verified")
    expr = substituted(panel["targets"][0]["expr"], dashboard, panel, scrape_seconds=SCRAPE_SECONDS)
    shown: dict[str, str] = {}
    for _ in range(3):  # over clean scrapes, as checked() does
        wait_for_clean_scrapes(stack.prometheus)
        shown = {r["metric"]["tenant"]: r["value"][1] for r in stack.prometheus.query(expr)}
        if stack.prometheus.scraped_cleanly(2 * SCRAPE_SECONDS):
            break
    assert (shown.get("acme"), shown.get("globex")) == ("1", "0"), shown
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults["mappings"][0]["options"]["0"]["color"] == "red"
    steps = defaults["thresholds"]["steps"]
    assert [s["color"] for s in steps if s["value"] is None or s["value"] <= 0] == ["red"]


@pytest.mark.parametrize(
    ("constant", "renamed"),
    [
        ("RATE_LIMITED", "summit_rate_limit_refusals"),
        ("PROBE_DURATION", "summit_probe_seconds"),
        ("INGEST_EVENTS", "summit_ingest_event_count"),
        ("AUDIT_VERIFY_OK", "summit_audit_chain_ok"),
    ],
)
def test_a_metric_renamed_under_a_panel_fails_the_check(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, constant: str, renamed: str
) -> None:
    """The server still exports the old name; the dashboards now read the new one."""
    old = getattr(metrics, constant)
    monkeypatch.setattr(metrics, constant, metrics.Name(renamed))
    built = build.build_all()
    reading = {
        (d["uid"], p["title"], t["refId"])
        for d, p, t in every_target(built)
        if renamed in t["expr"]
    }
    assert reading, f"no panel reads {old.family}"
    findings = checked(stack, built)
    assert {(f.dashboard, f.panel, f.ref) for f in findings} == reading
    assert {f.problem for f in findings} == {"returned no series"}


def test_a_stalled_scrape_is_checked_again_not_blamed_on_the_panels(stack: Stack) -> None:
    """The server frozen (SIGSTOP) past a scrape's timeout: a plain check then finds
    instant panels empty, checked() waits for clean scrapes and finds nothing wrong."""
    dashboard = {probe_health.UID: build.build_one(probe_health.UID)}
    os.killpg(stack.server_pid, signal.SIGSTOP)
    try:
        stack.prometheus.wait_for("up", lambda up: bool(up) and up[0]["value"][1] == "0", 30)
        stale = check_live(
            stack.prometheus.url, dashboard, scrape_seconds=SCRAPE_SECONDS, since=stack.since
        )
    finally:
        os.killpg(stack.server_pid, signal.SIGCONT)
    assert {f.problem for f in stale} == {"returned no series"}, stale
    assert checked(stack, dashboard) == []
