"""The intake service: camera workers, event persistence with evidence, review decisions,
the order outbox rows, and footage checks for verification."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from camera_adapters.base import FrameSource
from camera_adapters.capabilities import PTZError, PTZMixin
from patrol.analyzer import Analysis
from patrol.bus import EventBus
from patrol.config import CameraConfig, PatrolConfig
from patrol.evidence import EvidenceStore, annotate
from patrol.orders import FINAL_ORDER_STATES, order_payload, outbox_for_event
from patrol.tables import EventRow
from patrol.worker import CameraWorker, Probe
from rules.events import Event, EventState, UpdateType

log = logging.getLogger(__name__)

# How long (wall seconds) a footage check may overrun its window before it is given up
# (camera offline or stalled); the bridge retries it later.
VERIFY_GRACE_S = 30.0


class VerificationError(RuntimeError):
    """The footage check could not be made (camera unknown, offline, no frames)."""


@dataclass(frozen=True, slots=True)
class FootageCheck:
    frames: int
    hits: int
    present: bool
    snapshot: str | None
    clip: str | None


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class PatrolService:
    """Owns the camera workers and writes what they find. Thread-safe entry points:
    ``confirm``, ``reject``, ``relabel``, ``check_footage``."""

    def __init__(self, config: PatrolConfig, sessions: sessionmaker[Session],
                 bus: EventBus | None = None,
                 sources: dict[str, FrameSource] | None = None) -> None:
        self.config = config
        self.sessions = sessions
        self.bus = bus or EventBus()
        self.evidence = EvidenceStore(config.storage.evidence_dir, config.evidence.jpeg_quality)
        self._sources = sources or {}
        self.workers: dict[str, CameraWorker] = {}
        self._lock = threading.Lock()

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        self.repair_orphans()
        for camera in self.config.cameras:
            if camera.enabled:
                self.add_worker(camera)
        log.info("patrolling %d cameras", len(self.workers))

    def add_worker(self, camera: CameraConfig, *, start: bool = True) -> CameraWorker:
        """Patrol ``camera``; with ``start=False`` the caller drives the worker's
        ``ingest``/``analyse`` itself (tests, benchmarks)."""
        worker = CameraWorker(camera, self.config, self.evidence, self._on_analysis,
                              self._sources.get(camera.id))
        self.workers[camera.id] = worker
        if start:
            worker.start()
        return worker

    def stop(self) -> None:
        """Stop the cameras and end their open events; safe to call twice."""
        workers, self.workers = self.workers, {}
        for worker in workers.values():
            self._retire(worker)

    def _retire(self, worker: CameraWorker) -> None:
        """Stop one camera and end its open events at its last frame."""
        worker.stop()
        latest = worker.latest_frame
        if latest is not None:
            for analyzer in worker.analyzers.values():
                for upd in analyzer.close(latest.ts, latest.wall_ts):
                    self._on_end(upd.event)

    def repair_orphans(self) -> int:
        """Events left active by a crash are ended at their last update (Frigate's rule)."""
        with self.sessions.begin() as s:
            rows = s.scalars(select(EventRow).where(EventRow.state == EventState.ACTIVE)).all()
            for row in rows:
                row.state, row.ended_at = EventState.ENDED, row.updated_at
                if row.clip_state == "pending":
                    row.clip_state = "failed"
            return len(rows)

    # -- events -------------------------------------------------------------------------
    def _on_analysis(self, worker: CameraWorker, analysis: Analysis) -> None:
        for upd in analysis.result.updates:
            if upd.type is UpdateType.START:
                self._on_start(worker, analysis, upd.event)
            elif upd.type is UpdateType.UPDATE:
                self._on_update(upd.event)
            else:
                self._on_end(upd.event)

    def _start_evidence(self, worker: CameraWorker, analysis: Analysis,
                        event: Event) -> tuple[str, str | None]:
        """Write an event's annotated and raw snapshots; the snapshot's path and the clip's
        path to come (None when the camera gives no video to cut)."""
        frame, camera = analysis.frame, worker.camera
        folder = self.evidence.folder(camera.id, event.id, event.started_wall)
        caption = f"{camera.id}  {datetime.fromtimestamp(frame.wall_ts, UTC):%Y-%m-%d %H:%M:%S}Z"
        persons = analysis.detections.get(event.kind)
        persons = persons.metadata.get("persons") if persons is not None else None
        analyzer = worker.analyzers.get(analysis.preset, worker.analyzer)
        image = annotate(frame.image, zones=analyzer.layout(frame), boxes=event.boxes,
                         kind=event.kind, confidence=event.confidence, caption=caption,
                         persons=persons.xyxy if persons is not None else None)
        snapshot = self.evidence.write_jpeg(f"{folder}/snapshot.jpg", image)
        self.evidence.write_jpeg(f"{folder}/raw.jpg", frame.image)
        has_video = worker.clip_info is not None and worker.clip_info.codec != "mjpeg"
        clip = f"{folder}/clip.mp4" if has_video else None
        return snapshot, clip

    def _on_start(self, worker: CameraWorker, analysis: Analysis, event: Event) -> None:
        camera = worker.camera
        snapshot, clip = self._start_evidence(worker, analysis, event)
        truth = _ground_truth(worker, event)
        with self.sessions.begin() as s:
            row = EventRow(
                id=event.id, camera_id=camera.id, zone_id=event.zone_id, preset=analysis.preset,
                kind=event.kind,
                state=event.state, review="pending", confidence=event.confidence,
                count=event.count, severity=event.severity, boxes=[list(b) for b in event.boxes],
                start_ts=event.start_ts, started_at=_dt(event.started_wall), snapshot=snapshot,
                clip=clip, clip_state="pending" if clip else "none", truth=truth,
            )
            s.add(row)
            self._decide(s, row, camera)
        if clip:
            ev = self.config.evidence
            worker.schedule_clip(event.start_ts - ev.pre_roll_s, event.start_ts + ev.post_roll_s,
                                 clip, lambda path, eid=event.id: self._clip_done(eid, path))
        log.info("event %s: %s on %s/%s conf %.2f", event.id, event.kind, camera.id,
                 event.zone_id, event.confidence)
        self.bus.publish(f"events/{camera.id}/new", {"id": event.id, "kind": str(event.kind)})

    def _decide(self, s: Session, row: EventRow, camera: CameraConfig) -> None:
        """Acceptance (6.2.1.1): attach to an open order, raise one, or wait for review."""
        open_parent = s.scalars(
            select(EventRow).where(
                EventRow.camera_id == row.camera_id, EventRow.zone_id == row.zone_id,
                (EventRow.preset.is_(None) if row.preset is None else EventRow.preset == row.preset),
                EventRow.kind == row.kind, EventRow.review.in_(("auto", "confirmed")),
                EventRow.id != row.id,
                (EventRow.order_status.is_(None)) | (EventRow.order_status.not_in(FINAL_ORDER_STATES)),
            ).order_by(EventRow.started_at.desc()).limit(1)
        ).first()
        if open_parent is not None and open_parent.order_status != "delivery_failed":
            row.review, row.parent_id = "attached", open_parent.id
            row.order_id, row.order_status = open_parent.order_id, open_parent.order_status
            return
        threshold = self.config.review.auto_order_min_confidence.get(row.kind, 1.0)
        if row.confidence >= threshold:
            row.review = "auto"
            s.add(outbox_for_event(row, camera))

    def _on_update(self, event: Event) -> None:
        with self.sessions.begin() as s:
            s.execute(update(EventRow).where(EventRow.id == event.id).values(
                confidence=event.confidence, count=event.count,
                boxes=[list(b) for b in event.boxes]))
        self.bus.publish(f"events/{event.camera_id}/update", {"id": event.id})

    def _on_end(self, event: Event) -> None:
        with self.sessions.begin() as s:
            s.execute(update(EventRow).where(EventRow.id == event.id).values(
                state=EventState.ENDED, end_ts=event.end_ts, ended_at=_dt(event.ended_wall)))
        self.bus.publish(f"events/{event.camera_id}/end", {"id": event.id})

    def _clip_done(self, event_id: str, path: str | None) -> None:
        with self.sessions.begin() as s:
            s.execute(update(EventRow).where(EventRow.id == event_id).values(
                clip_state="ready" if path else "failed", clip=path))

    # -- review decisions (the console) ------------------------------------------------
    def confirm(self, event_id: str, *, actor: str, note: str = "") -> EventRow:
        """An operator confirms a pending event: it raises an order (through the outbox)."""
        with self.sessions.begin() as s:
            row = _get_for_update(s, event_id)
            if row.review != "pending":
                raise ValueError(f"event {event_id} is {row.review}, only pending events can be confirmed")
            row.review, row.review_note = "confirmed", f"{actor}: {note}".strip(": ")
            s.add(outbox_for_event(row, self.config.camera(row.camera_id)))
            return row

    def reject(self, event_id: str, *, actor: str, reason: str) -> EventRow:
        """An operator rejects a pending event as a false positive (kept for retraining)."""
        with self.sessions.begin() as s:
            row = _get_for_update(s, event_id)
            if row.review != "pending":
                raise ValueError(f"event {event_id} is {row.review}, only pending events can be rejected")
            row.review, row.review_note = "rejected", f"{actor}: {reason}"
            return row

    def relabel(self, event_id: str, *, actor: str, kind: str) -> EventRow:
        with self.sessions.begin() as s:
            row = _get_for_update(s, event_id)
            row.label = kind
            row.review_note = f"{actor}: relabelled {row.kind} -> {kind}"
            return row

    # -- verification -------------------------------------------------------------------
    def check_footage(self, *, camera_id: str, zone_id: str | None, kind: str,
                      evidence_folder: str, name: str, preset: str | None = None) -> FootageCheck:
        """Look at fresh footage of the camera for the configured window (blocking) and
        store after-evidence. A PTZ camera is first sent back to ``preset``, the one the
        event was seen at. Raises VerificationError when no footage can be had."""
        worker = self.workers.get(camera_id)
        if worker is None:
            raise VerificationError(f"camera {camera_id} is not patrolled by this service")
        if preset is None or not worker.camera.presets:
            return self._look(worker, camera_id, zone_id, kind, evidence_folder, name)
        if not isinstance(worker.source, PTZMixin):
            raise VerificationError(f"camera {camera_id} cannot move to preset {preset}")
        if preset not in worker.analyzers:
            raise VerificationError(f"camera {camera_id} has no preset {preset} configured")
        worker.preempt.set()  # the tour yields at once instead of finishing its dwell
        if not worker.ptz_lock.acquire(timeout=VERIFY_GRACE_S):
            raise VerificationError(f"camera {camera_id}: the patrol tour did not yield")
        try:
            worker.leave_view()
            try:
                worker.source.goto_preset(preset)
            except PTZError as exc:
                raise VerificationError(f"camera {camera_id}: {exc}") from None
            worker.arrive(preset)  # the probe below waits settle_s before it counts
            return self._look(worker, camera_id, zone_id, kind, evidence_folder, name)
        finally:
            worker.preempt.clear()
            worker.ptz_lock.release()

    def _look(self, worker: CameraWorker, camera_id: str, zone_id: str | None, kind: str,
              evidence_folder: str, name: str) -> FootageCheck:
        cfg = self.config.verification
        latest = worker.latest_frame
        if latest is None:
            raise VerificationError(f"camera {camera_id} has no picture yet")
        probe = Probe(zone_id, kind, latest.ts + cfg.settle_s, latest.ts + cfg.settle_s + cfg.window_s)
        worker.add_probe(probe)
        if not probe.done.wait(cfg.settle_s + cfg.window_s + VERIFY_GRACE_S) or not probe.hits:
            raise VerificationError(f"camera {camera_id}: no analysed frames in the window")
        hits = sum(h.hit for h in probe.hits)
        present = hits / len(probe.hits) >= cfg.presence_ratio
        frame = probe.frames[-1]
        shown = [h for h in probe.hits if h.hit]
        boxes = shown[-1].detections.xyxy if shown else []
        caption = (f"{camera_id} verify {'PRESENT' if present else 'CLEAR'} {hits}/{len(probe.hits)}"
                   f"  {datetime.fromtimestamp(frame.wall_ts, UTC):%Y-%m-%d %H:%M:%S}Z")
        image = annotate(frame.image, zones=worker.analyzer.layout(frame), boxes=boxes, kind=kind,
                         confidence=max((h.confidence for h in probe.hits), default=0.0),
                         caption=caption)
        snapshot = self.evidence.write_jpeg(f"{evidence_folder}/{name}.jpg", image)
        clip = worker.cut_clip(probe.start_ts, probe.end_ts, f"{evidence_folder}/{name}.mp4")
        return FootageCheck(len(probe.hits), hits, present, snapshot, clip)


def _get_for_update(s: Session, event_id: str) -> EventRow:
    row = s.get(EventRow, event_id, with_for_update=True)
    if row is None:
        raise KeyError(event_id)
    return row


def _ground_truth(worker: CameraWorker, event: Event) -> bool | None:
    """For synthetic cameras: was this kind really present when the event started?"""
    scene = getattr(worker.source, "scene", None)
    if scene is None:
        return None
    return scene.event_kind == event.kind and bool(scene.present(event.start_ts))


__all__ = ["FINAL_ORDER_STATES", "FootageCheck", "PatrolService", "VerificationError",
           "order_payload"]
