"""The panel reference in docs/dashboards.md and the layout pictures beside it,
generated from the dashboards' JSON so the docs cannot drift from the code.

    python -m dashboards.reference [DOCS_DIR]   # default: docs

rewrites the part of ``DOCS_DIR/dashboards.md`` between the markers below and
``DOCS_DIR/dashboards/<uid>.svg``; a test fails when either is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dashboards import build, layout

BEGIN = "<!-- BEGIN GENERATED: python -m dashboards.reference -->"
END = "<!-- END GENERATED -->"
PICTURES = "dashboards"  # beside dashboards.md


def _variables(dashboard: dict[str, Any]) -> list[str]:
    rows = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "constant":
            continue
        query = f" — `{variable['query']}`" if variable["type"] == "query" else ""
        rows.append(f"- `${variable['name']}`: {variable['description']}{query}")
    return rows


def _panel(panel: dict[str, Any]) -> list[str]:
    unit = panel["fieldConfig"]["defaults"]["unit"]
    when = "now (instant)" if all(t["instant"] for t in panel["targets"]) else "over time"
    links = ", ".join(
        f"{link['title']} (Summit's `{link['url'].replace('${summit_url}', '')}`)"
        for link in panel.get("links", [])
    )
    return [
        f"**{panel['id']}. {panel['title']}** — {panel['type']}, unit `{unit}`, {when}"
        + (f"; links: {links}" if links else ""),
        "",
        panel["description"],
        "",
        "```promql",
        *[
            t["expr"] + (f"    # legend: {t['legendFormat']}" if t.get("legendFormat") else "")
            for t in panel["targets"]
        ],
        "```",
        "",
    ]


def section(dashboard: dict[str, Any]) -> list[str]:
    """The Markdown of one dashboard: what it is for, its picture, variables, panels."""
    uid = dashboard["uid"]
    lines = [
        f"### {dashboard['title']} (`{uid}`)",
        "",
        dashboard["description"],
        "",
        f"![Panel layout of {dashboard['title']}]({PICTURES}/{uid}.svg)",
        "",
        "Variables:",
        "",
        *_variables(dashboard),
        "",
    ]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            lines += [f"#### {panel['title']}", ""]
        else:
            lines += _panel(panel)
    return lines


def generated(built: dict[str, dict[str, Any]]) -> str:
    lines = [BEGIN, ""]
    for dashboard in built.values():
        lines += section(dashboard)
    return "\n".join([*lines, END])


def render(docs: Path) -> dict[Path, str]:
    """Every generated file under ``docs`` with its content (nothing written)."""
    built = build.build_all()
    page = docs / "dashboards.md"
    text = page.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    files = {page: text[:start] + generated(built) + text[end:]}
    for uid, dashboard in built.items():
        files[docs / PICTURES / f"{uid}.svg"] = layout.render(dashboard)
    return files


def main(argv: list[str]) -> None:
    docs = Path(argv[0] if argv else "docs")
    for path, content in render(docs).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
