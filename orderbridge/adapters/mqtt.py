"""Orders over an MQTT 5 broker (paho-mqtt, QoS 1, persistent session).

Topics (``P`` = ``prefix``, default ``lianqin``)::

    P/orders/new                       out  order.create  (body as the webhook's)
    P/orders/<order_id>/verifying      out  order.verifying
    P/orders/<order_id>/verdict        out  order.verdict
    P/dispatch/orders/<order_id>/status in  {"status": "...", "note": "..."} from dispatch
    P/verify/request                   in   a footage check asked by the dispatch side
    P/verify/reply                     out  its answer (or the request's response topic)
    P/bridge/available                 out  online / offline (retained, last will)

The order id is the idempotency key of the order (``event:<event id>``). Every message
carries the MQTT 5 user property ``idempotency-key``; the consumer keeps the first copy
(QoS 1 is at least once). Orders expire after ``message_expiry_s`` if nobody takes them;
``order.create`` names the status topic as its response topic and the key as correlation
data. A PUBACK from the broker delivers; a broker that is down or silent is retried."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from orderbridge.adapters.base import DeliveryError
from orderbridge.adapters.local import LocallyTrackedAdapter
from orderbridge.config import MqttTarget
from orderbridge.mqttclient import MqttConnection, dumps, publish_properties
from orderbridge.states import StateError

log = logging.getLogger(__name__)

VerifyHandler = Callable[[dict[str, Any], dict[str, Any]], None]


class MqttAdapter(LocallyTrackedAdapter):
    pushes_states = True

    def __init__(self, config: MqttTarget, sessions: sessionmaker[Session] | None = None) -> None:
        super().__init__(config.status_map, sessions)
        self.config = config
        p = config.prefix
        self.status_topic = f"{p}/dispatch/orders/+/status"
        self.request_topic = f"{p}/verify/request"
        self.reply_topic = f"{p}/verify/reply"
        available = f"{p}/bridge/available"
        self.on_verify_request: VerifyHandler | None = None
        self.conn = MqttConnection(
            **config.connection_args(config.client_id), keepalive_s=config.keepalive_s,
            persistent=True, will=(available, b"offline"), online=(available, b"online"),
            subscriptions=[self.status_topic, self.request_topic], on_message=self._on_message)

    # -- out ------------------------------------------------------------------------------
    def _publish(self, topic: str, kind: str, key: str, body: dict[str, Any], *,
                 response_topic: str | None = None, correlation: bytes | None = None,
                 user: dict[str, str] | None = None) -> None:
        message = {"type": kind, "key": key,
                   "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"), **body}
        props = publish_properties(
            expiry_s=self.config.message_expiry_s,
            user={"idempotency-key": key, "type": kind, **(user or {})},
            response_topic=response_topic, correlation=correlation)
        try:
            self.conn.publish(topic, dumps(message), qos=1, properties=props,
                              timeout_s=self.config.timeout_s)
        except ConnectionError as exc:
            raise DeliveryError(str(exc), retryable=True) from None

    def create_order(self, key: str, request: dict[str, Any], *,
                     in_doubt: bool = False) -> dict[str, Any]:
        p = self.config.prefix
        self._publish(f"{p}/orders/new", "order.create", key, {"order": request},
                      response_topic=f"{p}/dispatch/orders/{key}/status",
                      correlation=key.encode(),
                      user={"kind": str(request.get("kind")),
                            "camera": str(request.get("camera_id") or "")})
        return {"id": key, "status": "sent"}

    def start_verification(self, order_id: str) -> dict[str, Any]:
        attempt = self.order(order_id)["redo_count"]
        self._publish(f"{self.config.prefix}/orders/{order_id}/verifying", "order.verifying",
                      f"verifying:{order_id}:{attempt}", {"order_id": order_id})
        self.states.apply(order_id, "verifying")
        return {"id": order_id, "status": "verifying"}

    def send_verdict(self, key: str, order_id: str, verdict: dict[str, Any], *,
                     in_doubt: bool = False) -> dict[str, Any]:
        ours = self.states.verdict_status(order_id, bool(verdict.get("effective")))
        self._publish(f"{self.config.prefix}/orders/{order_id}/verdict", "order.verdict", key,
                      {"order_id": order_id, "verdict": {**verdict, "status": ours}})
        return {"id": order_id, "status": ours}

    def send_reply(self, key: str, reply: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        """Answer a verification request on its response topic, with its correlation data."""
        correlation = bytes.fromhex(reply["correlation"]) if reply.get("correlation") else None
        self._publish(reply.get("topic") or self.reply_topic, "verification.answer", key,
                      {"answer": answer}, correlation=correlation)
        return {"id": answer.get("request_id"), "status": answer.get("state")}

    # -- in -------------------------------------------------------------------------------
    def _on_message(self, msg: mqtt.MQTTMessage) -> bool:
        """True: handled (or hopeless), acknowledge; False: let the broker send it again."""
        try:
            body = json.loads(msg.payload)
        except ValueError:
            log.warning("MQTT %s: not JSON, dropped", msg.topic)
            return True
        if not isinstance(body, dict):
            log.warning("MQTT %s: not a JSON object, dropped", msg.topic)
            return True
        try:
            if mqtt.topic_matches_sub(self.status_topic, msg.topic):
                order_id = msg.topic.split("/")[-2]
                if not self.states.apply(order_id, str(body.get("status"))):
                    log.info("MQTT status for unknown or closed order %s ignored", order_id)
            elif msg.topic == self.request_topic:
                self._verify_request(msg, body)
        except StateError as exc:
            log.warning("MQTT %s: %s", msg.topic, exc)
        except SQLAlchemyError:
            log.exception("MQTT %s: store unavailable", msg.topic)
            return False
        return True

    def _verify_request(self, msg: mqtt.MQTTMessage, body: dict[str, Any]) -> None:
        props = getattr(msg, "properties", None)
        topic = getattr(props, "ResponseTopic", None) or self.reply_topic
        correlation = getattr(props, "CorrelationData", None)
        reply = {"channel": "mqtt", "topic": topic,
                 "correlation": correlation.hex() if correlation else None}
        if self.on_verify_request is None:
            log.warning("verification request on %s but verification is off", msg.topic)
            return
        self.on_verify_request(body, reply)

    def start(self) -> None:
        self.conn.start()

    def close(self) -> None:
        self.conn.close()
