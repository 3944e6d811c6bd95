"""`paging plan` and `paging sync` against the contract server: plan, apply, a
second run changes nothing, and a change made by hand is reported as drift."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts import escalation, escalation_sync
from app.cli import main
from tests.paging.conftest import client
from tests.support.pagerduty import TOKEN, PagerDutyServer


@pytest.fixture
def accounts(pd: PagerDutyServer) -> PagerDutyServer:
    """The shipped file's people, invited to PagerDuty by hand (sync never creates users)."""
    for user in escalation.load().users.values():
        pd.add("users", {"name": user.name, "email": user.email, "time_zone": user.time_zone})
    return pd


def test_plan_apply_then_nothing_to_do(accounts: PagerDutyServer) -> None:
    wanted = escalation.load()
    pagerduty = client(accounts)
    first = escalation_sync.plan(wanted, pagerduty)
    assert first.problems == []
    assert [(c.resource, c.action) for c in first.changes] == [
        ("schedules", "create"),
        ("escalation_policies", "create"),
        ("services", "create"),
    ]
    escalation_sync.sync(wanted, pagerduty)
    objects = accounts.state.objects
    [service] = objects["services"].values()
    [policy] = objects["escalation_policies"].values()
    [schedule] = objects["schedules"].values()
    assert service["escalation_policy"]["id"] == policy["id"]
    assert policy["escalation_rules"][0]["targets"] == [
        {"type": "schedule_reference", "id": schedule["id"]}
    ]
    assert policy["num_loops"] == 2
    assert schedule["schedule_layers"][0]["rotation_turn_length_seconds"] == 7 * 86400
    writes = sum(call.method in ("POST", "PUT") for call in accounts.state.rest_calls)
    again = escalation_sync.sync(wanted, pagerduty)
    assert again.pending == []
    assert sum(call.method in ("POST", "PUT") for call in accounts.state.rest_calls) == writes


def test_a_change_made_by_hand_is_reported_as_drift_and_put_back(
    accounts: PagerDutyServer,
) -> None:
    wanted = escalation.load()
    pagerduty = client(accounts)
    escalation_sync.sync(wanted, pagerduty)
    [policy] = accounts.state.objects["escalation_policies"].values()
    policy["escalation_rules"][0]["escalation_delay_in_minutes"] = 45  # someone in the web UI
    found = escalation_sync.plan(wanted, pagerduty)
    [drifted] = found.drifted
    assert (drifted.resource, drifted.action) == ("escalation_policies", "update")
    assert any('"delay": 45' in line and '"delay": 15' in line for line in drifted.differences)
    escalation_sync.sync(wanted, pagerduty)
    assert policy["id"] in accounts.state.objects["escalation_policies"]
    fixed = accounts.state.objects["escalation_policies"][policy["id"]]
    assert fixed["escalation_rules"][0]["escalation_delay_in_minutes"] == 15
    assert escalation_sync.plan(wanted, pagerduty).drifted == []


def test_a_changed_file_is_an_update_not_drift(accounts: PagerDutyServer, tmp_path: Path) -> None:
    pagerduty = client(accounts)
    escalation_sync.sync(escalation.load(), pagerduty)
    text = escalation.FILE.read_text().replace("loops: 2", "loops: 3")
    path = tmp_path / "escalation.yaml"
    path.write_text(text)
    found = escalation_sync.plan(escalation.load(path), pagerduty)
    [change] = found.pending
    assert (change.resource, change.drift) == ("escalation_policies", False)


def test_a_user_missing_from_pagerduty_stops_the_sync(pd: PagerDutyServer) -> None:
    with pytest.raises(escalation_sync.SyncError, match="is not in PagerDuty"):
        escalation_sync.sync(escalation.load(), client(pd))
    assert not any(call.method in ("POST", "PUT") for call in pd.state.rest_calls)


def test_the_commands_plan_and_sync(accounts: PagerDutyServer, tmp_path: Path) -> None:
    env = {"PAGERDUTY_API_URL": accounts.url, "PAGERDUTY_API_TOKEN": TOKEN,
           "PAGERDUTY_CA_FILE": str(accounts.ca_file),
           "SUMMIT_VAR_DIR": str(tmp_path)}  # fmt: skip
    runner = CliRunner()
    planned = runner.invoke(main, ["paging", "plan"], env=env)
    assert planned.exit_code == 0, planned.output
    assert "+ schedules Summit primary" in planned.output
    assert "3 to create, 0 to update, 0 drifted, 0 unchanged" in planned.output
    synced = runner.invoke(main, ["paging", "sync"], env=env)
    assert synced.exit_code == 0, synced.output
    again = runner.invoke(main, ["paging", "sync"], env=env)
    assert "nothing to change" in again.output
    assert "0 to create, 0 to update, 0 drifted, 3 unchanged" in again.output


def test_rate_limited_rest_calls_are_retried_a_bounded_number_of_times(
    accounts: PagerDutyServer,
) -> None:
    accounts.limit(2, retry_after=0.01)
    found = escalation_sync.plan(escalation.load(), client(accounts))
    assert found.problems == []  # two 429s, then answers
    accounts.limit(100, retry_after=0.01)
    with pytest.raises(Exception, match="429"):
        escalation_sync.plan(escalation.load(), client(accounts))
    assert accounts.state.limited == 100 - 4  # the first try and three retries, then it gave up
