"""The standard's work-order state machine, as pure functions (no I/O).

Example:
    >>> next_status(OrderStatus.DISPATCHED, Action.FEEDBACK)
    <OrderStatus.FEEDBACK_RECEIVED: 'feedback_received'>
    >>> judge(effective=False, redo_count=0), judge(effective=False, redo_count=1)
    (<OrderStatus.REDO: 'redo'>, <OrderStatus.NOT_DISPOSED: 'not_disposed'>)
    >>> allowed_actions(OrderStatus.CLOSED)
    ()
"""

from __future__ import annotations

from dispatch.errors import InvalidTransition
from dispatch.types import Action, OrderStatus

_JUDGEMENTS = (Action.VERIFICATION, Action.VERDICT, Action.REVIEW)

# Actions each status accepts. Verification while verifying is allowed and changes nothing.
ALLOWED: dict[OrderStatus, tuple[Action, ...]] = {
    OrderStatus.ACCEPTED: (Action.DISPATCH,),
    OrderStatus.DISPATCHED: (Action.FEEDBACK,),
    OrderStatus.REDO: (Action.FEEDBACK,),
    OrderStatus.FEEDBACK_RECEIVED: _JUDGEMENTS,
    OrderStatus.VERIFYING: _JUDGEMENTS,
    OrderStatus.CLOSED: (),
    OrderStatus.NOT_DISPOSED: (),
}

# Redos allowed before a not-effective judgement makes the order not disposed (6.3 b).
MAX_REDOS = 1


def allowed_actions(status: OrderStatus) -> tuple[Action, ...]:
    return ALLOWED[status]


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
    }[action]
