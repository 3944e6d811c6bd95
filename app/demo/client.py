"""The HTTP side of the demo and the drill: log in as a demo user, call the
API, wait for a probe run. The same calls users, operators and probes make."""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import requests

TIMEOUT = 30


class StepFailed(Exception):
    """A step saw something other than what the product promises."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


@dataclass
class Client:
    url: str
    password: str
    http: requests.Session = field(default_factory=requests.Session)
    _tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def as_(self, tenant: str | None, username: str, password: str = "") -> dict[str, str]:
        """Headers for ``username`` of ``tenant`` (None: an operator), logged in once
        (with ``password``, or the client's)."""
        key = f"{tenant}/{username}"
        if key not in self._tokens:
            body = {"tenant": tenant, "username": username,
                    "password": password or self.password}  # fmt: skip
            answer = self.http.post(f"{self.url}/api/v1/auth/login", json=body, timeout=TIMEOUT)
            expect(answer.status_code == 200, f"{username} could not log in: {answer.text[:200]}")
            self._tokens[key] = {"Authorization": f"Bearer {answer.json()['token']}"}
        return self._tokens[key]

    def call(self, method: str, path: str, who: dict[str, str], **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.http.request(method, f"{self.url}{path}", headers=who, **kwargs)

    def run_probe(self, name: str, who: dict[str, str]) -> dict[str, Any]:
        """Ask for a run of probe ``name`` and wait for it to be recorded."""
        asked = self.call("POST", f"/api/v1/probes/{name}/run", who)
        expect(asked.status_code == 202, f"run {name}: {asked.status_code} {asked.text[:200]}")
        return self.wait_for_run(asked.json()["url"], who)

    def wait_for_run(self, url: str, who: dict[str, str]) -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            answer = self.http.get(f"{self.url}{url}", headers=who, timeout=TIMEOUT)
            if answer.status_code == 200:
                run: dict[str, Any] = answer.json()
                return run
            expect(answer.status_code == 202, f"{url}: {answer.status_code} {answer.text[:200]}")
            time.sleep(0.3)
        raise StepFailed(f"{url} still running after two minutes")

    def logout(self) -> None:
        """Log every token this client holds out (sessions are not left behind)."""
        for who in self._tokens.values():
            with suppress(requests.RequestException):  # gone: its tokens went with it
                self.call("POST", "/api/v1/auth/logout", who)
        self._tokens.clear()
