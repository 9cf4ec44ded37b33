"""The state machine of standard 6.2–6.3, every status against every action."""

from __future__ import annotations

import pytest

from dispatch.errors import InvalidTransition
from dispatch.lifecycle import ALLOWED, SIDE_ACTIONS, check_side_action, judge, next_status
from dispatch.types import Action, OrderStatus

S, A = OrderStatus, Action

# (status, action, effective, redo_count, expected next status or None for 409)
TRANSITIONS = [
    (S.ACCEPTED, A.DISPATCH, None, 0, S.DISPATCHED),
    (S.DISPATCHED, A.FEEDBACK, None, 0, S.FEEDBACK_RECEIVED),
    (S.REDO, A.FEEDBACK, None, 1, S.FEEDBACK_RECEIVED),
    (S.FEEDBACK_RECEIVED, A.VERIFICATION, None, 0, S.VERIFYING),
    (S.VERIFYING, A.VERIFICATION, None, 0, S.VERIFYING),
    (S.VERIFYING, A.VERDICT, True, 0, S.CLOSED),
    (S.VERIFYING, A.VERDICT, False, 0, S.REDO),
    (S.VERIFYING, A.VERDICT, False, 1, S.NOT_DISPOSED),
    (S.VERIFYING, A.VERDICT, True, 1, S.CLOSED),
    (S.FEEDBACK_RECEIVED, A.VERDICT, True, 0, S.CLOSED),
    (S.FEEDBACK_RECEIVED, A.REVIEW, False, 0, S.REDO),
    (S.FEEDBACK_RECEIVED, A.REVIEW, False, 1, S.NOT_DISPOSED),
    (S.DISPATCHED, A.VERDICT, True, 0, None),
    (S.DISPATCHED, A.VERIFICATION, None, 0, None),
    (S.REDO, A.VERDICT, True, 1, None),
    (S.FEEDBACK_RECEIVED, A.FEEDBACK, None, 0, None),
    (S.VERIFYING, A.FEEDBACK, None, 0, None),
    (S.CLOSED, A.FEEDBACK, None, 0, None),
    (S.CLOSED, A.VERDICT, True, 0, None),
    (S.NOT_DISPOSED, A.REVIEW, True, 1, None),
    (S.NOT_DISPOSED, A.FEEDBACK, None, 1, None),
    (S.FOLLOW_UP, A.COMPLETE, None, 0, S.ACCEPTED),
    (S.FOLLOW_UP, A.COPY, None, 0, S.COPIED),
    (S.FOLLOW_UP, A.FEEDBACK, None, 0, None),
    (S.FOLLOW_UP, A.DISPATCH, None, 0, None),
    (S.DISPATCHED, A.COMPLETE, None, 0, None),
    (S.COPIED, A.FEEDBACK, None, 0, None),
    (S.COPIED, A.COMPLETE, None, 0, None),
]


@pytest.mark.parametrize(("status", "action", "effective", "redo_count", "expected"), TRANSITIONS)
def test_next_status(status, action, effective, redo_count, expected) -> None:
    if expected is None:
        with pytest.raises(InvalidTransition) as caught:
            next_status(status, action, effective=effective, redo_count=redo_count, order_id=7)
        message = str(caught.value)
        assert f"order 7: it is {status}" in message
        assert caught.value.status_code == 409
        for allowed in ALLOWED[status]:
            assert allowed in message
    else:
        assert next_status(status, action, effective=effective, redo_count=redo_count) == expected


def test_every_status_has_an_entry_and_only_final_ones_are_dead_ends() -> None:
    assert set(ALLOWED) == set(OrderStatus)
    assert {s for s, actions in ALLOWED.items() if not actions} == {
        S.CLOSED,
        S.NOT_DISPOSED,
        S.COPIED,
    }
    assert all(s.is_final == (not ALLOWED[s]) for s in OrderStatus)


def test_final_status_message_says_so() -> None:
    with pytest.raises(InvalidTransition, match="allowed actions: none, the order is final"):
        next_status(S.CLOSED, A.FEEDBACK)


@pytest.mark.parametrize(
    ("effective", "redo_count", "expected"),
    [(True, 0, S.CLOSED), (True, 1, S.CLOSED), (False, 0, S.REDO), (False, 1, S.NOT_DISPOSED)],
)
def test_judge_follows_standard_6_3(effective, redo_count, expected) -> None:
    assert judge(effective=effective, redo_count=redo_count) == expected


def test_judgement_needs_effective() -> None:
    with pytest.raises(ValueError, match="effective"):
        next_status(S.VERIFYING, A.VERDICT)


# (status, status-keeping action, allowed?)
SIDES = [
    (S.DISPATCHED, A.ESCALATE, True),
    (S.REDO, A.REINFORCE, True),
    (S.REDO, A.HANDOVER, True),
    (S.FEEDBACK_RECEIVED, A.ESCALATE, False),
    (S.FEEDBACK_RECEIVED, A.SUPERVISE, True),
    (S.VERIFYING, A.REMIND, True),
    (S.FOLLOW_UP, A.REMIND, True),
    (S.FOLLOW_UP, A.REINFORCE, False),
    (S.CLOSED, A.REMIND, False),
    (S.NOT_DISPOSED, A.SUPERVISE, False),
    (S.COPIED, A.ESCALATE, False),
]


@pytest.mark.parametrize(("status", "action", "allowed"), SIDES)
def test_status_keeping_actions(status, action, allowed) -> None:
    if allowed:
        check_side_action(status, action, order_id=3)
        return
    with pytest.raises(InvalidTransition, match=f"cannot {action} order 3: it is {status}"):
        check_side_action(status, action, order_id=3)


def test_final_orders_accept_no_status_keeping_action_either() -> None:
    assert set(SIDE_ACTIONS) == set(OrderStatus)
    assert all(not SIDE_ACTIONS[s] for s in OrderStatus if s.is_final)
