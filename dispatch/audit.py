"""The audit trail: every applied action is one history row (who, when, what, why)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from dispatch.models import HistoryEntry, Order
from dispatch.types import Action, OrderStatus

SYSTEM_ACTOR = "dispatch"  # the actor of automatic transitions (dispatch on intake, redo)
SUPERVISOR_ACTOR = "supervisor"  # the background supervisor (overdue, reminders)


def transition(
    session: Session,
    order: Order,
    action: Action,
    to: OrderStatus,
    *,
    now: datetime,
    actor: str,
    note: str,
    request_key: str | None = None,
) -> None:
    """Record ``action`` and move ``order`` to ``to`` (the same status for side actions)."""
    session.add(
        HistoryEntry(
            order_id=order.id,
            at=now,
            actor=actor,
            action=action,
            from_status=order.status,
            to_status=to,
            note=note,
            request_key=request_key,
        )
    )
    order.status = to
    order.updated_at = now
    if to.is_final:
        order.finished_at = now


def record(
    session: Session, order: Order, action: Action, *, now: datetime, actor: str, note: str
) -> None:
    """Record an action that keeps the order's status (escalation, reminder, ...)."""
    transition(session, order, action, order.status, now=now, actor=actor, note=note)
