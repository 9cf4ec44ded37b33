"""Tables of the event store (SQLAlchemy 2). Changes go through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    zone_id: Mapped[str] = mapped_column(String(64))
    # The PTZ preset the camera was at (patrol tours); verification returns there first.
    preset: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    label: Mapped[str | None] = mapped_column(String(16), default=None)  # operator relabel
    state: Mapped[str] = mapped_column(String(16), index=True)  # active | ended
    # auto (raised an order at once) | pending | confirmed | rejected | attached
    review: Mapped[str] = mapped_column(String(16), index=True)
    review_note: Mapped[str | None] = mapped_column(Text, default=None)
    confidence: Mapped[float] = mapped_column(Float)
    count: Mapped[int | None] = mapped_column(Integer, default=None)
    severity: Mapped[str] = mapped_column(String(16))
    boxes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    start_ts: Mapped[float] = mapped_column(Float)
    end_ts: Mapped[float | None] = mapped_column(Float, default=None)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    snapshot: Mapped[str | None] = mapped_column(String(512), default=None)
    clip: Mapped[str | None] = mapped_column(String(512), default=None)
    clip_state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|ready|failed|none
    # An event on the same camera, zone and kind while an order is open joins that order.
    parent_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    order_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    order_status: Mapped[str | None] = mapped_column(String(32), default=None)
    truth: Mapped[bool | None] = mapped_column(Boolean, default=None)  # synthetic ground truth
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class OutboxRow(Base):
    """A message to deliver to the dispatch side, written in the transaction that decided it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "delivered_at", "dead", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)  # idempotency key
    topic: Mapped[str] = mapped_column(String(32))  # order.create | order.verdict
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    dead: Mapped[bool] = mapped_column(Boolean, default=False)  # permanent failure: dead letter
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class VerificationRow(Base):
    """One footage check of a disposed order (standard 6.3)."""

    __tablename__ = "verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)  # order id + attempt
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    attempt: Mapped[int] = mapped_column(Integer)  # 0 first disposal, 1 after a redo
    event_id: Mapped[str | None] = mapped_column(String(32), default=None)
    camera_id: Mapped[str] = mapped_column(String(64))
    zone_id: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # running | done | failed
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    present: Mapped[bool | None] = mapped_column(Boolean, default=None)
    snapshot: Mapped[str | None] = mapped_column(String(512), default=None)
    clip: Mapped[str | None] = mapped_column(String(512), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
