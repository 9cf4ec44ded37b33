"""A paho-mqtt (MQTT 5) client that reconnects by itself, shared by the order adapter and
the event stream."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

# Reconnect delays (seconds): quick after a broker restart, bounded while it stays away.
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 10
# paho keeps at most this many unacknowledged QoS 1 messages in flight.
MAX_INFLIGHT = 100


def publish_properties(*, expiry_s: int | None = None, user: dict[str, str] | None = None,
                       response_topic: str | None = None,
                       correlation: bytes | None = None) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "application/json"
    props.PayloadFormatIndicator = 1  # UTF-8 text
    if expiry_s:
        props.MessageExpiryInterval = expiry_s
    if user:
        props.UserProperty = list(user.items())
    if response_topic:
        props.ResponseTopic = response_topic
    if correlation:
        props.CorrelationData = correlation
    return props


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class MqttConnection:
    """One client, connected in the background; ``subscriptions`` are renewed on every
    (re)connect. ``on_message(msg)`` runs in paho's network thread."""

    def __init__(self, *, host: str, port: int, client_id: str, username: str | None,
                 password: str | None, keepalive_s: int = 30, persistent: bool = False,
                 tls: bool = False, ca_file: str | None = None,
                 will: tuple[str, bytes] | None = None, online: tuple[str, bytes] | None = None,
                 subscriptions: list[str] | None = None,
                 on_message: Callable[[mqtt.MQTTMessage], bool] | None = None) -> None:
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self.persistent = persistent
        self.subscriptions = subscriptions or []
        self.on_message = on_message
        self.online = online
        self.connected = threading.Event()
        self.connects = 0  # how many times a connection was made (retained state to renew)
        self._started = False
        self._lock = threading.Lock()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5, manual_ack=on_message is not None)
        if username:
            client.username_pw_set(username, password)
        if tls:  # verifies the broker's certificate (system CAs, or ca_file)
            client.tls_set(ca_certs=ca_file)
        if will:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        props = Properties(PacketTypes.CONNECT)
        if self.persistent:  # the broker keeps our subscriptions and queued messages a day
            props.SessionExpiryInterval = 86400
        self.client.connect_async(self.host, self.port, self.keepalive_s,
                                  clean_start=not self.persistent, properties=props)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                    _props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        if self.online:
            client.publish(self.online[0], self.online[1], qos=1, retain=True)
        self.connects += 1
        self.connected.set()
        log.info("MQTT connected to %s:%d", self.host, self.port)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                       _props: Any) -> None:
        self.connected.clear()
        log.info("MQTT disconnected from %s:%d (%s)", self.host, self.port, reason)

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            done = self.on_message(msg) if self.on_message else True
        except Exception:
            log.exception("MQTT message on %s failed; the broker will send it again", msg.topic)
            done = False
        if done and msg.qos > 0:
            client.ack(msg.mid, msg.qos)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                properties: Properties | None = None, timeout_s: float = 10.0) -> None:
        """Publish and, for QoS 1, wait for the broker's PUBACK. Raises ConnectionError."""
        self.start()
        # Before the first connection, give it time; after a loss, fail at once (the outbox
        # retries with backoff while paho reconnects in the background).
        if not self.connected.wait(timeout_s if self.connects == 0 else 0.05):
            raise ConnectionError(f"MQTT broker {self.host}:{self.port} unreachable")
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"MQTT publish to {topic}: {mqtt.error_string(info.rc)}")
        if qos == 0:
            return
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise ConnectionError(f"MQTT publish to {topic}: {exc}") from None
        if not info.is_published():
            raise ConnectionError(f"MQTT publish to {topic}: no PUBACK within {timeout_s:.0f}s")

    def close(self) -> None:
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
