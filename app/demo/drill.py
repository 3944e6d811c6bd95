"""Game day (``summit drill``): break the golden path on purpose, watch Summit
notice, page and recover, and write down how long each took.

The break is real and narrow: the probe tenant's admin renames the tenant's
synthetic record (the one the golden-path probe searches for, in the
``synthetic`` dataset no user works in) through the same API an admin uses,
so search stops finding it. The drill asks for golden-path runs back to back
until the incident opens, waits for its trigger to leave the outbox, renames
the record back, and runs the probe until the incident resolves and the
resolve goes out. The record is renamed back whatever happens (an error, a
timeout, Ctrl-C). Every time in the report is the server's clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.demo.client import Client, StepFailed, expect

PROBE = "golden-path"
NO_KEY_HINT = "no routing key"
Echo = Callable[[str], Any]


@dataclass(frozen=True)
class Target:
    tenant: str
    admin: str
    admin_password: str
    operator: str
    operator_password: str
    entity_name: str
    search_query: str


@dataclass
class Run:
    id: str
    status: str
    started_at: str
    failed_step: str | None
    error: str | None


@dataclass
class Timeline:
    """What the drill saw, in the server's time (ISO 8601 strings as served)."""

    started: str = ""
    broke_at: str | None = None
    opened_at: str | None = None
    trigger: dict[str, Any] | None = None
    healed_at: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    resolve: dict[str, Any] | None = None
    incident_id: str | None = None
    interval_seconds: int = 0
    runs_to_detect: list[Run] = field(default_factory=list)
    runs_to_recover: list[Run] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


def seconds_between(start: str | None, end: str | None) -> float | None:
    if start is None or end is None:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


@dataclass
class Drill(Client):
    target: Target | None = None
    echo: Echo = print
    timeout: float = 600.0
    page_timeout: float = 120.0
    max_runs: int = 20
    timeline: Timeline = field(default_factory=Timeline)

    def __post_init__(self) -> None:
        if self.target is None:
            raise ValueError("a drill needs a target")
        self._deadline = time.monotonic() + self.timeout

    @property
    def goal(self) -> Target:
        assert self.target is not None
        return self.target

    def admin(self) -> dict[str, str]:
        t = self.goal
        return self.as_(t.tenant, t.admin, password=t.admin_password)

    def operator(self) -> dict[str, str]:
        t = self.goal
        return self.as_(None, t.operator, password=t.operator_password)

    def run(self) -> bool:
        """The whole drill; True when Summit detected, paged and recovered."""
        record = self.preflight()
        original = record["name"]
        try:
            self.break_it(record["id"])
            self.wait_for_incident()
            self.wait_for_page("trigger")
        except StepFailed as exc:
            self.timeline.findings.append(f"FAILED before the heal: {exc}")
        finally:
            self.heal(record["id"], original)
        if self.timeline.incident_id is not None:
            try:
                self.wait_for_recovery()
                self.wait_for_page("resolve")
            except StepFailed as exc:
                self.timeline.findings.append(f"FAILED after the heal: {exc}")
        self.logout()
        return not any(f.startswith("FAILED") for f in self.timeline.findings)

    # --- phases -------------------------------------------------------------------

    def preflight(self) -> dict[str, Any]:
        """The golden path passes and has no open incident; find the record to break."""
        probe = self.probe_facts()
        expect(probe["open_incident"] is None,
               f"{PROBE} already has an open incident ({probe['open_incident']}): a drill "
               "starts from a healthy service; resolve it first")  # fmt: skip
        self.timeline.interval_seconds = int(probe["interval_seconds"])
        first = self.probe_run()
        expect(first.status == "pass", f"{PROBE} is failing before the drill, at "
               f"{first.failed_step}: {first.error}")  # fmt: skip
        self.timeline.started = first.started_at
        self.echo(f"✓ {PROBE} passes before the drill (run {first.id[:8]})")
        t = self.goal
        found = self.call("GET", "/api/v1/search", self.admin(),
                          params={"q": t.search_query, "dataset": "synthetic"})  # fmt: skip
        expect(found.status_code == 200, f"search as {t.admin}: {found.status_code}")
        hits = [hit for hit in found.json()["results"] if hit["name"] == t.entity_name]
        expect(bool(hits), f"{t.tenant} has no synthetic record named {t.entity_name!r}")
        record: dict[str, Any] = hits[0]
        return record

    def break_it(self, entity_id: str) -> None:
        broken = f"Game day drill (was {self.goal.entity_name})"
        answer = self.rename(entity_id, broken)
        self.timeline.broke_at = answer["updated_at"]
        self.echo(f"✗ broke the golden path: {self.goal.tenant}'s synthetic record renamed "
                  f"to {broken!r} by {self.goal.admin}")  # fmt: skip

    def wait_for_incident(self) -> None:
        while len(self.timeline.runs_to_detect) < self.max_runs:
            run = self.probe_run()
            self.timeline.runs_to_detect.append(run)
            self.echo(f"  run {run.id[:8]}: {run.status}"
                      + (f" at {run.failed_step}" if run.failed_step else ""))  # fmt: skip
            incident_id = self.probe_facts()["open_incident"]
            if incident_id is not None:
                incident = self.incident(incident_id)
                self.timeline.incident_id = incident_id
                self.timeline.opened_at = incident["opened_at"]
                self.echo(f"✓ incident {incident_id[:8]} opened after "
                          f"{len(self.timeline.runs_to_detect)} runs")  # fmt: skip
                return
        raise StepFailed(f"{self.max_runs} runs since the break and no incident opened")

    def wait_for_page(self, action: str) -> None:
        """Wait for the incident's ``action`` event to be sent; a server with no
        routing key keeps it in the outbox, which the report says."""
        assert self.timeline.incident_id is not None
        deadline = min(self._deadline, time.monotonic() + self.page_timeout)
        event: dict[str, Any] | None = None
        kept = ""
        while time.monotonic() < deadline:
            incident = self.incident(self.timeline.incident_id)
            events = incident["paging"]["events"]
            mine = [e for e in events if e["action"] == action]
            event = mine[0] if mine else None
            # With no routing key the sender notes it on the first unsent event;
            # the ones behind it (same dedup key) wait in the outbox too.
            kept = next((e["error"] for e in events if NO_KEY_HINT in (e["error"] or "")), "")
            if event is not None and (event["state"] in ("sent", "failed") or kept):
                break
            time.sleep(0.5)
        setattr(self.timeline, action, event)
        if event is None:
            raise StepFailed(f"no {action} event was written for the incident")
        if event["state"] == "sent":
            self.echo(f"✓ {action} sent to PagerDuty at {event['sent_at']}")
        elif kept:
            self.timeline.findings.append(
                f"the {action} was written to the outbox but not delivered: {kept} "
                "(set PAGERDUTY_ROUTING_KEY to page)"
            )
            self.echo(f"- {action} kept in the outbox: {kept}")
        else:
            raise StepFailed(f"the {action} did not go out: {event['state']}, "
                             f"{event['attempts']} attempts, {event['error']}")  # fmt: skip

    def heal(self, entity_id: str, original: str) -> None:
        answer = self.rename(entity_id, original)
        self.timeline.healed_at = answer["updated_at"]
        self.echo(f"✓ healed: the record is {original!r} again")

    def wait_for_recovery(self) -> None:
        assert self.timeline.incident_id is not None
        while len(self.timeline.runs_to_recover) < self.max_runs:
            self.check_time("the incident to resolve")
            run = self.probe_run()
            self.timeline.runs_to_recover.append(run)
            self.echo(f"  run {run.id[:8]}: {run.status}")
            incident = self.incident(self.timeline.incident_id)
            if incident["status"] == "resolved":
                self.timeline.resolved_at = incident["resolved_at"]
                self.timeline.resolved_by = incident["resolved_by"]
                who = incident["resolved_by"] or "the probe passing again"
                self.echo(f"✓ incident resolved by {who}")
                return
        raise StepFailed(f"{self.max_runs} runs since the heal and the incident is still open")

    # --- calls --------------------------------------------------------------------

    def check_time(self, waiting_for: str) -> None:
        if time.monotonic() > self._deadline:
            raise StepFailed(f"gave up after {self.timeout:.0f} s waiting for {waiting_for}")

    def probe_facts(self) -> dict[str, Any]:
        answer = self.call("GET", "/api/v1/probes", self.operator())
        expect(answer.status_code == 200, f"GET /api/v1/probes: {answer.status_code}")
        probes = {p["name"]: p for p in answer.json()["probes"]}
        expect(PROBE in probes, f"this control plane has no {PROBE} probe")
        facts: dict[str, Any] = probes[PROBE]
        return facts

    def probe_run(self) -> Run:
        self.check_time(f"a {PROBE} run")
        run = self.run_probe(PROBE, self.operator())
        return Run(id=run["id"], status=run["status"], started_at=run["started_at"],
                   failed_step=run["failed_step"], error=run["error"])  # fmt: skip

    def incident(self, incident_id: str) -> dict[str, Any]:
        answer = self.call("GET", "/api/v1/incidents", self.operator(), params={"limit": 50})
        expect(answer.status_code == 200, f"GET /api/v1/incidents: {answer.status_code}")
        found = [i for i in answer.json()["incidents"] if i["id"] == incident_id]
        expect(bool(found), f"incident {incident_id} is not among the latest 50")
        incident: dict[str, Any] = found[0]
        return incident

    def rename(self, entity_id: str, name: str) -> dict[str, Any]:
        answer = self.call("PATCH", f"/api/v1/entities/{entity_id}", self.admin(),
                           json={"name": name})  # fmt: skip
        expect(answer.status_code == 200, f"renaming the synthetic record: {answer.status_code} "
               f"{answer.text[:200]}")  # fmt: skip
        body: dict[str, Any] = answer.json()
        return body


# --- the after-action report -------------------------------------------------------


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def report(drill: Drill, *, now: str) -> str:
    """The after-action report, in Markdown."""
    t, goal = drill.timeline, drill.goal
    detected = seconds_between(t.broke_at, t.opened_at)
    runs = len(t.runs_to_detect)
    rows = [
        ("Broken: synthetic record renamed", t.broke_at, "—"),
        ("Detected: incident opened", t.opened_at, f"{_secs(detected)} after the break"),
        _page_row("Paged: trigger", t.trigger, t.opened_at, "detection"),
        ("Healed: record renamed back", t.healed_at,
         f"{_secs(seconds_between(t.broke_at, t.healed_at))} after the break"),
        ("Recovered: incident resolved", t.resolved_at,
         f"{_secs(seconds_between(t.healed_at, t.resolved_at))} after the heal"),
        _page_row("Resolve", t.resolve, t.resolved_at, "recovery"),
    ]  # fmt: skip
    lines = [
        f"# Game day: {PROBE} — after-action report ({now})",
        "",
        f"Control plane: {drill.url}. Break: {goal.tenant}'s synthetic record "
        f"{goal.entity_name!r} renamed by its admin {goal.admin}, so the probe's search "
        f"finds nothing; healed by renaming it back. Probe runs were asked for back to back "
        f"by the operator {goal.operator}. Times are the server's clock.",
        "",
        f"Verdict: **{'passed' if drill_passed(t) else 'FAILED'}** — incident "
        f"{t.incident_id or 'never opened'}.",
        "",
        "| Phase | At | Took |",
        "|---|---|---|",
        *[f"| {phase} | {at or '—'} | {took} |" for phase, at, took in rows],
        "",
        f"Outage seen by the golden path (break to resolve): "
        f"{_secs(seconds_between(t.broke_at, t.resolved_at))}.",
        "",
    ]
    if runs and t.interval_seconds:
        lines += [
            f"Detection took {runs} failed runs. On its schedule alone (every "
            f"{t.interval_seconds} s) the probe would take about {runs * t.interval_seconds} s "
            "to open the same incident.",
            "",
        ]
    lines += ["## Runs", "", "| Phase | Run | Started | Result | Failed step |",
              "|---|---|---|---|---|"]  # fmt: skip
    for phase, batch in (("detect", t.runs_to_detect), ("recover", t.runs_to_recover)):
        lines += [f"| {phase} | {r.id[:8]} | {r.started_at} | {r.status} | {r.failed_step or ''} |"
                  for r in batch]  # fmt: skip
    lines += ["", "## Findings", ""]
    lines += [f"- {finding}" for finding in t.findings] or ["- none: detected, paged, recovered."]
    return "\n".join(lines) + "\n"


def _page_row(
    what: str, event: dict[str, Any] | None, since: str | None, after: str
) -> tuple[str, str | None, str]:
    """A paging row: when the event reached PagerDuty, or that it did not."""
    if event is None:
        return f"{what}: never written", None, "—"
    if event["sent_at"] is not None:
        took = _secs(seconds_between(since, event["sent_at"]))
        return f"{what} sent to PagerDuty", event["sent_at"], f"{took} after {after}"
    took = _secs(seconds_between(since, event["enqueued_at"]))
    return (f"{what} written to the outbox, NOT sent ({event['state']})", event["enqueued_at"],
            f"{took} after {after}")  # fmt: skip


def drill_passed(t: Timeline) -> bool:
    return t.resolved_at is not None and not any(f.startswith("FAILED") for f in t.findings)
