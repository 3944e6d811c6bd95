"""OpenAPI descriptions shared by the web pages of every domain."""

from __future__ import annotations

from typing import Any

WEB_UI = "Web UI"  # the OpenAPI tag of every page


def html(**statuses: str) -> dict[int | str, Any]:
    """OpenAPI responses of a page: each status as text/html (redirects have no body)."""
    return {
        int(code.removeprefix("s")): {"description": text}
        | ({} if code.startswith("s3") else {"content": {"text/html": {}}})
        for code, text in statuses.items()
    }


PAGE = html(s200="the page", s302="to /login when not logged in", s403="the role may not")
