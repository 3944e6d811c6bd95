"""Publish dashboards to a Grafana through its HTTP API, showing what changes.

For each dashboard: ``GET /api/dashboards/uid/<uid>`` for what the server
has, a unified diff of it against ours (ignoring ``id`` and ``version``,
which the server owns), then — unless nothing changed — ``POST
/api/dashboards/db`` with ``folderUid``, ``overwrite: true`` (our files are
the source of truth) and a version-history ``message``. The folder is
created first when missing (``GET``/``POST /api/folders``). Every call
carries ``Authorization: Bearer <token>`` (a service-account token).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

import requests

SERVER_OWNED = ("id", "version")  # Grafana sets these; they are no change of ours
TIMEOUT = 10.0


class GrafanaError(Exception):
    """A Grafana call failed; ``permanent`` when repeating it cannot help (4xx)."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"{status or 'no answer'}: {message}")
        self.status = status
        self.permanent = status is not None and 400 <= status < 500


class GrafanaClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        try:
            response = self.http.request(
                method, f"{self.base_url}{path}", json=body, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise GrafanaError(None, f"{method} {path}: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {"message": response.text[:200]}
        if response.status_code >= 400 and response.status_code != 404:
            raise GrafanaError(response.status_code, _message(answer))
        return response.status_code, answer

    def get_dashboard(self, uid: str) -> dict[str, Any] | None:
        """What the server has under ``uid``, or None when it has nothing."""
        status, answer = self._call("GET", f"/api/dashboards/uid/{uid}")
        return None if status == 404 else dict(answer["dashboard"])

    def save_dashboard(
        self, dashboard: dict[str, Any], *, folder_uid: str, message: str
    ) -> dict[str, Any]:
        """Create or overwrite ``dashboard`` (matched by uid); Grafana's answer."""
        body = {
            "dashboard": {**dashboard, "id": None},
            "folderUid": folder_uid,
            "message": message,
            "overwrite": True,
        }
        status, answer = self._call("POST", "/api/dashboards/db", body)
        if status == 404:
            raise GrafanaError(status, _message(answer))
        return dict(answer)

    def ensure_folder(self, uid: str, title: str, *, create: bool = True) -> bool:
        """True when folder ``uid`` had to be created (or would be, with ``create=False``)."""
        status, _ = self._call("GET", f"/api/folders/{uid}")
        if status != 404:
            return False
        if create:
            try:
                self._call("POST", "/api/folders", {"uid": uid, "title": title})
            except GrafanaError as exc:
                if exc.status != 409:  # 409: created meanwhile by someone else, which will do
                    raise
        return True


def _message(answer: Any) -> str:
    if isinstance(answer, dict):
        text = str(answer.get("message") or answer)
        return f"{text} ({answer['status']})" if answer.get("status") else text
    return str(answer)[:200]


def diff(theirs: dict[str, Any] | None, ours: dict[str, Any]) -> list[str]:
    """Unified diff lines from the server's dashboard to ours (empty: no change)."""
    uid = ours.get("uid", "?")
    before = _lines({k: v for k, v in theirs.items() if k not in SERVER_OWNED}) if theirs else []
    after = _lines(ours)
    return list(difflib.unified_diff(before, after, f"grafana/{uid}", f"summit/{uid}", lineterm=""))


def _lines(dashboard: dict[str, Any]) -> list[str]:
    return json.dumps(dashboard, sort_keys=True, indent=2, ensure_ascii=False).splitlines()


@dataclass(frozen=True)
class PushResult:
    uid: str
    title: str
    outcome: str  # created, updated, unchanged, would create, would update, failed
    diff: list[str] = field(default_factory=list)
    version: int | None = None
    url: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


def push_one(
    client: GrafanaClient,
    dashboard: dict[str, Any],
    *,
    folder_uid: str,
    message: str,
    dry_run: bool = False,
) -> PushResult:
    """Diff ``dashboard`` against the server's copy and save it when it changed."""
    uid, title = dashboard["uid"], dashboard["title"]
    lines: list[str] = []  # kept on failure too: the operator sees what did not land
    try:
        theirs = client.get_dashboard(uid)
        lines = diff(theirs, dashboard)
        verb = "create" if theirs is None else "update"
        if not lines:
            return PushResult(uid, title, "unchanged")
        if dry_run:
            return PushResult(uid, title, f"would {verb}", lines)
        saved = client.save_dashboard(dashboard, folder_uid=folder_uid, message=message)
    except GrafanaError as exc:
        return PushResult(uid, title, "failed", lines, error=str(exc))
    return PushResult(uid, title, f"{verb}d", lines, saved.get("version"), saved.get("url"))


@dataclass(frozen=True)
class PushReport:
    folder: str  # exists, created, would be created, failed: ...
    results: list[PushResult]

    @property
    def failed(self) -> bool:
        return any(result.failed for result in self.results)


def push(
    client: GrafanaClient,
    dashboards: dict[str, dict[str, Any]],
    *,
    folder_uid: str,
    folder_title: str,
    message: str,
    dry_run: bool = False,
) -> PushReport:
    """Publish every dashboard into folder ``folder_uid`` (created when missing)."""
    try:
        created = client.ensure_folder(folder_uid, folder_title, create=not dry_run)
    except GrafanaError as exc:
        failed = [
            PushResult(u, d["title"], "failed", error=str(exc)) for u, d in dashboards.items()
        ]
        return PushReport(f"failed: {exc}", failed)
    folder = ("would be created" if dry_run else "created") if created else "exists"
    results = [
        push_one(client, dashboard, folder_uid=folder_uid, message=message, dry_run=dry_run)
        for dashboard in dashboards.values()
    ]
    return PushReport(folder, results)
