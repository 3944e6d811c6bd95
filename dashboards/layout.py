"""A picture of a dashboard's layout, drawn from its JSON as SVG: each panel where
Grafana's grid puts it, with its title, kind and unit and a sketch of what it
draws, so a reader of docs/dashboards.md sees the dashboard without Grafana."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

COLUMN = 40  # px per grid column (24 columns: 960 px)
ROW = 24  # px per grid row
PAD = 4
CHAR = 6.6  # px per character of the 12 px title font, for truncation
SMALL = 0.83  # the 10 px footer font's characters, relative to the title font's
FILL = {"timeseries": "#e8f0fb", "stat": "#e7f6ec", "bargauge": "#fdf2e2"}
INK = {"timeseries": "#3d71d9", "stat": "#2f9e55", "bargauge": "#d98c1f"}
STEP_INK = {"red": "#d6383a", "orange": "#d98c1f", "green": "#2f9e55"}
# What a stat shows, by unit: a placeholder in the panel's own format.
SAMPLE = {
    "percentunit": "99.7%",
    "suffix:×": "1.2×",
    "s": "0.4 s",
    "bool": "pass",
    "short": "0",
    "bytes": "1.2 MB",
    "reqps": "3 req/s",
    "eps": "120 evt/s",
}


def _box(panel: dict[str, Any]) -> tuple[float, float, float, float]:
    grid = panel["gridPos"]
    return (
        grid["x"] * COLUMN + PAD,
        grid["y"] * ROW + PAD,
        grid["w"] * COLUMN - 2 * PAD,
        grid["h"] * ROW - 2 * PAD,
    )


def _text(x: float, y: float, text: str, size: int, **attributes: str) -> str:
    extra = "".join(f' {key.replace("_", "-")}="{value}"' for key, value in attributes.items())
    return f'<text x="{x:g}" y="{y:g}" font-size="{size}"{extra}>{escape(text)}</text>'


def _fit(text: str, width: float, size: float = 1.0) -> str:
    room = int(width / (CHAR * size))
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def _sketch(panel: dict[str, Any], x: float, y: float, w: float, h: float) -> list[str]:
    """A hint of the visualisation inside the panel's body."""
    kind, defaults = panel["type"], panel["fieldConfig"]["defaults"]
    ink = INK.get(kind, "#888")
    if kind == "stat":
        words = [o["text"] for m in defaults.get("mappings", []) for o in m["options"].values()]
        sample = words[-1] if words else SAMPLE.get(defaults.get("unit", ""), "42")
        return [_text(x + w / 2, y + h / 2 + 10, sample, 26, text_anchor="middle", fill=ink)]
    if kind == "bargauge":
        bars = min(4, max(1, int(h // 18)))
        return [
            f'<rect x="{x + 8:g}" y="{y + 6 + i * (h - 8) / bars:g}" '
            f'width="{(w - 16) * (0.9 - 0.18 * i):g}" height="{(h - 8) / bars - 6:g}" '
            f'fill="{ink}" opacity="0.55"/>'
            for i in range(bars)
        ]
    if defaults.get("custom", {}).get("drawStyle") == "bars":
        columns = [
            f'<rect x="{x + w * i / 12 + 2:g}" y="{y + h * (0.35 + 0.4 * (i * 5 % 7) / 7):g}" '
            f'width="{w / 12 - 4:g}" height="{h * (0.65 - 0.4 * (i * 5 % 7) / 7):g}" '
            f'fill="{ink}" opacity="0.6"/>'
            for i in range(12)
        ]
        return [*columns, *_threshold_lines(defaults, x, y, w, h)]
    points = " ".join(
        f"{x + w * i / 11:g},{y + h * (0.75 - 0.5 * ((i * 7 % 11) / 11)):g}" for i in range(12)
    )
    line = f'<polyline points="{points}" fill="none" stroke="{ink}" stroke-width="1.5"/>'
    return [line, *_threshold_lines(defaults, x, y, w, h)]


def _threshold_lines(defaults: dict[str, Any], x: float, y: float, w: float, h: float) -> list[str]:
    """Dashed lines for the thresholds a time series draws (an SLO's bar, an alert's)."""
    if defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode") in (None, "off"):
        return []
    steps = [step for step in defaults["thresholds"]["steps"] if step["value"] is not None]
    drawn = []
    for index, step in enumerate(reversed(steps)):  # the highest on top, as on the graph
        level, ink = y + h * (0.2 + 0.15 * index), STEP_INK.get(step["color"], "#d6383a")
        drawn += [
            f'<line x1="{x:g}" y1="{level:g}" x2="{x + w:g}" y2="{level:g}" '
            f'stroke="{ink}" stroke-dasharray="5 4"/>',
            _text(x + w - 2, level - 3, f"{step['value']:g}", 10, text_anchor="end", fill=ink),
        ]
    return drawn


def _panel(panel: dict[str, Any]) -> list[str]:
    x, y, w, h = _box(panel)
    if panel["type"] == "row":
        return [
            f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" fill="#2b2f36" rx="2"/>',
            _text(x + 8, y + h / 2 + 4, panel["title"], 12, fill="#ffffff", font_weight="bold"),
        ]
    kind, unit = panel["type"], panel["fieldConfig"]["defaults"].get("unit", "")
    footer = f"{kind} · {unit}"
    body = (x + 6, y + 22, w - 12, h - 40)
    return [
        f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="4" '
        f'fill="{FILL.get(kind, "#f4f4f4")}" stroke="#b9c0cb"/>',
        _text(
            x + 8,
            y + 15,
            _fit(f"{panel['id']}. {panel['title']}", w - 16),
            12,
            fill="#1f2329",
            font_weight="bold",
        ),
        *_sketch(panel, *body),
        _text(x + 8, y + h - 7, _fit(footer, w - 16, SMALL), 10, fill="#59606b"),
        *_links(panel, x + w - 8, y + h - 7, room=w - 24 - len(footer) * CHAR * SMALL),
    ]


def _links(panel: dict[str, Any], right: float, baseline: float, room: float) -> list[str]:
    """The paths the panel links to, right-aligned in the ``room`` the footer leaves."""
    paths = [link["url"].replace("${summit_url}", "") for link in panel.get("links", [])]
    if not paths:
        return []
    text = _fit("↗ " + ", ".join(paths), room, SMALL)
    return [_text(right, baseline, text, 10, text_anchor="end", fill="#3d71d9")]


def render(dashboard: dict[str, Any]) -> str:
    """The SVG document of ``dashboard``'s panel grid (deterministic)."""
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    width, height = 24 * COLUMN, bottom * ROW + 28
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">',
        f"<title>{escape(dashboard['title'])}: panel layout</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for panel in dashboard["panels"]:
        lines += _panel(panel)
    caption = f"{dashboard['title']} ({dashboard['uid']}): Grafana's 24-column grid"
    lines.append(_text(PAD, height - 8, caption, 11, fill="#59606b"))
    return "\n".join([*lines, "</svg>"]) + "\n"
