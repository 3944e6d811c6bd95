"""Branded reports: SLO and usage reports as HTML and PDF, with the tenant's logo
and its footer escaped; the PDF renderer fetches nothing; the subject export's
cover carries the branding."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pypdf import PdfReader

from app.reports import render
from tests.governance.helpers import call, create, wait_for_export
from tests.reports import images
from tests.reports.test_branding import upload
from tests.support.world import World

FOOTER = 'Acme Corp — confidential <script>alert("x")</script> & <img src=x onerror=alert(1)>'


def report(world: World, kind: str, fmt: str | None = None, user: str = "alice") -> Any:
    query = {"format": fmt} if fmt else {}
    return world.client.get(
        f"/api/v1/reports/{kind}", query_string=query, headers=world.headers(user)
    )


@pytest.mark.parametrize("kind", ["slo", "usage"])
def test_the_html_report_is_branded_and_escapes_the_footer(world: World, kind: str) -> None:
    assert upload(world, images.png(), FOOTER).status_code == 200
    answer = report(world, kind, user="bob")  # analysts read reports
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    page = answer.get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x" in page
    assert "<script" not in page
    assert "onerror=alert(1)>" not in page
    assert 'src="data:image/png;base64,' in page  # the logo, embedded
    assert "Acme Corporation" in page


def test_the_slo_report_shows_each_slo(world: World) -> None:
    page = report(world, "slo").get_data(as_text=True)
    slos = world.client.get("/api/v1/slo", headers=world.headers("ops")).get_json()["slos"]
    assert slos
    for slo in slos:
        assert slo["name"] in page


def test_the_usage_report_counts_the_tenants_entities_and_ingest(world: World) -> None:
    create(world, name="Counted One", dataset="reportset")
    create(world, name="Counted Two", dataset="reportset")
    batch = [{"id": f"r-{i}", "type": "sighting", "ts": "2026-11-26T10:00:00Z",
              "source": "reports-test", "payload": {"n": i}} for i in range(3)]  # fmt: skip
    sent = call(world, "POST", "/api/v1/ingest/events", json=batch)
    assert sent.status_code == 202, sent.get_json()
    page = report(world, "usage").get_data(as_text=True)
    assert '<td>reportset</td><td class="n">2</td>' in page
    assert '<td>received</td><td class="n">3</td>' in page
    assert "reportset" not in report(world, "usage", user="carol").get_data(as_text=True)


@pytest.mark.parametrize("kind", ["slo", "usage"])
def test_the_pdf_report_is_a_pdf_with_the_footer(world: World, kind: str) -> None:
    assert (
        upload(world, images.png(), "Acme Corp — confidential, do not forward").status_code == 200
    )
    answer = report(world, kind, "pdf")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="acme-')
    assert answer.data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(answer.data))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Acme Corp — confidential, do not forward" in text
    assert ("Service level report" if kind == "slo" else "Usage report") in text
    assert any(page.images for page in reader.pages)  # the logo


def test_an_unknown_kind_is_404_and_a_bad_format_400(world: World) -> None:
    answer = report(world, "payroll")
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "unknown_report"
    answer = report(world, "slo", "docx")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "unknown_format"


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on the loopback that records every request it gets."""
    seen: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(images.png())

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    thread.join(timeout=5)


def test_the_pdf_renderer_fetches_no_url(listener: tuple[str, list[str]]) -> None:
    url, seen = listener
    logo = render.data_uri(images.png())
    document = (
        f'<html><head><link rel="stylesheet" href="{url}/style.css">'
        f'<link rel="stylesheet" href="file:///etc/passwd"></head><body>'
        f'<img src="{url}/tracker.png"><img src="file:///etc/hostname">'
        f'<img src="{logo}"><p style="background: url({url}/bg.png)">hello</p></body></html>'
    )
    pdf = render.pdf(document)
    assert pdf.startswith(b"%PDF")
    assert seen == []
    assert len(PdfReader(io.BytesIO(pdf)).pages[0].images) == 1  # the data: logo alone
    fetcher = render._fetcher()
    for refused in (f"{url}/x", "file:///etc/passwd", "ftp://127.0.0.1/x"):
        with pytest.raises(render.RefusedFetch):
            fetcher.fetch(refused)
    assert seen == []


def test_the_subject_export_carries_the_branding_on_its_cover(world: World) -> None:
    assert upload(world, images.png(), FOOTER).status_code == 200
    create(world, name="Jane Roe", subject="jane@example.org")
    started = call(
        world, "POST", "/api/v1/governance/exports", json={"subject": "jane@example.org"}
    )
    assert started.status_code == 202, started.get_json()
    done = wait_for_export(world, started.get_json()["id"], "alice")
    assert done["status"] == "done", done
    blob = call(world, "GET", done["download_url"]).data
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        cover = zf.read("cover.html")
    [entry] = [f for f in manifest["files"] if f["name"] == "cover.html"]
    assert entry["sha256"] == hashlib.sha256(cover).hexdigest()
    assert entry["bytes"] == len(cover)
    page = cover.decode()
    assert "jane@example.org" in page
    assert "Acme Corporation" in page
    assert 'src="data:image/png;base64,' in page
    assert "&lt;script&gt;" in page
    assert "<script" not in page
    assert manifest["generated_at"][:10] in page
