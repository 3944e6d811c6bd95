"""The online path: the real pip-audit (from .venv-tools) asks an OSV service, here
a local one on 127.0.0.1 that answers as OSV's API does (POST /v1/query, GET
/v1/vulns/{id}), with a planted CRITICAL advisory for the installed requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from app.evidence import advisories
from tests.evidence.test_vulnerabilities import advisory, build

TOOLS = Path(__file__).resolve().parents[2] / ".venv-tools" / "bin"
REQUESTS = metadata.version("requests")
PLANTED = advisory("GHSA-plnt-0000-0001", "requests", fixed="99.0",
                   database_specific={"severity": "CRITICAL"})  # fmt: skip


class OSV(BaseHTTPRequestHandler):
    asked: list[dict[str, Any]] = []
    records: dict[str, dict[str, Any]] = {}
    unreadable: set[str] = set()  # ids /v1/vulns/{id} does not answer for

    def do_POST(self) -> None:  # /v1/query: {"package": {"name", "ecosystem"}, "version"}
        if self.path != "/v1/query":
            self._answer(404, {"code": 5, "message": "Not found."})
            return
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.asked.append(query)
        hits = [r for r in self.records.values()
                if r["affected"][0]["package"]["name"] == query["package"]["name"]
                and advisories.affects(r["affected"][0], query["version"])]  # fmt: skip
        self._answer(200, {"vulns": hits} if hits else {})

    def do_GET(self) -> None:  # /v1/vulns/{id}
        vuln_id = self.path.rsplit("/", 1)[-1]
        record = None if vuln_id in self.unreadable else self.records.get(vuln_id)
        self._answer(200 if record else 404, record or {"code": 5, "message": "Bug not found."})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def osv() -> Iterator[str]:
    assert (TOOLS / "pip-audit").exists(), "scripts/setup installs .venv-tools"
    OSV.asked, OSV.records, OSV.unreadable = [], {PLANTED["id"]: PLANTED}, set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), OSV)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow  # pip-audit asks about each of ~100 packages: ~13 s
def test_pip_audit_against_the_service_finds_the_critical_and_fails_the_build(
    tmp_path: Path, osv: str
) -> None:
    result, out = build(tmp_path, "--tools", str(TOOLS), "--osv-url", osv)
    assert result.exit_code == 1, result.output
    assert f"known CRITICAL vulnerability GHSA-plnt-0000-0001 in requests {REQUESTS}" in (
        result.output
    )
    assert {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": REQUESTS} in OSV.asked
    assert {q["package"]["name"] for q in OSV.asked} >= {"flask", "sqlalchemy", "cedarpy"}
    report = json.loads((out / "vulnerabilities.json").read_text())
    assert report["status"] == "checked"
    assert report["source"] == f"the OSV service at {osv} (pip-audit -s osv)"
    [finding] = report["findings"]
    assert (finding["id"], finding["severity"], finding["fixed_in"]) == (
        "GHSA-plnt-0000-0001", "CRITICAL", ["99.0"]
    )  # fmt: skip


def test_a_finding_whose_record_cannot_be_read_is_unknown_not_dropped(osv: str) -> None:
    OSV.unreadable = {PLANTED["id"]}
    packages = [advisories.Package("requests", REQUESTS)]
    report = advisories.check_service(packages, pip_audit=TOOLS / "pip-audit", osv_url=osv)
    assert report.status == "checked"
    [finding] = report.findings
    assert (finding.id, finding.severity) == (PLANTED["id"], "UNKNOWN")
    assert report.critical == []
    assert report.notes == [f"{PLANTED['id']}: its OSV record could not be read: severity "
                            "UNKNOWN, review it by hand"]  # fmt: skip
    assert "1 UNKNOWN" in report.headline()


def test_a_service_that_answers_errors_is_not_checked(osv: str) -> None:
    packages = [advisories.Package("requests", REQUESTS)]
    report = advisories.check_service(packages, pip_audit=TOOLS / "pip-audit",
                                      osv_url=f"{osv}/wrong")  # fmt: skip
    assert report.status == "not checked"
    assert report.source.startswith("the OSV service via pip-audit: ")
    assert report.findings == []


@pytest.mark.slow  # pip-audit retries a refused connection: ~11 s
def test_an_unreachable_service_is_not_checked(tmp_path: Path) -> None:
    assert (TOOLS / "pip-audit").exists(), "scripts/setup installs .venv-tools"
    result, out = build(tmp_path, "--tools", str(TOOLS), "--osv-url", "http://127.0.0.1:9")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "vulnerabilities.json").read_text())
    assert report["status"] == "not checked"
    assert report["source"].startswith("no local advisory snapshot (--advisories DIR), and the "
                                       "OSV service via pip-audit: ")  # fmt: skip
