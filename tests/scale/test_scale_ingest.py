"""The central ingest on a real PostgreSQL: a message processed twice, or overtaken by a
later one, makes one event and one order; malformed messages are dropped, not retried."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from scale_peers import pg_url  # noqa: F401
from sqlalchemy import func, select

from lianqin.config import parse_config
from patrol.remote import EventIngest, prune_ingested
from patrol.scale import ScaleSettings
from patrol.service import PatrolService
from patrol.store import open_engine, session_factory
from patrol.tables import EventRow, OutboxRow


@pytest.fixture()
def ingest(pg_url: str):  # noqa: F811, ANN201
    config = parse_config({
        "storage": {"database_url": pg_url},
        "cameras": [{"id": "cam-1", "township": "星甸街道",
                     "source": {"type": "synthetic", "scene": "dust"},
                     "zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                                "kinds": ["dust"]}]}],
        "review": {"auto_order_min_confidence": {"dust": 0.5}},
    })
    engine = open_engine(pg_url)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.query(OutboxRow).delete()
        s.query(EventRow).delete()
    ingest = EventIngest(ScaleSettings(), sessions, PatrolService(config, sessions))
    yield ingest, sessions
    engine.dispose()


def _message(kind: str, event_id: str, confidence: float = 0.9, **extra) -> dict:  # noqa: ANN003
    event = {"id": event_id, "camera_id": "cam-1", "zone_id": "z", "preset": None,
             "kind": "dust", "state": "active", "confidence": confidence, "count": None,
             "severity": "minor", "boxes": [[1, 2, 3, 4]], "start_ts": 10.0, "end_ts": None,
             "started_at": datetime.now(UTC).isoformat(), "ended_at": None,
             "snapshot": f"cam-1/20261127/{event_id}/snapshot.jpg", "clip": None,
             "clip_state": "none", "truth": None, **extra}
    return {"msg_id": uuid.uuid4().hex, "type": kind, "worker": "w1", "sent_at": 0,
            "event": event}


def _counts(sessions) -> tuple[int, int]:  # noqa: ANN001
    with sessions() as s:
        return (s.scalar(select(func.count()).select_from(EventRow)),
                s.scalar(select(func.count()).select_from(OutboxRow)))


@pytest.mark.parametrize(("confidence", "review", "orders"), [(0.9, "auto", 1),
                                                              (0.2, "pending", 0)])
def test_repeated_start_makes_one_event_and_one_order(ingest, confidence, review,  # noqa: ANN001
                                                      orders) -> None:  # noqa: ANN001
    ing, sessions = ingest
    msg = _message("start", uuid.uuid4().hex, confidence)
    assert ing.step_message(msg) == "created"
    assert ing.step_message(msg) == "duplicate"
    assert ing.step_message(msg) == "duplicate"
    assert _counts(sessions) == (1, orders)
    with sessions() as s:
        assert s.get(EventRow, msg["event"]["id"]).review == review
    assert ing.duplicates == 2


def test_end_overtaking_start_creates_the_event_once(ingest) -> None:  # noqa: ANN001
    ing, sessions = ingest
    eid = uuid.uuid4().hex
    end = _message("end", eid, state="ended", end_ts=20.0,
                   ended_at=datetime.now(UTC).isoformat())
    start = _message("start", eid)
    assert ing.step_message(end) == "created"
    assert ing.step_message(start) == "applied"  # a later start does not reopen it
    with sessions() as s:
        row = s.get(EventRow, eid)
        assert row.state == "ended" and row.end_ts == 20.0
    assert _counts(sessions) == (1, 1)


def test_second_event_while_order_open_attaches(ingest) -> None:  # noqa: ANN001
    ing, sessions = ingest
    first, second = _message("start", uuid.uuid4().hex), _message("start", uuid.uuid4().hex)
    ing.step_message(first)
    ing.step_message(second)  # a takeover re-detects the same dust: it joins the order
    with sessions() as s:
        assert s.get(EventRow, second["event"]["id"]).review == "attached"
    assert _counts(sessions) == (2, 1)


@pytest.mark.parametrize("payload", [b"not json", b'{"type": "start"}',
                                     b'{"msg_id": "x", "type": "start", "event": '
                                     b'{"id": "e", "camera_id": "unknown-cam"}}'])
def test_malformed_messages_are_rejected(ingest, payload: bytes) -> None:  # noqa: ANN001
    ing, sessions = ingest
    assert ing.step_message(payload) == "rejected"
    assert _counts(sessions) == (0, 0)


def test_prune_forgets_old_idempotency_records(ingest) -> None:  # noqa: ANN001
    ing, sessions = ingest
    ing.step_message(_message("start", uuid.uuid4().hex))
    assert prune_ingested(sessions, older_than_s=3600) == 0
    assert prune_ingested(sessions, older_than_s=-1) >= 1
