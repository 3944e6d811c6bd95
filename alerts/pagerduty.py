"""PagerDuty behind one small class: the Events API v2 (pages) and the REST API v2
(escalation as code), through the ``pagerduty`` package (pdpyras' successor).

One error type, :class:`PagingError`, with a ``permanent`` flag (STYLE habit 4):
the caller records the outcome and decides on a retry. The Events client makes
one attempt per call — the outbox retries, honouring ``Retry-After``, so the
library's own retries (5xx a few times, 429 forever) are switched off. The REST
client, used from the command line, retries 429 a bounded number of times
(its default is forever). Routing keys and tokens never appear in a message.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import httpx2
import pagerduty

EVENTS_URL: Final = "https://events.pagerduty.com"
REST_URL: Final = "https://api.pagerduty.com"
SEVERITIES: Final = ("critical", "error", "warning", "info")
ACTIONS: Final = ("trigger", "acknowledge", "resolve")
SUMMARY_MAX: Final = 1024  # PagerDuty's documented limits
DEDUP_KEY_MAX: Final = 255
TIMEOUT: Final = 10  # seconds


class PagingError(Exception):
    """PagerDuty refused or could not be reached. ``permanent``: the same request
    will never succeed (a 400, a bad credential); otherwise retry, not before
    ``retry_after`` seconds when PagerDuty said so (429 ``Retry-After``)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Event:
    """One Events API v2 event, less its routing key (which the sender adds)."""

    action: str
    dedup_key: str
    summary: str = ""
    source: str = "summit"
    severity: str = "critical"
    component: str | None = None
    group: str | None = None
    event_class: str | None = None
    custom_details: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"event action must be one of {ACTIONS}, not {self.action!r}")
        if not 0 < len(self.dedup_key) <= DEDUP_KEY_MAX:
            raise ValueError(f"dedup_key must be 1 to {DEDUP_KEY_MAX} characters")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    def body(self) -> dict[str, Any]:
        """The JSON body PagerDuty documents, without ``routing_key``."""
        out: dict[str, Any] = {"event_action": self.action, "dedup_key": self.dedup_key}
        if self.action != "trigger":
            return out  # acknowledge and resolve carry only the key
        payload: dict[str, Any] = {
            "summary": self.summary[:SUMMARY_MAX],
            "source": self.source,
            "severity": self.severity,
        }
        for name, value in (("component", self.component), ("group", self.group),
                            ("class", self.event_class)):  # fmt: skip
            if value:
                payload[name] = value
        if self.custom_details:
            payload["custom_details"] = self.custom_details
        out["payload"] = payload
        if self.links:
            out["links"] = self.links
        out["client"] = "Summit"
        return out


def key_id(routing_key: str) -> str:
    """A short, one-way name for a routing key: counts sends per key (the rate
    limit) without storing the key."""
    return hashlib.sha256(routing_key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Endpoints:
    """Where PagerDuty is, and which CA to trust (tests point both at a local
    contract server with a test CA; ``verify`` True means the system's CAs)."""

    events_url: str = EVENTS_URL
    rest_url: str = REST_URL
    verify: str | bool = True
    rest_token: str = ""
    rest_from: str | None = None
    rest_429_retries: int = 3
    rest_cooldown_seconds: float = 1.5


class PagerDuty:
    """The two PagerDuty clients Summit uses, behind one class and one error type."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self._events: dict[str, pagerduty.EventsApiV2Client] = {}
        self._rest: pagerduty.RestApiV2Client | None = None

    def _verify(self) -> ssl.SSLContext | bool:
        verify = self.endpoints.verify
        return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify

    # --- Events API v2 -----------------------------------------------------------------

    def send(self, routing_key: str, event: Event | dict[str, Any]) -> str:
        """Send one event; returns the dedup key PagerDuty answered with (202)."""
        body = dict(event.body() if isinstance(event, Event) else event)
        action = str(body.pop("event_action"))
        dedup_key = body.pop("dedup_key", None)
        client = self._events_client(routing_key)
        try:
            return str(client.send_event(action, dedup_key=dedup_key, **body))
        except pagerduty.Error as exc:
            raise _paging_error(exc) from None

    def _events_client(self, routing_key: str) -> pagerduty.EventsApiV2Client:
        client = self._events.get(routing_key)
        if client is None:
            client = pagerduty.EventsApiV2Client(
                routing_key,
                base_url=self.endpoints.events_url,
                verify=self._verify(),
                event_hooks={"response": [_raise_for_status]},
            )
            client.retry = {}  # the outbox retries; no 5xx loop here
            client.max_network_attempts = 0  # one connection attempt
            client.timeout = TIMEOUT
            self._events[routing_key] = client
        return client

    # --- REST API v2 -------------------------------------------------------------------

    @property
    def rest(self) -> pagerduty.RestApiV2Client:
        if self._rest is None:
            if not self.endpoints.rest_token:
                raise PagingError(
                    "no PagerDuty API token: set PAGERDUTY_API_TOKEN or PAGERDUTY_API_TOKEN_FILE",
                    permanent=True,
                )
            client = pagerduty.RestApiV2Client(
                self.endpoints.rest_token,
                default_from=self.endpoints.rest_from,
                base_url=self.endpoints.rest_url,
                verify=self._verify(),
            )
            # Bounded: the library's default retries 429 forever, ignoring Retry-After.
            client.retry[429] = self.endpoints.rest_429_retries
            client.sleep_timer = self.endpoints.rest_cooldown_seconds
            client.stagger_cooldown = 1.0  # jitter, so two syncs do not retry in step
            client.max_network_attempts = 1
            client.timeout = TIMEOUT
            # PagerDuty's contract lists Content-Type as required on every request.
            client.headers["Content-Type"] = "application/json"
            self._rest = client
        return self._rest

    def list(self, resource: str, query: str | None = None) -> Iterator[dict[str, Any]]:
        params = {"query": query} if query else None
        try:
            yield from self.rest.iter_all(resource, params=params)
        except pagerduty.Error as exc:
            raise _paging_error(exc) from None

    def create(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            created = self.rest.rpost(resource, json=body)
        except pagerduty.Error as exc:
            raise _paging_error(exc) from None
        return dict(created) if isinstance(created, dict) else {}

    def update(self, resource: str, ident: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            updated = self.rest.rput(f"{resource}/{ident}", json=body)
        except pagerduty.Error as exc:
            raise _paging_error(exc) from None
        return dict(updated) if isinstance(updated, dict) else {}

    def get(self, resource: str, ident: str) -> dict[str, Any]:
        try:
            found = self.rest.rget(f"{resource}/{ident}")
        except pagerduty.Error as exc:
            raise _paging_error(exc) from None
        return dict(found) if isinstance(found, dict) else {}

    def close(self) -> None:
        for client in self._events.values():
            client.close()
        if self._rest is not None:
            self._rest.close()


class _Refused(pagerduty.Error):
    """Raised from the Events client's response hook: PagerDuty answered non-2xx."""

    def __init__(self, response: httpx2.Response) -> None:
        super().__init__(f"HTTP {response.status_code}", response)  # type: ignore[no-untyped-call]


def _raise_for_status(response: httpx2.Response) -> None:
    """httpx2 response hook: turn a non-2xx answer into an error at once, so the
    library's loops (429 forever) never start and the outbox decides."""
    if response.status_code >= 400:
        response.read()
        raise _Refused(response)


def _paging_error(exc: pagerduty.Error) -> PagingError:
    response = exc.response
    if response is None:  # no answer: refused connection, timeout, TLS
        cause = exc.__cause__ or exc
        return PagingError(f"PagerDuty unreachable: {type(cause).__name__}", permanent=False)
    status = response.status_code
    detail = _detail(response)
    if status == 429:
        retry_after = _retry_after(response)
        return PagingError("PagerDuty rate limit (429)", permanent=False, status=status,
                           retry_after=retry_after)  # fmt: skip
    # 4xx other than 429 will fail again as sent (bad event, bad credential).
    permanent = 400 <= status < 500
    return PagingError(f"PagerDuty answered {status}: {detail}", permanent=permanent,
                       status=status)  # fmt: skip


def _detail(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))[:300] + _errors(error.get("errors"))
        return str(body.get("message", ""))[:300] + _errors(body.get("errors"))
    return str(body)[:200]


def _errors(errors: Any) -> str:
    return f" ({'; '.join(map(str, errors))[:300]})" if errors else ""


def _retry_after(response: httpx2.Response) -> float | None:
    """Seconds to wait: ``Retry-After``, else the IETF ``RateLimit-Reset``."""
    for header in ("Retry-After", "RateLimit-Reset", "X-RateLimit-Reset"):
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            continue
    return None
