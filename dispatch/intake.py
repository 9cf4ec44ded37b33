"""Intake and acceptance (standard 6.1, 6.2.1, 6.2.2): a new order is followed up, copied
to its department, or accepted and dispatched at its response level.

- in scope: accepted, then dispatched to the kind's units (or first to an on-duty patrol
  member of the order's grid, 6.2.1.2.2 a);
- unclear: ``follow_up`` until the centre completes it (``complete_follow_up``);
- out of scope: ``copied`` to the competent department (final), or, when urgent, accepted
  and dispatched to the first-response units with that department instructed to come.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dispatch import teams
from dispatch.audit import SYSTEM_ACTOR
from dispatch.config import DispatchConfig
from dispatch.errors import InvalidInput
from dispatch.models import Assignment, Evidence, HistoryEntry, Order, PatrolMember
from dispatch.routing import Route, centre_for, plan_route
from dispatch.schemas import EvidenceIn, FollowUpComplete, OrderCreate
from dispatch.types import Action, OrderStatus, Scope


def unit_label(config: DispatchConfig, unit_id: str, *, lead: bool = False) -> str:
    return f"{config.unit_name(unit_id)} ({unit_id}{', lead' if lead else ''})"


def units_label(config: DispatchConfig, units: list[str], lead: str | None) -> str:
    return ", ".join(unit_label(config, u, lead=u == lead) for u in units)


def evidence_row(item: EvidenceIn, at: datetime, *, order_id: int | None = None) -> Evidence:
    return Evidence(order_id=order_id, url=item.url, kind=item.kind, phase=item.phase, at=at)


def acceptance(
    config: DispatchConfig, *, kind: str, scope: Scope, department: str | None
) -> tuple[Scope, str | None]:
    """The scope and competent department (6.2.1.1); a configured out-of-scope kind wins."""
    if kind in config.out_of_scope:
        return Scope.OUT_OF_SCOPE, department or config.out_of_scope[kind]
    if scope == Scope.OUT_OF_SCOPE and department is None:
        raise InvalidInput(
            f"an out-of-scope {kind} order needs competent_department (the department it is "
            "copied to), or list the kind under the configuration's out_of_scope"
        )
    return scope, department


def new_order(
    session: Session, config: DispatchConfig, data: OrderCreate, key: str | None, now: datetime
) -> tuple[Order, PatrolMember | None]:
    """The order for ``data`` with its first history rows, and the patrol member who takes
    it first (to assign once the order has an id), if any."""
    scope, department = acceptance(
        config, kind=data.kind, scope=data.scope, department=data.competent_department
    )
    order = Order(
        kind=data.kind,
        source=data.source,
        description=data.description,
        township=data.township,
        grid=data.grid,
        lat=data.location.lat if data.location else None,
        lon=data.location.lon if data.location else None,
        camera_id=data.camera_id,
        zone_id=data.zone_id,
        event_id=data.event_id,
        severity=data.severity,
        level=config.default_level,
        centre=centre_for(config, township=data.township, level=config.default_level),
        lead_unit=None,
        deadline=now,
        status=OrderStatus.ACCEPTED,
        redo_count=0,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
        count=data.count,
        cross_area=data.cross_area,
        campaign=data.campaign,
        scope=scope,
        competent_department=department,
        urgent=data.urgent,
        reminder_count=0,
        supervised=False,
        evidence=[evidence_row(e, now) for e in data.evidence],
        assignments=[],
        history=[],
    )
    actor = data.source
    if scope == Scope.UNCLEAR:
        _route(config, order, now, level=data.level, with_units=False)
        order.deadline = now + timedelta(minutes=config.follow_up_minutes)
        _append(order, Action.FOLLOW_UP, OrderStatus.FOLLOW_UP, now, actor,
                f"kind {data.kind} from {data.source}: described unclearly, follow up first")
        return order, None
    if scope == Scope.OUT_OF_SCOPE and not data.urgent:
        _copy(config, order, now, actor, f"kind {data.kind} from {data.source}")
        return order, None
    _append(order, Action.ACCEPT, OrderStatus.ACCEPTED, now, actor,
            f"kind {data.kind} from {data.source}")
    return order, dispatch_order(session, config, order, now, level=data.level)


def complete_follow_up(
    session: Session, config: DispatchConfig, order: Order, data: FollowUpComplete, now: datetime
) -> PatrolMember | None:
    """What the follow-up found: accept and dispatch the order, or copy it elsewhere."""
    for field in ("kind", "description", "township", "grid", "count"):
        value = getattr(data, field)
        if value is not None:
            setattr(order, field, value)
    if data.location is not None:
        order.lat, order.lon = data.location.lat, data.location.lon
    scope, department = acceptance(
        config, kind=order.kind, scope=data.scope, department=data.competent_department
    )
    order.scope, order.competent_department, order.urgent = scope, department, data.urgent
    if scope == Scope.OUT_OF_SCOPE and not data.urgent:
        _copy(config, order, now, data.actor, data.note)
        return None
    _append(order, Action.COMPLETE, OrderStatus.ACCEPTED, now, data.actor, data.note)
    return dispatch_order(session, config, order, now, level=None)


def dispatch_order(
    session: Session, config: DispatchConfig, order: Order, now: datetime, *, level: int | None
) -> PatrolMember | None:
    """Route and dispatch an accepted order at ``level`` (None: by the rules); answers the
    patrol member who takes it first, if any."""
    route = _route(config, order, now, level=level, with_units=True)
    note = f"level {order.level} ({route.reason}), {order.centre}"
    member = None
    if order.scope == Scope.OUT_OF_SCOPE:  # urgent: first response here (6.2.1.1)
        _set_units(order, list(config.first_response_units), config.first_response_units[0])
        note += "; out of scope, urgent: first response"
    else:
        member = teams.first_responder(session, config, order)
        if member is not None:
            _set_units(order, [config.patrol.unit], config.patrol.unit)
            note += (
                f"; patrol member {teams.label(member)} first (6.2.1.2.2 a); departments on "
                f"hand-over: {units_label(config, list(route.units), route.lead_unit)}"
            )
    note += f"; units {units_label(config, order.units, order.lead_unit)}"
    note += f"; deadline {order.deadline.isoformat()}"
    _append(order, Action.DISPATCH, OrderStatus.DISPATCHED, now, SYSTEM_ACTOR, note)
    if order.scope == Scope.OUT_OF_SCOPE:
        _append(order, Action.INSTRUCT, OrderStatus.DISPATCHED, now, SYSTEM_ACTOR,
                f"instructed {order.competent_department} to the scene to dispose of it")
    return member


def _route(
    config: DispatchConfig, order: Order, now: datetime, *, level: int | None, with_units: bool
) -> Route:
    route = plan_route(
        config,
        kind=order.kind,
        township=order.township,
        severity=order.severity,
        level=level,
        now=now,
        count=order.count,
        cross_area=order.cross_area,
        campaign=order.campaign,
    )
    order.level, order.centre, order.deadline = route.level, route.centre, route.deadline
    if with_units:
        _set_units(order, list(route.units), route.lead_unit)
    return route


def _set_units(order: Order, units: list[str], lead: str | None) -> None:
    order.assignments = [Assignment(unit=u, position=i) for i, u in enumerate(units)]
    order.lead_unit = lead


def _copy(config: DispatchConfig, order: Order, now: datetime, actor: str, why: str) -> None:
    _set_units(order, [], None)
    order.deadline = now
    _append(order, Action.COPY, OrderStatus.COPIED, now, actor,
            f"{why}; not joint-enforcement work: copied to {order.competent_department}")
    order.finished_at = now


def _append(
    order: Order, action: Action, to: OrderStatus, now: datetime, actor: str, note: str
) -> None:
    from_status = order.status if order.history else None
    order.history.append(
        HistoryEntry(
            at=now, actor=actor, action=action, from_status=from_status, to_status=to, note=note
        )
    )
    order.status, order.updated_at = to, now
