"""The MQTT adapter against a real mosquitto started for the test: QoS 1 orders with MQTT 5
properties, status updates consumed back into our order states, a broker restart, and a
broker that stays away across many retry cycles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bridge_peers import MqttDispatchSide, add_event, until
from sqlalchemy import select, update

from orderbridge.adapters.mqtt import MqttAdapter
from orderbridge.config import MqttTarget, RetryConfig
from orderbridge.outbox import OutboxDelivery
from patrol.tables import EventRow, OutboxRow


def adapter_for(broker, sessions, **kw) -> MqttAdapter:
    cfg = MqttTarget(port=broker.port, client_id="bridge-test", timeout_s=3,
                     status_map={"已处置": "feedback_received"}, **kw)
    return MqttAdapter(cfg, sessions)


def outbox(sessions, adapter) -> OutboxDelivery:
    return OutboxDelivery(sessions, adapter, evidence_base_url="http://x/evidence",
                          retry=RetryConfig(base_s=0.01, max_s=0.05))


def make_due(sessions) -> None:
    with sessions.begin() as s:
        s.execute(update(OutboxRow).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))


def drain(out: OutboxDelivery, sessions, timeout: float = 60) -> None:
    """Deliver until the outbox is empty (the client reconnects on its own schedule)."""
    def empty() -> bool:
        make_due(sessions)
        out.deliver_due()
        return out.pending() == 0
    until(empty, timeout, "the outbox to empty")


def status_of(sessions, event_id: str) -> str | None:
    with sessions() as s:
        return s.get(EventRow, event_id).order_status


def test_orders_go_out_at_qos1_with_properties_and_states_come_back(broker, event_store):
    side = MqttDispatchSide(broker.port)
    adapter = adapter_for(broker, event_store, message_expiry_s=600)
    adapter.start()
    try:
        add_event(event_store, "e1")
        add_event(event_store, "c1", kind="crowd", count=41)
        assert outbox(event_store, adapter).deliver_due() == 2
        until(lambda: len(side.first) == 2, 30, "both orders at the dispatch side")
        msg = next(m for m in side.messages if m.topic == "lianqin/orders/new")
        assert msg.qos == 1
        props = msg.properties
        user = dict(props.UserProperty)
        assert user["idempotency-key"] == "event:e1" and user["kind"] == "smoke"
        assert user["camera"] == "cam" and props.ContentType == "application/json"
        assert 0 < props.MessageExpiryInterval <= 600
        assert props.ResponseTopic == "lianqin/dispatch/orders/event:e1/status"
        assert props.CorrelationData == b"event:e1"
        body = side.first["event:e1"]
        assert body["type"] == "order.create" and body["order"]["event_id"] == "e1"
        assert body["order"]["evidence"][0]["url"] == "http://x/evidence/cam/e1/snapshot.jpg"
        assert side.first["event:c1"]["order"]["count"] == 41
        assert status_of(event_store, "e1") == "sent"

        # The dispatch side answers on the response topic; its words are mapped to ours.
        side.publish(props.ResponseTopic, {"status": "dispatched"})
        until(lambda: status_of(event_store, "e1") == "dispatched", 30, "dispatched")
        side.publish("lianqin/dispatch/orders/event:e1/status", {"status": "已处置"})
        until(lambda: status_of(event_store, "e1") == "feedback_received", 30, "feedback")
        assert [o["id"] for o in adapter.orders(status="feedback_received")] == ["event:e1"]
        # Junk and unknown orders are acknowledged and change nothing.
        side.client.publish("lianqin/dispatch/orders/event:e1/status", b"not json", qos=1)
        side.publish("lianqin/dispatch/orders/event:nope/status", {"status": "closed"})
        side.publish("lianqin/dispatch/orders/event:e1/status", {"status": "whatever"})

        adapter.start_verification("event:e1")
        until(lambda: any(m.topic == "lianqin/orders/event:e1/verifying" for m in side.messages),
              30, "the verifying notice")
        with event_store.begin() as s:
            s.add(OutboxRow(key="verdict:event:e1:0", topic="order.verdict", payload={
                "order_id": "event:e1", "verdict": {"effective": True, "note": "未见烟雾",
                                                    "actor": "video_patrol", "evidence": []}}))
        assert outbox(event_store, adapter).deliver_due() == 1
        assert status_of(event_store, "e1") == "closed"
        until(lambda: "verdict:event:e1:0" in side.first, 30, "the verdict")
        assert side.first["verdict:event:e1:0"]["verdict"]["status"] == "closed"
        # Closed is final: a late status changes nothing.
        side.publish("lianqin/dispatch/orders/event:e1/status", {"status": "dispatched"})
        side.publish("lianqin/dispatch/orders/event:c1/status", {"status": "accepted"})
        until(lambda: status_of(event_store, "c1") == "accepted", 30, "the crowd order accepted")
        assert status_of(event_store, "e1") == "closed"
    finally:
        adapter.close()
        side.close()


def test_status_published_while_the_bridge_is_away_arrives_later(broker, event_store):
    side = MqttDispatchSide(broker.port)
    adapter = adapter_for(broker, event_store)
    adapter.start()
    add_event(event_store, "e1")
    assert outbox(event_store, adapter).deliver_due() == 1
    adapter.close()  # the bridge goes away; its session (and subscription) stays at the broker
    side.publish("lianqin/dispatch/orders/event:e1/status", {"status": "dispatched"})
    adapter = adapter_for(broker, event_store)
    adapter.start()
    try:
        until(lambda: status_of(event_store, "e1") == "dispatched", 30, "the queued status")
    finally:
        adapter.close()
        side.close()


def test_broker_restart_and_a_long_outage_lose_nothing(broker, event_store):
    side = MqttDispatchSide(broker.port)
    adapter = adapter_for(broker, event_store)
    adapter.start()
    out = outbox(event_store, adapter)
    try:
        add_event(event_store, "before")
        assert out.deliver_due() == 1
        broker.stop()
        for i in range(3):
            add_event(event_store, f"down{i}")
        for _ in range(10):  # many retry cycles while the broker is away
            make_due(event_store)
            assert out.deliver_due() == 0
        with event_store() as s:
            head = s.scalars(select(OutboxRow).where(OutboxRow.key == "event:down0")).one()
        assert head.attempts == 10 and not head.dead and "unreachable" in head.last_error
        broker.start()
        drain(out, event_store)
        until(lambda: len(side.first) == 4, 60, "every order at the dispatch side")
        assert sorted(side.first) == ["event:before", "event:down0", "event:down1", "event:down2"]
        # The status subscription is renewed after the restart.
        side.publish("lianqin/dispatch/orders/event:down1/status", {"status": "accepted"})
        until(lambda: status_of(event_store, "down1") == "accepted", 30, "status after restart")
    finally:
        adapter.close()
        side.close()


def test_a_verification_request_by_mqtt_is_answered_on_its_response_topic(broker, event_store):
    side = MqttDispatchSide(broker.port)
    adapter = adapter_for(broker, event_store)
    got: list[tuple[dict, dict]] = []
    adapter.on_verify_request = lambda request, reply: got.append((request, reply))
    adapter.start()
    try:
        until(adapter.conn.connected.is_set, 30, "the bridge to connect")
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic, props.CorrelationData = "county/replies/7", b"\x01\x02"
        side.client.publish("lianqin/verify/request", json.dumps(
            {"request_id": "r1", "order_id": "O-7", "camera_id": "cam", "kind": "smoke"}),
            qos=1, properties=props).wait_for_publish(10)
        until(lambda: got, 30, "the request")
        request, reply = got[0]
        assert request["request_id"] == "r1"
        assert reply == {"channel": "mqtt", "topic": "county/replies/7", "correlation": "0102"}
        side.client.subscribe("county/replies/#", qos=1)
        import time
        time.sleep(0.5)
        adapter.send_reply("reply:r1", reply, {"request_id": "r1", "state": "done"})
        msg = until(lambda: next((m for m in side.messages if m.topic == "county/replies/7"), None),
                    30, "the answer")
        assert msg.properties.CorrelationData == b"\x01\x02"
        assert json.loads(msg.payload)["answer"]["state"] == "done"
    finally:
        adapter.close()
        side.close()
