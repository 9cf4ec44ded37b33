"""Table rows to API schemas: what a client sees of an order."""

from __future__ import annotations

from datetime import datetime, tzinfo

from dispatch.models import Order
from dispatch.schemas import (
    EvidencePublic,
    FeedbackPublic,
    HistoryPublic,
    Location,
    OrderDetail,
    OrderPublic,
)
from dispatch.teams import order_member_public


def is_overdue(order: Order, now: datetime) -> bool:
    """The deadline passed and the order is not final (closed or not disposed)."""
    return not order.status.is_final and order.deadline < now


def order_code(order: Order, local: tzinfo) -> str:
    """``WO-<local creation date>-<id>``: a reference to read out on the phone."""
    return f"WO-{order.created_at.astimezone(local):%Y%m%d}-{order.id:04d}"


def order_public(order: Order, *, now: datetime, local: tzinfo) -> OrderPublic:
    location = None
    if order.lat is not None and order.lon is not None:
        location = Location(lat=order.lat, lon=order.lon)
    return OrderPublic(
        id=order.id,
        code=order_code(order, local),
        kind=order.kind,
        source=order.source,
        description=order.description,
        township=order.township,
        grid=order.grid,
        location=location,
        camera_id=order.camera_id,
        zone_id=order.zone_id,
        event_id=order.event_id,
        severity=order.severity,
        level=order.level,
        centre=order.centre,
        units=order.units,
        lead_unit=order.lead_unit,
        deadline=order.deadline,
        overdue=is_overdue(order, now),
        status=order.status,
        redo_count=order.redo_count,
        idempotency_key=order.idempotency_key,
        created_at=order.created_at,
        updated_at=order.updated_at,
        finished_at=order.finished_at,
        count=order.count,
        scope=order.scope,
        competent_department=order.competent_department,
        urgent=order.urgent,
        cross_area=order.cross_area,
        campaign=order.campaign,
        members=[order_member_public(m) for m in order.patrol],
        supervised=order.supervised,
        overdue_at=order.overdue_at,
        escalated_at=order.escalated_at,
        reminder_count=order.reminder_count,
    )


def order_detail(order: Order, *, now: datetime, local: tzinfo) -> OrderDetail:
    """The order with its history, evidence and feedback (loaded by the caller)."""
    return OrderDetail(
        **order_public(order, now=now, local=local).model_dump(),
        history=[HistoryPublic.model_validate(h, from_attributes=True) for h in order.history],
        evidence=[EvidencePublic.model_validate(e, from_attributes=True) for e in order.evidence],
        feedback=[
            FeedbackPublic(unit=f.unit, note=f.note, at=f.at, photos=[p.url for p in f.photos])
            for f in order.feedback
        ],
    )
