"""What a live source measures about its intake: packets, bytes, frame rate, bitrate, GOP."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

# Rates are averaged over this many seconds of arrivals: long enough to span a GOP of a
# typical camera (2–4 s) so that keyframe bursts do not make the bitrate jump.
RATE_WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class IntakeSnapshot:
    packets: int
    bytes: int
    decoded: int
    fps: float
    bitrate_bps: float
    gop_frames: int | None
    last_packet_wall: float | None


class IntakeStats:
    """Counts packets as they arrive; thread-safe (the capture thread writes, the API reads).

    Example:
        >>> stats = IntakeStats()
        >>> for i in range(50):
        ...     stats.packet(1000, keyframe=i % 25 == 0, now=100 + i / 25)
        >>> snap = stats.snapshot(now=102)
        >>> snap.gop_frames, round(snap.fps), round(snap.bitrate_bps)
        (25, 25, 200000)
    """

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0
        self.decoded = 0
        self.gop_frames: int | None = None
        self.last_packet_wall: float | None = None
        self._since_key: int | None = None
        self._window: deque[tuple[float, float, int]] = deque()  # (arrival, stream time, size)
        self._lock = threading.Lock()

    def packet(self, size: int, *, keyframe: bool, now: float | None = None,
               ts: float | None = None) -> None:
        """Count one packet. ``ts`` (its stream time) makes the rates immune to bursts, such
        as the packets buffered while a stream opens arriving at once."""
        now = time.time() if now is None else now
        with self._lock:
            self.packets += 1
            self.bytes += size
            self.last_packet_wall = now
            if keyframe:
                if self._since_key is not None:
                    self.gop_frames = self._since_key
                self._since_key = 1
            elif self._since_key is not None:
                self._since_key += 1
            self._window.append((now, now if ts is None else ts, size))
            while self._window and self._window[0][0] < now - RATE_WINDOW_S:
                self._window.popleft()

    def snapshot(self, now: float | None = None) -> IntakeSnapshot:
        now = time.time() if now is None else now
        with self._lock:
            window = [(t, s) for arrived, t, s in self._window if arrived >= now - RATE_WINDOW_S]
            span = (max(t for t, _ in window) - min(t for t, _ in window)) if window else 0.0
            fps = (len(window) - 1) / span if span > 0 else 0.0
            bitrate = 8 * sum(s for _, s in window[1:]) / span if span > 0 else 0.0
            return IntakeSnapshot(self.packets, self.bytes, self.decoded, fps, bitrate,
                                  self.gop_frames, self.last_packet_wall)
