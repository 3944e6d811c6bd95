"""End to end: a live `summit serve` whose search is broken on purpose; the
scheduled golden-path probe fails N of M, the incident opens, and the leader's
outbox job pages the PagerDuty contract server once, with the runbook and the
failing run's links. Restarted healed, the probe passes and one resolve follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paging.conftest import ROUTING_KEY
from tests.support.live import server_env, summit, summit_server
from tests.support.pagerduty import PagerDutyServer, State

pytestmark = pytest.mark.slow
KEY = "probe:golden-path"


@pytest.fixture
def pd_live(pd_server: PagerDutyServer) -> Iterator[PagerDutyServer]:
    pd_server.state = State()
    yield pd_server
    assert pd_server.state.rejected == []


def env_for(var: Path, pd: PagerDutyServer, **extra: str) -> dict[str, str]:
    return server_env(
        var,
        SUMMIT_ENV="test",
        SUMMIT_SCHEDULER="true",
        SUMMIT_SCHEDULER_LEASE_SECONDS="3",
        SUMMIT_PROBE_GOLDEN_PATH_INTERVAL_SECONDS="2",
        SUMMIT_PROBE_POLICY_INTERVAL_SECONDS="3600",
        SUMMIT_PROBE_GOVERNANCE_INTERVAL_SECONDS="3600",
        SUMMIT_PROBE_FAIL_THRESHOLD="2",
        SUMMIT_PROBE_FAIL_WINDOW="3",
        SUMMIT_PROBE_RECOVER_AFTER="1",
        SUMMIT_PAGING_OUTBOX_INTERVAL_SECONDS="1",
        PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
        PAGERDUTY_EVENTS_URL=pd.url,
        PAGERDUTY_CA_FILE=str(pd.ca_file),
        **extra,
    )


def test_a_broken_golden_path_pages_once_with_its_links_and_resolves_when_healed(
    tmp_path: Path, pd_live: PagerDutyServer
) -> None:
    pd = pd_live
    broken = env_for(tmp_path, pd, SUMMIT_FAULTS="search")
    summit("demo", "--seed-only", env=broken)
    with summit_server(broken, workers=1, log=tmp_path / "broken.log") as server:
        pd.wait_for(lambda s: any(e["dedup_key"] == KEY for e in s.events), timeout=45)
        [trigger] = pd.events_for(KEY)
        links = {link["text"]: link["href"] for link in trigger["links"]}
        assert links["Runbook"] == f"{server.url}/runbooks/summit-probe-golden-path-failing"
        run = links["Failing run: steps, screenshot, trace"]
        assert run.startswith(f"{server.url}/ops/probes/golden-path/runs/")
        assert trigger["payload"]["custom_details"]["failed_step"] == "search"
    healed = env_for(tmp_path, pd)
    with summit_server(healed, workers=1, log=tmp_path / "healed.log"):
        pd.wait_for(lambda s: s.alerts.get(KEY) == "resolved", timeout=45)
    assert [action for action, key in pd.actions() if key == KEY] == ["trigger", "resolve"]
    assert pd.state.alerts_created[KEY] == 1
