"""`summit dashboards push` against a local server that checks every request against
Grafana's documented HTTP API contract (tests/support/grafana.py)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from app.cli import main
from dashboards import build, publish
from dashboards.publish import GrafanaClient, push
from tests.support.grafana import GrafanaContract, running_grafana

TOKEN = "glsa_test-token-0123456789"


@pytest.fixture
def grafana() -> Iterator[GrafanaContract]:
    with running_grafana(TOKEN) as contract:
        yield contract


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    return build.build_all()


def publish_all(grafana: GrafanaContract, built: dict[str, Any], **kw: Any) -> publish.PushReport:
    client = GrafanaClient(grafana.url, kw.pop("token", TOKEN))
    return push(client, built, folder_uid="summit", folder_title="Summit", message="test", **kw)


def test_first_push_creates_the_folder_and_every_dashboard_within_the_contract(
    grafana: GrafanaContract, built: dict[str, Any]
) -> None:
    report = publish_all(grafana, built)
    assert report.folder == "created"
    assert [(r.uid, r.outcome, r.version) for r in report.results] == [
        (uid, "created", 1) for uid in built
    ]
    assert grafana.violations == []
    saves = grafana.posts("/api/dashboards/db")
    assert len(saves) == len(built)
    for save in saves:
        assert save.headers["authorization"] == f"Bearer {TOKEN}"
        assert save.body["folderUid"] == "summit"
        assert save.body["overwrite"] is True
        assert save.body["message"] == "test"
        assert save.body["dashboard"]["id"] is None
    stored = {uid: grafana.dashboards[uid]["dashboard"] for uid in built}
    for uid, dashboard in built.items():
        assert {k: v for k, v in stored[uid].items() if k not in ("id", "version")} == dashboard
    assert all(r.url == f"/d/{r.uid}/{r.url.rsplit('/', 1)[-1]}" for r in report.results if r.url)


def test_a_second_push_changes_nothing_and_posts_nothing(
    grafana: GrafanaContract, built: dict[str, Any]
) -> None:
    publish_all(grafana, built)
    before = len(grafana.posts("/api/dashboards/db"))
    report = publish_all(grafana, built)
    assert report.folder == "exists"
    assert {r.outcome for r in report.results} == {"unchanged"}
    assert len(grafana.posts("/api/dashboards/db")) == before
    assert not grafana.posts("/api/folders")[1:]  # created once, never again


def test_an_edit_made_in_grafana_shows_as_a_diff_and_is_overwritten(
    grafana: GrafanaContract, built: dict[str, Any]
) -> None:
    publish_all(grafana, built)
    uid = "summit-probes"
    grafana.dashboards[uid]["dashboard"]["title"] = "Probes (edited by hand)"
    report = publish_all(grafana, built)
    result = next(r for r in report.results if r.uid == uid)
    assert (result.outcome, result.version) == ("updated", 2)
    assert '-  "title": "Probes (edited by hand)",' in result.diff
    assert '+  "title": "Summit / Probes",' in result.diff
    assert grafana.dashboards[uid]["dashboard"]["title"] == "Summit / Probes"
    others = [r.outcome for r in report.results if r.uid != uid]
    assert set(others) == {"unchanged"}


def test_a_dry_run_shows_the_diffs_and_writes_nothing(
    grafana: GrafanaContract, built: dict[str, Any]
) -> None:
    report = publish_all(grafana, built, dry_run=True)
    assert report.folder == "would be created"
    assert {r.outcome for r in report.results} == {"would create"}
    assert all(r.diff[0] == f"--- grafana/{r.uid}" for r in report.results)
    assert [r.method for r in grafana.requests] == ["GET"] * (1 + len(built))
    assert grafana.dashboards == {}
    assert grafana.folders == {}


def test_a_wrong_token_fails_every_dashboard_with_401(
    grafana: GrafanaContract, built: dict[str, Any]
) -> None:
    report = publish_all(grafana, built, token="not-the-token")
    assert report.failed
    assert report.folder.startswith("failed: 401")
    assert {(r.outcome, r.error) for r in report.results} == {("failed", "401: Unauthorized")}
    assert grafana.dashboards == {}


def test_a_refused_save_is_reported_for_that_dashboard_only(
    grafana: GrafanaContract, built: dict[str, Any]
) -> None:
    refusal = {"message": "The dashboard belongs to plugin Summit", "status": "plugin-dashboard"}
    grafana.fail_next_save = (412, refusal)
    report = publish_all(grafana, built)
    first, *rest = report.results
    assert first.outcome == "failed"
    assert first.error == "412: The dashboard belongs to plugin Summit (plugin-dashboard)"
    assert [r.outcome for r in rest] == ["created"] * len(rest)


def test_a_folder_created_meanwhile_by_someone_else_will_do(
    grafana: GrafanaContract, built: dict[str, Any]
) -> None:
    grafana.folders["summit"] = {"id": 1, "uid": "summit", "title": "Summit", "version": 1}
    grafana.hide_folders_once = True
    report = publish_all(grafana, built)
    assert len(grafana.posts("/api/folders")) == 1  # it tried, got 409, and went on
    assert not report.failed
    assert {r.outcome for r in report.results} == {"created"}


def test_an_unreachable_grafana_is_a_failure_not_a_crash(built: dict[str, Any]) -> None:
    client = GrafanaClient("http://127.0.0.1:9", TOKEN, timeout=2)  # discard port: refused
    report = push(client, built, folder_uid="summit", folder_title="Summit", message="m")
    assert report.failed
    assert report.folder.startswith("failed: no answer")


# -- the contract server can fail: it refuses what Grafana's contract forbids --------


def call(grafana: GrafanaContract, body: Any, **headers: str) -> requests.Response:
    sent = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json", **headers}
    return requests.post(f"{grafana.url}/api/dashboards/db", json=body, headers=sent, timeout=5)


def test_the_contract_server_refuses_grafanalibs_legacy_json(grafana: GrafanaContract) -> None:
    import json

    from grafanalib import core as g
    from grafanalib._gen import DashboardEncoder

    raw = json.loads(
        json.dumps(g.Dashboard(title="x", uid="legacy").to_json_data(), cls=DashboardEncoder)
    )
    answer = call(grafana, {"dashboard": raw, "overwrite": True})
    assert answer.status_code == 400
    assert "schema" in answer.json()["message"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            {
                "dashboard": {"uid": "x", "schemaVersion": 42, "templating": {}, "annotations": {}},
                "overwrite": "yes",
            },
            "overwrite must be a bool",
        ),
        ({"dashboard": {"uid": "x"}, "folder": "summit"}, "unknown body fields ['folder']"),
        ({"overwrite": True}, "with a dashboard object"),
    ],
)
def test_the_contract_server_refuses_malformed_bodies(
    grafana: GrafanaContract, body: dict[str, Any], problem: str
) -> None:
    answer = call(grafana, body)
    assert answer.status_code == 400
    assert problem in answer.json()["message"]
    assert grafana.violations


def test_the_contract_server_wants_the_bearer_token(grafana: GrafanaContract) -> None:
    answer = call(grafana, {}, Authorization="Basic YWRtaW46YWRtaW4=")
    assert answer.status_code == 401


# -- the CLI ------------------------------------------------------------------------


def run_push(grafana: GrafanaContract, tmp_path: Path, *args: str, **env: str) -> Result:
    token = tmp_path / "grafana-token"
    token.write_text(TOKEN + "\n")
    environment = {"SUMMIT_VAR_DIR": str(tmp_path / "var"), "GRAFANA_TOKEN_FILE": str(token), **env}
    return CliRunner().invoke(
        main, ["dashboards", "push", "--url", grafana.url, *args], env=environment
    )


def test_cli_push_reads_the_token_file_and_reports_each_dashboard(
    grafana: GrafanaContract, tmp_path: Path
) -> None:
    done = run_push(grafana, tmp_path, "--folder-uid", "sre", "--no-diff")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == "folder sre: created"
    for uid, title in build.titles().items():
        assert any(line.startswith(f"created        {uid}") and title in line for line in lines)
    assert lines[-1] == f"{len(build.DEFINITIONS)} created"
    assert {r.body["folderUid"] for r in grafana.posts("/api/dashboards/db")} == {"sre"}
    assert grafana.violations == []


def test_cli_push_shows_the_diff_and_exits_1_when_a_dashboard_fails(
    grafana: GrafanaContract, tmp_path: Path
) -> None:
    assert run_push(grafana, tmp_path).exit_code == 0
    grafana.dashboards["summit-cache-quotas"]["dashboard"]["refresh"] = "5s"
    grafana.fail_next_save = (500, {"message": "database is locked"})
    done = run_push(grafana, tmp_path)
    assert done.exit_code == 1, done.output
    assert '-  "refresh": "5s",' in done.output
    assert "failed         summit-cache-quotas" in done.output
    assert "500: database is locked" in done.output


def test_cli_push_without_a_token_says_how_to_give_one(tmp_path: Path) -> None:
    done = CliRunner().invoke(
        main,
        ["dashboards", "push", "--url", "http://127.0.0.1:9"],
        env={"SUMMIT_VAR_DIR": str(tmp_path), "GRAFANA_TOKEN_FILE": None, "GRAFANA_TOKEN": None},
    )
    assert done.exit_code == 1
    assert "no Grafana token: pass --token-file or set GRAFANA_TOKEN_FILE" in done.output


def test_the_diff_ignores_what_grafana_owns(built: dict[str, Any]) -> None:
    ours = built["summit-probes"]
    theirs = {**copy.deepcopy(ours), "id": 7, "version": 12}
    assert publish.diff(theirs, ours) == []
    assert publish.diff(None, ours)[:2] == ["--- grafana/summit-probes", "+++ summit/summit-probes"]
