"""The demo script (``summit demo``): the whole product, end to end, narrated.

It talks to a running control plane over HTTP, as users, operators and
probes do: the one given with ``--url``, or a ``summit serve`` it starts on a
free loopback port for the length of the demo (and stops by PID). Each step
says what it shows and what it saw; a step whose feature this build does not
have says so plainly instead of pretending. Any step that fails is reported,
the rest still run, and the command exits 1.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from PIL import Image, ImageDraw

from app.demo.client import TIMEOUT, Client, StepFailed, expect
from app.ingest.commands import summary
from app.ingest.loadgen import Load, LoadPlan

Echo = Callable[[str], Any]


class Missing(Exception):
    """This build does not have the feature a step shows."""


@dataclass
class Demo(Client):
    echo: Echo = print
    events: int = 100_000
    report_dir: Path = Path("var/demo")  # where the branded reports are saved
    _paths: dict[str, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    # --- helpers ------------------------------------------------------------------

    def needs(self, method: str, path: str, what: str) -> None:
        if not self._paths:
            spec = self.http.get(f"{self.url}/openapi.json", timeout=TIMEOUT).json()
            self._paths = spec["paths"]
        if method.lower() not in self._paths.get(path, {}):
            raise Missing(f"{what} is not in this build yet ({method} {path})")

    def say(self, text: str) -> None:
        self.echo(f"     {text}")

    # --- the run ------------------------------------------------------------------

    def run(self) -> bool:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("Synthetic checks: the golden path in Chromium, the policy and governance probes",
             self.probes),
            ("Tenant isolation: acme's data is invisible to globex and to operators",
             self.isolation),
            (f"Ingest: {self.events:,} events over HTTP, 0.2 % of them invalid", self.ingest),
            ("Legal hold: a held record cannot be purged, and the attempt is audited",
             self.legal_hold),
            ("Subject access export: the subject's records with their provenance", self.export),
            ("Rate limits: a tenant over its limit gets 429 with its budget; an operator "
             "raises it", self.rate_limit),
            ("Paging: a test page through the outbox", self.paging),
            ("A branded report: the tenant's logo and footer on its SLO and usage reports",
             self.report),
        ]  # fmt: skip
        self.echo(f"Summit demo against {self.url}")
        for number, (title, step) in enumerate(steps, 1):
            self.echo(f"\n{number}. {title}")
            try:
                step()
            except Missing as exc:
                self.say(f"- not shown: {exc}")
            except (StepFailed, requests.RequestException) as exc:
                self.say(f"✗ FAILED: {exc}")
                self.failed.append(title)
        self.logout()
        verdict = "every step held" if not self.failed else f"{len(self.failed)} step(s) FAILED"
        self.echo(f"\ndemo: {verdict}")
        return not self.failed

    def probes(self) -> None:
        ops = self.as_(None, "ops")
        for name in ("golden-path", "policy", "governance"):
            run = self.run_probe(name, ops)
            steps = ", ".join(f"{s['name']} {s['ms']:.0f} ms" for s in run["steps"])
            mark = "✓" if run["status"] == "pass" else "✗"
            self.say(f"{mark} {name}: {run['status']} in {run['duration_ms']:.0f} ms ({steps})")
            expect(run["status"] == "pass", f"{name} failed at {run['failed_step']}: "
                   f"{run['error']}")  # fmt: skip

    def isolation(self) -> None:
        alice, carol, ops = (
            self.as_("acme", "alice"),
            self.as_("globex", "carol"),
            self.as_(None, "ops"),
        )
        found = self.call("GET", "/api/v1/search", alice, params={"q": "rocket"}).json()["results"]
        rocket = next((hit for hit in found if hit["name"] == "Acme Rocket Works"), None)
        expect(rocket is not None, "alice's search for 'rocket' did not find Acme Rocket Works")
        assert rocket is not None
        self.say(f"✓ alice (admin, acme) searches 'rocket': {len(found)} results")
        other = self.call("GET", f"/api/v1/entities/{rocket['id']}", carol)
        expect(other.status_code == 404, f"carol got {other.status_code} for acme's entity")
        self.say(
            "✓ carol (admin, globex) asks for acme's entity by id: 404, as if it did not exist"
        )
        denied = self.call("GET", "/api/v1/search", ops, params={"q": "rocket"})
        expect(denied.status_code == 403, f"the operator got {denied.status_code} searching")
        self.say("✓ ops (operator) is refused tenant data: 403")

    def ingest(self) -> None:
        self.needs("POST", "/api/v1/ingest/events", "ingest")
        admin = self.as_("acme", "alice")
        plan = LoadPlan(url=self.url, events=self.events, batch=5000, concurrency=2,
                        invalid_ratio=0.002)  # fmt: skip
        report = Load(plan, admin).run()
        for line in summary(report):
            self.say(line)
        expect(not report.mismatches(), "the counts did not reconcile with the server's")

    def legal_hold(self) -> None:
        self.needs("POST", "/api/v1/governance/holds", "legal holds")
        alice = self.as_("acme", "alice")
        body = {"kind": "person", "name": "Demo Subject", "dataset": "demo",
                "subject": "demo-subject", "attributes": {"email": "s@example.com"}}  # fmt: skip
        made = self.call("POST", "/api/v1/entities", alice, json=body).json()
        self.call("DELETE", f"/api/v1/entities/{made['id']}", alice)
        hold = self.call("POST", "/api/v1/governance/holds", alice,
                         json={"entity_ids": [made["id"]], "reason": "demo litigation",
                               "case_id": "DEMO-1"}).json()  # fmt: skip
        self.say(f"✓ hold {hold['id'][:8]} placed by {hold['owner']} on a soft-deleted record")
        purge = self.call(
            "POST", "/api/v1/governance/purge", alice, json={"entity_ids": [made["id"]]}
        )
        code = purge.json().get("error", {}).get("code")
        expect(
            purge.status_code == 409 and code == "legal_hold", f"purge answered {purge.status_code}"
        )
        self.say(f"✓ purge refused: 409 {code} — {purge.json()['error']['message']}")
        entries = self.call("GET", "/api/v1/audit", alice, params={"action": "purge"}).json()
        refused = [e for e in entries["entries"] if made["id"] in str(e.get("payload"))]
        expect(bool(refused), "no audit entry names the refused purge")
        entry = refused[0]
        self.say(f"✓ audit entry #{entry['seq']}: {entry['action']} by {entry['actor']} "
                 f"(hash {entry['hash'][:12]}…)")  # fmt: skip
        self.call("POST", f"/api/v1/governance/holds/{hold['id']}/release", alice,
                  json={"reason": "demo over"})  # fmt: skip
        verify = self.call("GET", "/api/v1/audit/verify", alice).json()
        self.say(f"✓ hold released; the audit chain verifies: {verify}")

    def export(self) -> None:
        self.needs("POST", "/api/v1/governance/exports", "subject export")
        alice = self.as_("acme", "alice")
        started = self.call("POST", "/api/v1/governance/exports", alice,
                            json={"subject": "demo-subject"}).json()  # fmt: skip
        deadline = time.monotonic() + 60
        while started["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            started = self.call("GET", f"/api/v1/governance/exports/{started['id']}", alice).json()
        expect(started["status"] == "done", f"export {started['status']}")
        digest, expires = started["sha256"][:16], started.get("expires_at")
        self.say(f"✓ export {started['id'][:8]}: {started['records']} records, "
                 f"SHA-256 {digest}…, link expires {expires}")  # fmt: skip
        data = self.call("GET", started["download_url"], alice)
        expect(data.status_code == 200, f"download answered {data.status_code}")
        self.say(f"✓ downloaded {len(data.content):,} bytes of zip (manifest, data.json, CSVs)")

    def rate_limit(self) -> None:
        bob, ops = self.as_("acme", "bob"), self.as_(None, "ops")
        path = "/api/v1/admin/tenants/acme/quotas"
        self.call("PATCH", path, ops, json={"qps": 2, "burst": 3, "reason": "demo: a tight limit"})
        answers = [self.call("GET", "/api/v1/quotas", bob) for _ in range(10)]
        refused = [a for a in answers if a.status_code == 429]
        expect(bool(refused), "ten quick requests over a 2/s limit were all admitted")
        names = ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Policy")
        headers = ", ".join(f"{n}: {refused[0].headers.get(n)}" for n in names)
        self.say(
            f"✓ {len(answers) - len(refused)} admitted, {len(refused)} refused: 429 with {headers}"
        )
        self.call("PATCH", path, ops, json={"qps": 100, "burst": 100, "reason": "demo: restored"})
        after = self.call("GET", "/api/v1/quotas", bob)
        expect(after.status_code == 200, f"after the bump: {after.status_code}")
        self.say(
            "✓ the operator raises the limit: the next request is served (200), on every worker"
        )

    def paging(self) -> None:
        self.needs("POST", "/api/v1/paging/test", "test pages")
        answer = self.call("POST", "/api/v1/paging/test", self.as_(None, "ops"), json={})
        if answer.status_code == 409:
            message = answer.json()["error"]["message"]
            self.say(f"- no page sent: {message}; pages wait in the local outbox (on /ops)")
            return
        expect(answer.status_code == 200, f"test page answered {answer.status_code}")
        self.say(f"✓ test page accepted by PagerDuty and resolved: {answer.text[:300]}")

    def report(self) -> None:
        self.needs("GET", "/api/v1/reports/{kind}", "branded reports")
        alice = self.as_("acme", "alice")
        files = {"logo": ("acme.png", demo_logo(), "image/png")}
        footer = "Acme Corporation · prepared with Summit for the demo · not for distribution"
        branded = self.call("PUT", "/api/v1/reports/branding", alice, files=files,
                            data={"footer": footer})  # fmt: skip
        expect(branded.status_code == 200, f"branding answered {branded.status_code}: "
               f"{branded.text[:200]}")  # fmt: skip
        logo = branded.json()["logo"]
        self.say(f"✓ acme's logo stored re-encoded as a {logo['width']}×{logo['height']} PNG "
                 f"(SHA-256 {logo['sha256'][:12]}…), footer set")  # fmt: skip
        self.report_dir.mkdir(parents=True, exist_ok=True)
        for kind in ("slo", "usage"):
            answer = self.call("GET", f"/api/v1/reports/{kind}", alice, params={"format": "pdf"})
            expect(answer.status_code == 200 and answer.content.startswith(b"%PDF"),
                   f"the {kind} report answered {answer.status_code}")  # fmt: skip
            path = (self.report_dir / f"acme-{kind}-report.pdf").resolve()
            path.write_bytes(answer.content)
            self.say(f"✓ acme's branded {kind} report as PDF: {len(answer.content):,} bytes, "
                     f"saved to {path}")  # fmt: skip


def demo_logo() -> bytes:
    """Acme's demo logo, drawn here: a rocket-red disc on navy."""
    image = Image.new("RGB", (240, 80), (18, 32, 64))
    ImageDraw.Draw(image).ellipse((12, 12, 68, 68), fill=(220, 60, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
