"""Who disposes and under whose eye (standard 6.2.1.2, 6.2.3.2, 6.2.4): escalation to
level 2, hand-over, reinforcement, supervision with joint disposal, reminders, and the
sweep that finds overdue orders. Each function works on a locked order in the caller's
transaction and records one history row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from dispatch import lifecycle, teams
from dispatch.audit import SUPERVISOR_ACTOR, record
from dispatch.config import DispatchConfig
from dispatch.errors import Conflict, InvalidInput
from dispatch.intake import units_label
from dispatch.models import Assignment, Order
from dispatch.routing import centre_for, deadline_for
from dispatch.schemas import ActionCreate, ReinforceCreate, UnitsChange
from dispatch.types import Action, MemberRole, OrderStatus

# Orders waiting on someone's action within a time limit: the supervisor watches these.
WATCHED = (OrderStatus.DISPATCHED, OrderStatus.REDO, OrderStatus.FOLLOW_UP)


def escalate(
    session: Session,
    config: DispatchConfig,
    order: Order,
    *,
    actor: str,
    note: str,
    now: datetime,
    restart_deadline: bool = True,
) -> None:
    """Level 1 → level 2: the county centre coordinates (6.2.1.2.1, 6.2.1.2.3 a)."""
    if order.level == 2:
        raise Conflict(f"order {order.id} is already at level 2 ({order.centre})")
    order.level = 2
    order.centre = centre_for(config, township=order.township, level=2)
    order.escalated_at = now
    if restart_deadline:
        order.deadline = deadline_for(config, kind=order.kind, level=2, start=now)
    why = f"{note}; level 2, {order.centre}; deadline {order.deadline.isoformat()}"
    record(session, order, Action.ESCALATE, now=now, actor=actor, note=why)


def escalate_request(
    session: Session, config: DispatchConfig, order: Order, data: ActionCreate, now: datetime
) -> None:
    """Level 1 reports it cannot handle the order (6.2.1.2.3 a)."""
    lifecycle.check_side_action(order.status, Action.ESCALATE, order_id=order.id)
    escalate(session, config, order, actor=data.actor, note=data.note, now=now)


def hand_over(
    session: Session, config: DispatchConfig, order: Order, data: UnitsChange, now: datetime
) -> None:
    """To departments (a patrol member cannot dispose of it, 6.2.1.2.2 b) or other units.

    No units given: the kind's route. The time limit restarts; members go back on duty.
    """
    lifecycle.check_side_action(order.status, Action.HANDOVER, order_id=order.id)
    route = config.route_for(order.kind)
    units = _known(config, data.units) if data.units else list(route.units)
    lead = data.lead_unit or (route.lead_unit if not data.units else units[0])
    _check_lead(lead, units)
    released = teams.release(session, order, now)
    order.assignments = [Assignment(unit=u, position=i) for i, u in enumerate(units)]
    order.lead_unit = lead
    order.deadline = deadline_for(config, kind=order.kind, level=order.level, start=now)
    why = f"{data.note}; to {units_label(config, units, lead)}"
    if released:
        why += "; released " + ", ".join(teams.label(m) for m in released)
    why += f"; deadline {order.deadline.isoformat()}"
    record(session, order, Action.HANDOVER, now=now, actor=data.actor, note=why)


def reinforce(
    session: Session, config: DispatchConfig, order: Order, data: ReinforceCreate, now: datetime
) -> None:
    """Support on request (6.2.3.2): units join, patrol members come from next grids."""
    lifecycle.check_side_action(order.status, Action.REINFORCE, order_id=order.id)
    added = [u for u in _known(config, data.units) if u not in order.units]
    wanted = data.members if data.members is not None else (
        0 if data.units else config.patrol.reinforcement_members
    )
    members = teams.reinforcements(session, config, order, wanted) if wanted else []
    if not added and not members:
        where = f"grid {order.grid}" if order.grid else "the order's place"
        raise Conflict(
            f"no reinforcement for order {order.id}: no on-duty patrol member in the grids "
            f"next to {where} of {order.township}, and no new unit named"
        )
    _add_units(order, added)
    for member in members:
        teams.assign(order, member, MemberRole.REINFORCEMENT, now)
    parts = [data.note]
    if added:
        parts.append("units joined: " + units_label(config, added, None))
    if members:
        parts.append("patrol members sent: " + ", ".join(teams.label(m) for m in members))
    if wanted > len(members):
        parts.append(f"{wanted} members asked, {len(members)} on duty nearby")
    record(session, order, Action.REINFORCE, now=now, actor=data.actor, note="; ".join(parts))


def supervise(
    session: Session, config: DispatchConfig, order: Order, data: UnitsChange, now: datetime
) -> None:
    """督办 (6.2.4): instruct the units; may order joint disposal with a designated lead."""
    lifecycle.check_side_action(order.status, Action.SUPERVISE, order_id=order.id)
    added = [u for u in _known(config, data.units) if u not in order.units]
    if data.lead_unit is not None:
        _check_lead(data.lead_unit, order.units + added)
    _add_units(order, added)
    if data.lead_unit is not None:
        order.lead_unit = data.lead_unit
    order.supervised = True
    why = data.note
    if added or data.lead_unit:
        why += f"; joint disposal: {units_label(config, order.units, order.lead_unit)}"
    record(session, order, Action.SUPERVISE, now=now, actor=data.actor, note=why)


def remind(session: Session, order: Order, *, actor: str, note: str, now: datetime) -> None:
    """催办: a reminder to the units, recorded and counted."""
    lifecycle.check_side_action(order.status, Action.REMIND, order_id=order.id)
    order.reminder_count += 1
    order.last_reminded_at = now
    record(session, order, Action.REMIND, now=now, actor=actor, note=note)


def sweep_overdue(session: Session, config: DispatchConfig, now: datetime) -> list[int]:
    """Flag orders newly past their time limit and remind those still overdue.

    A newly overdue order is flagged and put under supervision; at level 1 it also goes
    to level 2 (``supervision.escalate_overdue``), keeping its deadline, so it stays
    overdue for the county centre to see. Answers the ids of the orders changed.
    """
    every = timedelta(minutes=config.supervision.reminder_minutes)
    due = or_(
        Order.overdue_at.is_(None),
        func.coalesce(Order.last_reminded_at, Order.overdue_at) <= now - every,
    )
    orders = session.scalars(
        select(Order)
        .where(Order.status.in_(WATCHED), Order.deadline < now, due)
        .order_by(Order.id)
        .with_for_update()
    ).all()
    changed = []
    for order in orders:
        if order.overdue_at is None:
            late = now - order.deadline
            order.overdue_at = now
            order.supervised = True
            record(session, order, Action.OVERDUE, now=now, actor=SUPERVISOR_ACTOR,
                   note=f"time limit {order.deadline.isoformat()} passed {_minutes(late)} ago; "
                   f"under supervision")
            escalates = (
                config.supervision.escalate_overdue
                and order.level == 1
                and order.status != OrderStatus.FOLLOW_UP
            )
            if escalates:
                escalate(session, config, order, actor=SUPERVISOR_ACTOR, now=now,
                         note="overdue at level 1", restart_deadline=False)
        else:
            remind(session, order, actor=SUPERVISOR_ACTOR, now=now,
                   note=f"still overdue since {order.deadline.isoformat()}")
        changed.append(order.id)
    return changed


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"


def _known(config: DispatchConfig, units: list[str]) -> list[str]:
    unknown = [u for u in units if u not in config.units]
    if unknown:
        raise InvalidInput(f"unknown units {unknown}; units: {sorted(config.units)}")
    return list(dict.fromkeys(units))


def _check_lead(lead: str, units: list[str]) -> None:
    if lead not in units:
        raise InvalidInput(f"lead_unit {lead!r} is not one of the order's units {units}")


def _add_units(order: Order, units: list[str]) -> None:
    start = len(order.assignments)
    order.assignments.extend(
        Assignment(unit=u, position=start + i) for i, u in enumerate(units)
    )

