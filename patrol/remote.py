"""Events over MQTT 5: workers publish what they find, the central service writes it.

Workers never write the central event store. For every event update a worker publishes
one message, QoS 1, on ``{prefix}/events/{camera_id}`` (one topic per camera keeps a
camera's messages in order)::

    {"msg_id": "…", "type": "start|update|end|clip", "worker": "w1", "sent_at": 1.7e9,
     "event": {"id": "…", "camera_id": "…", "zone_id": "…", "kind": "smoke", …}}

Evidence is written by the worker to the evidence store (S3-compatible at scale) before the
``start`` message leaves, and the message carries its paths. The central service takes the
messages through the shared subscription ``$share/central/{prefix}/events/#`` (several
central replicas may share the load) and acknowledges each only after its transaction
committed (manual PUBACK): a message is processed at least once, and the
``ingested_messages`` table (message id, primary key) plus the event id (primary key of
``events``) make processing it twice a no-op: a repeated message never makes a second event
or a second order. Every message carries the whole event, so one that overtakes its
``start`` (a redelivery) still creates the row, and the acceptance decision (order or
review) is taken once, when the row is created.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import DateTime, String, delete
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from camera_adapters.base import FrameSource
from patrol.analyzer import Analysis
from patrol.config import CameraConfig, PatrolConfig
from patrol.scale import ScaleSettings
from patrol.service import PatrolService, VerificationError, _ground_truth
from patrol.tables import Base, EventRow
from patrol.worker import CameraWorker
from rules.events import Event, EventState

log = logging.getLogger(__name__)

# A persistent MQTT session survives a broker restart or a network cut this long: QoS 1
# messages in flight are then resent, not lost.
SESSION_EXPIRY_S = 3600
EVENT_FIELDS = ("id", "camera_id", "zone_id", "preset", "kind", "state", "confidence", "count",
                "severity", "boxes", "start_ts", "end_ts", "started_at", "ended_at", "snapshot",
                "clip", "clip_state", "truth")


class IngestedMessageRow(Base):
    """One MQTT message the central service has processed (its idempotency record)."""

    __tablename__ = "ingested_messages"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str | None] = mapped_column(String(32), default=None)
    type: Mapped[str] = mapped_column(String(16))
    worker_id: Mapped[str | None] = mapped_column(String(64), default=None)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def mqtt_client(settings: ScaleSettings, client_id: str, *, manual_ack: bool = False,
                will: tuple[str, str] | None = None) -> mqtt.Client:
    """A paho MQTT 5 client with a persistent session, reconnecting by itself."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    creds = settings.mqtt_credentials
    if creds:
        client.username_pw_set(*creds)
    if settings.mqtt_url.startswith("mqtts://"):
        client.tls_set()
    if will:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.reconnect_delay_set(1, 10)
    client.max_queued_messages_set(0)  # queue without bound while the broker is away
    return client


def _connect_properties() -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    return props


class EventPublisher:
    """A worker's MQTT side: publishes event messages (QoS 1) and its retained status.

    ``pending`` counts messages not yet acknowledged by the broker (the worker's outbox
    depth); ``published[type]`` counts acknowledged ones.
    """

    def __init__(self, settings: ScaleSettings, worker_id: str) -> None:
        self.prefix = settings.topic_prefix
        self.worker_id = worker_id
        self.status_topic = f"{self.prefix}/workers/{worker_id}/status"
        offline = json.dumps({"worker": worker_id, "state": "offline"})
        self.client = mqtt_client(settings, f"lianqin-worker-{worker_id}",
                                  will=(self.status_topic, offline))
        self.connected = threading.Event()
        self.published: dict[str, int] = {}
        self._pending: dict[int, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self.request_topic = f"{self.prefix}/workers/{worker_id}/footage"
        self.on_request: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_a: self.connected.clear()
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.connect_async(settings.mqtt_host, settings.mqtt_port, keepalive=30,
                                  clean_start=False, properties=_connect_properties())

    def start(self) -> None:
        self.client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        """Wait (up to ``timeout``) for unacknowledged messages, then disconnect."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        self.client.publish(self.status_topic, json.dumps(
            {"worker": self.worker_id, "state": "stopped"}), qos=1, retain=True)
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                    _props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused the worker: %s", reason)
            return
        self.connected.set()
        client.publish(self.status_topic, json.dumps(
            {"worker": self.worker_id, "state": "online"}), qos=1, retain=True)
        if self.on_request is not None:
            client.subscribe(self.request_topic, options=SubscribeOptions(qos=1))

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """A footage check asked by the central service: answered from a thread of its
        own (it watches the camera for seconds), on the request's reply topic."""
        try:
            request = json.loads(msg.payload)
            reply_to, request_id = request.pop("reply_to"), request.pop("request_id")
        except (ValueError, KeyError) as exc:
            log.error("malformed footage request (%s): %.200r", exc, msg.payload)
            return
        handler = self.on_request

        def answer() -> None:
            try:
                body = handler(request) if handler else {"error": "no footage service"}
            except Exception as exc:  # the answer says what went wrong
                body = {"error": f"{type(exc).__name__}: {exc}"}
            body["request_id"] = request_id
            client.publish(reply_to, json.dumps(body), qos=1)

        threading.Thread(target=answer, name="footage", daemon=True).start()

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any,
                    _props: Any) -> None:
        with self._lock:
            done = self._pending.pop(mid, None)
            if done is not None:
                self.published[done[0]] = self.published.get(done[0], 0) + 1
        if done is not None:
            log.info("broker acknowledged %s event %s", done[0], done[1])

    def publish_event(self, kind: str, event: dict[str, Any]) -> str:
        """Publish one event message; returns its message id."""
        msg_id = uuid.uuid4().hex
        body = json.dumps({"msg_id": msg_id, "type": kind, "worker": self.worker_id,
                           "sent_at": time.time(), "event": event}, ensure_ascii=False)
        with self._lock:  # on_publish may fire before publish() returns
            info = self.client.publish(f"{self.prefix}/events/{event['camera_id']}", body, qos=1)
            self._pending[info.mid] = (kind, event["id"])
        log.debug("published %s event %s camera %s msg %s", kind, event["id"],
                  event["camera_id"], msg_id)
        return msg_id


class RemotePatrolService(PatrolService):
    """The intake service of a worker: cameras come and go with their leases, evidence
    goes to the shared evidence store, and events go to the broker, not to a database."""

    def __init__(self, config: PatrolConfig, publisher: EventPublisher, evidence: Any,
                 sources: dict[str, FrameSource] | None = None) -> None:
        super().__init__(config, sessions=None, sources=sources)  # type: ignore[arg-type]
        self.evidence = evidence
        self.publisher = publisher
        self.events = {"start": 0, "update": 0, "end": 0, "clip": 0}
        self._rows: dict[str, dict[str, Any]] = {}  # open events, as last published

    def start(self) -> None:
        """Cameras start as their leases are taken (``lianqin.worker``)."""
        self.publisher.on_request = self.answer_footage_request

    def answer_footage_request(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a verification's footage check here, where the camera is."""
        try:
            check = self.check_footage(**{k: request.get(k) for k in (
                "camera_id", "zone_id", "kind", "evidence_folder", "name", "preset")})
        except VerificationError as exc:
            return {"error": str(exc)}
        return {"frames": check.frames, "hits": check.hits, "present": check.present,
                "snapshot": check.snapshot, "clip": check.clip}

    def remove_camera(self, camera_id: str) -> None:
        """Stop patrolling ``camera_id`` (lease released or lost); its open events end."""
        worker = self.workers.pop(camera_id, None)
        if worker is not None:
            self._retire(worker)

    def _send(self, kind: str, event_id: str, **changes: Any) -> None:
        row = self._rows.get(event_id)
        if row is None:
            log.warning("no open event %s to send %s for", event_id, kind)
            return
        row.update(changes)
        self.events[kind] += 1
        self.publisher.publish_event(kind, dict(row))

    def _on_start(self, worker: CameraWorker, analysis: Analysis, event: Event) -> None:
        camera = worker.camera
        snapshot, clip = self._start_evidence(worker, analysis, event)
        self._rows[event.id] = {
            "id": event.id, "camera_id": camera.id, "zone_id": event.zone_id,
            "preset": analysis.preset, "kind": str(event.kind), "state": str(event.state),
            "confidence": event.confidence, "count": event.count, "severity": event.severity,
            "boxes": [list(b) for b in event.boxes], "start_ts": event.start_ts, "end_ts": None,
            "started_at": _iso(event.started_wall), "ended_at": None, "snapshot": snapshot,
            "clip": clip, "clip_state": "pending" if clip else "none",
            "truth": _ground_truth(worker, event)}
        self._send("start", event.id)
        if clip:
            ev = self.config.evidence
            worker.schedule_clip(event.start_ts - ev.pre_roll_s, event.start_ts + ev.post_roll_s,
                                 clip, lambda path, eid=event.id: self._clip_done(eid, path))

    def _on_update(self, event: Event) -> None:
        self._send("update", event.id, confidence=event.confidence, count=event.count,
                   boxes=[list(b) for b in event.boxes])

    def _on_end(self, event: Event) -> None:
        self._send("end", event.id, state=str(EventState.ENDED), end_ts=event.end_ts,
                   ended_at=_iso(event.ended_wall))
        row = self._rows.get(event.id)
        if row is not None and row["clip_state"] != "pending":
            self._rows.pop(event.id, None)

    def _clip_done(self, event_id: str, path: str | None) -> None:
        self._send("clip", event_id, clip=path, clip_state="ready" if path else "failed")
        row = self._rows.get(event_id)
        if row is not None and row["state"] == str(EventState.ENDED):
            self._rows.pop(event_id, None)


def _row_values(event: dict[str, Any]) -> dict[str, Any]:
    values = {k: event.get(k) for k in EVENT_FIELDS}
    for key in ("started_at", "ended_at"):
        if values[key] is not None:
            values[key] = datetime.fromisoformat(values[key])
    return values


class EventIngest:
    """The central service's MQTT side: writes workers' event messages, idempotently.

    ``received``, ``duplicates``, ``rejected`` count messages; ``step_message`` processes
    one payload (bytes or dict) in one transaction and says what it did (tests use it).
    """

    def __init__(self, settings: ScaleSettings, sessions: sessionmaker[Session],
                 patrol: PatrolService, *, client_id: str = "lianqin-central",
                 group: str = "central") -> None:
        self.sessions = sessions
        self.patrol = patrol
        self.topic = f"$share/{group}/{settings.topic_prefix}/events/#"
        self.client = mqtt_client(settings, client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_a: self.connected.clear()
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self.received = self.duplicates = self.rejected = 0
        self._stop = threading.Event()
        self._settings = settings
        dialect = sessions.kw["bind"].dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        self._insert = insert

    def start(self) -> None:
        self.client.connect_async(self._settings.mqtt_host, self._settings.mqtt_port,
                                  keepalive=30, clean_start=False,
                                  properties=_connect_properties())
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                    _props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused the central service: %s", reason)
            return
        client.subscribe(self.topic, options=SubscribeOptions(qos=1))
        self.connected.set()
        log.info("ingesting events from %s", self.topic)

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self.step_message(msg.payload)
                break
            except OperationalError as exc:  # the database is away: hold the message
                log.warning("event store unavailable, message held: %s", exc.orig)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10)
            except Exception:  # a bug must not stop the ingest thread: drop, log loudly
                self.rejected += 1
                log.exception("event message could not be processed: %.300r", msg.payload)
                break
        else:
            return  # stopping: no PUBACK, the broker delivers it again
        client.ack(msg.mid, msg.qos)

    def step_message(self, payload: bytes | dict[str, Any]) -> str:
        """Process one message: ``created``, ``applied``, ``duplicate`` or ``rejected``."""
        self.received += 1
        try:
            msg = payload if isinstance(payload, dict) else json.loads(payload)
            kind, event = msg["type"], msg["event"]
            camera = self.patrol.config.camera(event["camera_id"])
            values = _row_values(event)
        except (ValueError, KeyError, TypeError) as exc:
            self.rejected += 1
            log.error("rejected an event message (%s): %.200r", exc, payload)
            return "rejected"
        for attempt in (1, 2):
            try:
                return self._apply(msg, kind, values, camera)
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("event %s was written concurrently; retrying", values["id"])
        raise AssertionError("unreachable")

    def _apply(self, msg: dict[str, Any], kind: str, values: dict[str, Any],
               camera: CameraConfig) -> str:
        with self.sessions.begin() as s:
            first = s.execute(self._insert(IngestedMessageRow).values(
                message_id=str(msg["msg_id"])[:64], event_id=values["id"], type=kind,
                worker_id=msg.get("worker"), received_at=datetime.now(UTC),
            ).on_conflict_do_nothing(index_elements=["message_id"])
                .returning(IngestedMessageRow.message_id)).first()
            if first is None:
                self.duplicates += 1
                return "duplicate"
            row = s.get(EventRow, values["id"], with_for_update=True)
            if row is None:
                row = EventRow(review="pending", **values)
                s.add(row)
                s.flush()
                self.patrol._decide(s, row, camera)
                return "created"
            if kind == "update" and row.state == EventState.ACTIVE:
                row.confidence, row.count, row.boxes = (values["confidence"], values["count"],
                                                        values["boxes"])
            elif kind == "end":
                row.state, row.end_ts, row.ended_at = (EventState.ENDED, values["end_ts"],
                                                       values["ended_at"])
            elif kind == "clip":
                row.clip, row.clip_state = values["clip"], values["clip_state"]
            return "applied"


def prune_ingested(sessions: sessionmaker[Session], older_than_s: float = 7 * 86400) -> int:
    """Forget idempotency records older than any redelivery can be."""
    cutoff = datetime.fromtimestamp(time.time() - older_than_s, UTC)
    with sessions.begin() as s:
        return s.execute(delete(IngestedMessageRow).where(
            IngestedMessageRow.received_at < cutoff)).rowcount


__all__ = ["EventIngest", "EventPublisher", "IngestedMessageRow", "RemotePatrolService",
           "mqtt_client", "prune_ingested"]
