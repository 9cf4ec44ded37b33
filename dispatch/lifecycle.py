"""The standard's work-order state machine, as pure functions (no I/O).

Example:
    >>> next_status(OrderStatus.DISPATCHED, Action.FEEDBACK)
    <OrderStatus.FEEDBACK_RECEIVED: 'feedback_received'>
    >>> judge(effective=False, redo_count=0), judge(effective=False, redo_count=1)
    (<OrderStatus.REDO: 'redo'>, <OrderStatus.NOT_DISPOSED: 'not_disposed'>)
    >>> allowed_actions(OrderStatus.CLOSED)
    ()
    >>> allowed_actions(OrderStatus.REDO)
    (<Action.FEEDBACK: 'feedback'>, <Action.ESCALATE: 'escalate'>, <Action.HANDOVER: 'handover'>, <Action.REINFORCE: 'reinforce'>, <Action.SUPERVISE: 'supervise'>, <Action.REMIND: 'remind'>)
"""

from __future__ import annotations

from dispatch.errors import InvalidTransition
from dispatch.types import Action, OrderStatus

_JUDGEMENTS = (Action.VERIFICATION, Action.VERDICT, Action.REVIEW)

# Workflow actions (those that change the status) each status accepts. Verification while
# verifying is allowed and changes nothing.
ALLOWED: dict[OrderStatus, tuple[Action, ...]] = {
    OrderStatus.FOLLOW_UP: (Action.COMPLETE, Action.COPY),
    OrderStatus.ACCEPTED: (Action.DISPATCH,),
    OrderStatus.DISPATCHED: (Action.FEEDBACK,),
    OrderStatus.REDO: (Action.FEEDBACK,),
    OrderStatus.FEEDBACK_RECEIVED: _JUDGEMENTS,
    OrderStatus.VERIFYING: _JUDGEMENTS,
    OrderStatus.CLOSED: (),
    OrderStatus.NOT_DISPOSED: (),
    OrderStatus.COPIED: (),
}

# Actions that keep the status: who disposes, at which level, supervision (6.2.1.2, 6.2.4).
# Escalation, hand-over and reinforcement concern an order the units are disposing of;
# supervision and reminders any order still open.
_DISPOSING = (Action.ESCALATE, Action.HANDOVER, Action.REINFORCE)
_OPEN = (Action.SUPERVISE, Action.REMIND)
SIDE_ACTIONS: dict[OrderStatus, tuple[Action, ...]] = {
    OrderStatus.FOLLOW_UP: _OPEN,
    OrderStatus.ACCEPTED: (),
    OrderStatus.DISPATCHED: _DISPOSING + _OPEN,
    OrderStatus.REDO: _DISPOSING + _OPEN,
    OrderStatus.FEEDBACK_RECEIVED: _OPEN,
    OrderStatus.VERIFYING: _OPEN,
    OrderStatus.CLOSED: (),
    OrderStatus.NOT_DISPOSED: (),
    OrderStatus.COPIED: (),
}

# Redos allowed before a not-effective judgement makes the order not disposed (6.3 b).
MAX_REDOS = 1


def allowed_actions(status: OrderStatus) -> tuple[Action, ...]:
    """Every action ``status`` accepts: workflow actions first, then the others."""
    return ALLOWED[status] + SIDE_ACTIONS[status]


def check_side_action(status: OrderStatus, action: Action, *, order_id: int | None = None) -> None:
    """Raise :class:`InvalidTransition` unless ``status`` accepts the status-keeping ``action``."""
    if action not in SIDE_ACTIONS[status]:
        raise InvalidTransition(
            order_id=order_id, status=status, action=action, allowed=allowed_actions(status)
        )


def judge(*, effective: bool, redo_count: int) -> OrderStatus:
    """Standard 6.3: effective closes; not effective redoes once, then is not disposed."""
    if effective:
        return OrderStatus.CLOSED
    return OrderStatus.REDO if redo_count < MAX_REDOS else OrderStatus.NOT_DISPOSED


def next_status(
    status: OrderStatus,
    action: Action,
    *,
    effective: bool | None = None,
    redo_count: int = 0,
    order_id: int | None = None,
) -> OrderStatus:
    """The status after ``action``; raises :class:`InvalidTransition` if not allowed.

    ``effective`` is required for verdicts and reviews.
    """
    if action not in ALLOWED[status]:
        raise InvalidTransition(
            order_id=order_id, status=status, action=action, allowed=ALLOWED[status]
        )
    if action in (Action.VERDICT, Action.REVIEW):
        if effective is None:
            raise ValueError(f"{action} needs effective=True or False")
        return judge(effective=effective, redo_count=redo_count)
    return {
        Action.DISPATCH: OrderStatus.DISPATCHED,
        Action.FEEDBACK: OrderStatus.FEEDBACK_RECEIVED,
        Action.VERIFICATION: OrderStatus.VERIFYING,
        Action.COMPLETE: OrderStatus.ACCEPTED,
        Action.COPY: OrderStatus.COPIED,
    }[action]
