"""`summit drill`: the golden path broken on purpose is detected, paged to the
PagerDuty contract server, healed and resolved; the after-action report says
so with its times. A drill that fails still heals what it broke."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.demo.drill import Drill, Target
from tests.paging.conftest import ROUTING_KEY
from tests.support.live import CHROMIUM, DEMO_PASSWORD, api_login, server_env, serving, summit
from tests.support.pagerduty import PagerDutyServer, pagerduty_server
from tests.support.services import require_service

pytestmark = pytest.mark.slow
KEY = "probe:golden-path"
QUICK = {
    "SUMMIT_PROBE_TIMEOUT_SECONDS": "3",  # a failing search gives up sooner
    "SUMMIT_PROBE_FAIL_THRESHOLD": "2",
    "SUMMIT_PROBE_FAIL_WINDOW": "2",
    "SUMMIT_PROBE_RECOVER_AFTER": "1",
}


@pytest.fixture
def pd_live(tmp_path: Path) -> Iterator[PagerDutyServer]:
    with pagerduty_server(tmp_path / "pagerduty") as server:
        yield server
        assert server.state.rejected == [], "a request broke PagerDuty's contract"


@pytest.fixture(autouse=True)
def chromium() -> None:
    require_service("Chromium", None if Path(CHROMIUM).exists() else f"no {CHROMIUM}")


def probe_target_names(url: str) -> list[str]:
    alice = api_login(url, "acme", "alice")
    found = requests.get(f"{url}/api/v1/search", headers=alice, timeout=10,
                         params={"q": "summit probe target", "dataset": "synthetic"})  # fmt: skip
    return [hit["name"] for hit in found.json()["results"]]


def test_the_drill_detects_pages_heals_and_reports(
    tmp_path: Path, pd_live: PagerDutyServer
) -> None:
    env = server_env(
        tmp_path / "var", PAGERDUTY_ROUTING_KEY=ROUTING_KEY, PAGERDUTY_EVENTS_URL=pd_live.url,
        PAGERDUTY_CA_FILE=str(pd_live.ca_file), **QUICK,
    )  # fmt: skip
    out = tmp_path / "after-action.md"
    result = summit(
        "drill", "--out", str(out), "--timeout", "400", env=env, check=False, timeout=450
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [action for action, key in pd_live.actions() if key == KEY] == ["trigger", "resolve"]
    text = out.read_text()
    assert "Verdict: **passed**" in text
    took = dict(re.findall(r"^\| ([^|]+?) \| [^|]+ \| ([\d.]+) s after", text, re.M))
    assert set(took) == {
        "Detected: incident opened", "Paged: trigger sent to PagerDuty",
        "Healed: record renamed back", "Recovered: incident resolved",
        "Resolve sent to PagerDuty",
    }  # fmt: skip
    assert 0 < float(took["Detected: incident opened"]) < 400
    assert text.count("| detect |") == 2
    assert "| fail | search |" in text
    assert "after-action report" in result.stdout


def test_a_drill_that_fails_still_heals_the_record(tmp_path: Path) -> None:
    # No incident can open within one run at threshold 2: the drill fails, and
    # the synthetic record has its name back.
    with serving(tmp_path / "var", workers=1, **QUICK) as url:
        target = Target(tenant="acme", admin="alice", admin_password=DEMO_PASSWORD,
                        operator="ops", operator_password=DEMO_PASSWORD,
                        entity_name="Summit Probe Target",
                        search_query="summit probe target")  # fmt: skip
        lines: list[str] = []
        drill = Drill(url=url, password="", target=target, echo=lines.append, max_runs=1)
        assert drill.run() is False
        assert any("1 runs since the break and no incident opened" in f
                   for f in drill.timeline.findings)  # fmt: skip
        assert drill.timeline.healed_at is not None
        assert probe_target_names(url) == ["Summit Probe Target"]


def test_a_drill_refuses_to_start_on_a_failing_service(tmp_path: Path) -> None:
    env = server_env(tmp_path / "var", SUMMIT_ENV="test", SUMMIT_FAULTS="search", **QUICK)
    summit("demo", "--seed-only", env=env)
    result = summit("drill", "--timeout", "120", env=env, check=False, timeout=180)
    assert result.returncode == 1
    assert "the drill did not start: golden-path is failing before the drill" in result.stderr
    assert not (tmp_path / "var" / "drills").exists()
