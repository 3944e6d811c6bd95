"""Every alert links a runbook that exists, and every runbook is linked from
something: an alert, another runbook, or the docs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.alerts.support import BASE_URL, build_into

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"
MD_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def alert_runbooks(tmp_path: Path) -> dict[str, str]:
    """alert name -> runbook slug, from the generated rules."""
    build_into(tmp_path)
    found = {}
    for path in (tmp_path / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    url = rule["annotations"]["runbook_url"]
                    assert url.startswith(f"{BASE_URL}/runbooks/"), url
                    found[rule["alert"]] = url.removeprefix(f"{BASE_URL}/runbooks/")
    return found


def test_every_alerts_runbook_url_has_a_runbook(tmp_path: Path) -> None:
    found = alert_runbooks(tmp_path)
    assert len(found) == 8
    missing = {
        alert: slug for alert, slug in found.items() if not (RUNBOOKS / f"{slug}.md").is_file()
    }
    assert not missing, f"alerts without a runbook: {missing}"
    for alert, slug in found.items():
        assert (RUNBOOKS / f"{slug}.md").read_text().startswith(f"# {alert}\n")


def links_in(path: Path) -> set[str]:
    return {Path(target).stem for target in MD_LINK.findall(path.read_text())
            if target.endswith(".md")}  # fmt: skip


def test_every_runbook_is_linked_from_something(tmp_path: Path) -> None:
    linked = set(alert_runbooks(tmp_path).values())
    for path in RUNBOOKS.glob("*.md"):
        linked |= links_in(path) - {path.stem}
    for path in (ROOT / "docs").glob("*.md"):
        linked |= links_in(path)
    orphans = sorted(p.stem for p in RUNBOOKS.glob("*.md") if p.stem not in linked)
    assert not orphans, f"runbooks linked from nothing: {orphans}"


def test_links_between_runbooks_point_at_runbooks_that_exist() -> None:
    for path in RUNBOOKS.glob("*.md"):
        for target in MD_LINK.findall(path.read_text()):
            if target.endswith(".md"):
                assert (RUNBOOKS / target).is_file(), f"{path.name} links {target}"


def test_each_alert_runbook_says_what_it_means_how_to_confirm_mitigate_and_escalate(
    tmp_path: Path,
) -> None:
    for slug in alert_runbooks(tmp_path).values():
        text = (RUNBOOKS / f"{slug}.md").read_text()
        for heading in ("## Confirm", "## Mitigate", "## Escalate"):
            assert heading in text, f"{slug}: no {heading}"
