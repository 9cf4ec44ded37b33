"""The whole bridge on a running synthetic camera: a smoke event becomes a webhook order
at once (the bus wakes the bridge), the MQTT event stream shows it as Frigate users know
it, the dispatch side asks for a footage check over HTTP and gets a signed answer with
before/after evidence, and the end of the event brings the zone count back to 0."""

from __future__ import annotations

import json
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from bridge_peers import CallbackReceiver, Feeder, WebhookReceiver, smoke_field, until
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers import free_port

from lianqin.config import parse_config
from orderbridge.bridge import OrderBridge, build_adapter
from orderbridge.signing import sign
from patrol.service import PatrolService
from patrol.store import open_engine, session_factory

SECRET = "live-test-shared-secret"


class Watcher:
    """Everything published under lianqin/ on the broker."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload, m.retain))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("lianqin/#", qos=1)
        self.client.loop_start()

    def events(self, kind: str) -> list[dict]:
        return [json.loads(p) for t, p, _ in self.messages
                if t == "lianqin/events" and json.loads(p)["type"] == kind]

    def last(self, topic: str) -> bytes | None:
        return next((p for t, p, _ in reversed(self.messages) if t == topic), None)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def live(tmp_path: Path, broker):
    receiver = WebhookReceiver(free_port(), SECRET)
    target = {"type": "webhook", "url": receiver.url, "secret": SECRET,
              "response_id": "result.order_no"}
    yield from _live(tmp_path, broker, receiver, target)


@pytest.fixture
def live_mqtt(tmp_path: Path, broker):
    target = {"type": "mqtt", "port": broker.port, "client_id": "live-bridge"}
    yield from _live(tmp_path, broker, None, target)


def _live(tmp_path: Path, broker, receiver, target):  # noqa: ANN001, ANN202
    answers = CallbackReceiver(free_port(), SECRET)
    if receiver is not None:
        receiver.up()
    answers.up()
    config = parse_config({
        **smoke_field(tmp_path),
        "rules": {"smoke": {"persistence": {"n": 3, "m": 5}, "end_after_s": 2}},
        "review": {"auto_order_min_confidence": {"smoke": 0.0}},
        "verification": {"settle_s": 1, "window_s": 4},
        "bridge": {"target": target,
                   "poll_interval_s": 5, "evidence_base_url": "http://patrol.example/evidence",
                   "callbacks": {"secret": SECRET},
                   "events": {"enabled": True, "port": broker.port, "status_interval_s": 0.5}},
    })
    engine = open_engine(config.storage.database_url)
    sessions = session_factory(engine)
    patrol = PatrolService(config, sessions)
    bridge = OrderBridge(config.bridge, sessions, patrol, build_adapter(config.bridge, ""),
                         evidence_base_url="unused")
    watcher = Watcher(broker.port)
    bridge.start()
    worker = patrol.add_worker(config.cameras[0], start=False)
    feeder = Feeder(worker)
    feeder.thread.start()
    yield {"bridge": bridge, "receiver": receiver, "answers": answers, "watcher": watcher,
           "worker": worker}
    feeder.stop.set()
    feeder.thread.join(10)
    bridge.stop()
    watcher.close()
    if receiver is not None:
        receiver.down()
    answers.down()
    engine.dispose()


def test_event_to_order_stream_and_verification_on_request(live):
    receiver, watcher, bridge = live["receiver"], live["watcher"], live["bridge"]
    until(lambda: receiver.orders, 120, "the order at the webhook")
    # The bus woke the bridge: no 5-second poll was waited for.
    new = until(lambda: watcher.events("new"), 30, "lianqin/events new")[0]
    assert new["before"] == new["after"] and new["after"]["camera"] == "field"
    assert new["after"]["kind"] == "smoke" and new["after"]["zone"] == "all"
    assert until(lambda: watcher.last("lianqin/field/all/smoke"), 30, "the zone count") == b"1"
    assert until(lambda: watcher.last("lianqin/field/status"), 30, "the camera status") in (
        b"connecting", b"live")
    assert watcher.last("lianqin/available") == b"online"
    order = next(iter(receiver.orders.values()))
    assert order["camera_id"] == "field" and order["evidence"][0]["url"].startswith(
        "http://patrol.example/evidence/field/")

    # The dispatch side asks for a footage check; the answer comes back signed.
    app = FastAPI()
    app.include_router(bridge.router())
    client = TestClient(app)
    body = json.dumps({"request_id": "chk-1", "order_id": "W-1",
                       "callback_url": live["answers"].url}).encode()
    headers = {"Content-Type": "application/json", **sign(SECRET, body)}
    assert client.post("/api/bridge/verifications", content=body,
                       headers={"Content-Type": "application/json"}).status_code == 401
    resp = client.post("/api/bridge/verifications", content=body, headers=headers)
    assert resp.status_code == 202, resp.text
    assert resp.json()["request_id"] == "chk-1"
    until(lambda: (bridge.step() or True) and live["answers"].answers, 120, "the answer")
    answer = live["answers"].answers[0]["answer"]
    assert answer["state"] == "done" and answer["present"] is True and answer["effective"] is False
    assert answer["order_id"] == "W-1" and answer["camera_id"] == "field"
    phases = {(e["phase"], e["kind"]) for e in answer["evidence"]}
    assert {("before", "snapshot"), ("after", "snapshot")} <= phases
    assert all(e["url"].startswith("http://patrol.example/evidence/field/") for e in answer["evidence"])
    polled = client.get("/api/bridge/verifications/chk-1", headers=sign(SECRET, b""))
    assert polled.status_code == 200 and polled.json()["hits"] == answer["hits"]
    again = client.post("/api/bridge/verifications", content=body,
                        headers={"Content-Type": "application/json", **sign(SECRET, body)})
    assert again.json()["state"] == "done"  # a repeat is answered once
    unknown = json.dumps({"camera_id": "nope", "kind": "smoke"}).encode()
    assert client.post("/api/bridge/verifications", content=unknown, headers={
        "Content-Type": "application/json", **sign(SECRET, unknown)}).status_code == 404

    # The closed loop over the webhook: the unit reports disposal by callback, our footage
    # check runs (the smoke is still there), the verdict goes out: redo.
    status = json.dumps({"status": "feedback_received"}).encode()
    assert client.post("/api/bridge/orders/W-1/status", content=status, headers={
        "Content-Type": "application/json", **sign(SECRET, status)}).status_code == 200

    def verdicts():
        bridge.step()
        return [r["body"] for r in receiver.received if r["body"]["type"] == "order.verdict"]

    (verdict,) = until(verdicts, 120, "the verdict at the webhook")
    assert verdict["order_id"] == "W-1" and verdict["verdict"]["effective"] is False
    assert verdict["verdict"]["status"] == "redo"
    assert any(e["phase"] == "after" for e in verdict["verdict"]["evidence"])
    assert [r["body"]["type"] for r in receiver.received].count("order.verifying") == 1
    assert bridge.adapter.order("W-1")["status"] == "redo"

    # The smoke clears: the event ends and the zone count goes back to 0.
    scene, source = live["worker"].source.scene, live["worker"].source
    scene.clear(source.now())
    end = until(lambda: watcher.events("end"), 120, "lianqin/events end")[0]
    assert end["after"]["state"] == "ended" and end["before"]["id"] == end["after"]["id"]
    until(lambda: watcher.last("lianqin/field/all/smoke") == b"0", 30, "the zone count at 0")


def test_orders_and_a_verification_request_over_mqtt(live_mqtt, broker):
    watcher, bridge = live_mqtt["watcher"], live_mqtt["bridge"]
    created = until(lambda: [json.loads(p) for t, p, _ in watcher.messages
                             if t == "lianqin/orders/new"], 120, "the order on the broker")
    key = created[0]["key"]
    assert created[0]["order"]["camera_id"] == "field"
    # The dispatch side acknowledges and asks for a footage check with a response topic.
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    watcher.client.publish(f"lianqin/dispatch/orders/{key}/status",
                           json.dumps({"status": "dispatched"}), qos=1).wait_for_publish(10)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic, props.CorrelationData = "county/answers", b"req-42"
    watcher.client.subscribe("county/#", qos=1)
    watcher.client.publish("lianqin/verify/request", json.dumps(
        {"request_id": "m-1", "order_id": key}), qos=1, properties=props).wait_for_publish(10)

    def answered():
        bridge.step()
        return next((p for t, p, _ in watcher.messages if t == "county/answers"), None)

    answer = json.loads(until(answered, 120, "the answer on the response topic"))["answer"]
    assert answer["request_id"] == "m-1" and answer["order_id"] == key
    assert answer["state"] == "done" and answer["present"] is True
    assert {e["phase"] for e in answer["evidence"]} == {"before", "after"}
    assert bridge.adapter.order(key)["status"] == "dispatched"
