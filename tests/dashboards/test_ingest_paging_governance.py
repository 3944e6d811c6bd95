"""The connectors-and-ingest, paging and governance dashboards: the ingest SLO they
draw is the one alerts/slos/ingest.yaml defines, runbook links lead to runbooks
that exist, and a broken audit chain is shown red."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from alerts import slo
from app.core import metrics
from dashboards import build, governance, ingest, paging, schema

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    return build.build_all()


def panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in schema.panels(dashboard) if p["title"] == title and p["type"] != "row")


def exprs(item: dict[str, Any]) -> list[str]:
    return [str(target["expr"]) for target in item["targets"]]


def test_the_ingest_slo_is_the_one_the_spec_defines() -> None:
    [spec] = [
        s for s in slo.load_dir(ROOT / "alerts" / "slos").slos if s.id == metrics.INGEST_SLO_ID
    ]
    assert spec.objective / 100 == ingest.OBJECTIVE
    assert metrics.INGEST_SLO_SECONDS in metrics.INGEST_BUCKETS
    le = f'le="{slo.metrics_le(metrics.INGEST_SLO_SECONDS)}"'
    assert le == ingest.SLO_LE
    assert le in (spec.error_query or "")
    assert metrics.INGEST_BATCH_DURATION.count in (spec.total_query or "")


def test_ingest_latency_is_drawn_against_the_slo_threshold(built: dict[str, Any]) -> None:
    latency = panel(built[ingest.UID], "Batch latency P50 and P95 by connector")
    defaults = latency["fieldConfig"]["defaults"]
    assert defaults["thresholds"]["steps"][-1] == {"color": "red", "value": 1.5}
    assert defaults["custom"]["thresholdsStyle"] == {"mode": "dashed"}
    assert [e.startswith("histogram_quantile(0.5, ") for e in exprs(latency)] == [True, False]
    within = panel(built[ingest.UID], "Batches within 1.5 s by connector")
    assert 'le="1.5"' in exprs(within)[0]


def test_the_ingest_burn_panels_are_the_alert_windows_of_the_ingest_slo(
    built: dict[str, Any],
) -> None:
    burns = [p for p in schema.panels(built[ingest.UID]) if "× over" in p["title"]]
    assert len(burns) == len(metrics.BURN_RATE_ALERTS)
    for item, alert in zip(burns, metrics.BURN_RATE_ALERTS, strict=True):
        assert item["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == alert.factor
        for expr in exprs(item):
            assert expr.count(f'sloth_id="{metrics.INGEST_SLO_ID}"') == 2  # ratio and budget


def test_every_ingest_signal_of_the_issue_has_a_panel(built: dict[str, Any]) -> None:
    text = " ".join(e for p in schema.panels(built[ingest.UID]) if p["type"] != "row"
                    for e in exprs(p))  # fmt: skip
    for name in (
        metrics.INGEST_EVENTS.total,
        metrics.INGEST_BATCH_DURATION.bucket,
        metrics.INGEST_THROTTLED.total,
        metrics.INGEST_LAST_SUCCESS.family,
        metrics.INGEST_IN_FLIGHT.family,
        metrics.INGEST_DLQ_ITEMS.family,
        metrics.INGEST_REPLAYED.total,
        metrics.SLO_BUDGET_REMAINING,
    ):
        assert name in text, name
    assert "time() - max by (tenant, connector)" in text  # seconds since the last success


def test_paging_shows_pages_mtta_mttr_and_the_outbox_by_state(built: dict[str, Any]) -> None:
    dashboard = built[paging.UID]
    units = {p["title"]: p["fieldConfig"]["defaults"]["unit"] for p in schema.panels(dashboard)
             if p["type"] != "row"}  # fmt: skip
    assert units["MTTA (30 d)"] == units["MTTR (30 d)"] == "s"
    outbox = panel(dashboard, "Outbox by state")
    assert exprs(outbox) == [f"sum by (state) ({metrics.PAGING_OUTBOX})"]
    failed = panel(dashboard, "Outbox failed")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert failed[-1] == {"color": "red", "value": 1.0}
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"service", "tenant"}


def test_a_broken_audit_chain_shows_red_and_says_broken(built: dict[str, Any]) -> None:
    chain = panel(built[governance.UID], "Chain verified")
    assert chain["type"] == "stat"
    assert exprs(chain) == [f'min by (tenant) ({metrics.AUDIT_VERIFY_OK}{{tenant=~"$tenant"}})']
    defaults = chain["fieldConfig"]["defaults"]
    assert defaults["mappings"][0]["options"]["0"] == {"color": "red", "index": 0, "text": "broken"}
    assert defaults["thresholds"]["steps"] == [
        {"color": "red", "value": None},
        {"color": "green", "value": 1.0},
    ]
    assert chain["options"]["colorMode"] == "background"


def test_runbook_links_lead_to_runbooks_that_exist(built: dict[str, Any]) -> None:
    links = [
        link["url"]
        for dashboard in built.values()
        for item in [dashboard, *schema.panels(dashboard)]
        for link in item.get("links", [])
    ]
    slugs = {m.group(1) for url in links if (m := re.search(r"/runbooks/([\w-]+)$", url))}
    assert "summit-ingest-write-latency-budget-burn" in slugs
    for name in slugs:
        assert (ROOT / "runbooks" / f"{name}.md").exists(), name
