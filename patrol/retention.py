"""Evidence retention: snapshots and clips are deleted a number of days (per kind) after
their event ended, except evidence of events whose work order is still open, which is
never deleted (the dispatch side and the verification still need it)."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from patrol.orders import FINAL_ORDER_STATES
from patrol.tables import EventRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    events: int
    objects: int


def purgeable(kind: str, cutoff: datetime) -> Any:
    """Events of ``kind`` whose evidence may go: ended before ``cutoff``, evidence still
    there, and no open order (order closed or not disposed; or never an order: pending or
    rejected on review)."""
    no_order = and_(EventRow.order_id.is_(None), EventRow.order_status.is_(None),
                    EventRow.review.in_(("pending", "rejected")))
    return and_(EventRow.kind == kind, EventRow.state == "ended", EventRow.ended_at < cutoff,
                EventRow.snapshot.is_not(None),
                or_(EventRow.order_status.in_(FINAL_ORDER_STATES), no_order))


def purge_evidence(sessions: sessionmaker[Session], store: Any,
                   retention_days: Mapping[str, int], *, now: datetime | None = None,
                   batch: int = 500) -> PurgeResult:
    """Delete what :func:`purgeable` allows from ``store`` (folder or S3) and mark the
    events' evidence as purged. Kinds missing from ``retention_days`` are kept."""
    now = now or datetime.now(UTC)
    events = objects = 0
    for kind, days in retention_days.items():
        cutoff = now - timedelta(days=days)
        while True:
            with sessions() as s:
                rows = s.execute(select(EventRow.id, EventRow.snapshot)
                                 .where(purgeable(str(kind), cutoff)).limit(batch)).all()
            if not rows:
                break
            for event_id, snapshot in rows:
                objects += store.delete_folder(posixpath.dirname(snapshot))
                with sessions.begin() as s:
                    s.execute(update(EventRow).where(EventRow.id == event_id).values(
                        snapshot=None, clip=None, clip_state="purged"))
                events += 1
    if events:
        log.info("evidence retention: purged %d events, %d objects", events, objects)
    return PurgeResult(events, objects)
