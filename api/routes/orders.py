"""Work orders for the console: the board (commanders), a unit's own orders
(departments, feedback with photos), supervision actions; all through the dispatch API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from fastapi import APIRouter, Body, Depends, File, Form, HTTPException, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.auth.accounts import Principal, Role
from api.auth.deps import COMMANDER, DEPARTMENT, ORDERS_READ
from api.context import ContextDep
from api.dispatch_client import dispatch_client
from patrol.tables import EventRow, VerificationRow

router = APIRouter(prefix="/api", tags=["orders"])
Reader = Annotated[Principal, Depends(ORDERS_READ)]
Commander = Annotated[Principal, Depends(COMMANDER)]

MAX_PHOTOS = 10
MAX_PHOTO_BYTES = 15 * 1024 * 1024


def _own(order: dict[str, Any], who: Principal) -> dict[str, Any]:
    """Departments see only orders dispatched to their unit (404, not 403: no probing)."""
    if who.role is Role.DEPARTMENT and who.unit not in order.get("units", []):
        raise HTTPException(404, f"no order {order.get('id')} for unit {who.unit}")
    return order


@router.get("/orders")
def list_orders(ctx: ContextDep, who: Reader, status: str | None = None,
                kind: str | None = None, township: str | None = None,
                unit: str | None = None, source: str | None = None,
                limit: int = 200, offset: int = 0) -> dict[str, Any]:
    """Orders newest first with status, deadline, overdue mark, units and level. A
    department account gets its own unit's orders only, whatever ``unit`` says."""
    if who.role is Role.DEPARTMENT:
        unit = who.unit
    params = {"status": status, "kind": kind, "township": township, "unit": unit,
              "source": source, "limit": max(1, min(limit, 1000)), "offset": max(0, offset)}
    return dispatch_client(ctx).call("GET", "/orders",
                                     params={k: v for k, v in params.items() if v is not None})


@router.get("/orders/{order_id}")
def get_order(order_id: int, ctx: ContextDep, who: Reader) -> dict[str, Any]:
    """One order: the timeline of every transition, evidence before and after, the
    units' feedback with photos, and this service's footage checks."""
    order = _own(dispatch_client(ctx).call("GET", f"/orders/{order_id}"), who)
    with ctx.sessions() as s:
        checks = s.scalars(select(VerificationRow).where(VerificationRow.order_id == str(order_id))
                           .order_by(VerificationRow.attempt)).all()
        event = s.get(EventRow, order["event_id"]) if order.get("event_id") else None
    order["verifications"] = [{
        "attempt": v.attempt, "state": v.state, "present": v.present, "frames": v.frames,
        "hits": v.hits, "finished_at": v.finished_at, "note": v.note,
        "snapshot_url": f"/evidence/{v.snapshot}" if v.snapshot else None,
        "clip_url": f"/evidence/{v.clip}" if v.clip else None} for v in checks]
    order["event"] = None if event is None else {
        "id": event.id, "snapshot_url": f"/evidence/{event.snapshot}" if event.snapshot else None,
        "clip_url": f"/api/events/{event.id}/clip.mp4" if event.clip_state == "ready" else None}
    return order


def _store_photo(ctx: ContextDep, order_id: int, upload: UploadFile) -> str:
    data = upload.file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise HTTPException(413, f"photo {upload.filename} is larger than 15 MB")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise HTTPException(422, f"{upload.filename} is not a JPEG/PNG/WebP picture")
    # Re-encoded: no metadata or payload of the upload survives.
    relative = f"feedback/order-{order_id}/{uuid.uuid4().hex}.jpg"
    path = ctx.evidence_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise HTTPException(422, f"{upload.filename} cannot be stored")
    path.write_bytes(jpeg.tobytes())
    return f"{ctx.public_url}/evidence/{relative}"


@router.post("/orders/{order_id}/feedback")
def report_feedback(order_id: int, ctx: ContextDep,
                    who: Annotated[Principal, Depends(DEPARTMENT)],
                    note: Annotated[str, Form(min_length=1, max_length=4000)],
                    photos: Annotated[list[UploadFile] | None, File()] = None,
                    unit: Annotated[str | None, Form(max_length=64)] = None) -> dict[str, Any]:
    """A department reports its disposal, with photos from the site (multipart form)."""
    client = dispatch_client(ctx)
    _own(client.call("GET", f"/orders/{order_id}"), who)
    unit = who.unit if who.role is Role.DEPARTMENT else unit
    if not unit:
        raise HTTPException(422, "name the unit that reports")
    photos = [p for p in photos or [] if p.filename]
    if len(photos) > MAX_PHOTOS:
        raise HTTPException(422, f"at most {MAX_PHOTOS} photos")
    urls = [_store_photo(ctx, order_id, p) for p in photos]
    return client.call("POST", f"/orders/{order_id}/feedback",
                       json={"unit": unit, "note": note, "photos": urls})


class ReviewRequest(BaseModel):
    effective: bool
    note: str = Field(min_length=1, max_length=4000)


@router.post("/orders/{order_id}/review")
def review_order(order_id: int, body: ReviewRequest, ctx: ContextDep,
                 who: Commander) -> dict[str, Any]:
    """The commander's judgement of a disposal (standard 6.3): effective → closed."""
    return dispatch_client(ctx).call("POST", f"/orders/{order_id}/review", json={
        "effective": body.effective, "note": body.note, "actor": who.name})


@router.post("/orders/{order_id}/reinforce")
def request_reinforcement(order_id: int, ctx: ContextDep,
                          who: Annotated[Principal, Depends(DEPARTMENT)],
                          body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    """A department asks for support on its order (standard 6.2.3): ``{"note", "units",
    "members"}``, passed to the dispatch core with the account as actor (501 if it lacks it)."""
    client = dispatch_client(ctx)
    _own(client.call("GET", f"/orders/{order_id}"), who)
    payload = {k: v for k, v in (body or {}).items() if k != "actor"} | {"actor": who.name}
    return client.call("POST", f"/orders/{order_id}/reinforce", json=payload)


@router.post("/orders/{order_id}/{action}")
def supervise_order(order_id: int,
                    action: Literal["escalate", "remind", "supervise", "handover"],
                    ctx: ContextDep, who: Commander,
                    body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    """Supervision (standard 6.2.4): escalate to level 2, remind (催办), supervise (督办,
    ``units``/``lead_unit`` join), hand over to other units. The body (``{"note", ...}``)
    is passed to the dispatch core with the commander as actor; a core without the action
    answers 501."""
    payload = {k: v for k, v in (body or {}).items() if k != "actor"} | {"actor": who.name}
    return dispatch_client(ctx).call("POST", f"/orders/{order_id}/{action}", json=payload)


@router.get("/units", dependencies=[Depends(ORDERS_READ)])
def list_units(ctx: ContextDep) -> dict[str, Any]:
    return dispatch_client(ctx).call("GET", "/units")
