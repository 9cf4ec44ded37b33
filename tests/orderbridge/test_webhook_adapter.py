"""The webhook adapter against a real HTTP receiver on loopback that checks signatures:
signed bodies, field mapping, idempotent repeats, Retry-After, a receiver down across many
retry cycles, refusals to the dead letters, and states reported back through the router."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from bridge_peers import WebhookReceiver, add_event
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers import free_port
from sqlalchemy import select, update

from orderbridge.adapters.webhook import WebhookAdapter, map_fields
from orderbridge.config import CallbackAuth, RetryConfig, WebhookTarget
from orderbridge.http import verification_router
from orderbridge.outbox import OutboxDelivery
from orderbridge.signing import sign
from patrol.tables import EventRow, OutboxRow

SECRET = "s3cret-for-the-webhook-tests"


@pytest.fixture
def receiver():
    peer = WebhookReceiver(free_port(), SECRET)
    peer.up()
    yield peer
    peer.down()


def target(url: str, secret: str = SECRET) -> WebhookTarget:
    return WebhookTarget(url=url, secret=secret, fields={"location.lat": "geo.latitude",
                                                         "location.lon": "geo.longitude",
                                                         "severity": None},
                         static={"channel": "video"}, response_id="result.order_no",
                         response_status="result.state", status_map={"受理": "accepted",
                                                                     "已派遣": "dispatched",
                                                                     "已处置": "feedback_received"})


def outbox(sessions, url: str, secret: str = SECRET) -> OutboxDelivery:
    return OutboxDelivery(sessions, WebhookAdapter(target(url, secret), sessions),
                          evidence_base_url="http://patrol.example/evidence",
                          retry=RetryConfig(base_s=0.01, max_s=0.05))


def make_due(sessions) -> None:
    with sessions.begin() as s:
        s.execute(update(OutboxRow).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, {"kind": "smoke", "location": {"lat": 1.0, "lon": 2.0}}),
    ({"location.lat": "lat", "location.lon": "lng"}, {"kind": "smoke", "lat": 1.0, "lng": 2.0}),
    ({"location": "geo", "kind": "type"}, {"type": "smoke", "geo": {"lat": 1.0, "lon": 2.0}}),
    ({"location": None}, {"kind": "smoke"}),
])
def test_field_mapping(fields, expected):
    assert map_fields({"kind": "smoke", "location": {"lat": 1.0, "lon": 2.0}}, fields) == expected


def test_orders_arrive_signed_mapped_and_once(event_store, receiver):
    add_event(event_store, "e1")
    add_event(event_store, "crowd1", kind="crowd", count=57)
    out = outbox(event_store, receiver.url)
    assert out.deliver_due() == 2
    assert receiver.rejected == 0
    first = receiver.received[0]
    assert first["headers"]["Idempotency-Key"] == "event:e1"
    assert first["headers"]["X-Lianqin-Event"] == "order.create"
    body = first["body"]
    assert body["type"] == "order.create" and body["key"] == "event:e1"
    order = body["order"]
    assert order["geo"] == {"latitude": 32.1, "longitude": 118.7} and "location" not in order
    assert "severity" not in order and order["channel"] == "video"
    assert order["evidence"][0]["url"] == "http://patrol.example/evidence/cam/e1/snapshot.jpg"
    assert "count" not in order  # smoke has no count
    assert receiver.received[1]["body"]["order"]["count"] == 57  # the crowd's people count
    with event_store() as s:
        events = {e.id: e for e in s.scalars(select(EventRow))}
    assert (events["e1"].order_id, events["e1"].order_status) == ("W-1", "accepted")
    # A crash after the POST but before the commit: the repeat returns the first answer.
    with event_store.begin() as s:
        s.execute(update(OutboxRow).values(delivered_at=None))
    assert out.deliver_due() == 2
    assert len(receiver.orders) == 2 and len(receiver.received) == 4


def test_wrong_secret_is_refused_and_dead_lettered(event_store, receiver):
    add_event(event_store, "e1")
    assert outbox(event_store, receiver.url, secret="not-the-shared-secret").deliver_due() == 0
    with event_store() as s:
        row = s.scalars(select(OutboxRow)).one()
    assert row.dead and "401" in row.last_error and receiver.rejected == 1


def test_busy_receiver_sets_the_next_attempt_from_retry_after(event_store, receiver):
    add_event(event_store, "e1")
    http_date = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    receiver.busy = [(503, {"Retry-After": "7"}), (429, {"Retry-After": http_date})]
    out = outbox(event_store, receiver.url)
    before = datetime.now(UTC)
    assert out.deliver_due() == 0
    with event_store() as s:
        row = s.scalars(select(OutboxRow)).one()
    wait = row.next_attempt_at.replace(tzinfo=UTC) - before
    assert timedelta(seconds=6) < wait < timedelta(seconds=9) and not row.dead
    assert out.deliver_due() == 0  # not due yet: nothing is sent
    make_due(event_store)
    assert out.deliver_due() == 0  # 429 with an HTTP-date two minutes ahead
    with event_store() as s:
        row = s.scalars(select(OutboxRow)).one()
    wait = row.next_attempt_at.replace(tzinfo=UTC) - before
    assert timedelta(seconds=100) < wait < timedelta(seconds=125)
    make_due(event_store)
    assert out.deliver_due() == 1 and len(receiver.orders) == 1


def test_receiver_down_across_many_retry_cycles(event_store, receiver):
    receiver.down()
    for i in range(5):
        add_event(event_store, f"e{i}")
    out = outbox(event_store, receiver.url)
    for _ in range(40):  # many backoff cycles ("minutes" at small settings)
        make_due(event_store)
        assert out.deliver_due() == 0
    with event_store() as s:
        rows = s.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
    assert rows[0].attempts == 40 and all(r.attempts == 0 for r in rows[1:])
    assert not any(r.dead for r in rows)
    receiver.up()
    make_due(event_store)
    assert out.deliver_due() == 5
    assert sorted(o["event_id"] for o in receiver.orders.values()) == [f"e{i}" for i in range(5)]


def signed_post(client: TestClient, path: str, body: dict, secret: str = SECRET):
    raw = json.dumps(body).encode()
    return client.post(path, content=raw, headers={"Content-Type": "application/json",
                                                   **sign(secret, raw)})


def test_states_come_back_by_signed_callback_and_verdicts_go_out(event_store, receiver):
    add_event(event_store, "e1")
    adapter = WebhookAdapter(target(receiver.url), event_store)
    out = OutboxDelivery(event_store, adapter, evidence_base_url="http://x/evidence")
    assert out.deliver_due() == 1
    app = FastAPI()
    app.include_router(verification_router(None, CallbackAuth(secret=SECRET), states=adapter.states))
    client = TestClient(app)
    assert client.post("/api/bridge/orders/W-1/status", json={"status": "已派遣"}).status_code == 401
    stale = json.dumps({"status": "已派遣"}).encode()
    headers = {"Content-Type": "application/json", **sign(SECRET, stale, now=time.time() - 3600)}
    assert client.post("/api/bridge/orders/W-1/status", content=stale, headers=headers).status_code == 401
    assert signed_post(client, "/api/bridge/orders/W-1/status", {"status": "已派遣"},
                       secret="another-secret-16chars").status_code == 401
    assert signed_post(client, "/api/bridge/orders/W-9/status", {"status": "已派遣"}).status_code == 404
    assert signed_post(client, "/api/bridge/orders/W-1/status", {"status": "lost"}).status_code == 422
    resp = signed_post(client, "/api/bridge/orders/W-1/status", {"status": "已处置"})
    assert resp.status_code == 200 and resp.json()["status"] == "feedback_received"
    assert [o["id"] for o in adapter.orders(status="feedback_received")] == ["W-1"]

    # Our footage check: verifying, then a not-effective verdict → redo, then again → not disposed.
    adapter.start_verification("W-1")
    assert adapter.order("W-1")["status"] == "verifying"
    with event_store.begin() as s:
        s.add(OutboxRow(key="verdict:W-1:0", topic="order.verdict", payload={
            "order_id": "W-1", "verdict": {"effective": False, "note": "仍见烟雾",
                                           "actor": "video_patrol", "evidence": []}}))
    assert out.deliver_due() == 1
    assert adapter.order("W-1")["status"] == "redo" and adapter.order("W-1")["redo_count"] == 1
    with event_store.begin() as s:
        s.add(OutboxRow(key="verdict:W-1:1", topic="order.verdict", payload={
            "order_id": "W-1", "verdict": {"effective": False, "note": "仍见烟雾",
                                           "actor": "video_patrol", "evidence": []}}))
    assert out.deliver_due() == 1
    assert adapter.order("W-1")["status"] == "not_disposed"
    verdicts = [r["body"] for r in receiver.received if r["body"]["type"] == "order.verdict"]
    assert [v["verdict"]["status"] for v in verdicts] == ["redo", "not_disposed"]
    # A final order stays final whatever comes late.
    resp = signed_post(client, "/api/bridge/orders/W-1/status", {"status": "已派遣"})
    assert resp.json()["changed"] is False and adapter.order("W-1")["status"] == "not_disposed"


def test_router_without_credentials_is_refused():
    with pytest.raises(ValueError, match="secret or a token"):
        verification_router(None, CallbackAuth())


def test_peers_that_cannot_sign_use_a_bearer_token(event_store, receiver):
    add_event(event_store, "e1")
    adapter = WebhookAdapter(target(receiver.url), event_store)
    assert OutboxDelivery(event_store, adapter, evidence_base_url="http://x").deliver_due() == 1
    app = FastAPI()
    token = "t0ken-for-the-county-platform"
    app.include_router(verification_router(None, CallbackAuth(token=token), states=adapter.states))
    client = TestClient(app)
    path, body = "/api/bridge/orders/W-1/status", {"status": "dispatched"}
    assert client.post(path, json=body).status_code == 401
    assert client.post(path, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert signed_post(client, path, body).status_code == 401  # no secret configured
    resp = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and adapter.order("W-1")["status"] == "dispatched"
