"""Verification requests without a camera picture: refusals, and a check that a crash
interrupted is run again at start (here it fails for want of footage, and says so)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bridge_peers import until
from sqlalchemy import select

from lianqin.config import parse_config
from orderbridge.requests import RequestError, VerificationRequests
from patrol.service import PatrolService
from patrol.tables import OutboxRow, VerificationRow


@pytest.fixture
def requests(tmp_path: Path, event_store):
    config = parse_config({
        "storage": {"database_url": "sqlite://", "evidence_dir": str(tmp_path / "evidence")},
        "cameras": [{"id": "cam", "township": "新桥镇",
                     "source": {"type": "synthetic", "scene": "smoke"},
                     "zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                                "kinds": ["smoke"]}]}],
    })
    patrol = PatrolService(config, event_store)
    patrol.add_worker(config.cameras[0], start=False)  # never fed: no picture
    service = VerificationRequests(event_store, patrol, evidence_base_url="http://x/evidence")
    yield service
    service.close()


def test_requests_that_cannot_be_served_are_refused(requests):
    with pytest.raises(RequestError, match="not patrolled"):
        requests.submit({"camera_id": "elsewhere", "kind": "smoke"}, {"channel": "none"})
    with pytest.raises(RequestError, match="not patrolled"):
        requests.submit({"order_id": "unknown-order"}, {"channel": "none"})
    with pytest.raises(RequestError, match="what to look for"):
        requests.submit({"camera_id": "cam"}, {"channel": "none"})
    with pytest.raises(ValueError, match="extra"):
        requests.submit({"camera_id": "cam", "kind": "smoke", "colour": "red"}, {"channel": "none"})


def test_a_check_interrupted_by_a_crash_runs_again_and_answers(requests, event_store):
    reply = {"channel": "http", "url": "http://127.0.0.1:9/answers"}
    with event_store.begin() as s:
        s.add(VerificationRow(key="request:r9", order_id="O-9", attempt=0, camera_id="cam",
                              zone_id="z", kind="smoke", state="running",
                              note=json.dumps({"reply": reply, "preset": None})))
    assert requests.resume() == 1
    answer = until(lambda: (a := requests.answer("r9")) and a["state"] != "running" and a,
                   120, "the resumed check")
    assert answer["state"] == "failed" and "no picture" in answer["note"]
    assert answer["order_id"] == "O-9" and answer["effective"] is None
    with event_store() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.key == "reply:r9")).one()
    assert row.topic == "verification.reply" and row.payload["reply"] == reply
    assert row.payload["answer"]["state"] == "failed"
