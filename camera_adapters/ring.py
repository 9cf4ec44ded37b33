"""Pre-roll ring buffer of encoded packets, from which event clips are cut by stream copy."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable

from camera_adapters.frame import EncodedPacket


class PacketRing:
    """Keeps the last ``seconds`` of encoded packets (plus the GOP that starts before them),
    and with ``max_bytes`` at most that many bytes of them (whole GOPs are dropped first;
    the newest GOP is always kept), so that a camera streaming at a higher bitrate than
    planned cannot take the machine's memory.

    Thread-safe: the capture loop appends while the evidence writer slices.

    Example:
        >>> ring = PacketRing(seconds=10)
        >>> ring.extend([EncodedPacket(b"k", 0, 0, 0.0, True), EncodedPacket(b"p", 1, 1, 0.5, False)])
        >>> [p.ts for p in ring.slice(0.2, 1.0)]
        [0.0, 0.5]
    """

    def __init__(self, seconds: float, max_bytes: int | None = None) -> None:
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._packets: deque[EncodedPacket] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """Bytes of packet data held."""
        return self._bytes

    def extend(self, packets: Iterable[EncodedPacket]) -> None:
        packets = list(packets)
        size = sum(len(p.data) for p in packets)
        with self._lock:
            self._packets.extend(packets)
            self._bytes += size
            self._trim()

    def _trim(self) -> None:
        if not self._packets:
            return
        horizon = self._packets[-1].ts - self.seconds
        # Drop whole GOPs only: keep the keyframe that the oldest kept packet depends on.
        while len(self._packets) > 1:
            second_key = next(
                (i for i, p in enumerate(self._packets) if i > 0 and p.keyframe), None
            )
            if second_key is None or (self._packets[second_key].ts > horizon and (
                    self.max_bytes is None or self._bytes <= self.max_bytes)):
                break
            for _ in range(second_key):
                self._bytes -= len(self._packets.popleft().data)

    @property
    def latest_ts(self) -> float | None:
        with self._lock:
            return self._packets[-1].ts if self._packets else None

    def slice(self, start_ts: float, end_ts: float) -> list[EncodedPacket]:
        """Packets from the last keyframe at or before ``start_ts`` up to ``end_ts``.

        Starting at a keyframe makes the clip decodable from its first packet.
        """
        with self._lock:
            packets = list(self._packets)
        first = 0
        for i, p in enumerate(packets):
            if p.ts > start_ts:
                break
            if p.keyframe:
                first = i
        while first < len(packets) and not packets[first].keyframe:
            first += 1
        return [p for p in packets[first:] if p.ts <= end_ts]

    def clear(self) -> None:
        with self._lock:
            self._packets.clear()
            self._bytes = 0
