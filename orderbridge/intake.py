"""Auto versus review (standard 6.2.1.1) for events the intake left pending.

Per kind, ``bridge.intake`` sets two thresholds: at or above ``auto_min_confidence`` an
event raises an order at once; below ``review_min_confidence`` it is dropped (kept in the
store as ``dropped``, out of the operator's queue, no order); between them it waits for an
operator. An event that would raise an order while one is open for the same camera, zone
(and preset) and kind joins that order instead, as the intake itself does."""

from __future__ import annotations

import logging
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orderbridge.config import IntakeRule
from orderbridge.states import FINAL_STATES
from patrol.config import PatrolConfig
from patrol.orders import outbox_for_event
from patrol.tables import EventRow

log = logging.getLogger(__name__)

Decision = Literal["auto", "review", "drop"]
# Pending events looked at per sweep; the rest wait for the next one (oldest first).
SWEEP_BATCH = 200
NOTE_PREFIX = "intake:"


def decide(rule: IntakeRule, confidence: float) -> Decision:
    if confidence >= rule.auto_min_confidence:
        return "auto"
    if confidence < rule.review_min_confidence:
        return "drop"
    return "review"


def open_parent(s: Session, row: EventRow) -> EventRow | None:
    """The event whose order is still open for the same camera, zone, preset and kind."""
    return s.scalars(select(EventRow).where(
        EventRow.camera_id == row.camera_id, EventRow.zone_id == row.zone_id,
        (EventRow.preset.is_(None) if row.preset is None else EventRow.preset == row.preset),
        EventRow.kind == row.kind, EventRow.review.in_(("auto", "confirmed")),
        EventRow.id != row.id, EventRow.parent_id.is_(None),
        EventRow.order_status.is_(None) | EventRow.order_status.not_in(
            (*FINAL_STATES, "delivery_failed")),
    ).order_by(EventRow.started_at.desc()).limit(1)).first()


class IntakeGate:
    """One verb: ``sweep()`` decides the pending events of the configured kinds."""

    def __init__(self, sessions: sessionmaker[Session], patrol_config: PatrolConfig,
                 rules: dict[str, IntakeRule]) -> None:
        self.sessions = sessions
        self.patrol_config = patrol_config
        self.rules = {str(k): v for k, v in rules.items()}

    def sweep(self) -> dict[str, int]:
        counts = {"auto": 0, "attached": 0, "review": 0, "drop": 0}
        if not self.rules:
            return counts
        with self.sessions.begin() as s:
            rows = s.scalars(select(EventRow).where(
                EventRow.review == "pending", EventRow.review_note.is_(None),
                EventRow.kind.in_(list(self.rules)),
            ).order_by(EventRow.started_at, EventRow.id).limit(SWEEP_BATCH)).all()
            for row in rows:
                rule = self.rules[row.kind]
                decision = decide(rule, row.confidence)
                if decision == "auto":
                    parent = open_parent(s, row)
                    if parent is not None:
                        row.review, row.parent_id = "attached", parent.id
                        row.order_id, row.order_status = parent.order_id, parent.order_status
                        row.review_note = f"{NOTE_PREFIX} joins the open order of {parent.id}"
                        counts["attached"] += 1
                        continue
                    row.review = "auto"
                    row.review_note = (f"{NOTE_PREFIX} auto, confidence {row.confidence:.2f} ≥ "
                                       f"{rule.auto_min_confidence:.2f}")
                    s.add(outbox_for_event(row, self.patrol_config.camera(row.camera_id)))
                elif decision == "drop":
                    row.review = "dropped"
                    row.review_note = (f"{NOTE_PREFIX} dropped, confidence {row.confidence:.2f} < "
                                       f"{rule.review_min_confidence:.2f}")
                else:
                    row.review_note = (f"{NOTE_PREFIX} waits for an operator, confidence "
                                       f"{row.confidence:.2f}")
                counts[decision] += 1
                s.flush()  # the next row of the batch must see this one as a parent
        if any(counts.values()):
            log.info("intake: %s", counts)
        return counts
