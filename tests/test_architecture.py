"""The import contracts in pyproject.toml hold, and they really catch a break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = str(Path(sys.executable).with_name("lint-imports"))


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first: the copied packages, not the installed ones, are analysed.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [LINT, "--no-logo", "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


ROOT_PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in ROOT_PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def plant(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}\n")


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("app/identity/models.py", "import flask", "Services, models and the core"),
        ("app/graph/service.py", "from app.web import context", "Services, models and the core"),
        ("app/core/batch.py", "from app.graph import models", "The core imports no domain"),
        ("probes/service.py", "from app.graph import service", "probes and alerts import only"),
        ("app/settings.py", "from app.quotas import service", "Settings import nothing"),
        ("dashboards/style.py", "from app.web import context", "dashboards import only app.core"),
        ("dashboards/publish.py", "import click", "dashboards import only app.core"),
    ],
)
def test_a_planted_import_breaks_its_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    plant(tree / module, line)
    result = lint(tree)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if "BROKEN" in row]
    assert any(contract in row for row in broken), result.stdout
