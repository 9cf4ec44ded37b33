"""Patrol teams and members (standard 4.4, 7.1.1.4): who takes an order first, who
reinforces, and their duty status.

A level-1 order with a grid goes first to the on-duty member of that grid nearest to it
(6.2.1.2.2 a); a reinforcement request sends on-duty members of the neighbouring grids,
nearest first (6.2.3.2). A member working an order is ``busy`` and back ``on_duty`` when
the order is handed over to departments or is final.

Example:
    >>> distance_m(31.95, 120.29, 31.96, 120.29) // 1
    1111.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.config import DispatchConfig
from dispatch.models import Order, OrderMember, PatrolMember, PatrolTeam
from dispatch.schemas import Location, MemberPublic, OrderMemberPublic, TeamPublic
from dispatch.types import DutyStatus, MemberRole

EARTH_RADIUS_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def _nearest_first(members: Sequence[PatrolMember], order: Order) -> list[PatrolMember]:
    def key(member: PatrolMember) -> tuple[float, int]:
        known = None not in (member.lat, member.lon, order.lat, order.lon)
        far = distance_m(order.lat, order.lon, member.lat, member.lon) if known else math.inf  # type: ignore[arg-type]
        return far, member.id

    return sorted(members, key=key)


def _on_duty(session: Session, township: str) -> list[PatrolMember]:
    return list(
        session.scalars(
            select(PatrolMember)
            .join(PatrolMember.team)
            .where(PatrolMember.duty_status == DutyStatus.ON_DUTY, PatrolTeam.township == township)
            .with_for_update(of=PatrolMember)
        )
    )


def first_responder(session: Session, config: DispatchConfig, order: Order) -> PatrolMember | None:
    """The on-duty member of the order's grid nearest to it, if patrol-first applies."""
    patrol = config.patrol
    if not patrol.first_responder or order.level != 1 or order.grid is None:
        return None
    if patrol.first_responder_kinds is not None and order.kind not in patrol.first_responder_kinds:
        return None
    in_grid = [m for m in _on_duty(session, order.township) if m.grid == order.grid]
    return next(iter(_nearest_first(in_grid, order)), None)


def reinforcements(
    session: Session, config: DispatchConfig, order: Order, wanted: int
) -> list[PatrolMember]:
    """Up to ``wanted`` on-duty members of the grids next to the order's, nearest first.

    Neighbours come from ``patrol.neighbours``; a grid not listed there (or an order
    without a grid) takes members of the township's other grids.
    """
    taken = {m.member_id for m in order.patrol}
    candidates = [m for m in _on_duty(session, order.township) if m.id not in taken]
    neighbours = config.patrol.neighbours.get(order.grid or "")
    if neighbours is not None:
        candidates = [m for m in candidates if m.grid in neighbours]
    else:
        candidates = [m for m in candidates if m.grid != order.grid or order.grid is None]
    return _nearest_first(candidates, order)[:wanted]


def assign(order: Order, member: PatrolMember, role: MemberRole, now: datetime) -> None:
    order.patrol.append(OrderMember(member_id=member.id, member=member, role=role, at=now))
    member.duty_status = DutyStatus.BUSY
    member.order_id = order.id
    member.updated_at = now


def release(session: Session, order: Order, now: datetime) -> list[PatrolMember]:
    """Members busy with ``order`` go back on duty; answers them."""
    busy = list(
        session.scalars(
            select(PatrolMember).where(PatrolMember.order_id == order.id).with_for_update()
        )
    )
    for member in busy:
        member.order_id = None
        if member.duty_status == DutyStatus.BUSY:
            member.duty_status = DutyStatus.ON_DUTY
        member.updated_at = now
    return busy


def label(member: PatrolMember) -> str:
    return f"{member.name} (member {member.id}, {member.team.name}, grid {member.grid or '-'})"


def member_public(member: PatrolMember) -> MemberPublic:
    location = None
    if member.lat is not None and member.lon is not None:
        location = Location(lat=member.lat, lon=member.lon)
    return MemberPublic(
        id=member.id,
        team_id=member.team_id,
        team=member.team.name,
        township=member.team.township,
        name=member.name,
        grid=member.grid,
        duty_status=member.duty_status,
        location=location,
        position_at=member.position_at,
        order_id=member.order_id,
        updated_at=member.updated_at,
    )


def team_public(team: PatrolTeam) -> TeamPublic:
    return TeamPublic(
        id=team.id,
        name=team.name,
        township=team.township,
        grid=team.grid,
        created_at=team.created_at,
        members=[member_public(m) for m in team.members],
    )


def order_member_public(link: OrderMember) -> OrderMemberPublic:
    return OrderMemberPublic(
        id=link.member.id,
        name=link.member.name,
        team=link.member.team.name,
        grid=link.member.grid,
        role=link.role,
        at=link.at,
    )
