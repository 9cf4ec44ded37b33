"""Delivering the outbox: oldest first, idempotent, retried with backoff, dead-lettered
when the other side refuses for good. A crash anywhere loses and duplicates nothing:
rows are written with the decision that caused them, and every request carries the
row's idempotency key, so a repeat after a crash returns the first answer."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from orderbridge.adapters.base import DeliveryError, DispatchAdapter
from orderbridge.config import RetryConfig
from patrol.orders import TOPIC_ORDER_CREATE, TOPIC_ORDER_VERDICT
from patrol.tables import EventRow, OutboxRow

log = logging.getLogger(__name__)

# Deliveries recorded per commit (idempotent peers only): one commit per order caps an
# SQLite store at a few hundred orders per second on a busy machine.
COMMIT_EVERY = 50
# The answer to a verification the dispatch side asked for (``orderbridge.requests``).
TOPIC_VERIFICATION_REPLY = "verification.reply"


class ReplySender(Protocol):
    """Sends the answer to a verification request back the way the request came."""

    def send_reply(self, key: str, reply: dict[str, Any],
                   answer: dict[str, Any]) -> dict[str, Any]: ...


def evidence_urls(items: list[dict[str, Any]], base_url: str) -> list[dict[str, Any]]:
    """Evidence paths (relative to the evidence store) as URLs the dispatch side can fetch."""
    base = base_url.rstrip("/")
    return [{"url": f"{base}/{item['path']}", "kind": item["kind"], "phase": item["phase"]}
            for item in items if item.get("path")]


class OutboxDelivery:
    """One verb: ``deliver_due()`` sends what is due and returns how many were delivered."""

    def __init__(self, sessions: sessionmaker[Session], adapter: DispatchAdapter, *,
                 evidence_base_url: str, retry: RetryConfig | None = None,
                 batch: int = 50, replies: dict[str, ReplySender] | None = None) -> None:
        self.sessions = sessions
        self.adapter = adapter
        self.evidence_base_url = evidence_base_url
        self.retry = retry or RetryConfig()
        self.batch = batch
        self.replies = replies or {}

    def pending(self) -> int:
        """Rows still to deliver (the outbox depth)."""
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(OutboxRow).where(
                OutboxRow.delivered_at.is_(None), OutboxRow.dead.is_(False))) or 0

    def deliver_due(self) -> int:
        now = datetime.now(UTC)
        with self.sessions() as s:
            rows = s.scalars(
                select(OutboxRow).where(OutboxRow.delivered_at.is_(None),
                                        OutboxRow.dead.is_(False),
                                        OutboxRow.next_attempt_at <= now)
                .order_by(OutboxRow.id).limit(self.batch)
            ).all()
        delivered = 0
        done: list[tuple[OutboxRow, dict[str, Any]]] = []  # sent, not yet recorded
        try:
            for row in rows:
                in_doubt = bool((row.response or {}).get("in_flight"))
                if not self.adapter.idempotent and not in_doubt:
                    self._mark_in_flight(row)
                try:
                    response = self._send(row, in_doubt=in_doubt)
                except DeliveryError as exc:
                    self._delivered(done)
                    done = []
                    self._failed(row, exc)
                    if exc.retryable and row.topic != TOPIC_VERIFICATION_REPLY:
                        break  # the other side is down or busy: keep the order of the queue
                    continue
                done.append((row, response))
                delivered += 1
                # New orders to a peer that keeps the first answer per key are recorded in
                # groups (one commit for many: a crash sends the group again, the peer
                # answers as before); anything else is recorded at once.
                if (not self.adapter.idempotent or row.topic != TOPIC_ORDER_CREATE
                        or len(done) >= COMMIT_EVERY):
                    self._delivered(done)
                    done = []
        finally:
            self._delivered(done)
        return delivered

    def _mark_in_flight(self, row: OutboxRow) -> None:
        """For peers without idempotency keys: a crash from here on leaves the row in doubt,
        and the next attempt first asks the peer whether the first one arrived."""
        marker = {"in_flight": True, "since": datetime.now(UTC).isoformat()}
        with self.sessions.begin() as s:
            s.execute(update(OutboxRow).where(OutboxRow.id == row.id).values(response=marker))
        row.response = marker

    def _send(self, row: OutboxRow, *, in_doubt: bool = False) -> dict[str, Any]:
        payload = dict(row.payload)
        if row.topic == TOPIC_ORDER_CREATE:
            payload["evidence"] = evidence_urls(payload.get("evidence", []), self.evidence_base_url)
            if payload.get("count") is None:
                payload.pop("count", None)  # crowd events carry a people count; others none
            return self.adapter.create_order(row.key, payload, in_doubt=in_doubt)
        if row.topic == TOPIC_ORDER_VERDICT:
            verdict = dict(payload["verdict"])
            verdict["evidence"] = evidence_urls(verdict.get("evidence", []), self.evidence_base_url)
            return self.adapter.send_verdict(row.key, str(payload["order_id"]), verdict,
                                             in_doubt=in_doubt)
        if row.topic == TOPIC_VERIFICATION_REPLY:
            sender = self.replies.get(payload["reply"]["channel"])
            if sender is None:
                raise DeliveryError(f"no way to answer by {payload['reply']['channel']!r}",
                                    retryable=False)
            return sender.send_reply(row.key, payload["reply"], payload["answer"])
        raise DeliveryError(f"unknown outbox topic {row.topic!r}", retryable=False)

    def _delivered(self, done: list[tuple[OutboxRow, dict[str, Any]]]) -> None:
        """Record deliveries (one transaction) and copy order ids and states onto events."""
        if not done:
            return
        now = datetime.now(UTC)
        creates = {row.payload["event_id"]: response for row, response in done
                   if row.topic == TOPIC_ORDER_CREATE}
        with self.sessions.begin() as s:
            # Bulk UPDATEs by primary key (executemany: one round trip on PostgreSQL).
            s.execute(update(OutboxRow), [
                {"id": row.id, "delivered_at": now, "attempts": row.attempts + 1,
                 "response": response, "last_error": None} for row, response in done])
            if creates:
                children = s.execute(select(EventRow.id, EventRow.parent_id).where(
                    EventRow.parent_id.in_(list(creates)))).all()
                targets = [(eid, eid) for eid in creates] + [(c.id, c.parent_id) for c in children]
                present = set(s.scalars(select(EventRow.id).where(
                    EventRow.id.in_([t for t, _ in targets]))).all())
                rows = [{"id": target, "order_id": str(creates[source].get("id")),
                         "order_status": creates[source].get("status")}
                        for target, source in targets if target in present]
                if rows:
                    s.execute(update(EventRow), rows)
            for row, response in done:
                if row.topic not in (TOPIC_ORDER_CREATE, TOPIC_VERIFICATION_REPLY):
                    s.execute(update(EventRow).where(EventRow.order_id == str(response.get("id")))
                              .values(order_status=response.get("status")))
        for row, response in done:
            log.info("delivered %s %s -> order %s (%s)", row.topic, row.key, response.get("id"),
                     response.get("status"))

    def _failed(self, row: OutboxRow, exc: DeliveryError) -> None:
        attempts = row.attempts + 1
        delay = exc.retry_after_s or min(self.retry.base_s * 2 ** (attempts - 1), self.retry.max_s)
        with self.sessions.begin() as s:
            values: dict[str, Any] = {"attempts": attempts, "last_error": str(exc)[:1000],
                                      "next_attempt_at": datetime.now(UTC) + timedelta(seconds=delay)}
            if not exc.retryable:
                values["dead"] = True
            s.execute(update(OutboxRow).where(OutboxRow.id == row.id).values(**values))
            if not exc.retryable and row.topic == TOPIC_ORDER_CREATE:
                s.execute(update(EventRow).where(EventRow.id == row.payload["event_id"])
                          .values(order_status="delivery_failed"))
        level = logging.WARNING if exc.retryable else logging.ERROR
        then = f"retry in {delay:.0f}s" if exc.retryable else "dead letter"
        log.log(level, "outbox %s attempt %d failed (%s): %s", row.key, attempts, then, exc)
        row.attempts = attempts
