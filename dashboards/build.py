"""Every dashboard, built and checked; the JSON files and Grafana's provisioning file.

``summit dashboards build --out DIR`` writes ``DIR/<uid>.json`` for each
dashboard and ``DIR/provisioning.yaml``, a file-provider config (Grafana's
``apiVersion: 1`` format) that points Grafana at the directory the JSON files
are copied to on its host. The output is deterministic: the same code gives
the same bytes, so a change to a dashboard is a reviewable diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from dashboards import (
    cache_quotas,
    governance,
    ingest,
    paging,
    probe_health,
    schema,
    slo_overview,
    style,
    top_offenders,
)

DEFAULT_SUMMIT_URL = "http://127.0.0.1:8000"
DEFAULT_PROVISION_PATH = "/var/lib/grafana/dashboards/summit"
FOLDER_TITLE = "Summit"
DEFAULT_FOLDER_UID = "summit"
PROVISIONING_FILE = "provisioning.yaml"
PREFIX = "summit-"  # every uid starts with it; stale files with it are removed

# One module per dashboard (UID, TITLE, build), in the order docs and the CLI list them.
DEFINITIONS: dict[str, ModuleType] = {
    module.UID: module
    for module in (
        slo_overview,
        top_offenders,
        probe_health,
        cache_quotas,
        ingest,
        paging,
        governance,
    )
}


class UnknownDashboard(LookupError):
    def __init__(self, uid: str) -> None:
        super().__init__(f"no dashboard {uid!r}; known: {', '.join(DEFINITIONS)}")


def build_one(uid: str, *, summit_url: str = DEFAULT_SUMMIT_URL) -> dict[str, Any]:
    """Dashboard ``uid``, checked against Grafana's schema and the house rules."""
    if uid not in DEFINITIONS:
        raise UnknownDashboard(uid)
    return schema.validate(DEFINITIONS[uid].build(summit_url=summit_url.rstrip("/")))


def titles() -> dict[str, str]:
    """uid -> title of every dashboard, without building them."""
    return {uid: str(module.TITLE) for uid, module in DEFINITIONS.items()}


def build_all(*, summit_url: str = DEFAULT_SUMMIT_URL) -> dict[str, dict[str, Any]]:
    return {uid: build_one(uid, summit_url=summit_url) for uid in DEFINITIONS}


def provisioning(*, path: str, folder_uid: str = DEFAULT_FOLDER_UID) -> str:
    """Grafana's dashboard provider for ``path``: the files are the source of truth,
    so UI edits are refused and a dashboard removed from the files disappears."""
    provider = {
        "name": "summit",
        "orgId": 1,
        "type": "file",
        "folder": FOLDER_TITLE,
        "folderUid": folder_uid,
        "disableDeletion": False,
        "allowUiUpdates": False,
        "updateIntervalSeconds": 60,
        "options": {"path": path, "foldersFromFilesStructure": False},
    }
    return str(yaml.safe_dump({"apiVersion": 1, "providers": [provider]}, sort_keys=False))


@dataclass(frozen=True)
class Written:
    path: Path
    title: str


def write(
    out: Path,
    *,
    summit_url: str = DEFAULT_SUMMIT_URL,
    provision_path: str = DEFAULT_PROVISION_PATH,
    folder_uid: str = DEFAULT_FOLDER_UID,
) -> list[Written]:
    """Write every dashboard and the provisioning file into ``out``; remove dashboard
    files of ours (``summit-*.json``) that no definition makes any more."""
    built = build_all(summit_url=summit_url)  # all checked before any file is touched
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, dashboard in built.items():
        path = out / f"{uid}.json"
        path.write_text(style.render(dashboard))
        written.append(Written(path, dashboard["title"]))
    for stale in sorted(out.glob(f"{PREFIX}*.json")):
        if stale.stem not in built:
            stale.unlink()
    path = out / PROVISIONING_FILE
    path.write_text(provisioning(path=provision_path, folder_uid=folder_uid))
    return [*written, Written(path, "Grafana provisioning (file provider)")]
