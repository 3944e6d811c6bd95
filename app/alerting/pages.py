"""The SLO page (/ops/slo) and the runbooks (/runbooks/<slug>), for signed-in operators.

Runbooks are Markdown files from the repository's ``runbooks/`` folder (trusted,
reviewed like code), rendered by markdown-it-py with raw HTML turned off, so
even a careless edit cannot put script into the page; links between runbooks
(``bcdr.md``) become links to their pages. The budget chart is SVG drawn here
(the CSP allows no inline script or style).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from apiflask import APIBlueprint
from flask import abort, render_template, url_for
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from app.alerting.views import slo_report
from app.web.context import principal, services
from app.web.docs import PAGE, WEB_UI, html
from app.web.guard import requires

bp = APIBlueprint("alerting_pages", __name__, tag=WEB_UI)
RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")
CHART_WIDTH, CHART_HEIGHT = 300, 80
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def runbooks_dir() -> Path:
    return services().settings.runbooks_dir or RUNBOOKS


@lru_cache(maxsize=64)
def _rendered(path: str, mtime: float) -> tuple[str, str]:
    """(title, HTML) of one runbook; cached until the file changes."""
    text = Path(path).read_text()
    tokens = _MD.parse(text)
    for token in tokens:
        for child in token.children or []:
            _link_runbooks(child)
    title = next(
        (tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"),
        Path(path).stem,
    )
    return title, _MD.renderer.render(tokens, _MD.options, {})


def _link_runbooks(token: Token) -> None:
    href = str(token.attrGet("href") or "")
    match = re.fullmatch(r"([a-z0-9-]+)\.md(#[\w-]+)?", href)
    if token.type == "link_open" and match:
        token.attrSet(
            "href", url_for("alerting_pages.runbook", slug=match.group(1)) + (match.group(2) or "")
        )


@bp.get("/runbooks/<slug>")
@requires("view_ops", via="web")
@bp.doc(responses=html(s200="the runbook", s302="to /login", s403="not an operator", s404="none"))
def runbook(slug: str) -> str:
    """One runbook, rendered from ``runbooks/<slug>.md``."""
    path = runbooks_dir() / f"{slug}.md"
    if not SLUG.match(slug) or not path.is_file():
        abort(404)
    title, body = _rendered(str(path), path.stat().st_mtime)
    # Safe to mark: markdown-it-py escapes raw HTML (html=False) and refuses
    # javascript: links; the files are the repository's own.
    return render_template(
        "runbook.html",
        title=title,
        body=Markup(body),  # noqa: S704
        slug=slug,
        caller=principal(),
    )


@bp.get("/ops/slo")
@requires("view_ops", via="web")
@bp.doc(responses=PAGE)
def slo_page() -> str:
    """Each SLO: objective, SLI, budget left, burn rates per alert window, and a
    chart of the budget over the period."""
    report = slo_report()
    for slo in report["slos"]:
        slo["svg"] = budget_chart(slo["chart"])
    return render_template("slo.html", report=report, caller=principal())


def budget_chart(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of the budget line on a fixed scale: 100 % left at the top, spent
    (0) at the middle line, overspent by the budget again (-100 %) or more at the
    bottom; a dot per step with events, none where there were no events."""

    def y(value: float) -> float:
        clamped = max(-1.0, min(1.0, value))
        return round((1 - clamped) / 2 * CHART_HEIGHT, 1)

    step = CHART_WIDTH / max(1, len(points) - 1)
    dots = [
        {"x": round(i * step, 1), "y": y(p["remaining"]), "label": _label(p)}
        for i, p in enumerate(points)
        if p["remaining"] is not None
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "points": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "zero_y": y(0.0),
        "empty": not dots,
    }


def _label(point: dict[str, Any]) -> str:
    return f"{point['at']:%Y-%m-%d %H:%M} UTC: {point['remaining'] * 100:.1f} % left"
