"""`summit dashboards build`: the files, what it prints, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from dashboards import build


def test_build_writes_every_dashboard_and_the_provisioning_file(tmp_path: Path) -> None:
    out = tmp_path / "grafana"
    done = CliRunner().invoke(
        main,
        ["dashboards", "build", "--out", str(out), "--summit-url", "https://summit.example.org"],
        env={"SUMMIT_VAR_DIR": str(tmp_path / "var")},
    )
    assert done.exit_code == 0, done.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*(f"{uid}.json" for uid in build.DEFINITIONS), "provisioning.yaml"])
    for uid, title in build.titles().items():
        assert f"wrote {out / uid}.json  ({title})" in done.output
        variables = json.loads((out / f"{uid}.json").read_text())["templating"]["list"]
        summit = next(v for v in variables if v["name"] == "summit_url")
        assert summit["query"] == "https://summit.example.org"


def test_build_refuses_a_summit_url_that_is_not_http(tmp_path: Path) -> None:
    done = CliRunner().invoke(
        main,
        ["dashboards", "build", "--out", str(tmp_path), "--summit-url", "summit.local"],
        env={"SUMMIT_VAR_DIR": str(tmp_path / "var")},
    )
    assert done.exit_code == 2
    assert "--summit-url" in done.output
    assert "must be an http:// or https:// URL" in done.output
    assert list(tmp_path.glob("*.json")) == []
