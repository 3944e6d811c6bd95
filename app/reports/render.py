"""Branded documents: HTML from Jinja templates, PDF from that HTML through
WeasyPrint. Imports no Flask: the export builder renders covers off-request.

Every template is autoescaped (a tenant's footer is text, never markup), and a
rendered document is self-contained: the logo travels as a ``data:`` URI.
WeasyPrint is handed a URL fetcher that refuses everything else, so no report
makes the server fetch a URL, read a file or reach the network.
"""

from __future__ import annotations

import base64
import logging
from functools import cache
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined

# WeasyPrint narrates every step at INFO; its warnings (a refused fetch) still show.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

# For the HTML as served and as saved in an export: nothing loads from elsewhere.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class RefusedFetch(ValueError):
    """A document asked for a URL that is not a data: URI (WeasyPrint logs and skips it)."""


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("app.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["csp"] = CONTENT_SECURITY_POLICY
    return env


def html(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def data_uri(png: bytes | None) -> str | None:
    return "data:image/png;base64," + base64.b64encode(png).decode() if png else None


def pdf(document: str) -> bytes:
    """The HTML ``document`` as PDF, fetching nothing but data: URIs."""
    from weasyprint import HTML  # imported on first use: it loads Pango (~0.5 s)

    out = HTML(string=document, base_url=None, url_fetcher=_fetcher()).write_pdf()
    assert out is not None  # write_pdf returns the bytes when given no target
    return bytes(out)


def _fetcher() -> Any:
    """A fresh fetcher per document: WeasyPrint's keeps per-request state."""
    return _data_only()(allowed_protocols=("data",), allow_redirects=False, timeout=1)


@cache
def _data_only() -> Any:
    from weasyprint.urls import URLFetcher

    class DataOnly(URLFetcher):  # type: ignore[misc]
        """WeasyPrint's fetcher, allowed data: URIs alone (no http, file, ftp)."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.lower().startswith("data:"):
                raise RefusedFetch(f"reports fetch no URLs: {url[:80]}")
            return super().fetch(url, headers)

    return DataOnly
