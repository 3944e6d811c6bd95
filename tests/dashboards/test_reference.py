"""docs/dashboards.md's panel reference and the layout pictures are generated from
the dashboards' JSON; they fail here when the code moved on without them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from dashboards import build, layout, reference

DOCS = Path(__file__).resolve().parents[2] / "docs"
SVG = "{http://www.w3.org/2000/svg}"


def test_the_docs_and_pictures_are_current() -> None:
    for path, content in reference.render(DOCS).items():
        assert path.exists(), f"{path} is missing: run python -m dashboards.reference"
        assert path.read_text() == content, f"{path} is stale: run python -m dashboards.reference"


def test_the_reference_lists_every_panel_with_its_question_and_queries() -> None:
    page = (DOCS / "dashboards.md").read_text()
    for dashboard in build.build_all().values():
        assert f"![Panel layout of {dashboard['title']}](dashboards/{dashboard['uid']}.svg)" in page
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert f"**{panel['id']}. {panel['title']}**" in page
            assert panel["description"] in page
            for target in panel["targets"]:
                assert target["expr"] in page


def test_the_picture_draws_each_panel_where_the_grid_puts_it() -> None:
    dashboard = build.build_one("summit-cache-quotas")
    picture = ET.fromstring(layout.render(dashboard))  # noqa: S314 - our own SVG, not input
    boxes = [
        (float(rect.get("x", 0)), float(rect.get("y", 0)), float(rect.get("width", 0)))
        for rect in picture.iter(f"{SVG}rect")
        if rect.get("stroke") == "#b9c0cb" or rect.get("fill") == "#2b2f36"
    ]
    expected = [
        (
            p["gridPos"]["x"] * layout.COLUMN + layout.PAD,
            p["gridPos"]["y"] * layout.ROW + layout.PAD,
            p["gridPos"]["w"] * layout.COLUMN - 2 * layout.PAD,
        )
        for p in dashboard["panels"]
    ]
    assert boxes == expected
    titles = [t.text for t in picture.iter(f"{SVG}text") if t.get("font-weight") == "bold"]
    assert "2. Hit rate now" in titles
    assert "Quota use" in titles
