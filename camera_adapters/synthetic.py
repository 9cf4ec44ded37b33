"""Synthetic cameras: deterministic scenes of each event kind, served like a real camera.

A :class:`Scene` renders a picture as a pure function of scene time (and its seed and
disposal times) and knows the ground truth (:meth:`Scene.present`). A
:class:`SyntheticSource` turns a scene into a :class:`~camera_adapters.base.FrameSource`:
it renders at ``fps``, optionally paced in wall time, and by default H.264-encodes every
frame (libx264 ultrafast, zero latency, no B-frames, 2 s GOP) and decodes it back, so that
detectors see compression artefacts and the evidence stage gets real packets to stream-copy.

Example:
    >>> scene = make_scene("smoke", onset_s=2.0, duration_s=5.0)
    >>> scene.present(1.0), scene.present(4.0), scene.render(4.0).shape
    (False, True, (360, 640, 3))
"""

from __future__ import annotations

import contextlib
import time
from fractions import Fraction
from typing import Literal

import av
import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from camera_adapters.base import FrameSource, SourceError
from camera_adapters.frame import EncodedPacket, Frame, StreamInfo
from camera_adapters.synthetic_base import Scene
from camera_adapters.synthetic_crowd import CrowdScene
from camera_adapters.synthetic_scenes import DustScene, QuietScene, SmokeScene, StallScene

__all__ = ["SCENES", "Scene", "SyntheticSource", "SyntheticSourceConfig", "make_scene"]

SCENES = ("smoke", "dust", "stall", "crowd", "quiet")
_SCENE_TYPES: dict[str, type[Scene]] = {
    "smoke": SmokeScene, "dust": DustScene, "stall": StallScene, "crowd": CrowdScene,
    "quiet": QuietScene,
}
GOP_S = 2.0  # keyframe interval: clips can start within 2 s of any moment
CRF = 23  # libx264 quality: the default, typical of camera main streams


def make_scene(name: str, *, width: int = 640, height: int = 360, seed: int = 0,
               onset_s: float = 10.0, duration_s: float | None = None,
               repeat_s: float | None = None) -> Scene:
    """Build the named scene (one of :data:`SCENES`).

    Args:
        onset_s: scene time when the first episode of the event begins.
        duration_s: if set, each episode clears by itself this long after its onset;
            otherwise it stays until :meth:`Scene.clear`.
        repeat_s: if set, a new episode begins this long after the previous one is gone.
    """
    try:
        cls = _SCENE_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown scene {name!r}; choose one of {', '.join(SCENES)}") from None
    return cls(width=width, height=height, seed=seed, onset_s=onset_s, duration_s=duration_s,
               repeat_s=repeat_s)


class SyntheticSourceConfig(BaseModel):
    """A synthetic camera (``type: synthetic``) for demos, tests and benchmarks."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["synthetic"] = Field("synthetic", description="Adapter type.")
    scene: Literal["smoke", "dust", "stall", "crowd", "quiet"] = Field(
        description="Which scene to render: one per event kind, or quiet (nothing to flag).")
    fps: float = Field(8.0, gt=0, le=60, description="Frames per second of the source.")
    width: int = Field(640, ge=64, le=3840, description="Frame width in pixels (even).")
    height: int = Field(360, ge=64, le=2160, description="Frame height in pixels (even).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the scene's textures, "
                      "people and timing; the same seed gives the same frames.")
    onset_s: float = Field(10.0, ge=0, le=86_400, description="Scene time (s) when the "
                           "first event episode begins.")
    duration_s: float | None = Field(None, gt=0, le=86_400, description="If set, each "
                                     "episode clears by itself this long after its onset.")
    repeat_s: float | None = Field(None, ge=0, le=86_400, description="If set, a new "
                                   "episode begins this long after the previous one is gone.")
    realtime: bool = Field(True, description="Pace frames at fps in wall time; false serves "
                           "them as fast as read() is called (tests, scans, benchmarks).")
    encode: bool = Field(True, description="H.264-encode each frame and decode it back like "
                         "a real camera; the packets go in Frame.packets for clips.")

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"must be even for H.264 4:2:0 video, got {value}; use {value + 1}")
        return value


class _H264Loop:
    """Encodes frames with libx264 and decodes the packets straight back."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.rate = Fraction(fps).limit_denominator(1001)
        self.time_base = 1 / self.rate
        gop = max(int(round(GOP_S * fps)), 1)
        enc = av.CodecContext.create("libx264", "w")
        enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
        enc.time_base, enc.framerate = self.time_base, self.rate
        enc.gop_size, enc.max_b_frames, enc.thread_count = gop, 0, 1
        enc.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": str(CRF),
                       "bf": "0", "keyint": str(gop), "min-keyint": str(gop),
                       "scenecut": "0"}
        enc.open()
        dec = av.CodecContext.create("h264", "r")
        dec.thread_count = 1  # frame threading would delay output by a frame per thread
        self.enc, self.dec = enc, dec

    def extradata(self) -> bytes | None:
        data = self.enc.extradata
        return bytes(data) if data else None

    def roundtrip(self, image: np.ndarray, index: int
                  ) -> tuple[np.ndarray, tuple[EncodedPacket, ...]]:
        # OpenCV's 4:2:0 conversions are BT.601 limited range, what H.264 players assume,
        # and several times faster than swscale's accurate path
        i420 = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        frame.pts, frame.time_base = index, self.time_base
        packets, decoded = [], None
        for pkt in self.enc.encode(frame):
            pts = index if pkt.pts is None else int(pkt.pts)
            dts = pts if pkt.dts is None else int(pkt.dts)
            packets.append(EncodedPacket(bytes(pkt), pts, dts, float(pts * self.time_base),
                                         bool(pkt.is_keyframe)))
            for out in self.dec.decode(pkt):
                decoded = cv2.cvtColor(out.to_ndarray(format="yuv420p"),
                                       cv2.COLOR_YUV2BGR_I420)
        if decoded is None:  # the encoder held the frame back; show what was rendered
            decoded = image
        return decoded, tuple(packets)

    def close(self) -> None:
        """Drain the encoder; PyAV frees both codec contexts when they are dropped."""
        with contextlib.suppress(av.error.FFmpegError):  # already drained or never fed
            self.enc.encode(None)


class SyntheticSource(FrameSource):
    """Frames of a synthetic scene, optionally paced in real time and H.264 round-tripped.

    Example:
        >>> cfg = SyntheticSourceConfig(scene="quiet", realtime=False, encode=False)
        >>> with SyntheticSource("cam-1", cfg) as src:
        ...     src.read().ts, src.read().ts
        (0.0, 0.125)
    """

    def __init__(self, camera_id: str, config: SyntheticSourceConfig) -> None:
        self.camera_id = camera_id
        self.config = config
        self.scene: Scene = make_scene(
            config.scene, width=config.width, height=config.height, seed=config.seed,
            onset_s=config.onset_s, duration_s=config.duration_s, repeat_s=config.repeat_s)
        self._codec: _H264Loop | None = None
        self._index = 0
        self._opened_at: float | None = None
        self._last_ts = 0.0

    @property
    def live(self) -> bool:
        return self.config.realtime

    def open(self) -> StreamInfo:
        cfg = self.config
        self._opened_at = time.monotonic()
        self._index = 0
        if cfg.encode and self._codec is None:
            self._codec = _H264Loop(cfg.width, cfg.height, cfg.fps)
        rate = Fraction(cfg.fps).limit_denominator(1001)
        extradata = self._codec.extradata() if self._codec is not None else None
        return StreamInfo("h264" if cfg.encode else "rawvideo", cfg.width, cfg.height,
                          cfg.fps, 1 / rate, extradata, "synthetic")

    def now(self) -> float:
        """Current scene time: wall time since open() when paced, else the last frame's."""
        if self.config.realtime and self._opened_at is not None:
            return time.monotonic() - self._opened_at
        return self._last_ts

    def read(self) -> Frame | None:
        if self._opened_at is None:
            raise SourceError(f"synthetic camera {self.camera_id} read before open()")
        ts = self._index / self.config.fps
        if self.config.realtime:
            delay = self._opened_at + ts - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        image = self.scene.render(ts)
        packets: tuple[EncodedPacket, ...] = ()
        if self._codec is not None:
            image, packets = self._codec.roundtrip(image, self._index)
        frame = Frame(self.camera_id, image, ts, time.time(), self._index, packets)
        self._index += 1
        self._last_ts = ts
        return frame

    def close(self) -> None:
        if self._codec is not None:
            self._codec.close()
            self._codec = None
        self._opened_at = None
