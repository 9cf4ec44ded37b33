"""Order states kept on our side, for dispatch cores that only send updates (webhook, MQTT,
Open311): the event that raised an order carries its id and latest status, and the
verdicts we delivered count its redos."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from patrol.orders import FINAL_ORDER_STATES, TOPIC_ORDER_VERDICT
from patrol.tables import EventRow, OutboxRow

log = logging.getLogger(__name__)

# The states an order can be in (the embedded core's vocabulary, standard 6.2-6.3).
# ``sent``: handed to a peer that has not answered with a state yet.
KNOWN_STATES = frozenset({
    "sent", "accepted", "follow_up", "copied", "dispatched", "feedback_received", "verifying",
    "redo", "closed", "not_disposed",
})
FINAL_STATES = frozenset((*FINAL_ORDER_STATES, "copied"))


class StateError(ValueError):
    """An update names an unknown order or state."""


class LocalOrders:
    """Order states as the bridge last heard them. Thread-safe (one session per call)."""

    def __init__(self, sessions: sessionmaker[Session] | None = None,
                 status_map: dict[str, str] | None = None) -> None:
        self.sessions = sessions
        self.status_map = status_map or {}

    def _sessions(self) -> sessionmaker[Session]:
        if self.sessions is None:
            raise RuntimeError("order states need the event store: call bind(sessions) first")
        return self.sessions

    def normalise(self, status: str) -> str:
        """The peer's word for a state → ours; raises StateError for an unknown one."""
        ours = self.status_map.get(status, status)
        if ours not in KNOWN_STATES:
            raise StateError(f"unknown order status {status!r}; map it in status_map")
        return ours

    def apply(self, order_id: str, status: str) -> bool:
        """Record a state the dispatch side reported. False: unknown order, or the order is
        already over (a late or repeated message changes nothing)."""
        ours = self.normalise(status)
        with self._sessions().begin() as s:
            rows = s.execute(update(EventRow).where(
                EventRow.order_id == order_id,
                EventRow.order_status.is_(None) | EventRow.order_status.not_in(FINAL_STATES),
            ).values(order_status=ours)).rowcount
        if rows:
            log.info("order %s is now %s", order_id, ours)
        return bool(rows)

    def open_ids(self) -> list[str]:
        with self._sessions()() as s:
            return sorted(set(s.scalars(select(EventRow.order_id).where(
                EventRow.order_id.is_not(None),
                EventRow.order_status.is_(None) | EventRow.order_status.not_in(FINAL_STATES),
            )).all()))

    def redo_count(self, s: Session, order_id: str) -> int:
        """Not-effective verdicts delivered for the order."""
        return self._redo_counts(s, f"verdict:{order_id}:%").get(order_id, 0)

    @staticmethod
    def _redo_counts(s: Session, pattern: str = "verdict:%") -> dict[str, int]:
        rows = s.scalars(select(OutboxRow).where(
            OutboxRow.topic == TOPIC_ORDER_VERDICT, OutboxRow.delivered_at.is_not(None),
            OutboxRow.key.like(pattern))).all()
        counts: dict[str, int] = {}
        for r in rows:
            if not r.payload["verdict"].get("effective"):
                order_id = str(r.payload.get("order_id"))
                counts[order_id] = counts.get(order_id, 0) + 1
        return counts

    def verdict_status(self, order_id: str, effective: bool) -> str:
        """Effective → closed; not effective → redo the first time, not disposed after."""
        if effective:
            return "closed"
        with self._sessions()() as s:
            return "redo" if self.redo_count(s, order_id) == 0 else "not_disposed"

    def _public(self, s: Session, row: EventRow, redos: dict[str, int] | None = None) -> dict[str, Any]:
        redo = (redos.get(str(row.order_id), 0) if redos is not None
                else self.redo_count(s, str(row.order_id)))
        return {"id": row.order_id, "status": row.order_status, "kind": row.label or row.kind,
                "source": "video_patrol", "camera_id": row.camera_id, "zone_id": row.zone_id,
                "event_id": row.id, "redo_count": redo,
                "updated_at": row.updated_at.isoformat() if row.updated_at else None}

    def orders(self, *, status: str | None = None, limit: int = 500, **_: Any) -> list[dict[str, Any]]:
        """The orders, newest first, as the embedded core would list them."""
        query = select(EventRow).where(EventRow.order_id.is_not(None), EventRow.parent_id.is_(None))
        if status is not None:
            query = query.where(EventRow.order_status == status)
        with self._sessions()() as s:
            rows = s.scalars(query.order_by(EventRow.started_at.desc()).limit(limit)).all()
            redos = self._redo_counts(s) if rows else {}
            return [self._public(s, r, redos) for r in rows]

    def order(self, order_id: str) -> dict[str, Any]:
        with self._sessions()() as s:
            row = s.scalars(select(EventRow).where(
                EventRow.order_id == order_id, EventRow.parent_id.is_(None))).first()
            if row is None:
                raise StateError(f"order {order_id} is unknown (HTTP 404)")
            out = self._public(s, row)
            out["events"] = list(s.scalars(select(EventRow.id).where(
                EventRow.order_id == order_id)).all())
            return out
