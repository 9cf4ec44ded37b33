"""Table models of the dispatch core (SQLAlchemy 2 typed declarative).

The schema is created and changed only by the migrations in ``dispatch/migrations``;
``tests/dispatch`` checks that they match these models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from dispatch.types import (
    DutyStatus,
    EvidenceKind,
    EvidencePhase,
    MemberRole,
    OrderStatus,
    Scope,
    Source,
)

# Named constraints, so migrations can drop them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give a timezone (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _str_enum(enum: type[StrEnum]) -> Enum:
    """A VARCHAR holding the enum's values (no native type, no CHECK: adding a value is free)."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        OrderStatus: _str_enum(OrderStatus),
        Source: _str_enum(Source),
        EvidenceKind: _str_enum(EvidenceKind),
        EvidencePhase: _str_enum(EvidencePhase),
        Scope: _str_enum(Scope),
        DutyStatus: _str_enum(DutyStatus),
        MemberRole: _str_enum(MemberRole),
    }


class Order(Base):
    """A work order (工单)."""

    __tablename__ = "dispatch_orders"
    __table_args__ = (
        CheckConstraint("level IN (1, 2)", name="level"),
        CheckConstraint("redo_count >= 0", name="redo_count"),
        Index("ix_dispatch_orders_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    source: Mapped[Source]
    description: Mapped[str] = mapped_column(Text)
    township: Mapped[str] = mapped_column(String(64), index=True)
    grid: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    camera_id: Mapped[str | None] = mapped_column(String(128), index=True)
    zone_id: Mapped[str | None] = mapped_column(String(128))
    event_id: Mapped[str | None] = mapped_column(String(128))
    severity: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[int]
    centre: Mapped[str] = mapped_column(String(128))
    lead_unit: Mapped[str | None] = mapped_column(String(64))  # None: no unit (copied)
    deadline: Mapped[datetime] = mapped_column(index=True)  # the supervisor's sweep
    status: Mapped[OrderStatus]
    redo_count: Mapped[int] = mapped_column(default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    # Added in 0002: acceptance, level rules, supervision.
    count: Mapped[int | None]  # e.g. people in a crowd; drives level-2 rules
    cross_area: Mapped[bool] = mapped_column(default=False, server_default=false())
    campaign: Mapped[str | None] = mapped_column(String(16))  # township / county, or None
    scope: Mapped[Scope] = mapped_column(default=Scope.IN_SCOPE, server_default="in_scope")
    competent_department: Mapped[str | None] = mapped_column(String(128))
    urgent: Mapped[bool] = mapped_column(default=False, server_default=false())
    supervised: Mapped[bool] = mapped_column(default=False, server_default=false())
    overdue_at: Mapped[datetime | None]  # when the supervisor first found it overdue
    escalated_at: Mapped[datetime | None]
    reminder_count: Mapped[int] = mapped_column(default=0, server_default="0")
    last_reminded_at: Mapped[datetime | None]

    assignments: Mapped[list[Assignment]] = relationship(
        order_by="Assignment.position", cascade="all, delete-orphan", lazy="selectin"
    )
    history: Mapped[list[HistoryEntry]] = relationship(
        order_by="HistoryEntry.id", cascade="all, delete-orphan"
    )
    evidence: Mapped[list[Evidence]] = relationship(
        order_by="Evidence.id", cascade="all, delete-orphan"
    )
    feedback: Mapped[list[Feedback]] = relationship(
        order_by="Feedback.id", cascade="all, delete-orphan"
    )

    patrol: Mapped[list[OrderMember]] = relationship(
        order_by="OrderMember.at", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def units(self) -> list[str]:
        return [a.unit for a in self.assignments]


class Assignment(Base):
    """One unit an order was dispatched to; ``position`` keeps the routing order."""

    __tablename__ = "dispatch_order_units"

    order_id: Mapped[int] = mapped_column(
        ForeignKey("dispatch_orders.id", ondelete="CASCADE"), primary_key=True
    )
    unit: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    position: Mapped[int]


class HistoryEntry(Base):
    """One applied action. ``request_key`` is the client's Idempotency-Key, once per order."""

    __tablename__ = "dispatch_order_history"
    __table_args__ = (UniqueConstraint("order_id", "request_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("dispatch_orders.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[OrderStatus | None]
    to_status: Mapped[OrderStatus]
    note: Mapped[str] = mapped_column(Text, default="")
    request_key: Mapped[str | None] = mapped_column(String(200))


class Feedback(Base):
    """A unit's disposal report (6.2.3.1); its photos are evidence rows of phase feedback."""

    __tablename__ = "dispatch_order_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("dispatch_orders.id", ondelete="CASCADE"), index=True
    )
    unit: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]

    photos: Mapped[list[Evidence]] = relationship(order_by="Evidence.id")


class Evidence(Base):
    """A snapshot, clip or photo attached to an order."""

    __tablename__ = "dispatch_order_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("dispatch_orders.id", ondelete="CASCADE"), index=True
    )
    feedback_id: Mapped[int | None] = mapped_column(
        ForeignKey("dispatch_order_feedback.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    kind: Mapped[EvidenceKind]
    phase: Mapped[EvidencePhase]
    at: Mapped[datetime]


class PatrolTeam(Base):
    """A joint-enforcement patrol team (联勤队伍, standard 4.4) covering a township's grid."""

    __tablename__ = "dispatch_patrol_teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    township: Mapped[str] = mapped_column(String(64))
    grid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]

    members: Mapped[list[PatrolMember]] = relationship(
        order_by="PatrolMember.id", back_populates="team", cascade="all, delete-orphan"
    )


class PatrolMember(Base):
    """A patrol member (联勤队员) with duty status and last known position (7.1.1.4)."""

    __tablename__ = "dispatch_patrol_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(
        ForeignKey("dispatch_patrol_teams.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    grid: Mapped[str | None] = mapped_column(String(64), index=True)
    duty_status: Mapped[DutyStatus]
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    position_at: Mapped[datetime | None]
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("dispatch_orders.id", ondelete="SET NULL")
    )  # the order the member is busy with
    updated_at: Mapped[datetime]

    team: Mapped[PatrolTeam] = relationship(
        back_populates="members", lazy="joined", innerjoin=True
    )


class OrderMember(Base):
    """A patrol member working an order: first responder or reinforcement."""

    __tablename__ = "dispatch_order_members"

    order_id: Mapped[int] = mapped_column(
        ForeignKey("dispatch_orders.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("dispatch_patrol_members.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[MemberRole]
    at: Mapped[datetime]

    member: Mapped[PatrolMember] = relationship(lazy="joined", innerjoin=True)
