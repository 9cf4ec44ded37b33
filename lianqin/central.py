"""``lianqin central CONFIG``: the API and console, the order bridge and the dispatch core,
and the ingest of the workers' events from MQTT. It runs no cameras.

Started in this order, stopped in reverse: the runtime (stores migrated to head, dispatch
core, API, order bridge), the event ingest, evidence retention, the health endpoint
(``/healthz``, ``/metrics`` on ``LIANQIN_METRICS_PORT``; the API keeps its own).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from lianqin.config import LianqinConfig
from lianqin.runtime import Runtime
from patrol.footage import FootageRequests
from patrol.health import HealthServer
from patrol.leases import prune_workers
from patrol.remote import EventIngest, prune_ingested
from patrol.retention import purge_evidence
from patrol.scale import ScaleSettings, build_evidence_store
from patrol.tables import EventRow, OutboxRow

log = logging.getLogger(__name__)


class CentralProcess:
    def __init__(self, config: LianqinConfig, settings: ScaleSettings, *,
                 port: int | None = None) -> None:
        self.config = config
        self.settings = settings
        self.runtime = Runtime(config, port=port, patrol=False)
        self.evidence: Any = None
        self.ingest: EventIngest | None = None
        self.footage: FootageRequests | None = None
        self.registry = CollectorRegistry()
        self._gauges = {name: Gauge(f"lianqin_central_{name}", doc, registry=self.registry)
                        for name, doc in (
                            ("messages_received", "Event messages received from workers"),
                            ("messages_duplicate", "Repeated messages dropped (idempotency)"),
                            ("messages_rejected", "Malformed messages dropped"),
                            ("events", "Events in the store"),
                            ("outbox_depth", "Order messages not yet delivered"),
                            ("live_workers", "Workers whose heartbeat is current"),
                            ("cameras_leased", "Cameras with a live lease"),
                            ("cameras_unleased", "Cameras nobody patrols right now"),
                            ("mqtt_connected", "1 while connected to the broker"))}
        self.health = HealthServer(settings.metrics_host, settings.metrics_port, self.registry,
                                   self._health, self._refresh)
        self._stop = threading.Event()
        self._retention: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        self.evidence = build_evidence_store(self.settings, self.config.storage.evidence_dir,
                                             self.config.evidence.jpeg_quality,
                                             create_bucket=bool(self.settings.s3_bucket))
        self.runtime.evidence_store = self.evidence
        self.url = self.runtime.start()
        assert self.runtime.patrol is not None
        self.runtime.patrol.evidence = self.evidence
        self.ingest = EventIngest(self.settings, self.runtime.patrol.sessions,
                                  self.runtime.patrol)
        self.ingest.start()
        # Footage checks of the order bridge's verification go to the worker that holds
        # the camera. (Runtime builds a plain PatrolService; its check_footage is swapped
        # on this instance until Runtime takes a factory, see the scale branch's notes.)
        self.footage = FootageRequests(self.settings, self.runtime.engines[0], self.config)
        self.footage.start()
        self.runtime.patrol.check_footage = self.footage.check_footage  # type: ignore[method-assign]
        self._retention = threading.Thread(target=self._retention_loop, name="retention",
                                           daemon=True)
        self._retention.start()
        self.health.start()
        return self.url

    def stop(self) -> None:
        self._stop.set()
        self.health.stop()
        if self.ingest is not None:
            self.ingest.stop()
        if self.footage is not None:
            self.footage.stop()
        if self._retention is not None:
            self._retention.join(10)
        self.runtime.stop()

    def _retention_loop(self) -> None:
        while not self._stop.wait(self.settings.retention_interval_s):
            self.retention_round()

    def retention_round(self) -> None:
        assert self.runtime.patrol is not None
        try:
            purge_evidence(self.runtime.patrol.sessions, self.evidence,
                           {str(k): v for k, v in self.settings.retention_days.items()})
            prune_ingested(self.runtime.patrol.sessions)
            prune_workers(self.runtime.engines[0])
        except Exception:
            log.exception("evidence retention round failed")

    def _refresh(self) -> None:
        g, ingest = self._gauges, self.ingest
        if ingest is not None:
            g["messages_received"].set(ingest.received)
            g["messages_duplicate"].set(ingest.duplicates)
            g["messages_rejected"].set(ingest.rejected)
            g["mqtt_connected"].set(1 if ingest.connected.is_set() else 0)
        assert self.runtime.patrol is not None
        with self.runtime.patrol.sessions() as s:
            g["events"].set(s.scalar(select(func.count()).select_from(EventRow)) or 0)
            g["outbox_depth"].set(s.scalar(select(func.count()).select_from(OutboxRow).where(
                OutboxRow.delivered_at.is_(None), OutboxRow.dead.is_(False))) or 0)
            if s.get_bind().dialect.name == "postgresql":
                g["live_workers"].set(s.execute(text(
                    "SELECT count(*) FROM scale_workers WHERE expires_at > now()")).scalar_one())
                leased = s.execute(text("SELECT count(*) FILTER (WHERE expires_at > now() AND "
                                        "worker_id IS NOT NULL), count(*) FROM camera_leases")
                                   ).one()
                g["cameras_leased"].set(leased[0])
                g["cameras_unleased"].set(leased[1] - leased[0])

    def _health(self) -> tuple[bool, dict[str, Any]]:
        db_ok = True
        try:
            with self.runtime.engines[0].connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError:
            db_ok = False
        mqtt_ok = self.ingest is not None and self.ingest.connected.is_set()
        return db_ok and mqtt_ok, {"api": self.url, "database": db_ok, "mqtt": mqtt_ok}


def run_central(config: LianqinConfig, settings: ScaleSettings, stop: threading.Event, *,
                port: int | None = None, on_ready: Any = print) -> int:
    central = CentralProcess(config, settings, port=port)
    url = central.start()
    on_ready(f"lianqin central serving on {url}/ ; /healthz and /metrics on port "
             f"{central.health.port}")
    try:
        stop.wait()
    finally:
        central.stop()
    return 0
