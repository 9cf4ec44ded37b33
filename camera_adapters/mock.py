"""A mock PTZ camera (``type: mock``): one synthetic scene per preset, moves that take time,
presets that can be made to fail. For tests, demos and trying patrol tours without a camera.

Example:
    >>> cam = MockPTZSource("m", MockSourceConfig(presets={"1": "quiet", "2": "smoke"},
    ...                     realtime=False, move_s=0))
    >>> _ = cam.open()
    >>> [p.token for p in cam.presets()]
    ['1', '2']
    >>> cam.goto_preset("2"); cam.at_preset
    '2'
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from camera_adapters.base import FrameSource, SourceError
from camera_adapters.capabilities import Preset, PTZError, PTZMixin
from camera_adapters.frame import Frame, StreamInfo
from camera_adapters.synthetic import Scene, make_scene

SceneName = Literal["smoke", "dust", "stall", "crowd", "quiet"]


class MockSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["mock"] = "mock"
    presets: dict[str, SceneName] = Field(
        default_factory=lambda: {"1": "quiet"}, min_length=1,
        description="Preset token → the scene the camera sees there.")
    failing_presets: list[str] = Field(default_factory=list,
                                       description="Presets whose GotoPreset fails.")
    fps: float = Field(default=8.0, gt=0, le=60, description="Frames per second.")
    move_s: float = Field(default=1.0, ge=0, le=60,
                          description="How long a move takes; the picture is grey meanwhile.")
    width: int = Field(default=320, ge=64, le=1920, description="Frame width (even).")
    height: int = Field(default=180, ge=64, le=1080, description="Frame height (even).")
    onset_s: float = Field(default=0.0, ge=0, le=86_400, description="Scene onset.")
    realtime: bool = Field(default=True, description="Pace frames in wall time.")


class MockPTZSource(FrameSource, PTZMixin):
    def __init__(self, camera_id: str, config: MockSourceConfig) -> None:
        self.camera_id = camera_id
        self.config = config
        self.scenes: dict[str, Scene] = {
            token: make_scene(name, width=config.width, height=config.height, seed=i,
                              onset_s=config.onset_s)
            for i, (token, name) in enumerate(config.presets.items())}
        self.at_preset = next(iter(config.presets))
        self.moves: list[tuple[str, float]] = []  # (preset, wall time) of accepted moves
        self._arrive_at = 0.0
        self._index = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def live(self) -> bool:
        return self.config.realtime

    def open(self) -> StreamInfo:
        self._opened_at = time.monotonic()
        cfg = self.config
        return StreamInfo("rawvideo", cfg.width, cfg.height, cfg.fps,
                          Fraction(1, 1000), transport="mock")

    def read(self) -> Frame | None:
        if self._opened_at is None:
            raise SourceError("read() before open()")
        ts = self._index / self.config.fps
        if self.config.realtime:
            delay = self._opened_at + ts - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        with self._lock:
            preset, moving = self.at_preset, time.monotonic() < self._arrive_at
        if moving:
            image = np.full((self.config.height, self.config.width, 3), 128, np.uint8)
        else:
            image = self.scenes[preset].render(ts)
        frame = Frame(self.camera_id, image, ts, time.time(), self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        self._opened_at = None

    def presets(self) -> list[Preset]:
        return [Preset(token, f"{name} view") for token, name in self.config.presets.items()]

    def goto_preset(self, token: str) -> None:
        if token not in self.config.presets or token in self.config.failing_presets:
            raise PTZError(f"mock camera {self.camera_id}: preset {token} failed")
        with self._lock:
            self.at_preset = token
            self._arrive_at = time.monotonic() + self.config.move_s
            self.moves.append((token, time.time()))
