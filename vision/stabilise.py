"""Camera-shake removal that leaves pans and tilts alone.

A camera on a pole shakes in the wind: the whole picture jumps a pixel or three from one
frame to the next, around a position that stays put. The temporal detectors read that as
change everywhere (edges fading, texture stirring, a background that never settles). A
camera that pans or tilts slowly, or a PTZ camera drifting, moves the picture too, but
smoothly, and the detectors must see that motion as it is.

Method (classical video stabilisation by trajectory smoothing):

1. The shift between consecutive frames is measured on a grey copy ``width`` pixels wide:
   up to ``max_features`` corners of the previous frame are followed into this one
   (Shi-Tomasi corners, pyramidal Lucas-Kanade flow) and the median of their
   displacements is the camera's step. Moving things (people, cars, the smoke itself)
   are a minority of the corners and do not move the median; when fewer than
   ``min_agree`` of the corners agree with it within half a pixel of the copy (a cut, a
   blank frame, a scene that is mostly moving) the step counts as none.
2. The steps add up to the camera's trajectory ``p``; an exponential moving average with
   time constant ``smooth_s`` gives its smooth part ``s``, and the frame is moved by
   ``s - p`` (at most ``max_shift_px`` each way): the jitter goes, a camera that stays
   put stays put.
3. A pan or tilt is told from shake by its steadiness: when, on an axis, every measured
   step of the last ``pan_window_s`` went the same way, at ``pan_px_s`` or more on
   average, the camera is moving and that axis is followed as it is (``s = p``, no
   correction), so a moving view is never held back. Shake does not do that: its steps
   are differences of independent jitter, and eight of them in a row go the same way
   about once in 20,000 windows. Until ``pan_window_s`` has been seen (a new scene, a
   preset just reached) nothing is corrected: shake and a pan cannot be told apart yet. Jitter on top of a slow pan is not
   separated: the pan then lags by up to ``max_shift_px``.

Detections are reported in the original frame's pixels: :meth:`Stabiliser.unshift` moves
boxes back.

Example:
    >>> from vision.config import StabiliseConfig
    >>> rng = np.random.default_rng(1)
    >>> scene = cv2.GaussianBlur(rng.integers(0, 255, (180, 320, 3), dtype=np.uint8), (5, 5), 0)
    >>> stab = Stabiliser(StabiliseConfig())
    >>> for i in range(10):  # five seconds of a camera that stays put
    ...     _ = stab.correct(scene, i * 0.5)
    >>> moved = np.roll(scene, 3, axis=1)  # the pole swings 3 px to the right
    >>> _ = stab.correct(moved, 5.0)
    >>> [round(float(v)) for v in stab.offset]
    [-3, 0]
"""

from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np

from vision.config import StabiliseConfig
from vision.types import Detections


class Stabiliser:
    """Removes one camera's shake, frame by frame. One verb: ``correct(image, ts)``."""

    def __init__(self, config: StabiliseConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget the trajectory (a new scene: a PTZ preset, a reconnect)."""
        self._prev: np.ndarray | None = None
        self._prev_ts = 0.0
        self._first_ts = 0.0
        self._seen = 1  # frames since the scene began
        self._path = np.zeros(2)  # p: the camera's accumulated position, full-frame pixels
        self._smooth = np.zeros(2)  # s: its smooth part
        self._steps: deque[tuple[float, np.ndarray]] = deque()  # measured (ts, step)
        self.offset = np.zeros(2)  # s - p, the shift applied to the last frame

    def correct(self, image: np.ndarray, ts: float) -> np.ndarray:
        """``image`` with this frame's shake taken out (the same array when there is none)."""
        grey, scale = self._grey(image)
        if self._prev is None or self._prev.shape != grey.shape:
            self.reset()
            self._first_ts = ts
        else:
            step = self._step(self._prev, grey)
            if step is not None and np.abs(step * scale).max() <= 4 * self.config.max_shift_px:
                self._path += step * scale
                self._steps.append((ts, step * scale))
            dt = max(ts - self._prev_ts, 1e-3)
            self._seen += 1
            # a moving average; over the first frames the plain mean of all seen so far
            alpha = max(1.0 - math.exp(-dt / self.config.smooth_s), 1.0 / self._seen)
            self._smooth += alpha * (self._path - self._smooth)
            moving = self._moving(ts)
            self._smooth[moving] = self._path[moving]
        self._prev, self._prev_ts = grey, ts
        limit = self.config.max_shift_px
        young = ts - self._first_ts < self.config.pan_window_s
        wanted = np.zeros(2) if young else np.clip(self._smooth - self._path, -limit, limit)
        # whole pixels: the detectors work on copies 320 pixels wide, where a whole pixel
        # of the frame is already a fraction; a slice and a border cost far less than a warp
        self.offset = np.round(wanted)
        if not self.offset.any():
            return image
        return _translate(image, int(self.offset[0]), int(self.offset[1]))

    def _moving(self, ts: float) -> np.ndarray:
        """Per axis: is the camera panning or tilting?"""
        window = self.config.pan_window_s
        while self._steps and ts - self._steps[0][0] > window:
            self._steps.popleft()
        if len(self._steps) < 3:
            return np.zeros(2, bool)
        steps = np.array([step for _, step in self._steps])
        speed = np.abs(steps.sum(axis=0)) / window
        steady = np.all(steps > 0, axis=0) | np.all(steps < 0, axis=0)
        return steady & (speed >= self.config.pan_px_s)

    def unshift(self, detections: Detections) -> Detections:
        """Boxes found on the corrected frame (the people of a crowd too), in the original
        frame's pixels."""
        if not self.offset.any():
            return detections
        return detections.mapped(shift=-np.tile(self.offset.astype(np.float32), 2))

    def _step(self, prev: np.ndarray, grey: np.ndarray) -> np.ndarray | None:
        """The median displacement of the corners of ``prev`` in ``grey`` (copy pixels),
        or None when too few corners agree on it."""
        corners = cv2.goodFeaturesToTrack(prev, self.config.max_features, 0.01, 6, blockSize=5)
        if corners is None or len(corners) < 8:
            return None
        moved, status, _ = cv2.calcOpticalFlowPyrLK(prev, grey, corners, None,
                                                    winSize=(15, 15), maxLevel=2)
        ok = status.reshape(-1) == 1
        if ok.sum() < 8:
            return None
        flow = (moved - corners).reshape(-1, 2)[ok]
        step = np.median(flow, axis=0)
        agree = np.abs(flow - step).max(axis=1) <= 0.5
        if agree.mean() < self.config.min_agree:
            return None
        return flow[agree].mean(axis=0)

    def _grey(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        width = min(self.config.width, w)
        size = (width, max(int(round(h * width / w)), 8))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if width != w else image
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return grey, w / width


def _translate(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``image`` moved ``dx`` pixels right and ``dy`` down, edges repeated into the gap."""
    h, w = image.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        return image
    kept = image[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return cv2.copyMakeBorder(kept, max(dy, 0), max(-dy, 0), max(dx, 0), max(-dx, 0),
                              cv2.BORDER_REPLICATE)
