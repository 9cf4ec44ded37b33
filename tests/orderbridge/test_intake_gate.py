"""Auto versus review versus drop per kind and confidence, and a repeat event joining the
open order of its camera, zone and kind (the intake's own rule and the gate's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from lianqin.config import parse_config
from orderbridge.config import BridgeConfig, IntakeRule
from orderbridge.intake import IntakeGate, decide
from patrol.service import PatrolService
from patrol.tables import EventRow, OutboxRow

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("confidence", "expected"), [
    (0.95, "auto"), (0.8, "auto"), (0.79, "review"), (0.4, "review"), (0.39, "drop"), (0.0, "drop"),
])
def test_decide(confidence, expected):
    assert decide(IntakeRule(auto_min_confidence=0.8, review_min_confidence=0.4), confidence) == expected


def test_thresholds_must_be_ordered_and_kinds_known():
    with pytest.raises(ValidationError, match="must not exceed"):
        IntakeRule(auto_min_confidence=0.3, review_min_confidence=0.5)
    with pytest.raises(ValidationError, match="intake.fire"):
        BridgeConfig.model_validate({"intake": {"fire": {"auto_min_confidence": 0.5}}})


@pytest.fixture
def config(tmp_path: Path):
    return parse_config({
        "storage": {"database_url": f"sqlite:///{tmp_path / 'events.db'}",
                    "evidence_dir": str(tmp_path / "evidence")},
        "cameras": [{"id": "cam", "township": "新桥镇", "source": {"type": "synthetic", "scene": "smoke"},
                     "location": {"lat": 32.1, "lon": 118.7},
                     "zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                                "kinds": ["smoke", "stall", "crowd"]},
                               {"id": "y", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                                "kinds": ["smoke"]}]}],
        "review": {"auto_order_min_confidence": {"smoke": 1.0, "stall": 1.0, "crowd": 0.5}},
    })


def pending(sessions, event_id: str, confidence: float, *, kind: str = "smoke", zone: str = "z",
            minute: int = 0) -> None:
    with sessions.begin() as s:
        s.add(EventRow(id=event_id, camera_id="cam", zone_id=zone, kind=kind, state="active",
                       review="pending", confidence=confidence, severity="high", boxes=[],
                       start_ts=0.0, started_at=T0 + timedelta(minutes=minute),
                       snapshot=f"cam/{event_id}/snapshot.jpg"))


def events(sessions) -> dict[str, EventRow]:
    with sessions() as s:
        return {e.id: e for e in s.scalars(select(EventRow))}


def outbox_keys(sessions) -> list[str]:
    with sessions() as s:
        return sorted(s.scalars(select(OutboxRow.key)).all())


def test_the_gate_raises_holds_drops_and_attaches(config, event_store):
    gate = IntakeGate(event_store, config, {
        "smoke": IntakeRule(auto_min_confidence=0.8, review_min_confidence=0.4)})
    pending(event_store, "sure", 0.9)
    pending(event_store, "again", 0.95, minute=1)  # same camera, zone, kind: joins "sure"
    pending(event_store, "other-zone", 0.9, zone="y", minute=1)
    pending(event_store, "unsure", 0.5, minute=2)
    pending(event_store, "noise", 0.2, minute=3)
    pending(event_store, "stall", 0.99, kind="stall")  # no rule for stalls: left alone
    assert gate.sweep() == {"auto": 2, "attached": 1, "review": 1, "drop": 1}
    ev = events(event_store)
    assert {k: ev[k].review for k in ev} == {
        "sure": "auto", "again": "attached", "other-zone": "auto", "unsure": "pending",
        "noise": "dropped", "stall": "pending"}
    assert ev["again"].parent_id == "sure"
    assert outbox_keys(event_store) == ["event:other-zone", "event:sure"]
    with event_store() as s:
        payload = s.scalars(select(OutboxRow).where(OutboxRow.key == "event:sure")).one().payload
    assert payload["township"] == "新桥镇" and payload["location"] == {"lat": 32.1, "lon": 118.7}
    assert gate.sweep() == {"auto": 0, "attached": 0, "review": 0, "drop": 0}  # decided once

    # Once the order is closed, the next sure event raises a new one.
    with event_store.begin() as s:
        s.get(EventRow, "sure").order_status = "closed"
        s.get(EventRow, "other-zone").order_status = "dispatched"
    pending(event_store, "later", 0.9, minute=10)
    pending(event_store, "later-y", 0.9, zone="y", minute=10)
    assert gate.sweep()["auto"] == 1
    ev = events(event_store)
    assert ev["later"].review == "auto" and ev["later-y"].parent_id == "other-zone"


def test_the_intake_attaches_a_repeat_to_the_open_order(config, event_store):
    """PatrolService._decide (the existing rule): auto above the kind's threshold, attach
    while the order is open, a fresh order once it is final or failed."""
    patrol = PatrolService(config, event_store)
    camera = config.camera("cam")

    def new(event_id: str, confidence: float, minute: int) -> EventRow:
        with event_store.begin() as s:
            row = EventRow(id=event_id, camera_id="cam", zone_id="z", kind="crowd",
                           state="active", review="pending", confidence=confidence, count=30,
                           severity="high", boxes=[], start_ts=0.0,
                           started_at=T0 + timedelta(minutes=minute))
            s.add(row)
            patrol._decide(s, row, camera)
        return events(event_store)[event_id]

    assert new("c1", 0.9, 0).review == "auto"
    with event_store.begin() as s:
        s.get(EventRow, "c1").order_id, s.get(EventRow, "c1").order_status = "17", "dispatched"
    c2 = new("c2", 0.9, 1)
    assert (c2.review, c2.parent_id, c2.order_id) == ("attached", "c1", "17")
    assert new("c3", 0.3, 2).review == "attached"  # even a weak repeat joins the open order
    with event_store.begin() as s:
        s.get(EventRow, "c1").order_status = "closed"
    assert new("c4", 0.3, 3).review == "pending"
    assert new("c5", 0.9, 4).review == "auto"
    assert outbox_keys(event_store) == ["event:c1", "event:c5"]
