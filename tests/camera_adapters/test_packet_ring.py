"""The pre-roll ring: kept by time and, with max_bytes, by size, in whole GOPs."""

from __future__ import annotations

import pytest

from camera_adapters.frame import EncodedPacket
from camera_adapters.ring import PacketRing


def _gop(start: float, size: int = 100, frames: int = 10, fps: float = 10) -> list[EncodedPacket]:
    return [EncodedPacket(b"x" * size, 0, 0, start + i / fps, i == 0) for i in range(frames)]


def test_ring_keeps_seconds_in_whole_gops():
    ring = PacketRing(seconds=2.5)
    for g in range(6):
        ring.extend(_gop(float(g)))
    kept = ring.slice(0, 99)
    # the horizon is 5.9 - 2.5 = 3.4: the GOP starting at 3.0 holds it, so it stays
    assert kept[0].ts == 3.0 and kept[0].keyframe and len(kept) == 30
    assert ring.bytes == 30 * 100


def test_ring_byte_budget_drops_oldest_gops_but_keeps_the_newest():
    ring = PacketRing(seconds=60, max_bytes=2500)
    for g in range(6):
        ring.extend(_gop(float(g)))
    kept = ring.slice(0, 99)
    assert [p.ts for p in kept if p.keyframe] == [4.0, 5.0] and ring.bytes == 2000
    ring.extend(_gop(6.0, size=5000))  # one GOP alone over budget: still kept
    assert [p.ts for p in ring.slice(0, 99) if p.keyframe] == [6.0]
    assert ring.bytes == 50_000
    ring.clear()
    assert ring.bytes == 0 and ring.latest_ts is None


def test_ring_rejects_a_non_positive_budget():
    with pytest.raises(ValueError, match="max_bytes"):
        PacketRing(seconds=10, max_bytes=0)
