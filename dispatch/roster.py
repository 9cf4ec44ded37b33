"""Patrol teams and members as the service offers them (standard 4.4, 7.1.1.4): a mixin
of :class:`dispatch.service.DispatchService`, sharing its sessions and clock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dispatch import teams
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.models import PatrolMember, PatrolTeam
from dispatch.schemas import (
    Location,
    MemberCreate,
    MemberList,
    MemberPublic,
    MemberQuery,
    MemberUpdate,
    TeamCreate,
    TeamList,
    TeamPublic,
)
from dispatch.types import DutyStatus


class Roster:
    """Teams, members, duty status and last known position."""

    _read: sessionmaker[Session]
    _write: sessionmaker[Session]

    def _now(self) -> datetime:  # provided by the service
        raise NotImplementedError

    def create_team(self, *, data: TeamCreate) -> TeamPublic:
        now = self._now()
        try:
            with self._write.begin() as session:
                team = PatrolTeam(
                    name=data.name,
                    township=data.township,
                    grid=data.grid,
                    created_at=now,
                    members=[],
                )
                session.add(team)
                session.flush()
                return teams.team_public(team)
        except IntegrityError as error:
            raise Conflict(f"a patrol team named {data.name!r} exists") from error

    def list_teams(self) -> TeamList:
        with self._read.begin() as session:
            rows = session.scalars(
                select(PatrolTeam)
                .options(selectinload(PatrolTeam.members))
                .order_by(PatrolTeam.id)
            ).all()
            return TeamList(data=[teams.team_public(t) for t in rows], count=len(rows))

    def add_member(self, *, team_id: int, data: MemberCreate) -> MemberPublic:
        if data.duty_status == DutyStatus.BUSY:
            raise InvalidInput(_BUSY)
        now = self._now()
        with self._write.begin() as session:
            team = session.get(PatrolTeam, team_id)
            if team is None:
                raise NotFound(f"patrol team {team_id} does not exist")
            member = PatrolMember(
                team=team,
                name=data.name,
                grid=data.grid or team.grid,
                duty_status=data.duty_status,
                updated_at=now,
            )
            _place(member, data.location, now)
            session.add(member)
            session.flush()
            return teams.member_public(member)

    def update_member(self, *, member_id: int, data: MemberUpdate) -> MemberPublic:
        """Duty status, grid and last known position, as the member's phone reports them.

        ``busy`` is the dispatch core's to set; a member going off duty while busy stays
        on the order's record until it is handed over or final.
        """
        if data.duty_status == DutyStatus.BUSY:
            raise InvalidInput(_BUSY)
        now = self._now()
        with self._write.begin() as session:
            member = _member(session, member_id, lock=True)
            if data.duty_status is not None:
                member.duty_status = data.duty_status
            if data.grid is not None:
                member.grid = data.grid
            _place(member, data.location, now)
            member.updated_at = now
            return teams.member_public(member)

    def get_member(self, *, member_id: int) -> MemberPublic:
        with self._read.begin() as session:
            return teams.member_public(_member(session, member_id))

    def list_members(self, *, query: MemberQuery) -> MemberList:
        statement = select(PatrolMember).join(PatrolMember.team).order_by(PatrolMember.id)
        if query.township is not None:
            statement = statement.where(PatrolTeam.township == query.township)
        if query.grid is not None:
            statement = statement.where(PatrolMember.grid == query.grid)
        if query.duty_status is not None:
            statement = statement.where(PatrolMember.duty_status == query.duty_status)
        if query.team_id is not None:
            statement = statement.where(PatrolMember.team_id == query.team_id)
        with self._read.begin() as session:
            rows = session.scalars(statement).unique().all()
            return MemberList(data=[teams.member_public(m) for m in rows], count=len(rows))


_BUSY = "duty_status busy is set by the dispatch core when the member takes an order"


def _member(session: Session, member_id: int, *, lock: bool = False) -> PatrolMember:
    statement = select(PatrolMember).where(PatrolMember.id == member_id)
    member = session.scalar(statement.with_for_update() if lock else statement)
    if member is None:
        raise NotFound(f"patrol member {member_id} does not exist")
    return member


def _place(member: PatrolMember, location: Location | None, now: datetime) -> None:
    if location is not None:
        member.lat, member.lon = location.lat, location.lon
        member.position_at = now
