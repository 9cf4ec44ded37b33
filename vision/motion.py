"""Motion gating (as Frigate does): run a heavy detector only where and when something
changed; re-check a still scene at a slower pace.

The gate keeps a blurred, 160-pixel-wide grey copy of the last frame the wrapped detector
saw. A new frame whose difference from it exceeds ``threshold`` grey levels on at least
``min_changed`` of the watched area (the zone mask), or that comes ``recheck_s`` after the
last run, is passed on; otherwise the last answer stands (a still crowd stays a crowd, an
empty street stays empty). Changes in lighting of the whole view count as motion (they are
rare and cheap to re-check).

Example:
    >>> from vision.config import MotionGateConfig
    >>> gate = MotionGate(MotionGateConfig(recheck_s=10))
    >>> still = np.full((90, 160, 3), 80, np.uint8)
    >>> gate.should_run(still, None, 0.0), gate.should_run(still, None, 1.0)
    (True, False)
"""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from camera_adapters.frame import Frame
from vision.base import Detector
from vision.config import MotionGateConfig
from vision.types import Detections, EventKind

GATE_WIDTH = 160  # motion is judged on a copy this wide


class MotionGate:
    """Decides per frame whether the wrapped detector must run."""

    def __init__(self, config: MotionGateConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._ref: np.ndarray | None = None
        self._last_run: float | None = None
        self.runs = 0
        self.skips = 0

    def changed_share(self, image: np.ndarray, mask: np.ndarray | None) -> tuple[float, np.ndarray]:
        small = small_gray(image)
        if self._ref is None or self._ref.shape != small.shape:
            return 1.0, small
        moved = cv2.absdiff(small, self._ref) > self.config.threshold
        if mask is not None:
            m = cv2.resize(mask, small.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
            watched = int(m.sum())
            return (float((moved & m).sum()) / watched if watched else 0.0), small
        return float(moved.mean()), small

    def should_run(self, image: np.ndarray, mask: np.ndarray | None, ts: float) -> bool:
        share, small = self.changed_share(image, mask)
        due = self._last_run is None or ts - self._last_run >= self.config.recheck_s
        run = due or share >= self.config.min_changed
        if run:
            self._ref, self._last_run = small, ts
            self.runs += 1
        else:
            self.skips += 1
        return run


class GatedDetector(Detector):
    """A detector behind a :class:`MotionGate`; between runs its last answer stands."""

    kind: ClassVar[EventKind]

    def __init__(self, inner: Detector, config: MotionGateConfig) -> None:
        self.inner = inner
        self.kind = inner.kind  # type: ignore[misc]
        self.gate = MotionGate(config)
        self._last: Detections = Detections.empty()

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        if self.gate.should_run(frame.image, mask, frame.ts):
            self._last = self.inner.detect(frame, mask)
        return self._last

    def reset(self) -> None:
        self.inner.reset()
        self.gate.reset()
        self._last = Detections.empty()


def changed_regions(small: np.ndarray, reference: np.ndarray, size: tuple[int, int],
                    threshold: float, pad: tuple[int, int]) -> np.ndarray:
    """Boxes (x1, y1, x2, y2) in the pixels of a ``size`` (width, height) frame around what
    changed between two :func:`small_gray` copies of it, each widened by ``pad`` (x, y)
    pixels on every side; boxes that overlap once widened are merged.

    The change is found on the blurred 160-pixel-wide copies, as the gate judges it, and
    widened there by a rectangular dilation, which merges neighbours in the same step.
    """
    w, h = size
    fx, fy = w / small.shape[1], h / small.shape[0]
    moved = (cv2.absdiff(small, reference) > threshold).astype(np.uint8)
    kx, ky = 2 * int(np.ceil(pad[0] / fx)) + 1, 2 * int(np.ceil(pad[1] / fy)) + 1
    grown = cv2.dilate(moved, cv2.getStructuringElement(cv2.MORPH_RECT, (kx, ky)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=4)
    boxes = stats[1:count, :4].astype(np.float64)  # x, y, width, height on the copy
    boxes[:, 2:] += boxes[:, :2]
    scaled = np.round(boxes * np.array([fx, fy, fx, fy])).astype(int)
    return np.clip(scaled, 0, [w, h, w, h])


def small_gray(image: np.ndarray) -> np.ndarray:
    """Blurred grey copy ``GATE_WIDTH`` pixels wide, on which motion is judged."""
    h, w = image.shape[:2]
    size = (GATE_WIDTH, max(int(round(h * GATE_WIDTH / w)), 1))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return cv2.GaussianBlur(gray, (5, 5), 0)
