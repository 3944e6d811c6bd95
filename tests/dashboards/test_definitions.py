"""Every dashboard: valid against Grafana's own schema (vendored, draft-07), the house
rules, metric names from app.core.metrics only, queries that parse, deterministic
JSON equal to the committed golden files."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafanalib import core as g
from grafanalib._gen import DashboardEncoder
from jsonschema import Draft7Validator
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from app.core import metrics
from app.core.metrics import Metrics
from dashboards import build, schema, style
from tests.support.dashboards import every_target, known_series, metric_names, substituted
from tests.support.prometheus import require_tools

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = (
    f"summit dashboards build --out tests/dashboards/golden --summit-url {build.DEFAULT_SUMMIT_URL}"
)
VENDOR_SCHEMA = json.loads((schema.SCHEMA_DIR / "dashboard.jsonschema.json").read_text())


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    return build.build_all()


def panels_of(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in schema.panels(dashboard) if p["type"] != "row"]


def test_every_dashboard_validates_against_grafanas_dashboard_schema(
    built: dict[str, dict[str, Any]],
) -> None:
    validator = Draft7Validator(VENDOR_SCHEMA)
    for uid, dashboard in built.items():
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(dashboard)]
        assert errors == [], uid
        assert schema.schema_problems(dashboard) == [], uid  # options and targets too


def test_schema_version_is_the_vendored_schemas_current_one(
    built: dict[str, dict[str, Any]],
) -> None:
    current = VENDOR_SCHEMA["definitions"]["Dashboard"]["properties"]["schemaVersion"]["default"]
    assert {d["schemaVersion"] for d in built.values()} == {current}


def test_grafanalibs_own_output_fails_the_schema_which_is_why_the_house_style_conforms_it() -> None:
    raw = g.Dashboard(
        title="raw",
        uid="raw",
        panels=[g.TimeSeries(title="t", targets=[g.Target(expr="up", refId="A")])],
    ).auto_panel_ids()
    document = json.loads(json.dumps(raw.to_json_data(), cls=DashboardEncoder))
    problems = schema.schema_problems(document)
    assert any("'rows'" in p or "'hideControls'" in p for p in problems), problems
    assert any("target A" in p for p in problems)


def test_every_panel_and_target_names_the_datasource_variable(
    built: dict[str, dict[str, Any]],
) -> None:
    for dashboard in built.values():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["tenant"]["type"] == "query"
        assert variables["tenant"]["datasource"] == style.DATASOURCE
        for panel in schema.panels(dashboard):
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            for target in panel.get("targets", []):
                assert target["datasource"] == panel["datasource"]


def test_every_panel_has_a_unit_and_a_question_and_unique_id(
    built: dict[str, dict[str, Any]],
) -> None:
    for uid, dashboard in built.items():
        ids = [p["id"] for p in schema.panels(dashboard)]
        assert len(ids) == len(set(ids)), uid
        for panel in panels_of(dashboard):
            assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
            assert panel["description"].count("?") >= 1, panel["title"]  # it asks a question
        assert schema.house_problems(dashboard) == [], uid


def test_every_range_is_the_rate_interval(built: dict[str, dict[str, Any]]) -> None:
    for _, _, target in every_target(built):
        ranges = re.findall(r"\[([^\]]*)\]", target["expr"])
        assert set(ranges) <= {"$__rate_interval"}, target["expr"]
        calls = re.findall(r"\b(?:rate|increase|irate|avg_over_time)\(", target["expr"])
        assert len(ranges) == len(calls), target["expr"]


def test_uids_are_stable_and_every_panel_of_the_issue_is_there(
    built: dict[str, dict[str, Any]],
) -> None:
    assert list(built) == [
        "summit-slo-overview",
        "summit-top-offenders",
        "summit-probes",
        "summit-cache-quotas",
        "summit-ingest",
        "summit-paging",
        "summit-governance",
    ]
    slo = [p["title"] for p in panels_of(built["summit-slo-overview"])]
    assert [t for t in slo if t.startswith(("Page", "Ticket"))] == [
        "Page: 14.4× over 1h and 5m",
        "Page: 6× over 6h and 30m",
        "Ticket: 3× over 1d and 2h",
        "Ticket: 1× over 3d and 6h",
    ]
    ranked = [t["expr"] for _, p, t in every_target({"x": built["summit-top-offenders"]})]
    for name in (
        metrics.RATE_LIMITED.total,
        metrics.HTTP_ERRORS.total,
        metrics.HTTP_DURATION.bucket,
        metrics.TENANT_STORAGE.family,
    ):
        assert any(expr.startswith("topk(5, ") and name in expr for expr in ranked), name


def test_the_alert_thresholds_are_drawn_on_the_burn_rate_panels(
    built: dict[str, dict[str, Any]],
) -> None:
    burns = [p for p in panels_of(built["summit-slo-overview"]) if "× over" in p["title"]]
    for panel, alert in zip(burns, metrics.BURN_RATE_ALERTS, strict=True):
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[-1] == {"color": "red", "value": alert.factor}
        assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] == {"mode": "dashed"}
        assert panel["links"][0]["url"] == "${summit_url}/runbooks/incident-response"


# -- metric names come from app.core.metrics, and only from there -------------------


def test_every_metric_a_panel_reads_is_named_in_app_core_metrics(
    built: dict[str, dict[str, Any]],
) -> None:
    known = known_series()
    for dashboard, panel, target in every_target(built):
        unknown = metric_names(target["expr"]) - known
        assert not unknown, f"{dashboard['uid']} / {panel['title']}: {unknown}"


def tenant_labelled() -> set[str]:
    """Every series name whose metric carries a tenant label: the metrics Metrics
    registers, and those read from the database at scrape time."""
    registered = Metrics(CollectorRegistry())
    names = {
        collector._name
        for collector in vars(registered).values()
        if isinstance(collector, MetricWrapperBase) and "tenant" in collector._labelnames
    }
    names |= {str(n) for n in (metrics.TENANT_STORAGE, metrics.TENANT_QUOTA,
                                metrics.INGEST_DLQ_ITEMS)}  # fmt: skip
    suffixes = ("", "_total", "_bucket", "_count", "_sum")
    return {name + suffix for name in names for suffix in suffixes}


def test_every_selector_of_a_metric_with_a_tenant_label_filters_by_the_tenant_variable(
    built: dict[str, dict[str, Any]],
) -> None:
    with_tenant = tenant_labelled()
    assert metrics.INGEST_EVENTS.total in with_tenant
    assert metrics.AUDIT_VERIFY_OK.family in with_tenant
    for dashboard, panel, target in every_target(built):
        for name in metric_names(target["expr"]) & with_tenant:
            for found in re.finditer(rf"\b{re.escape(name)}\b(\{{[^}}]*\}})?", target["expr"]):
                assert 'tenant=~"$tenant"' in (found.group(1) or ""), (
                    f"{dashboard['uid']} / {panel['title']}: {found.group(0)}"
                )


def test_renaming_a_metric_in_app_core_metrics_renames_it_on_every_panel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics, "RATE_LIMITED", metrics.Name("summit_rate_limit_refusals"))
    exprs = " ".join(t["expr"] for _, _, t in every_target(build.build_all()))
    assert "summit_rate_limit_refusals_total" in exprs
    assert "summit_rate_limited_total" not in exprs


# -- every query parses (promtool, offline) -----------------------------------------


def test_every_query_parses_with_promtool(built: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    require_tools("promtool")
    rules = [
        {"record": f"check:panel_{n}", "expr": substituted(target["expr"], dashboard, panel)}
        for n, (dashboard, panel, target) in enumerate(every_target(built))
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    done = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


def test_promtool_check_fails_on_a_broken_query(tmp_path: Path) -> None:
    require_tools("promtool")
    path = tmp_path / "broken.yml"
    broken = {"record": "check:broken", "expr": "sum by (tenant (rate(x[1m]))"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": [broken]}]}))
    done = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, timeout=60
    )
    assert done.returncode != 0


# -- the house checks can fail ------------------------------------------------------


def _first(dashboard: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(p for p in dashboard["panels"] if p["type"] == kind)


BREAKAGES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no unit": (lambda d: _first(d, "stat")["fieldConfig"]["defaults"].pop("unit"), "no unit"),
    "no description": (lambda d: _first(d, "timeseries").pop("description"), "no description"),
    "fixed range": (
        lambda d: _first(d, "timeseries")["targets"][0].update(expr="rate(up[5m])"),
        "range [5m]: want [$__rate_interval]",
    ),
    "hard-coded datasource": (
        lambda d: _first(d, "bargauge").update(datasource={"type": "prometheus", "uid": "prom"}),
        "datasource",
    ),
    "duplicate id": (lambda d: d["panels"][2].update(id=d["panels"][1]["id"]), "is used twice"),
    "undefined variable": (
        lambda d: _first(d, "stat")["targets"][0].update(expr='up{job="$job"}'),
        "$job is not a variable",
    ),
    "overlap": (lambda d: d["panels"][2]["gridPos"].update(x=0, y=1), "overlaps"),
    "no tenant variable": (
        lambda d: d["templating"]["list"].pop(1),
        "no tenant variable",
    ),
    "legacy key": (lambda d: d.update(rows=[]), "'rows' was unexpected"),
    "legacy bar gauge options": (
        lambda d: _first(d, "bargauge")["options"].update(fieldOptions={}),
        "'fieldOptions' was unexpected",
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_checks_catch(breakage: str, built: dict[str, dict[str, Any]]) -> None:
    dashboard = copy.deepcopy(built["summit-top-offenders"])
    dashboard["panels"].append(copy.deepcopy(_first(built["summit-cache-quotas"], "stat")))
    dashboard["panels"][-1].update(id=99, gridPos={"h": 1, "w": 1, "x": 0, "y": 99})
    assert schema.schema_problems(dashboard) + schema.house_problems(dashboard) == []
    breaking, expected = BREAKAGES[breakage]
    breaking(dashboard)
    with pytest.raises(schema.DashboardInvalid) as failure:
        schema.validate(dashboard)
    assert any(expected in problem for problem in failure.value.problems), failure.value.problems


# -- deterministic output and golden files ------------------------------------------


def test_the_json_is_deterministic_with_sorted_keys(built: dict[str, dict[str, Any]]) -> None:
    again = build.build_all()
    for uid, dashboard in built.items():
        text = style.render(dashboard)
        assert text == style.render(again[uid])
        assert (
            text
            == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        )


def test_generated_files_equal_the_golden_files(tmp_path: Path) -> None:
    build.write(tmp_path, summit_url=build.DEFAULT_SUMMIT_URL)
    generated = {p.name: p.read_text() for p in tmp_path.iterdir()}
    golden = {p.name: p.read_text() for p in GOLDEN.iterdir()}
    assert sorted(generated) == sorted(golden), f"regenerate with: {REGENERATE}"
    for name, text in generated.items():
        assert text == golden[name], (
            f"{name} differs from its golden file; if the change is "
            f"meant, regenerate with: {REGENERATE} and review the diff"
        )


def test_the_provisioning_file_is_a_grafana_file_provider(tmp_path: Path) -> None:
    build.write(tmp_path, provision_path="/srv/grafana/summit", folder_uid="sre")
    config = yaml.safe_load((tmp_path / "provisioning.yaml").read_text())
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["folderUid"] == "sre"
    assert provider["allowUiUpdates"] is False
    assert provider["options"] == {
        "path": "/srv/grafana/summit",
        "foldersFromFilesStructure": False,
    }


def test_a_rebuild_removes_dashboards_that_no_longer_exist(tmp_path: Path) -> None:
    (tmp_path / "summit-retired.json").write_text("{}")
    (tmp_path / "someone-elses.json").write_text("{}")
    build.write(tmp_path)
    assert not (tmp_path / "summit-retired.json").exists()
    assert (tmp_path / "someone-elses.json").exists()


def test_an_unknown_uid_is_refused_by_name() -> None:
    with pytest.raises(build.UnknownDashboard, match="no dashboard 'nope'; known: summit-slo"):
        build.build_one("nope")
