"""Sloth prometheus/v1 specs: what is accepted, what is refused and how it says so."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from alerts import build, rules, slo
from app.core import metrics
from app.core.db import Database
from app.core.migrate import upgrade
from app.ops.record_metrics import ProbeRecordCollector
from probes.models import ProbeRun
from tests.alerts.support import write_spec

# Sloth's getting-started example (its README), as a Sloth user has it.
SLOTH_EXAMPLE = """
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
  repo: "myorg/myservice"
  tier: "2"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Common SLO based on availability for HTTP request responses."
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      labels:
        category: "availability"
      annotations:
        summary: "High error rate on 'myservice' requests responses"
      page_alert:
        labels:
          severity: pageteam
          routing_key: myteam
      ticket_alert:
        labels:
          severity: "slack"
          slack_channel: "#alerts-myteam"
"""  # noqa: E501

GOOD_SLO = """
  - name: "{name}"
    objective: {objective}
    sli:
      events:
        error_query: sum(rate(errors_total[{{{{.window}}}}]))
        total_query: sum(rate(requests_total[{{{{.window}}}}]))
    alerting:
      name: "X"
"""


def spec(*slos: str, service: str = "svc") -> str:
    return f'version: "prometheus/v1"\nservice: "{service}"\nslos:' + "".join(slos)


def problems_of(tmp_path: Path, **files: str) -> list[str]:
    for name, text in files.items():
        write_spec(tmp_path, f"{name}.yaml", text)
    with pytest.raises(slo.SpecError) as caught:
        slo.load_dir(tmp_path)
    return caught.value.problems


def test_a_sloth_users_spec_works_unchanged_and_keeps_sloths_names(tmp_path: Path) -> None:
    write_spec(tmp_path, "myservice.yaml", SLOTH_EXAMPLE)
    [one] = slo.load_dir(tmp_path).slos
    options = rules.Options(links=rules.Links("https://summit.example.com"))
    sli, meta, alerts = rules.slo_groups(one, options)
    assert sli["name"] == "sloth-slo-sli-recordings-myservice-requests-availability"
    assert [r["record"] for r in sli["rules"]] == [
        f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
    ]
    assert sli["rules"][0]["labels"] == {
        "owner": "myteam", "repo": "myorg/myservice", "tier": "2",
        "sloth_id": "myservice-requests-availability", "sloth_service": "myservice",
        "sloth_slo": "requests-availability", "sloth_window": "5m",
    }  # fmt: skip
    assert sli["rules"][0]["expr"] == (
        '(sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[5m])))'
        '\n/\n(sum(rate(http_request_duration_seconds_count{job="myservice"}[5m])))\n'
    )
    assert [(r["record"], r["expr"]) for r in meta["rules"][:3]] == [
        ("slo:objective:ratio", "vector(0.9990000000000001)"),
        ("slo:error_budget:ratio", "vector(1-0.9990000000000001)"),
        ("slo:time_period:days", "vector(30)"),
    ]
    page, ticket = alerts["rules"]
    assert page["alert"] == ticket["alert"] == "MyServiceHighErrorRate"
    assert page["labels"] == {
        "category": "availability", "routing_key": "myteam", "severity": "pageteam",
        "sloth_severity": "page",
    }  # fmt: skip
    assert ticket["labels"]["slack_channel"] == "#alerts-myteam"
    assert page["annotations"]["summary"] == "High error rate on 'myservice' requests responses"
    assert "(14.4 * 0.0009999999999999432)" in page["expr"]
    assert "(6 * 0.0009999999999999432)" in page["expr"]
    assert "(3 * 0.0009999999999999432)" in ticket["expr"]
    assert "(1 * 0." in ticket["expr"]


def test_disabled_alerts_are_not_generated_and_need_no_name(tmp_path: Path) -> None:
    text = spec(
        GOOD_SLO.format(name="a", objective=99).replace(
            'name: "X"', 'name: "X"\n      ticket_alert:\n        disable: true'
        ),
        GOOD_SLO.format(name="b", objective=99).replace(
            'name: "X"',
            "page_alert:\n        disable: true\n      ticket_alert:\n        disable: true",
        ),
    )
    write_spec(tmp_path, "s.yaml", text)
    a, b = slo.load_dir(tmp_path).slos
    options = rules.Options(links=rules.Links("http://x"))
    assert [r["labels"]["sloth_severity"] for r in rules.alert_rules(a, options)] == ["page"]
    assert rules.alert_rules(b, options) == []
    assert len(rules.slo_groups(b, options)) == 2  # no empty alert group


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (GOOD_SLO.format(name="a", objective=99).replace("    objective: 99\n", ""),
         "s.yaml: SLO 'a': objective is missing"),
        (GOOD_SLO.format(name="a", objective=0),
         "s.yaml: SLO 'a': objective 0 is outside (0, 100]"),
        (GOOD_SLO.format(name="a", objective=100.5),
         "s.yaml: SLO 'a': objective 100.5 is outside (0, 100]"),
        (GOOD_SLO.format(name="a", objective='"high"'),
         "s.yaml: SLO 'a': objective must be a number, got 'high'"),
        (GOOD_SLO.format(name="a", objective=99)
         .replace("errors_total[{{.window}}]", "errors_total[5m]"),
         "s.yaml: SLO 'a': sli.events.error_query has no {{.window}} placeholder"),
        (GOOD_SLO.format(name="a", objective=99).replace('name: "X"', "labels: {}"),
         "s.yaml: SLO 'a': alerting.name is missing (needed unless both alerts are disabled)"),
        (GOOD_SLO.format(name="a", objective=99).replace("{{.window}}]))\n        total",
                                                         "{{.windw}}]))\n        total"),
         "s.yaml: SLO 'a': sli.events.error_query: unknown template variable {{.windw}}"),
    ],
)  # fmt: skip
def test_bad_specs_are_refused_naming_the_file_and_the_slo(
    tmp_path: Path, body: str, message: str
) -> None:
    problems = problems_of(tmp_path, s=spec(body))
    assert any(p.endswith(message) and p.startswith(str(tmp_path)) for p in problems), problems


def test_a_raw_sli_needs_the_window_placeholder_too(tmp_path: Path) -> None:
    raw = '\n  - name: "r"\n    objective: 99\n    sli:\n      raw:\n        error_ratio_query: x\n'
    raw += "    alerting:\n      name: R\n"
    problems = problems_of(tmp_path, s=spec(raw))
    assert problems == [f"{tmp_path}/s.yaml: SLO 'r': sli.raw.error_ratio_query has no "
                        "{{.window}} placeholder"]  # fmt: skip


def test_duplicate_names_are_refused_across_files(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        a=spec(GOOD_SLO.format(name="dup", objective=99)),
        b=spec(GOOD_SLO.format(name="dup", objective=99)),
    )
    assert problems == [
        f"{tmp_path}/b.yaml: SLO 'dup': duplicate name: service 'svc' already has an SLO "
        f"'dup' (in {tmp_path}/a.yaml)"
    ]


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        a=spec(
            GOOD_SLO.format(name="one", objective=0), GOOD_SLO.format(name="two", objective=101)
        ),
        b='version: "prometheus/v2"\nservice: "x"\nslos: []\n',
    )
    assert len(problems) == 4, problems


def test_sloth_fields_summit_does_not_know_are_warned_about_not_refused(tmp_path: Path) -> None:
    text = spec(
        GOOD_SLO.format(name="a", objective=99).replace('name: "X"', 'name: "X"\n      for: 5m')
    )
    write_spec(tmp_path, "s.yaml", text.replace("slos:", "slo_plugins: {}\nslos:"))
    loaded = slo.load_dir(tmp_path)
    assert len(loaded.slos) == 1
    assert [w.split(": ", 1)[1] for w in loaded.warnings] == [
        "slo_plugins is not a prometheus/v1 field; ignored (as Sloth ignores it)",
        "SLO 'a': alerting.for is not a prometheus/v1 field; ignored (as Sloth ignores it)",
    ]


def test_sli_plugins_are_refused_clearly(tmp_path: Path) -> None:
    body = '\n  - name: "p"\n    objective: 99\n    sli:\n      plugin:\n        id: x\n'
    body += "    alerting:\n      name: P\n"
    [problem] = problems_of(tmp_path, s=spec(body))
    assert problem.endswith("SLO 'p': sli.plugin is not supported (Sloth plugins are Go code): "
                            "use events or raw")  # fmt: skip


def test_metric_names_come_from_app_core_metrics(tmp_path: Path) -> None:
    body = (
        GOOD_SLO.format(name="m", objective=99)
        .replace("errors_total", "{{.metrics.HTTP_ERRORS.total}}")
        .replace("requests_total", "{{ .metrics.HTTP_REQUESTS.total }}")
    )
    write_spec(tmp_path, "s.yaml", spec(body))
    [one] = slo.load_dir(tmp_path).slos
    assert one.error_query == "sum(rate(summit_http_errors_total[{{.window}}]))"
    assert one.total_query == "sum(rate(summit_http_requests_total[{{.window}}]))"
    bad = body.replace("HTTP_ERRORS.total", "HTTP_ERRORZ.total")
    [problem] = problems_of(tmp_path / "bad", s=spec(bad))
    assert "{{.metrics.HTTP_ERRORZ.total}} names no metric in app.core.metrics" in problem


def test_summits_own_specs_type_no_metric_name() -> None:
    for path in build.SPECS_DIR.glob("*.yaml"):
        text = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        assert not re.search(r"\bsummit_", text), f"{path}: use {{{{.metrics.NAME.series}}}}"


def test_a_histogram_threshold_must_sit_on_a_bucket_boundary(tmp_path: Path) -> None:
    query = 'sum(rate({{.metrics.HTTP_DURATION.bucket}}{le="%s"}[{{.window}}]))'
    for le, ok in (("0.3", True), ("0.25", False), ("0.30", False)):
        body = GOOD_SLO.format(name="l", objective=95).replace(
            "sum(rate(errors_total[{{.window}}]))", query % le
        )
        folder = tmp_path / le
        if ok:
            write_spec(folder, "s.yaml", spec(body))
            assert slo.load_dir(folder).slos
            continue
        [problem] = problems_of(folder, s=spec(body))
        assert (
            f'le="{le}" is not a bucket boundary of summit_http_request_duration_seconds' in problem
        )
        assert "0.1, 0.3, 0.5" in problem


def test_the_read_path_slo_counts_reads_under_the_300_ms_bucket() -> None:
    specs = {one.id: one for one in slo.load_dir(build.SPECS_DIR).slos}
    read = specs["summit-read-latency"]
    assert f"{metrics.HTTP_DURATION.bucket}{{" in (read.error_query or "")
    assert 'le="0.3"' in (read.error_query or "")
    assert 0.3 in metrics.LATENCY_BUCKETS
    assert set(specs) == {
        "summit-availability", "summit-read-latency", "summit-policy-latency",
        "summit-golden-path", "summit-ingest-write-latency",
    }  # fmt: skip
    assert specs["summit-availability"].objective == 99.5


def bucket_edges(text: str, family: str) -> tuple[float, ...]:
    edges = {
        float(sample.labels["le"])
        for parsed in text_string_to_metric_families(text)
        for sample in parsed.samples
        if sample.name == f"{family}_bucket" and sample.labels["le"] != "+Inf"
    }
    return tuple(sorted(edges))


def test_the_bucket_map_matches_the_histograms_summit_exports(tmp_path: Path) -> None:
    """The histograms' buckets, read from what /metrics exposes, are the ones
    the SLO specs may put a threshold on."""
    registry = CollectorRegistry()
    emitted = metrics.Metrics(registry)
    emitted.observe(route="/r", method="GET", tenant="t", traffic="user", status=200, seconds=0.1)
    emitted.observe_decision(action="read", decision="allow", source="api", ms=0.1)
    emitted.ingest_batch_seconds.labels("t", "c").observe(0.1)
    db = Database(f"sqlite:///{tmp_path / 'summit.db'}")
    upgrade(db.engine)
    with db.session(tenant_id=None, write=True) as session:
        now = datetime.now(UTC)
        session.add(ProbeRun(id="r", probe="policy", trigger="cli", status="pass",
                             started_at=now, recorded_at=now, duration_ms=10.0, steps=[],
                             failed_step=None, error=None, artifacts=[]))  # fmt: skip
        session.commit()
    registry.register(ProbeRecordCollector(db=db, probes=["policy"]))
    text = generate_latest(registry).decode()
    db.dispose()
    for name, bounds in metrics.HISTOGRAM_BUCKETS.items():
        assert bucket_edges(text, str(name)) == bounds, name
