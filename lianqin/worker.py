"""``lianqin worker CONFIG``: one of many processes that patrol a share of the cameras.

A worker reads the same YAML as every process of the deployment, takes camera leases in
PostgreSQL (``patrol.leases``), runs those cameras (continuous ones and patrol tours), puts
evidence in the shared evidence store and publishes events over MQTT to the central
service (``patrol.remote``). It serves ``/healthz`` and ``/metrics`` on
``LIANQIN_METRICS_PORT``. Started in this order, stopped in reverse: broker client, health
endpoint, lease loop (which starts and stops cameras).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from camera_adapters.base import FrameSource
from lianqin.config import LianqinConfig
from patrol.health import HealthServer
from patrol.leases import LeaseManager, LeaseStep
from patrol.remote import EventPublisher, RemotePatrolService
from patrol.scale import ScaleSettings, build_evidence_store
from patrol.store import open_engine

log = logging.getLogger(__name__)

# How long a worker waits for the central service to create the tables (migrations).
SCHEMA_WAIT_S = 120.0


class WorkerMetrics:
    """Prometheus metrics of one worker, on its own registry."""

    def __init__(self, worker_id: str) -> None:
        self.registry = CollectorRegistry()
        r, w = self.registry, {"worker": worker_id}
        self.cameras = Gauge("lianqin_worker_cameras_held", "Cameras this worker holds leases "
                             "for", ["worker"], registry=r).labels(**w)
        self.live = Gauge("lianqin_worker_live_workers", "Live workers seen at the last "
                          "heartbeat", ["worker"], registry=r).labels(**w)
        self.share = Gauge("lianqin_worker_fair_share", "ceil(cameras / live workers)",
                           ["worker"], registry=r).labels(**w)
        self.frames = Counter("lianqin_worker_frames_analysed", "Frames analysed",
                              ["worker"], registry=r).labels(**w)
        self.queue = Gauge("lianqin_worker_queue_depth", "Evidence clips waiting for their "
                           "post-roll to be cut", ["worker"], registry=r).labels(**w)
        self.detector_ms = Gauge("lianqin_worker_detector_ms", "Mean of the detectors' last "
                                 "milliseconds per frame over the held cameras",
                                 ["worker", "kind"], registry=r)
        self.events = Counter("lianqin_worker_events", "Event messages published",
                              ["worker", "type"], registry=r)
        self.outbox = Gauge("lianqin_worker_outbox_depth", "Event messages not yet "
                            "acknowledged by the broker", ["worker"], registry=r).labels(**w)
        self.mqtt_up = Gauge("lianqin_worker_mqtt_connected", "1 while connected to the "
                             "broker", ["worker"], registry=r).labels(**w)
        self.claims = Counter("lianqin_worker_lease_claims", "Camera leases claimed",
                              ["worker"], registry=r).labels(**w)
        self.releases = Counter("lianqin_worker_lease_releases", "Camera leases released to "
                                "rebalance", ["worker"], registry=r).labels(**w)
        self.worker_id = worker_id


class WorkerProcess:
    """Thin runner: leases decide which cameras run; the service runs them."""

    def __init__(self, config: LianqinConfig, settings: ScaleSettings, *,
                 sources: dict[str, FrameSource] | None = None) -> None:
        self.config = config
        self.settings = settings
        self.worker_id = settings.resolved_worker_id()
        self.metrics = WorkerMetrics(self.worker_id)
        self.publisher = EventPublisher(settings, self.worker_id)
        evidence = build_evidence_store(settings, config.storage.evidence_dir,
                                        config.evidence.jpeg_quality)
        if not settings.s3_bucket:
            log.warning("LIANQIN_S3_BUCKET is not set: evidence stays in %s on this machine, "
                        "where the central service can serve it only if it shares the folder",
                        config.storage.evidence_dir)
        self.service = RemotePatrolService(config, self.publisher, evidence, sources)
        self.health = HealthServer(settings.metrics_host, settings.metrics_port,
                                   self.metrics.registry, self._health, self._refresh)
        self.engine: Engine | None = None
        self.leases: LeaseManager | None = None
        self.last_step: LeaseStep | None = None
        self._last_ok = 0.0
        self._progress: dict[str, tuple[int, float | None]] = {}
        self._counted: dict[str, int] = {}
        self._events_counted: dict[str, int] = {}
        self._stop = threading.Event()
        self._changed = threading.Event()  # the heartbeat tells the camera loop to look
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> int:
        """Start everything; returns the health/metrics port."""
        self.service.start()  # answers the central service's footage checks
        self.publisher.start()
        self.health.start()
        self._thread = threading.Thread(target=self._run, name="leases", daemon=True)
        self._thread.start()
        return self.health.port

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self._stop_cameras(set(self.service.workers))
        if self.leases is not None:
            try:
                self.leases.release_all()
            except DBAPIError as exc:
                log.warning("could not release leases (they expire by themselves): %s", exc)
        self.publisher.stop()
        self.health.stop()
        if self.engine is not None:
            self.engine.dispose()

    def _connect(self) -> bool:
        """Open the database and wait for the central service's migrations."""
        deadline = time.monotonic() + SCHEMA_WAIT_S
        while not self._stop.is_set():
            try:
                if self.engine is None:
                    self.engine = open_engine(self.config.storage.database_url, migrate=False)
                if inspect(self.engine).has_table("camera_leases"):
                    break
                log.info("waiting for the central service to create the lease tables")
            except DBAPIError as exc:
                log.warning("database not reachable yet: %s", exc.orig)
            if time.monotonic() > deadline:
                log.error("no lease tables after %.0f s: is `lianqin central` running "
                          "against %s?", SCHEMA_WAIT_S, self.engine.url if self.engine else "?")
                deadline = time.monotonic() + SCHEMA_WAIT_S
            self._stop.wait(2)
        if self._stop.is_set() or self.engine is None:
            return False
        cameras = [c.id for c in self.config.cameras if c.enabled]
        self.leases = LeaseManager(
            self.engine, self.worker_id, cameras, ttl_s=self.settings.lease_ttl_s,
            endpoint=f"http://{self.settings.metrics_host}:{self.health.port}/metrics",
            progress=self._progress_now)
        return True

    def _run(self) -> None:
        """The heartbeat: lease bookkeeping only (a few statements), never camera work,
        so that starting or stopping many cameras cannot make this worker look dead."""
        if not self._connect():
            return
        assert self.leases is not None
        reconcile = threading.Thread(target=self._reconcile_loop, name="cameras", daemon=True)
        reconcile.start()
        period = self.settings.heartbeat_s
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                step = self.leases.step()
                self._last_ok = time.monotonic()
                self.last_step = step
                self.metrics.claims.inc(len(step.claimed))
                self.metrics.releases.inc(len(step.released))
                self.metrics.live.set(step.live_workers)
                self.metrics.share.set(step.share)
            except DBAPIError as exc:
                log.warning("lease heartbeat failed: %s", exc.orig)
                self._fence()
            except Exception:
                log.exception("lease heartbeat failed")
                self._fence()
            self._changed.set()
            self._stop.wait(max(period - (time.monotonic() - started), 0.05))
        self._changed.set()
        reconcile.join(60)

    def _fence(self) -> None:
        """Leases not renewed for nearly their lifetime may be someone else's by now:
        stop those cameras before another worker starts them."""
        assert self.leases is not None
        stale = time.monotonic() - self._last_ok
        if self.leases.held and stale > self.settings.lease_ttl_s - self.settings.heartbeat_s:
            log.error("leases could not be renewed for %.0f s: stopping all cameras", stale)
            self.leases.forget()

    def _reconcile_loop(self) -> None:
        """Start and stop cameras to match the leases; give back released leases once
        their cameras have stopped."""
        assert self.leases is not None
        while not self._stop.is_set():
            self._changed.wait(self.settings.heartbeat_s)
            self._changed.clear()
            if self._stop.is_set():
                return
            try:
                wanted = self.leases.wanted
                running = set(self.service.workers)
                gone = running - wanted
                self._stop_cameras(gone)
                releasing = self.leases.releasing - set(self.service.workers)
                if releasing:
                    self.leases.release(releasing)
                for camera_id in sorted(wanted - running):
                    if self._stop.is_set() or camera_id not in self.leases.wanted:
                        break
                    self.service.add_worker(self.config.camera(camera_id))
            except Exception:
                log.exception("starting or stopping cameras failed")

    def _stop_cameras(self, camera_ids: set[str]) -> None:
        """Stop cameras in parallel (each waits up to seconds for its threads)."""
        if not camera_ids:
            return
        for camera_id in camera_ids:
            worker = self.service.workers.get(camera_id)
            if worker is not None:
                self._count_frames(camera_id, worker.status.analysed)
        with ThreadPoolExecutor(max_workers=min(len(camera_ids), 32)) as pool:
            list(pool.map(self.service.remove_camera, sorted(camera_ids)))
        for camera_id in camera_ids:
            self._counted.pop(camera_id, None)
            self._progress.pop(camera_id, None)

    # -- figures ----------------------------------------------------------------------
    def _count_frames(self, camera_id: str, analysed: int) -> None:
        before = self._counted.get(camera_id, 0)
        if analysed > before:
            self.metrics.frames.inc(analysed - before)
        self._counted[camera_id] = analysed

    def _progress_now(self) -> dict[str, tuple[int, float | None]]:
        """Per held camera: frames analysed and when that count last grew."""
        now = time.time()
        for camera_id, worker in list(self.service.workers.items()):
            analysed = worker.status.analysed
            previous = self._progress.get(camera_id)
            if previous is None or analysed != previous[0]:
                self._progress[camera_id] = (analysed, now if analysed else None)
            self._count_frames(camera_id, analysed)
        return dict(self._progress)

    def _refresh(self) -> None:
        m = self.metrics
        workers = list(self.service.workers.values())
        m.cameras.set(len(workers))
        for camera_id, worker in list(self.service.workers.items()):
            self._count_frames(camera_id, worker.status.analysed)
        m.queue.set(sum(len(getattr(w, "_clips", ())) for w in workers))
        per_kind: dict[str, list[float]] = {}
        for worker in workers:
            for kind, timing in worker.analyzer.timings.items():
                if timing.calls:
                    per_kind.setdefault(str(kind), []).append(timing.last_ms)
        for kind, values in per_kind.items():
            m.detector_ms.labels(worker=m.worker_id, kind=kind).set(sum(values) / len(values))
        for kind, count in self.publisher.published.copy().items():
            before = self._events_counted.get(kind, 0)
            if count > before:
                m.events.labels(worker=m.worker_id, type=kind).inc(count - before)
                self._events_counted[kind] = count
        m.outbox.set(self.publisher.pending)
        m.mqtt_up.set(1 if self.publisher.connected.is_set() else 0)

    def _health(self) -> tuple[bool, dict[str, Any]]:
        db_age = time.monotonic() - self._last_ok if self._last_ok else None
        db_ok = db_age is not None and db_age < self.settings.lease_ttl_s
        mqtt_ok = self.publisher.connected.is_set()
        step = self.last_step
        return db_ok and mqtt_ok, {
            "worker": self.worker_id, "cameras": sorted(self.service.workers),
            "database": db_ok, "mqtt": mqtt_ok, "outbox_depth": self.publisher.pending,
            "live_workers": step.live_workers if step else None,
            "share": step.share if step else None}


def run_worker(config: LianqinConfig, settings: ScaleSettings, stop: threading.Event,
               on_ready: Any = print) -> int:
    """Run a worker until ``stop`` is set (the CLI's SIGTERM handler sets it)."""
    if make_url(config.storage.database_url).get_backend_name() != "postgresql":
        print("storage.database_url: workers share cameras through PostgreSQL leases; "
              "use postgresql+psycopg://... (SQLite serves one box: `lianqin serve`)",
              file=sys.stderr)
        return 1
    worker = WorkerProcess(config, settings)
    port = worker.start()
    on_ready(f"lianqin worker {worker.worker_id}: /healthz and /metrics on port {port}")
    try:
        stop.wait()
    finally:
        worker.stop()
    return 0
