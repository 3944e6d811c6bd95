"""Golden files: the generated rules and Alertmanager config, byte for byte, so
any change to what Prometheus and Alertmanager run shows as a diff in review.

After an intended change, regenerate them and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/alerts/test_golden.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.alerts.support import build_into

GOLDEN = Path(__file__).parent / "golden"


def test_generated_files_match_the_golden_files(tmp_path: Path) -> None:
    written = build_into(tmp_path)
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for name in names:
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / name, GOLDEN / name)
    golden = sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.yml"))
    assert names == golden, "files added or removed: UPDATE_GOLDEN=1 to accept"
    for name in names:
        assert (tmp_path / name).read_text() == (GOLDEN / name).read_text(), (
            f"{name} differs from tests/alerts/golden/{name}: review, then UPDATE_GOLDEN=1"
        )


def test_the_build_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    build_into(first)
    build_into(second)
    for path in first.rglob("*.yml"):
        assert path.read_bytes() == (second / path.relative_to(first)).read_bytes()


def test_rule_files_of_removed_specs_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / "rules" / "gone.rules.yml"
    stale.parent.mkdir(parents=True)
    stale.write_text("groups: []\n")
    build_into(tmp_path)
    assert not stale.exists()
