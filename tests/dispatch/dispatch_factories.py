"""Factories shared by the dispatch core tests (imported by name; tests/dispatch is on sys.path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def order_body(**overrides: Any) -> dict[str, Any]:
    """A valid ``POST /orders`` body: a straw-burning camera order, overridable."""
    body: dict[str, Any] = {
        "kind": "smoke",
        "source": "video_patrol",
        "description": "秸秆焚烧，烟雾明显",
        "township": "新桥镇",
        "grid": "G-07",
        "location": {"lat": 31.95, "lon": 120.29},
        "camera_id": "cam-12",
        "zone_id": "field-north",
        "event_id": "ev-1",
        "severity": "high",
        "evidence": [{"url": "http://evidence/ev-1.jpg", "kind": "snapshot", "phase": "before"}],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}
