"""Events: the review queue and each event's evidence; review decisions, bulk actions,
the export of decisions for retraining, browser-playable clips."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from api import renditions
from api.auth.accounts import Principal
from api.auth.deps import EVIDENCE, OPERATOR, STAFF
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
from vision.types import EventKind

router = APIRouter(prefix="/api/events", tags=["events"])
Operator = Annotated[Principal, Depends(OPERATOR)]


def event_public(ctx: ContextDep, row: EventRow) -> EventPublic:
    try:
        camera = ctx.config.camera(row.camera_id)
        camera_name, township = camera.name, camera.township
    except KeyError:
        camera_name, township = row.camera_id, ""
    return EventPublic(
        id=row.id, camera_id=row.camera_id, camera_name=camera_name, township=township,
        zone_id=row.zone_id, preset=row.preset,
        kind=row.kind, label=row.label, state=row.state, review=row.review,
        review_note=row.review_note, confidence=round(row.confidence, 3), count=row.count,
        severity=row.severity, boxes=row.boxes or [], started_at=row.started_at,
        ended_at=row.ended_at,
        snapshot_url=f"/evidence/{row.snapshot}" if row.snapshot else None,
        clip_url=f"/api/events/{row.id}/clip.mp4" if row.clip and row.clip_state == "ready" else None,
        clip_state=row.clip_state, order_id=row.order_id, order_status=row.order_status,
    )


def _filtered(ctx: ContextDep, query: EventQuery):  # noqa: ANN202 - a Select
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
    return stmt


@router.get("", response_model=EventsPublic, dependencies=[Depends(STAFF)])
def list_events(ctx: ContextDep, session: SessionDep,
                query: Annotated[EventQuery, Depends()]) -> EventsPublic:
    """Events newest first, filtered."""
    stmt = _filtered(ctx, query)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(EventRow.started_at.desc())
                           .limit(query.limit).offset(query.offset)).all()
    return EventsPublic(data=[event_public(ctx, r) for r in rows], count=total)


@router.get("/export", dependencies=[Depends(OPERATOR)],
            responses={200: {"content": {"application/x-ndjson": {}}}})
def export_decisions(ctx: ContextDep,
                     review: Literal["rejected", "confirmed", "relabelled", "all"] = "all"
                     ) -> StreamingResponse:
    """Review decisions for retraining, one JSON object a line: the kind detected, the
    kind it really is (relabel), rejected false positives with their reason, boxes, and
    the evidence files (annotated and raw snapshot, clip) relative to the evidence folder."""
    def lines() -> Iterator[str]:
        stmt = select(EventRow).order_by(EventRow.started_at)
        if review == "relabelled":
            stmt = stmt.where(EventRow.label.is_not(None))
        elif review == "all":
            stmt = stmt.where((EventRow.review.in_(("rejected", "confirmed")))
                              | EventRow.label.is_not(None))
        else:
            stmt = stmt.where(EventRow.review == review)
        with ctx.sessions() as s:
            for row in s.scalars(stmt).yield_per(200):
                folder = str(Path(row.snapshot).parent) if row.snapshot else None
                yield json.dumps({
                    "event_id": row.id, "camera_id": row.camera_id, "zone_id": row.zone_id,
                    "preset": row.preset, "detected_kind": row.kind,
                    "true_kind": None if row.review == "rejected" else (row.label or row.kind),
                    "false_positive": row.review == "rejected", "review": row.review,
                    "note": row.review_note, "confidence": row.confidence, "boxes": row.boxes,
                    "started_at": row.started_at.isoformat(), "snapshot": row.snapshot,
                    "raw": f"{folder}/raw.jpg" if folder else None,
                    "clip": row.clip if row.clip_state == "ready" else None,
                }, ensure_ascii=False) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="lianqin-review-{review}.jsonl"'})


@router.get("/{event_id}", response_model=EventPublic, dependencies=[Depends(STAFF)])
def get_event(event_id: str, ctx: ContextDep, session: SessionDep) -> EventPublic:
    row = session.get(EventRow, event_id)
    if row is None:
        raise HTTPException(404, f"no event {event_id!r}")
    return event_public(ctx, row)


@router.get("/{event_id}/clip.mp4", dependencies=[Depends(EVIDENCE)],
            responses={200: {"content": {"video/mp4": {}}}})
def event_clip(event_id: str, ctx: ContextDep, session: SessionDep) -> FileResponse:
    """The event's clip as the browser can play it (H.264; other codecs get a rendition).
    Open to every account, like the evidence files (departments see their orders' clips)."""
    row = session.get(EventRow, event_id)
    if row is None or not row.clip or row.clip_state != "ready":
        raise HTTPException(404, f"event {event_id!r} has no clip (yet)")
    path = (ctx.evidence_dir / row.clip).resolve()
    if not path.is_relative_to(ctx.evidence_dir.resolve()) or not path.exists():
        raise HTTPException(404, "clip file missing")
    try:
        path = renditions.playable(path)
    except Exception as exc:  # a broken file: say so instead of a 500
        raise HTTPException(422, f"the clip cannot be read: {type(exc).__name__}") from None
    return FileResponse(path, media_type="video/mp4")


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
def confirm_event(event_id: str, body: ConfirmRequest, ctx: ContextDep,
                  who: Operator) -> EventPublic:
    """Confirm a pending event: it raises a work order."""
    return _decide(ctx, _patrol(ctx).confirm, event_id, actor=who.name, note=body.note)


@router.post("/{event_id}/reject", response_model=EventPublic)
def reject_event(event_id: str, body: RejectRequest, ctx: ContextDep,
                 who: Operator) -> EventPublic:
    """Reject a pending event as a false positive (kept for retraining exports)."""
    return _decide(ctx, _patrol(ctx).reject, event_id, actor=who.name, reason=body.reason)


@router.post("/{event_id}/relabel", response_model=EventPublic)
def relabel_event(event_id: str, body: RelabelRequest, ctx: ContextDep,
                  who: Operator) -> EventPublic:
    """Correct the kind of an event (kept for retraining exports)."""
    return _decide(ctx, _patrol(ctx).relabel, event_id, actor=who.name, kind=str(body.kind))


class BulkRequest(BaseModel):
    ids: list[str] = Field(min_length=1, max_length=500)
    action: Literal["confirm", "reject", "relabel"]
    reason: str = Field(default="", max_length=500, description="Needed to reject.")
    kind: EventKind | None = Field(default=None, description="Needed to relabel.")
    note: str = Field(default="", max_length=500)


class BulkResult(BaseModel):
    done: list[EventPublic]
    failed: dict[str, str] = Field(description="Event id → why it was not changed.")


@router.post("/bulk", response_model=BulkResult)
def bulk(body: BulkRequest, ctx: ContextDep, who: Operator) -> BulkResult:
    """One decision for many events; each succeeds or fails on its own."""
    patrol = _patrol(ctx)
    if body.action == "reject" and not body.reason.strip():
        raise HTTPException(422, "rejecting needs a reason")
    if body.action == "relabel" and body.kind is None:
        raise HTTPException(422, "relabelling needs a kind")
    done, failed = [], {}
    for event_id in dict.fromkeys(body.ids):
        try:
            if body.action == "confirm":
                row = patrol.confirm(event_id, actor=who.name, note=body.note)
            elif body.action == "reject":
                row = patrol.reject(event_id, actor=who.name, reason=body.reason)
            else:
                row = patrol.relabel(event_id, actor=who.name, kind=str(body.kind))
            done.append(event_public(ctx, row))
        except KeyError:
            failed[event_id] = "no such event"
        except ValueError as exc:
            failed[event_id] = str(exc)
    return BulkResult(done=done, failed=failed)
