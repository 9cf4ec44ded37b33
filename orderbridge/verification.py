"""Closed-loop verification (standard 6.3): when a unit reports a camera order disposed,
look at the same camera and zone again, keep the after-evidence, and send the verdict
through the outbox (clear → closed; still present → redo; again → not disposed)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orderbridge.adapters.base import DeliveryError, DispatchAdapter
from patrol.orders import TOPIC_ORDER_VERDICT
from patrol.service import PatrolService, VerificationError
from patrol.tables import EventRow, OutboxRow, VerificationRow

log = logging.getLogger(__name__)

# Order states in which a footage check is due or under way.
VERIFY_STATES = ("feedback_received", "verifying")
# A check that could not be made (camera offline) is tried again after this long.
RETRY_FAILED_S = 30.0


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verification_key(order: dict[str, Any]) -> str:
    """One check per disposal report: the first, and the one after a redo."""
    return f"{order['id']}:{order.get('redo_count', 0)}"


class VerificationRunner:
    """One verb: ``poll()`` starts checks for orders awaiting verification."""

    def __init__(self, sessions: sessionmaker[Session], patrol: PatrolService,
                 adapter: DispatchAdapter, *, max_parallel: int = 4) -> None:
        self.sessions = sessions
        self.patrol = patrol
        self.adapter = adapter
        self._pool = ThreadPoolExecutor(max_parallel, thread_name_prefix="verify")
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def poll(self) -> int:
        started = 0
        for status in VERIFY_STATES:
            for order in self.adapter.orders(status=status):
                if self._maybe_start(order):
                    started += 1
        return started

    def _maybe_start(self, order: dict[str, Any]) -> bool:
        camera_id = order.get("camera_id")
        if not camera_id or camera_id not in self.patrol.workers:
            return False  # no camera of ours: a commander judges it (review)
        key = verification_key(order)
        with self._lock:
            if key in self._running:
                return False
            with self.sessions() as s:
                row = s.scalars(select(VerificationRow).where(VerificationRow.key == key)).first()
                if row is not None and row.state == "done":
                    return False  # verdict sits in the outbox
                if (row is not None and row.state == "failed" and row.finished_at is not None
                        and datetime.now(UTC) - _aware(row.finished_at)
                        < timedelta(seconds=RETRY_FAILED_S)):
                    return False
            self._running.add(key)
        self._pool.submit(self._run, order, key)
        return True

    def _run(self, order: dict[str, Any], key: str) -> None:
        try:
            self._verify(order, key)
        except (VerificationError, DeliveryError) as exc:
            log.warning("verification %s postponed: %s", key, exc)
            with self.sessions.begin() as s:
                row = s.scalars(select(VerificationRow).where(VerificationRow.key == key)).first()
                if row is not None:
                    row.state, row.note = "failed", str(exc)[:1000]
                    row.finished_at = datetime.now(UTC)
        except Exception:
            log.exception("verification %s failed", key)
        finally:
            with self._lock:
                self._running.discard(key)

    def _verify(self, order: dict[str, Any], key: str) -> None:
        order_id, attempt = str(order["id"]), int(order.get("redo_count", 0))
        folder = self._folder(order)
        with self.sessions.begin() as s:
            row = s.scalars(select(VerificationRow).where(VerificationRow.key == key)).first()
            if row is None:
                row = VerificationRow(key=key, order_id=order_id, attempt=attempt,
                                      event_id=order.get("event_id"), camera_id=order["camera_id"],
                                      zone_id=order.get("zone_id"), kind=order["kind"],
                                      state="running")
                s.add(row)
            row.state, row.started_at = "running", datetime.now(UTC)
        if order["status"] == "feedback_received":
            self.adapter.start_verification(order_id)
        log.info("verifying order %s (attempt %d) on %s", order_id, attempt, order["camera_id"])
        check = self.patrol.check_footage(camera_id=order["camera_id"], zone_id=order.get("zone_id"),
                                          kind=order["kind"], evidence_folder=folder,
                                          name=f"verify-{attempt}", preset=self._preset(order))
        effective = not check.present
        note = (f"复核{'未见' if effective else '仍见'}问题：{check.hits}/{check.frames} 帧命中"
                f"（{'处置有效' if effective else '处置无效'}）")
        evidence = [{"path": check.snapshot, "kind": "snapshot", "phase": "after"}]
        if check.clip:
            evidence.append({"path": check.clip, "kind": "clip", "phase": "after"})
        with self.sessions.begin() as s:
            row = s.scalars(select(VerificationRow).where(VerificationRow.key == key)).one()
            row.state, row.finished_at = "done", datetime.now(UTC)
            row.frames, row.hits, row.present = check.frames, check.hits, check.present
            row.snapshot, row.clip, row.note = check.snapshot, check.clip, note
            s.add(OutboxRow(key=f"verdict:{key}", topic=TOPIC_ORDER_VERDICT, payload={
                "order_id": order_id,
                "verdict": {"effective": effective, "note": note, "actor": "video_patrol",
                            "evidence": evidence},
            }))
        log.info("order %s verified: %s", order_id, note)

    def _preset(self, order: dict[str, Any]) -> str | None:
        """The PTZ preset the order's event was seen at (None: a fixed camera)."""
        event_id = order.get("event_id")
        if not event_id:
            return None
        with self.sessions() as s:
            event = s.get(EventRow, event_id)
        return event.preset if event is not None else None

    def _folder(self, order: dict[str, Any]) -> str:
        event_id = order.get("event_id")
        if event_id:
            with self.sessions() as s:
                event = s.get(EventRow, event_id)
            if event is not None:
                return self.patrol.evidence.folder(event.camera_id, event.id,
                                                   event.started_at.timestamp())
        return self.patrol.evidence.folder(order["camera_id"], f"order-{order['id']}",
                                           datetime.now(UTC).timestamp())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
