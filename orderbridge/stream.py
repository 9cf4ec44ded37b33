"""The MQTT event stream, laid out as Frigate users know it (``P`` = ``events.prefix``)::

    P/available                    online / offline (retained; last will)
    P/events                       {"type": "new"|"update"|"end", "before": {...}, "after": {...}}
    P/<camera>/status              connecting | live | stalled | offline | ended | stopped (retained)
    P/<camera>/<zone>/<kind>       how many are active there now (retained): the number of open
                                   events, or for crowds the people counted

Fed by the patrol bus (``events/<camera>/new|update|end``). Messages are published at
QoS 1 without waiting; while the broker is away they are dropped (as Frigate does), and
retained topics are set again on reconnect."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from orderbridge.config import EventStreamConfig
from orderbridge.mqttclient import MqttConnection, dumps
from patrol.bus import EventBus
from patrol.service import PatrolService
from patrol.tables import EventRow

log = logging.getLogger(__name__)


def event_payload(row: EventRow) -> dict[str, Any]:
    return {
        "id": row.id, "camera": row.camera_id, "zone": row.zone_id, "preset": row.preset,
        "kind": row.kind, "label": row.label or row.kind, "confidence": round(row.confidence, 3),
        "count": row.count, "severity": row.severity, "state": row.state, "review": row.review,
        "start_time": row.started_at.timestamp() if row.started_at else None,
        "end_time": row.ended_at.timestamp() if row.ended_at else None,
        "has_snapshot": bool(row.snapshot), "has_clip": row.clip_state == "ready",
        "snapshot": row.snapshot, "clip": row.clip if row.clip_state == "ready" else None,
        "order_id": row.order_id, "order_status": row.order_status,
        "box": row.boxes[0] if row.boxes else None,
    }


class EventStream:
    """Publishes what the patrol bus announces; ``start``/``stop``."""

    def __init__(self, config: EventStreamConfig, sessions: sessionmaker[Session], bus: EventBus,
                 patrol: PatrolService | None = None) -> None:
        self.config = config
        self.sessions = sessions
        self.bus = bus
        self.patrol = patrol
        p = config.prefix
        self.conn = MqttConnection(**config.connection_args(config.client_id),
                                   will=(f"{p}/available", b"offline"),
                                   online=(f"{p}/available", b"online"))
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=10000)
        self._last: dict[str, dict[str, Any]] = {}  # event id → what was last published
        self._zones: dict[tuple[str, str, str], dict[str, int]] = {}  # → event id → count
        self._status: dict[str, str] = {}
        self._connects = 0
        self._unsubscribe = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.conn.start()
        self._unsubscribe = self.bus.subscribe("events/", self._on_bus)
        self._thread = threading.Thread(target=self._loop, name="event-stream", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(10)
        with contextlib.suppress(ConnectionError):
            self.conn.publish(f"{self.config.prefix}/available", b"offline", retain=True,
                              timeout_s=2)
        self.conn.close()

    def _on_bus(self, topic: str, message: dict[str, Any]) -> None:
        parts = topic.split("/")
        if len(parts) == 3 and parts[2] in ("new", "update", "end") and "id" in message:
            try:
                self._queue.put_nowait((parts[2], str(message["id"])))
            except queue.Full:
                log.warning("event stream queue full; %s %s not published", topic, message["id"])

    def _loop(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.config.status_interval_s)
            except queue.Empty:
                item = ()
            if item is None:
                return
            try:
                if item:
                    self.publish_event(*item)
                self.publish_status()
            except Exception:
                log.exception("event stream failed")

    def _send(self, topic: str, body: Any, *, retain: bool = False) -> None:
        payload = body if isinstance(body, bytes) else dumps(body)
        if not self.conn.connected.is_set():
            return  # dropped while the broker is away
        try:
            self.conn.client.publish(topic, payload, qos=1, retain=retain)
        except (RuntimeError, ValueError) as exc:
            log.debug("event stream publish to %s failed: %s", topic, exc)

    def publish_event(self, kind: str, event_id: str) -> None:
        with self.sessions() as s:
            row = s.get(EventRow, event_id)
            if row is None:
                return
            after = event_payload(row)
        if kind == "end":
            after["state"] = "ended"
        before = self._last.get(event_id, after)
        if kind == "update" and before == after:
            return  # nothing a subscriber could see changed
        self._send(f"{self.config.prefix}/events", {"type": kind, "before": before, "after": after})
        key = (row.camera_id, row.zone_id, row.label or row.kind)
        zone = self._zones.setdefault(key, {})
        if kind == "end":
            self._last.pop(event_id, None)
            zone.pop(event_id, None)
        else:
            self._last[event_id] = after
            zone[event_id] = row.count if row.kind == "crowd" and row.count else 1
        self._send(f"{self.config.prefix}/{key[0]}/{key[1]}/{key[2]}",
                   str(sum(zone.values())).encode(), retain=True)

    def publish_status(self) -> None:
        """Camera states that changed; everything retained again after a reconnect (the
        broker may have restarted without its retained messages)."""
        if not self.conn.connected.is_set():
            return
        if self.conn.connects != self._connects:
            self._connects = self.conn.connects
            self._status.clear()
            for (camera, zone, kind), active in self._zones.items():
                self._send(f"{self.config.prefix}/{camera}/{zone}/{kind}",
                           str(sum(active.values())).encode(), retain=True)
        if self.patrol is None:
            return
        for camera_id, worker in list(self.patrol.workers.items()):
            state = str(worker.refresh_state().state)
            if self._status.get(camera_id) != state:
                self._send(f"{self.config.prefix}/{camera_id}/status", state.encode(), retain=True)
                self._status[camera_id] = state
