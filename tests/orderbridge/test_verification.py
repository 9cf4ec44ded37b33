"""Closed-loop verification on a running camera worker against a real dispatch core:
disposal reported too early → redo; disposed and reported again → closed (standard 6.3)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from bridge_peers import Feeder, smoke_field, until
from sqlalchemy import select

from lianqin.config import parse_config
from orderbridge.adapters.embedded import EmbeddedDispatchAdapter
from orderbridge.config import RetryConfig
from orderbridge.outbox import OutboxDelivery
from orderbridge.verification import VerificationRunner
from patrol.service import PatrolService, VerificationError
from patrol.store import open_engine, session_factory
from patrol.tables import EventRow, VerificationRow


@pytest.fixture
def loop(tmp_path: Path, dispatch_server):
    config = parse_config({
        **smoke_field(tmp_path),
        "rules": {"smoke": {"persistence": {"n": 3, "m": 5}}},
        "review": {"auto_order_min_confidence": {"smoke": 0.0}},
        "verification": {"settle_s": 1, "window_s": 6},
    })
    engine = open_engine(config.storage.database_url)
    sessions = session_factory(engine)
    patrol = PatrolService(config, sessions)
    adapter = EmbeddedDispatchAdapter(dispatch_server.url)
    worker = patrol.add_worker(config.cameras[0], start=False)  # the feeder drives it
    feeder = Feeder(worker)
    feeder.thread.start()
    yield {"patrol": patrol, "sessions": sessions, "adapter": adapter, "worker": worker,
           "outbox": OutboxDelivery(sessions, adapter, evidence_base_url="http://x/evidence",
                                    retry=RetryConfig(base_s=0.1, max_s=0.2)),
           "runner": VerificationRunner(sessions, patrol, adapter), "url": dispatch_server.url}
    feeder.stop.set()
    feeder.thread.join(10)
    engine.dispose()


def _verify_once(loop, order_id: int) -> dict:
    """Report disposal, let the runner check the footage, deliver the verdict."""
    unit = loop["adapter"].order(str(order_id))["lead_unit"]
    httpx.post(f"{loop['url']}/orders/{order_id}/feedback", json={"unit": unit, "note": "已处置"})
    assert loop["runner"].poll() == 1
    until(lambda: loop["outbox"].deliver_due(), 120.0)
    return loop["adapter"].order(str(order_id))


def test_early_report_is_sent_back_and_a_real_disposal_closes(loop):
    until(lambda: loop["outbox"].deliver_due(), 120.0)  # the smoke event's order is raised
    with loop["sessions"]() as s:
        event = s.scalars(select(EventRow)).one()
    order_id = int(event.order_id)

    first = _verify_once(loop, order_id)  # the smoke is still there
    assert (first["status"], first["redo_count"]) == ("redo", 1)

    scene, source = loop["worker"].source.scene, loop["worker"].source
    scene.clear(source.now())
    until(lambda: not scene.present(source.now()), 120.0)
    second = _verify_once(loop, order_id)
    assert second["status"] == "closed"

    with loop["sessions"]() as s:
        checks = s.scalars(select(VerificationRow).order_by(VerificationRow.attempt)).all()
    assert [(c.attempt, c.present) for c in checks] == [(0, True), (1, False)]
    assert checks[0].hits / checks[0].frames >= 0.5 and checks[1].hits == 0
    evidence = loop["patrol"].evidence
    for check in checks:  # after-evidence: an annotated snapshot and a clip of the window
        assert evidence.path(check.snapshot).stat().st_size > 0
        assert evidence.path(check.clip).stat().st_size > 0
    detail = loop["adapter"].order(str(order_id))
    after = [e for e in detail["evidence"] if e["phase"] == "after"]
    assert len(after) == 4 and all(e["url"].startswith("http://x/evidence/") for e in after)
    assert [h["to_status"] for h in detail["history"]][-3:] == ["feedback_received", "verifying", "closed"]


def test_a_camera_without_pictures_cannot_be_verified(loop):
    with pytest.raises(VerificationError, match="not patrolled"):
        loop["patrol"].check_footage(camera_id="nope", zone_id=None, kind="smoke",
                                     evidence_folder="x", name="v")
