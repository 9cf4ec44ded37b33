"""Build a fresh detector for one camera from the configuration.

Example:
    >>> det = build_detector(EventKind.DUST, DetectorsConfig())
    >>> det.kind
    <EventKind.DUST: 'dust'>
"""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from camera_adapters.frame import Frame
from vision.base import Detector
from vision.config import DetectorsConfig
from vision.crowd import CrowdDetector
from vision.dust import DustDetector
from vision.learned import CombinedDetector, ModelDetector
from vision.motion import GatedDetector
from vision.smoke import SmokeDetector
from vision.stall import StallDetector
from vision.types import Detections, EventKind


class ScaledDetector(Detector):
    """Runs another detector on frames downscaled to ``width`` (when wider) and reports
    boxes, including ``metadata["persons"]``, in the original frame's pixels."""

    kind: ClassVar[EventKind]

    def __init__(self, inner: Detector, width: int) -> None:
        self.inner = inner
        self.width = width
        self.kind = inner.kind  # type: ignore[misc]

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        if frame.width <= self.width:
            return self.inner.detect(frame, mask)
        factor = frame.width / self.width
        size = (self.width, max(int(round(frame.height / factor)), 1))
        small = cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA)
        small_mask = None if mask is None else cv2.resize(
            mask, size, interpolation=cv2.INTER_NEAREST)
        inner = Frame(frame.camera_id, small, frame.ts, frame.wall_ts, frame.index)
        found = self.inner.detect(inner, small_mask)
        sx, sy = frame.width / size[0], frame.height / size[1]
        return found.mapped(np.array([sx, sy, sx, sy], np.float32))

    def reset(self) -> None:
        self.inner.reset()


def build_detector(kind: EventKind, config: DetectorsConfig) -> Detector:
    """A new detector of ``kind`` (detectors keep per-camera state: one per camera).

    Raises:
        FileNotFoundError: the crowd YOLO model file does not exist.
        ValueError: the model or its card cannot be read or loaded, or ``kind`` is
            unknown.

    Backends: the classical detectors, a YOLO model described by a model card
    (:mod:`vision.learned`), or both combined; crowd uses HOG or YOLO people. The heavy
    ones (people, models) sit behind a motion gate (:mod:`vision.motion`).
    """
    kind = EventKind(kind)
    detector: Detector
    heavy = False  # people and YOLO models: worth gating on motion
    if kind is EventKind.CROWD:
        motion = config.motion if config.motion.enabled else None
        detector, heavy = CrowdDetector(config.crowd, motion=motion), True
        if config.crowd.backend == "hog" and config.crowd.hog_width is not None:
            detector = ScaledDetector(detector, config.crowd.hog_width)
    else:
        sub = getattr(config, kind.value)
        classical = CLASSICAL[kind](sub)
        if sub.backend == "classical":
            detector = classical
        elif sub.backend == "model":
            detector, heavy = ModelDetector(kind, sub), True
        else:
            detector = CombinedDetector(classical, ModelDetector(kind, sub))
    if config.analysis_width is not None:
        detector = ScaledDetector(detector, config.analysis_width)
    if heavy and config.motion.enabled:
        detector = GatedDetector(detector, config.motion)
    return detector


CLASSICAL: dict[EventKind, type[Detector]] = {
    EventKind.SMOKE: SmokeDetector, EventKind.DUST: DustDetector, EventKind.STALL: StallDetector}


def unwrap(detector: Detector) -> Detector:
    """The detector doing the work, inside any scaling and motion-gating wrappers."""
    while isinstance(getattr(detector, "inner", None), Detector):
        detector = detector.inner  # type: ignore[attr-defined]
    return detector
