"""Value types that leave a frame source: decoded frames and the encoded packets behind them."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One compressed video packet as it came from the camera (or the synthetic encoder).

    ``ts`` is the presentation time in seconds on the source's own timeline, the same
    timeline as :attr:`Frame.ts`, so a clip can be cut around an event by time.
    """

    data: bytes
    pts: int
    dts: int
    ts: float
    keyframe: bool


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a muxer needs to write the packets of a source into a file without re-encoding."""

    codec: str
    width: int
    height: int
    fps: float
    time_base: Fraction
    extradata: bytes | None = None
    transport: str | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded picture from one camera.

    Attributes:
        camera_id: the camera it came from.
        image: ``(H, W, 3)`` uint8 array in BGR order (OpenCV's convention).
        ts: seconds on the source timeline (stream time for files and streams,
            scene time for synthetic cameras). Rules measure durations on this clock.
        wall_ts: UNIX time when the frame was captured (or read, for files).
        index: running number of the frame within the source.
        packets: encoded packets demuxed since the previous returned frame; they feed
            the pre-roll ring buffer that clips are cut from by stream copy.
    """

    camera_id: str
    image: np.ndarray
    ts: float
    wall_ts: float
    index: int
    packets: tuple[EncodedPacket, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"Frame.image must be (H, W, 3) uint8 BGR, got shape {self.image.shape} "
                f"dtype {self.image.dtype}"
            )

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
