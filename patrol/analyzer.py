"""One camera's analysis step: detectors for the watched kinds, then the rules.

The live camera worker, ``lianqin scan`` and the benchmarks all call this same code.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from camera_adapters.frame import Frame
from rules.config import RulesConfig
from rules.engine import RuleEngine
from rules.events import RuleResult, RuleUpdate
from rules.zones import Zone, ZoneConfig, union_mask
from vision.base import Detector
from vision.config import DetectorsConfig
from vision.registry import build_detector
from vision.stabilise import Stabiliser
from vision.types import Detections, EventKind


@dataclass(frozen=True, slots=True)
class Analysis:
    frame: Frame
    detections: dict[EventKind, Detections]
    result: RuleResult
    preset: str | None = None  # the PTZ preset the picture was taken at (patrol tours)


@dataclass
class DetectorTiming:
    calls: int = 0
    total_ms: float = 0.0
    last_ms: float = 0.0

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


@dataclass
class CameraAnalyzer:
    """Detectors and rules of one camera. One verb: ``analyse(frame)``; ``reset()`` forgets."""

    camera_id: str
    zones: Sequence[ZoneConfig]
    detectors_config: DetectorsConfig
    rules_config: RulesConfig
    preset: str | None = None
    rules: RuleEngine = field(init=False)
    detectors: dict[EventKind, Detector] = field(init=False)
    timings: dict[EventKind, DetectorTiming] = field(init=False)
    stabiliser: Stabiliser | None = field(init=False)
    _masks: dict[tuple[int, int], dict[EventKind, np.ndarray | None]] = field(
        init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.rules = RuleEngine(self.camera_id, self.zones, self.rules_config)
        kinds = sorted(self.rules.kinds())
        self.detectors = {k: build_detector(k, self.detectors_config) for k in kinds}
        self.timings = {k: DetectorTiming() for k in kinds}
        stabilise = self.detectors_config.stabilise
        self.stabiliser = Stabiliser(stabilise) if stabilise.enabled and kinds else None

    def layout(self, frame: Frame) -> list[Zone]:
        return self.rules.zones_for(frame.width, frame.height)

    def _mask(self, frame: Frame, kind: EventKind) -> np.ndarray | None:
        size = (frame.width, frame.height)
        if size not in self._masks:
            zones = self.layout(frame)
            self._masks = {size: {k: union_mask(zones, k) for k in self.detectors}}
        return self._masks[size][kind]

    def analyse(self, frame: Frame) -> Analysis:
        """Detections (in ``frame``'s pixels) and the rules' answer for one frame; the
        detectors see it with camera shake taken out."""
        steady = frame
        if self.stabiliser is not None:
            image = self.stabiliser.correct(frame.image, frame.ts)
            if image is not frame.image:
                steady = replace(frame, image=image)
        detections: dict[EventKind, Detections] = {}
        for kind, detector in self.detectors.items():
            started = time.perf_counter()
            found = detector.detect(steady, self._mask(frame, kind))
            if steady is not frame:
                found = self.stabiliser.unshift(found)
            detections[kind] = found
            timing = self.timings[kind]
            timing.last_ms = (time.perf_counter() - started) * 1000
            timing.calls += 1
            timing.total_ms += timing.last_ms
        return Analysis(frame, detections, self.rules.update(frame, detections), self.preset)

    def close(self, frame_ts: float, wall_ts: float) -> list[RuleUpdate]:
        return self.rules.close_all(frame_ts, wall_ts)

    def reset_detectors(self) -> None:
        """Forget the detectors' background models (a PTZ camera back at this preset),
        keeping the rules' open events."""
        for detector in self.detectors.values():
            detector.reset()
        if self.stabiliser is not None:
            self.stabiliser.reset()

    def reset(self) -> None:
        self.reset_detectors()
        self.rules.reset()
