"""The paging outbox: PagerDuty events written in the transaction of the incident
change that caused them, then delivered by one sender.

Delivery, one row at a time, oldest first, and for one dedup key in order (a
resolve never overtakes its trigger):

1. claim: a conditional UPDATE (pending and due, or sending with a claim older
   than the claim timeout) -> sending, committed before anything is sent, so
   two senders never send one row (STYLE habit 7);
2. send, outside any transaction;
3. mark: sent, or back to pending with a bounded, jittered backoff (never
   sooner than PagerDuty's ``Retry-After``), or failed when PagerDuty refuses
   the event as invalid or retries have run out of time.

A crash between 2 and 3 leaves the row "sending"; once its claim times out it
is sent again with the same dedup key, which PagerDuty deduplicates. At most
``per_minute`` events a minute go to one routing key (PagerDuty's documented
limit); the rest wait for the next pass. A service with no routing key keeps
its rows pending (shown on /ops) until one is configured.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from alerts.models import PageEvent
from alerts.pagerduty import Event, PagerDuty, PagingError, key_id
from app.core.db import Database

log = logging.getLogger("summit.paging")
UNSENT: Final = ("pending", "sending")
STATES: Final = ("pending", "sending", "sent", "failed")
NO_KEY: Final = "no routing key configured for service {service}: kept in the outbox"


def enqueue(
    *,
    session: Session,
    incident_id: str,
    service: str,
    event: Event,
    now: datetime,
    held_until: datetime | None = None,
) -> PageEvent:
    """Add one event to the outbox in the caller's transaction."""
    row = PageEvent(
        incident_id=incident_id, service=service, action=event.action,
        dedup_key=event.dedup_key, severity=event.severity, body=event.body(), state="pending",
        created_at=now, next_attempt_at=held_until or now, held_until=held_until, attempts=0,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    max_seconds: float = 300.0
    give_up_after: timedelta = timedelta(hours=24)
    claim_timeout: timedelta = timedelta(seconds=60)
    per_minute: int = 120

    def backoff(self, attempts: int, retry_after: float | None, rng: random.Random) -> float:
        """Exponential, capped, with jitter (half to all of it); never under Retry-After."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        delay = ceiling * (0.5 + rng.random() / 2)
        return float(max(delay, retry_after or 0.0))


@dataclass
class Delivery:
    """What one pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    no_key: int = 0
    rate_limited: int = 0
    dedup_keys: list[str] = field(default_factory=list)


class Sender:
    """Delivers due outbox rows. ``routing_key(service)`` answers the key or None."""

    def __init__(
        self,
        *,
        db: Database,
        pagerduty: PagerDuty,
        routing_key: Callable[[str], str | None],
        holder: str,
        policy: RetryPolicy = RetryPolicy(),
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.pagerduty = pagerduty
        self.routing_key = routing_key
        self.holder = holder
        self.policy = policy
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        # Called between the send and the mark: tests stop a sender exactly there.
        self.after_send: Callable[[PageEvent], None] | None = None

    def deliver(self, *, now: datetime, limit: int = 200, only: Sequence[int] = ()) -> Delivery:
        """One pass over the due rows (or just ``only``, due or not: a test page)."""
        done = Delivery()
        for row in self._heads(now, limit, only):
            key = self.routing_key(row.service)
            if key is None:
                self._note_no_key(row)
                done.no_key += 1
                continue
            kid = key_id(key)
            if self._recent(kid, now) >= self.policy.per_minute:  # counts this pass's too
                done.rate_limited += 1
                continue
            if not self._claim(row, kid, now, force=bool(only)):
                continue
            outcome = self._send(row, key, now)
            _count(done, outcome, row)
            if outcome == "unreachable":
                break  # PagerDuty is away: the rest wait for the next pass
        return done

    def _heads(self, now: datetime, limit: int, only: Sequence[int]) -> list[PageEvent]:
        """The oldest unsent row of each dedup key, if it is due (or asked for)."""
        stale = now - self.policy.claim_timeout
        with self.db.session(tenant_id=None) as session:
            rows = session.scalars(
                select(PageEvent).where(PageEvent.state.in_(UNSENT)).order_by(PageEvent.id)
                .limit(5000)
            ).all()  # fmt: skip
            session.expunge_all()
        heads: dict[str, PageEvent] = {}
        for row in rows:
            heads.setdefault(row.dedup_key, row)
        if only:
            return [row for row in heads.values() if row.id in set(only)]
        return [row for row in heads.values() if _due(row, now, stale)][:limit]

    def _recent(self, kid: str, now: datetime) -> int:
        with self.db.session(tenant_id=None) as session:
            return int(session.scalar(
                select(func.count()).select_from(PageEvent)
                .where(PageEvent.key_id == kid, PageEvent.sent_at > now - timedelta(minutes=1))
            ) or 0)  # fmt: skip

    def _note_no_key(self, row: PageEvent) -> None:
        message = NO_KEY.format(service=row.service)
        if row.last_error == message:
            return
        self._update(row.id, {"last_error": message}, PageEvent.state == "pending")

    def _claim(self, row: PageEvent, kid: str, now: datetime, *, force: bool) -> bool:
        due = or_(
            (PageEvent.state == "pending") & (PageEvent.next_attempt_at <= now),
            (PageEvent.state == "sending")
            & (PageEvent.claimed_at <= now - self.policy.claim_timeout),
        )
        if force:
            due = PageEvent.state.in_(UNSENT)
        values = {"state": "sending", "claimed_by": self.holder, "claimed_at": now,
                  "key_id": kid, "attempts": PageEvent.attempts + 1}  # fmt: skip
        return self._update(row.id, values, due)

    def _send(self, row: PageEvent, key: str, now: datetime) -> str:
        try:
            self.pagerduty.send(key, row.body)
        except PagingError as exc:
            return self._failed(row, exc, now)
        if self.after_send is not None:
            self.after_send(row)
        mine = PageEvent.claimed_by == self.holder
        self._update(row.id, {"state": "sent", "sent_at": now, "last_status": 202,
                              "last_error": None}, mine)  # fmt: skip
        log.info("page sent", extra={"action": row.action, "dedup_key": row.dedup_key,
                                     "service": row.service})  # fmt: skip
        return "sent"

    def _failed(self, row: PageEvent, exc: PagingError, now: datetime) -> str:
        mine = PageEvent.claimed_by == self.holder
        base = {"last_status": exc.status, "last_error": str(exc)[:2000]}
        too_old = now - row.created_at >= self.policy.give_up_after
        if exc.permanent or too_old:
            self._update(row.id, {**base, "state": "failed"}, mine)
            log.error("page not delivered: %s", exc, extra={"dedup_key": row.dedup_key})
            return "failed"
        delay = self.policy.backoff(row.attempts + 1, exc.retry_after, self.rng)
        later = now + timedelta(seconds=delay)
        self._update(row.id, {**base, "state": "pending", "next_attempt_at": later}, mine)
        if exc.status == 429:
            self._pause_key(row, later)
        log.warning("page will be retried in %.1f s: %s", delay, exc,
                    extra={"dedup_key": row.dedup_key})  # fmt: skip
        return "retrying" if exc.status is not None else "unreachable"

    def _pause_key(self, row: PageEvent, until: datetime) -> None:
        """PagerDuty throttles the routing key, not the row: the service's other
        rows (its key's) wait as long."""
        self._update_where(
            {"next_attempt_at": until},
            PageEvent.state == "pending", PageEvent.service == row.service,
            PageEvent.next_attempt_at < until,
        )  # fmt: skip

    def _update(self, row_id: int, values: dict[str, Any], *conditions: Any) -> bool:
        return self._update_where(values, PageEvent.id == row_id, *conditions) == 1

    def _update_where(self, values: dict[str, Any], *conditions: Any) -> int:
        with self.db.session(tenant_id=None, write=True) as session:
            result = cast(CursorResult[Any], session.execute(
                update(PageEvent).where(*conditions).values(**values)
                .execution_options(synchronize_session=False)
            ))  # fmt: skip
            session.commit()
            return int(result.rowcount or 0)


def _due(row: PageEvent, now: datetime, stale: datetime) -> bool:
    if row.state == "pending":
        return row.next_attempt_at <= now
    return row.claimed_at is not None and row.claimed_at <= stale


def _count(done: Delivery, outcome: str, row: PageEvent) -> None:
    if outcome == "sent":
        done.sent += 1
        done.dedup_keys.append(row.dedup_key)
    elif outcome == "failed":
        done.failed += 1
    else:
        done.retrying += 1


# --- reading the outbox ---------------------------------------------------------------


def counts(*, session: Session) -> dict[str, int]:
    """Rows per state (every state present, zero when none)."""
    found = dict(session.execute(
        select(PageEvent.state, func.count()).group_by(PageEvent.state)
    ).all())  # fmt: skip
    return {state: int(found.get(state, 0)) for state in STATES}


def held(*, session: Session, now: datetime) -> int:
    """Pending rows waiting for quiet hours to end."""
    return int(session.scalar(
        select(func.count()).select_from(PageEvent)
        .where(PageEvent.state == "pending", PageEvent.held_until > now)
    ) or 0)  # fmt: skip


def recent(*, session: Session, limit: int = 20) -> list[PageEvent]:
    return list(session.scalars(select(PageEvent).order_by(PageEvent.id.desc()).limit(limit)))


def for_incidents(*, session: Session, incident_ids: Iterable[str]) -> dict[str, list[PageEvent]]:
    ids = list(incident_ids)
    out: dict[str, list[PageEvent]] = {incident_id: [] for incident_id in ids}
    if not ids:
        return out
    rows = session.scalars(
        select(PageEvent).where(PageEvent.incident_id.in_(ids)).order_by(PageEvent.id)
    )
    for row in rows:
        out[row.incident_id].append(row)
    return out


def get(*, session: Session, row_id: int) -> PageEvent | None:
    return session.get(PageEvent, row_id)
