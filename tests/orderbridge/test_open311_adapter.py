"""The Open311 adapter against a GeoReport v2 server on loopback, in JSON and in XML:
requests with service_code, lat/long, description and media_url; polled states; status
notes; a crash after the POST (no idempotency key in GeoReport); the redo cycle through a
follow-up request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bridge_peers import Open311Server, add_event
from helpers import free_port
from sqlalchemy import select, update

from orderbridge.adapters.open311 import Open311Adapter, parse_requests
from orderbridge.config import Open311Target, RetryConfig
from orderbridge.outbox import OutboxDelivery
from patrol.tables import EventRow, OutboxRow

CODES = {"smoke": "SMK", "dust": "DST", "stall": "STL", "crowd": "CRD"}


@pytest.fixture(params=["json", "xml"])
def server(request):
    peer = Open311Server(free_port())
    peer.up()
    peer.fmt = request.param
    yield peer
    peer.down()


def adapter_for(server, sessions, **kw) -> Open311Adapter:
    cfg = Open311Target(url=server.url, api_key="k-311", format=server.fmt, service_codes=CODES,
                        jurisdiction_id="xq.example", **kw)
    return Open311Adapter(cfg, sessions)


def outbox(sessions, adapter) -> OutboxDelivery:
    return OutboxDelivery(sessions, adapter, evidence_base_url="http://x/evidence",
                          retry=RetryConfig(base_s=0.01, max_s=0.05))


def status_of(sessions, event_id: str) -> tuple[str | None, str | None]:
    with sessions() as s:
        row = s.get(EventRow, event_id)
        return row.order_id, row.order_status


def sync(adapter) -> None:
    for update_ in adapter.poll_states(adapter.states.open_ids()):
        adapter.states.apply(update_["id"], update_["status"])


def verdict(sessions, order_id: str, attempt: int, effective: bool) -> None:
    with sessions.begin() as s:
        s.add(OutboxRow(key=f"verdict:{order_id}:{attempt}", topic="order.verdict", payload={
            "order_id": order_id, "verdict": {
                "effective": effective, "note": "仍见烟雾" if not effective else "未见烟雾",
                "actor": "video_patrol",
                "evidence": [{"path": f"cam/e1/verify-{attempt}.jpg", "kind": "snapshot",
                              "phase": "after"}]}}))


def test_service_requests_are_raised_and_followed_to_closure(server, event_store):
    add_event(event_store, "e1")
    adapter = adapter_for(server, event_store)
    out = outbox(event_store, adapter)
    assert out.deliver_due() == 1
    (req,) = server.requests.values()
    assert req["service_code"] == "SMK" and (req["lat"], req["long"]) == ("32.1", "118.7")
    assert req["media_url"] == "http://x/evidence/cam/e1/snapshot.jpg"
    assert req["description"].startswith("event e1") and "[lianqin event:e1]" in req["description"]
    srid = req["service_request_id"]
    assert status_of(event_store, "e1") == (srid, "dispatched")

    server.close(srid, "已处置，现场已清理")  # the department reports it handled
    sync(adapter)
    assert status_of(event_store, "e1") == (srid, "feedback_received")
    adapter.start_verification(srid)
    sync(adapter)  # a closed request does not undo our check under way
    assert status_of(event_store, "e1")[1] == "verifying"

    verdict(event_store, srid, 0, effective=False)  # still smoking: a follow-up request
    assert out.deliver_due() == 1
    assert status_of(event_store, "e1")[1] == "redo" and server.posts == 2
    follow = server.requests[str(int(srid) + 1)]
    assert f"原工单 {srid}" in follow["description"] and follow["service_code"] == "SMK"
    assert follow["media_url"] == "http://x/evidence/cam/e1/verify-0.jpg"
    sync(adapter)
    assert status_of(event_store, "e1")[1] == "redo"  # the follow-up is still open
    server.close(follow["service_request_id"])
    sync(adapter)
    assert status_of(event_store, "e1")[1] == "feedback_received"
    verdict(event_store, srid, 1, effective=False)
    assert out.deliver_due() == 1
    assert status_of(event_store, "e1")[1] == "not_disposed" and server.posts == 2
    assert adapter.states.open_ids() == []


def test_status_notes_and_an_effective_verdict(server, event_store):
    add_event(event_store, "e1")
    add_event(event_store, "e2", kind="stall")
    adapter = adapter_for(server, event_store)
    out = outbox(event_store, adapter)
    assert out.deliver_due() == 2
    first, second = sorted(server.requests)
    assert server.requests[second]["service_code"] == "STL"
    server.set_notes(second, "不予受理，已转市场监管部门", status="closed")
    server.close(first)
    sync(adapter)
    assert status_of(event_store, "e2")[1] == "copied"
    verdict(event_store, first, 0, effective=True)
    assert out.deliver_due() == 1
    assert status_of(event_store, "e1")[1] == "closed" and server.posts == 2


def test_a_crash_after_the_post_does_not_raise_a_second_request(server, event_store):
    add_event(event_store, "e1")
    adapter = adapter_for(server, event_store)
    out = outbox(event_store, adapter)
    assert out.deliver_due() == 1
    # The crash came after the server made the request but before our commit: the row is
    # undelivered and marked in flight.
    with event_store.begin() as s:
        s.execute(update(OutboxRow).values(delivered_at=None,
                                           response={"in_flight": True, "since": "x"}))
    assert out.deliver_due() == 1
    assert server.posts == 1
    assert status_of(event_store, "e1")[0] == next(iter(server.requests))
    # Marked in flight but never sent (crash before the POST): sent now, once.
    add_event(event_store, "e2")
    with event_store.begin() as s:
        s.execute(update(OutboxRow).where(OutboxRow.key == "event:e2").values(
            response={"in_flight": True, "since": "x"}))
    assert out.deliver_due() == 1 and server.posts == 2


def test_refusals_are_dead_letters_and_an_unknown_kind_names_the_setting(server, event_store):
    add_event(event_store, "e1")
    adapter = adapter_for(server, event_store)
    adapter.config = adapter.config.model_copy(update={"api_key": "wrong"})
    out = outbox(event_store, adapter)
    assert out.deliver_due() == 0
    with event_store() as s:
        row = s.scalars(select(OutboxRow)).one()
    assert row.dead and "403" in row.last_error and "api_key" in row.last_error
    cfg = Open311Target(url=server.url, format=server.fmt, service_codes={"smoke": "SMK"})
    add_event(event_store, "c1", kind="crowd")
    assert outbox(event_store, Open311Adapter(cfg, event_store)).deliver_due() == 0
    with event_store() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.key == "event:c1")).one()
    assert row.dead and "service_codes" in row.last_error


def test_down_then_up(server, event_store):
    server.down()
    add_event(event_store, "e1")
    adapter = adapter_for(server, event_store)
    out = outbox(event_store, adapter)
    for _ in range(20):
        with event_store.begin() as s:
            s.execute(update(OutboxRow).values(
                next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert out.deliver_due() == 0
    server.up()
    with event_store.begin() as s:
        s.execute(update(OutboxRow).values(next_attempt_at=datetime.now(UTC)))
    assert out.deliver_due() == 1 and server.posts == 1


def test_parse_both_formats():
    xml = ('<?xml version="1.0" encoding="utf-8"?><service_requests><request>'
           '<service_request_id>7</service_request_id><status>closed</status>'
           '<status_notes>已处置</status_notes></request></service_requests>')
    assert parse_requests(xml, "xml") == [{"service_request_id": "7", "status": "closed",
                                           "status_notes": "已处置"}]
    assert parse_requests('[{"token": "abc"}]', "json") == [{"token": "abc"}]


def test_the_bridge_polls_open_requests(server, event_store, tmp_path):
    from lianqin.config import parse_config
    from orderbridge.bridge import OrderBridge
    from patrol.service import PatrolService

    config = parse_config({"storage": {"database_url": "sqlite://",
                                       "evidence_dir": str(tmp_path / "ev")},
                           "bridge": {"status_poll_s": 0.01, "verify": False}})
    adapter = Open311Adapter(Open311Target(url=server.url, api_key="k-311", format=server.fmt,
                                           service_codes=CODES))
    bridge = OrderBridge(config.bridge, event_store, PatrolService(config, event_store), adapter,
                         evidence_base_url="http://x/evidence")
    add_event(event_store, "e1")
    add_event(event_store, "e2")
    bridge.step()
    srids = sorted(server.requests)
    assert [status_of(event_store, e) for e in ("e1", "e2")] == [
        (srids[0], "dispatched"), (srids[1], "dispatched")]
    server.close(srids[1], "已处置")
    bridge.sync_states()
    assert status_of(event_store, "e2")[1] == "feedback_received"
    assert status_of(event_store, "e1")[1] == "dispatched"
    bridge.stop()
