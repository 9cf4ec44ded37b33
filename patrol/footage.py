"""Closed-loop verification at scale: the central service's footage checks run on the
worker that holds the camera's lease.

The order bridge calls ``check_footage`` as on one box; :class:`FootageRequests` looks up
the camera's live lease, sends a QoS 1 request on ``{prefix}/workers/{worker}/footage``
and waits for the answer on this process's own reply topic. The worker side is
``RemotePatrolService.answer_footage_request`` (``patrol.remote``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine, text

from patrol.config import PatrolConfig
from patrol.remote import mqtt_client
from patrol.scale import ScaleSettings
from patrol.service import VERIFY_GRACE_S, FootageCheck, VerificationError

log = logging.getLogger(__name__)


class FootageRequests:
    """The central service's footage checks (closed-loop verification, standard 6.3),
    run by the worker that holds the camera's lease: a QoS 1 request on
    ``{prefix}/workers/{worker}/footage`` and the answer on this process's own reply
    topic. ``check_footage`` has ``PatrolService.check_footage``'s signature and errors."""

    def __init__(self, settings: ScaleSettings, engine: Engine, config: PatrolConfig, *,
                 client_id: str = "") -> None:
        client_id = client_id or f"lianqin-central-footage-{uuid.uuid4().hex[:8]}"
        self.engine = engine
        self.prefix = settings.topic_prefix
        self.reply_topic = f"{self.prefix}/central/{client_id}/footage"
        cfg = config.verification
        self.timeout_s = cfg.settle_s + cfg.window_s + 2 * VERIFY_GRACE_S
        self._answers: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self.client = mqtt_client(settings, client_id)
        self.client.on_connect = lambda c, *_a: c.subscribe(
            self.reply_topic, options=SubscribeOptions(qos=1))
        self.client.on_message = self._on_message
        self._settings = settings

    def start(self) -> None:
        self.client.connect_async(self._settings.mqtt_host, self._settings.mqtt_port,
                                  keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
            with self._cond:
                self._answers[str(body["request_id"])] = body
                self._cond.notify_all()
        except (ValueError, KeyError):
            log.error("malformed footage answer: %.200r", msg.payload)

    def holder(self, camera_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(text(
                "SELECT worker_id FROM camera_leases WHERE camera_id = :c AND "
                "worker_id IS NOT NULL AND expires_at > now()"), {"c": camera_id}).scalar()

    def check_footage(self, *, camera_id: str, zone_id: str | None, kind: str,
                      evidence_folder: str, name: str, preset: str | None = None
                      ) -> FootageCheck:
        worker = self.holder(camera_id)
        if worker is None:
            raise VerificationError(f"camera {camera_id} is not patrolled by a live worker")
        request_id = uuid.uuid4().hex
        self.client.publish(f"{self.prefix}/workers/{worker}/footage", json.dumps({
            "request_id": request_id, "reply_to": self.reply_topic, "camera_id": camera_id,
            "zone_id": zone_id, "kind": kind, "evidence_folder": evidence_folder,
            "name": name, "preset": preset}), qos=1)
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            while request_id not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VerificationError(f"camera {camera_id}: worker {worker} did not "
                                            f"answer the footage check in {self.timeout_s:.0f} s")
                self._cond.wait(left)
            answer = self._answers.pop(request_id)
        if "error" in answer:
            raise VerificationError(answer["error"])
        return FootageCheck(int(answer["frames"]), int(answer["hits"]),
                            bool(answer["present"]), answer.get("snapshot"), answer.get("clip"))
