"""Verification on request: an external dispatch core asks for a footage check of a camera
(by HTTP or MQTT); we look, keep after-evidence, and answer the same way with the before
and after evidence URLs. The answer goes through the outbox, so it survives a crash."""

from __future__ import annotations

import json
import logging
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orderbridge.outbox import TOPIC_VERIFICATION_REPLY, evidence_urls
from patrol.service import PatrolService, VerificationError
from patrol.tables import EventRow, OutboxRow, VerificationRow

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class VerificationRequest(BaseModel):
    """What the dispatch side sends to ask for a footage check."""

    model_config = ConfigDict(extra="forbid")
    request_id: str | None = Field(default=None, min_length=1, max_length=64,
                                   description="Its id for the request; a repeat is answered once. "
                                   "Default: a new id.")
    order_id: str | None = Field(default=None, max_length=64, description="Its order id.")
    camera_id: str | None = Field(default=None, max_length=64,
                                  description="Camera to look at; default: the order's event's.")
    zone_id: str | None = Field(default=None, max_length=64)
    kind: str | None = Field(default=None, max_length=16,
                             description="What to look for; default: the order's kind.")
    event_id: str | None = Field(default=None, max_length=32,
                                 description="Our event, whose evidence is the 'before'.")


class RequestError(ValueError):
    """The request names no camera we patrol, or nothing to look for (HTTP 404/422)."""


class VerificationRequests:
    """One verb: ``submit(request, reply)``; ``answer(request_id)`` reads the result."""

    def __init__(self, sessions: sessionmaker[Session], patrol: PatrolService, *,
                 evidence_base_url: str, max_parallel: int = 2) -> None:
        self.sessions = sessions
        self.patrol = patrol
        self.evidence_base_url = evidence_base_url
        self._pool = ThreadPoolExecutor(max_parallel, thread_name_prefix="verify-request")

    def _event(self, s: Session, req: VerificationRequest) -> EventRow | None:
        if req.event_id:
            return s.get(EventRow, req.event_id)
        if req.order_id:
            return s.scalars(select(EventRow).where(EventRow.order_id == req.order_id)
                             .order_by(EventRow.parent_id.is_not(None), EventRow.started_at)).first()
        return None

    def submit(self, request: VerificationRequest | dict[str, Any],
               reply: dict[str, Any]) -> dict[str, Any]:
        """Start the check (in the background) and return ``{"request_id", "state"}``.
        ``reply``: ``{"channel": "http", "url"}``, ``{"channel": "mqtt", "topic",
        "correlation"}`` or ``{"channel": "none"}`` (the requester polls)."""
        req = VerificationRequest.model_validate(request)
        request_id = req.request_id or uuid.uuid4().hex
        key = f"request:{request_id}"
        with self.sessions.begin() as s:
            row = s.scalars(select(VerificationRow).where(VerificationRow.key == key)).first()
            if row is not None:
                return {"request_id": request_id, "state": row.state}  # a repeat
            event = self._event(s, req)
            camera_id = req.camera_id or (event.camera_id if event else None)
            kind = req.kind or (event.label or event.kind if event else None)
            zone_id = req.zone_id or (event.zone_id if event else None)
            if not camera_id or camera_id not in self.patrol.workers:
                raise RequestError(f"camera {camera_id!r} is not patrolled here")
            if not kind:
                raise RequestError("say what to look for: kind, or an order/event of ours")
            s.add(VerificationRow(key=key, order_id=req.order_id or "", attempt=0,
                                  event_id=event.id if event else None, camera_id=camera_id,
                                  zone_id=zone_id, kind=kind, state="running",
                                  note=json.dumps({"reply": reply, "preset": event.preset
                                                   if event else None})))
        self._pool.submit(self._run, request_id, reply, event.preset if event else None)
        log.info("verification %s requested on %s for order %s", request_id, camera_id, req.order_id)
        return {"request_id": request_id, "state": "running"}

    def resume(self) -> int:
        """Run again the checks a crash interrupted; their answers go out as usual."""
        with self.sessions() as s:
            rows = s.scalars(select(VerificationRow).where(
                VerificationRow.key.like("request:%"), VerificationRow.state == "running")).all()
        for row in rows:
            try:
                saved = json.loads(row.note or "{}")
            except ValueError:
                saved = {}
            self._pool.submit(self._run, row.key.removeprefix("request:"),
                              saved.get("reply") or {"channel": "none"}, saved.get("preset"))
        return len(rows)

    def _run(self, request_id: str, reply: dict[str, Any], preset: str | None) -> None:
        key = f"request:{request_id}"
        with self.sessions() as s:
            row = s.scalars(select(VerificationRow).where(VerificationRow.key == key)).one()
        folder = self.patrol.evidence.folder(row.camera_id, f"request-{_SAFE.sub('_', request_id)}",
                                             datetime.now(UTC).timestamp())
        try:
            check = self.patrol.check_footage(camera_id=row.camera_id, zone_id=row.zone_id,
                                              kind=row.kind, evidence_folder=folder, name="after",
                                              preset=preset)
        except VerificationError as exc:
            values: dict[str, Any] = {"state": "failed", "note": str(exc)[:1000]}
        except Exception as exc:
            log.exception("verification %s failed", request_id)
            values = {"state": "failed", "note": f"{type(exc).__name__}: {exc}"[:1000]}
        else:
            values = {"state": "done", "frames": check.frames, "hits": check.hits,
                      "present": check.present, "snapshot": check.snapshot, "clip": check.clip,
                      "note": f"{check.hits}/{check.frames} 帧命中，"
                              f"{'仍见问题' if check.present else '未见问题'}"}
        with self.sessions.begin() as s:
            row = s.scalars(select(VerificationRow).where(VerificationRow.key == key)).one()
            for name, value in values.items():
                setattr(row, name, value)
            row.finished_at = datetime.now(UTC)
            answer = self._answer(s, row, request_id)
            if reply.get("channel") not in (None, "none"):
                s.add(OutboxRow(key=f"reply:{request_id}", topic=TOPIC_VERIFICATION_REPLY,
                                payload={"reply": reply, "answer": answer}))
        log.info("verification %s: %s", request_id, values["note"])

    def _answer(self, s: Session, row: VerificationRow, request_id: str) -> dict[str, Any]:
        evidence: list[dict[str, Any]] = []
        event = s.get(EventRow, row.event_id) if row.event_id else None
        if event is not None:
            evidence += [{"path": event.snapshot, "kind": "snapshot", "phase": "before"},
                         {"path": event.clip if event.clip_state == "ready" else None,
                          "kind": "clip", "phase": "before"}]
        evidence += [{"path": row.snapshot, "kind": "snapshot", "phase": "after"},
                     {"path": row.clip, "kind": "clip", "phase": "after"}]
        return {"request_id": request_id, "order_id": row.order_id or None,
                "camera_id": row.camera_id, "zone_id": row.zone_id, "kind": row.kind,
                "state": row.state, "present": row.present,
                "effective": None if row.present is None else not row.present,
                "frames": row.frames, "hits": row.hits, "note": row.note,
                "evidence": evidence_urls(evidence, self.evidence_base_url)}

    def answer(self, request_id: str) -> dict[str, Any] | None:
        with self.sessions() as s:
            row = s.scalars(select(VerificationRow).where(
                VerificationRow.key == f"request:{request_id}")).first()
            return None if row is None else self._answer(s, row, request_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
