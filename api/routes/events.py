"""Events: the review queue and each event's evidence; review decisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import func, select

from api.context import ContextDep, SessionDep
from api.schemas import (
    ConfirmRequest,
    EventPublic,
    EventQuery,
    EventsPublic,
    RejectRequest,
    RelabelRequest,
)
from patrol.service import PatrolService
from patrol.tables import EventRow

router = APIRouter(prefix="/api/events", tags=["events"])


def event_public(ctx: ContextDep, row: EventRow) -> EventPublic:
    try:
        camera_name = ctx.config.camera(row.camera_id).name
    except KeyError:
        camera_name = row.camera_id
    return EventPublic(
        id=row.id, camera_id=row.camera_id, camera_name=camera_name, zone_id=row.zone_id,
        kind=row.kind, label=row.label, state=row.state, review=row.review,
        review_note=row.review_note, confidence=round(row.confidence, 3), count=row.count,
        severity=row.severity, boxes=row.boxes or [], started_at=row.started_at,
        ended_at=row.ended_at,
        snapshot_url=f"/evidence/{row.snapshot}" if row.snapshot else None,
        clip_url=f"/evidence/{row.clip}" if row.clip and row.clip_state == "ready" else None,
        clip_state=row.clip_state, order_id=row.order_id, order_status=row.order_status,
    )


@router.get("", response_model=EventsPublic)
def list_events(ctx: ContextDep, session: SessionDep,
                query: Annotated[EventQuery, Depends()]) -> EventsPublic:
    """Events newest first, filtered."""
    stmt = select(EventRow)
    if query.kind:
        stmt = stmt.where(EventRow.kind == query.kind)
    if query.camera_id:
        stmt = stmt.where(EventRow.camera_id == query.camera_id)
    if query.township:
        ids = [c.id for c in ctx.config.cameras if c.township == query.township]
        stmt = stmt.where(EventRow.camera_id.in_(ids))
    if query.review:
        stmt = stmt.where(EventRow.review == query.review)
    if query.state:
        stmt = stmt.where(EventRow.state == query.state)
    if query.since:
        stmt = stmt.where(EventRow.started_at >= query.since)
    if query.until:
        stmt = stmt.where(EventRow.started_at < query.until)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(EventRow.started_at.desc())
                           .limit(query.limit).offset(query.offset)).all()
    return EventsPublic(data=[event_public(ctx, r) for r in rows], count=total)


@router.get("/{event_id}", response_model=EventPublic)
def get_event(event_id: str, ctx: ContextDep, session: SessionDep) -> EventPublic:
    row = session.get(EventRow, event_id)
    if row is None:
        raise HTTPException(404, f"no event {event_id!r}")
    return event_public(ctx, row)


def _patrol(ctx: ContextDep) -> PatrolService:
    if ctx.patrol is None:
        raise HTTPException(503, "the patrol service is not running")
    return ctx.patrol


def _decide(ctx: ContextDep, action: Callable[..., EventRow], event_id: str,
            **kwargs: str) -> EventPublic:
    """Run a review decision; unknown event → 404, wrong review state → 409."""
    try:
        row = action(event_id, **kwargs)
    except KeyError:
        raise HTTPException(404, f"no event {event_id!r}") from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return event_public(ctx, row)


@router.post("/{event_id}/confirm", response_model=EventPublic)
def confirm_event(event_id: str, body: ConfirmRequest, ctx: ContextDep) -> EventPublic:
    """Confirm a pending event: it raises a work order."""
    return _decide(ctx, _patrol(ctx).confirm, event_id, actor=body.actor, note=body.note)


@router.post("/{event_id}/reject", response_model=EventPublic)
def reject_event(event_id: str, body: RejectRequest, ctx: ContextDep) -> EventPublic:
    """Reject a pending event as a false positive (kept for retraining exports)."""
    return _decide(ctx, _patrol(ctx).reject, event_id, actor=body.actor, reason=body.reason)


@router.post("/{event_id}/relabel", response_model=EventPublic)
def relabel_event(event_id: str, body: RelabelRequest, ctx: ContextDep) -> EventPublic:
    """Correct the kind of an event (kept for retraining exports)."""
    return _decide(ctx, _patrol(ctx).relabel, event_id, actor=body.actor, kind=str(body.kind))
