"""Static-object (street stall) detection with a long-term and a short-term background.

Method (F. Porikli, Y. Ivanov, T. Haga, "Robust abandoned object detection using dual
foregrounds", EURASIP J. Adv. Signal Process. 2008), on a 320-pixel-wide copy of the frame:

- the *long-term* background adapts slowly and only where the frame matches it
  (selective update), so an object that stops does not melt into it;
- the *short-term* background adapts within seconds everywhere, so anything that stops
  becomes part of it;
- a pixel that differs from the long-term background but matches the short-term one is a
  *static candidate*. Each pixel remembers since when it has been one; walking past it
  (both backgrounds differ) does not reset the clock, matching the long-term background
  again (the object left) does.

Candidate pixels are grouped into regions; a region's ``still_s`` is the median time its
pixels have been still. Regions still for ``min_still_s`` are reported, with confidence
growing from 0.5 to 1 over ``full_confidence_s`` more seconds. A region whose outline has
weaker edges in the frame than in the long-term background is a *ghost* (something that
was in the background when the detector started has left) and is absorbed, as is any
object still for ``absorb_s``. Lighting drift is compensated by a global gain; when most of
the view changes at once (a PTZ move, a shaken camera) both backgrounds are learnt anew.
"""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from camera_adapters.frame import Frame
from vision.base import REPORT_FLOOR, Detector
from vision.config import StallDetectorConfig
from vision.imageops import boxes_to_image, frame_dt, rate, view_moved, work_frame
from vision.types import Detections, EventKind

WARMUP_S = 6.0  # first seconds: the long-term background is the per-pixel median of the
# frames seen, which removes passers-by (anything present less than half the time)
WARMUP_FRAMES = 24  # at most this many frames kept for that median
GHOST_EDGE_RATIO = 0.8  # outline edges in frame / in background below this: a ghost
OPEN_PX = 1  # opening radius (work px) that removes speckle from the candidate mask
CLOSE_PX = 3  # closing radius that fills small holes in one object
SETTLE_S = 2.0  # pixels still for less than this are passers-by slowing down, not objects
GROUP_PX = 16  # still parts closer than 2 x this (work px, 64 px at 640 wide) are one
# candidate: an umbrella, the table under it and the vendor beside it make one stall


class StallDetector(Detector):
    """Objects that appeared and stay still, with how long they have been still.

    Example:
        >>> det = StallDetector(StallDetectorConfig())
        >>> empty = Frame("cam", np.full((360, 640, 3), 120, np.uint8), 0.0, 0.0, 0)
        >>> len(det.detect(empty))
        0
    """

    kind: ClassVar[EventKind] = EventKind.STALL

    def __init__(self, config: StallDetectorConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._long: np.ndarray | None = None
        self._prev_gray: np.ndarray | None = None
        self._short: np.ndarray | None = None
        self._since: np.ndarray | None = None  # scene time each pixel became still, or nan
        self._started: float | None = None
        self._last_ts: float | None = None
        self._warmup: list[np.ndarray] | None = []
        self._warmup_ts = 0.0

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        small, small_mask, scale = work_frame(frame.image, mask)
        img = small.astype(np.float32)
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        moved = self._prev_gray is not None and self._prev_gray.shape == gray.shape and (
            view_moved(gray, self._prev_gray))
        self._prev_gray = gray
        if self._long is None or self._long.shape != img.shape or moved:
            self._long, self._short = img.copy(), img.copy()
            self._since = np.full(img.shape[:2], np.nan, np.float32)
            self._started = self._last_ts = frame.ts
            self._warmup, self._warmup_ts = [img], frame.ts
            return Detections.empty()
        assert self._short is not None and self._since is not None
        assert self._started is not None
        dt = frame_dt(self._last_ts, frame.ts)
        self._last_ts = frame.ts
        fg_long, fg_short = self._foregrounds(img)
        static = fg_long & ~fg_short
        newly = static & np.isnan(self._since)
        self._since[newly] = frame.ts
        self._since[~fg_long] = np.nan  # back to background: the object (if any) left
        self._learn(img, fg_long, dt, frame.ts)
        if self._warmup is not None:
            return Detections.empty()
        with np.errstate(invalid="ignore"):
            candidates = frame.ts - self._since >= SETTLE_S  # nan (not still) compares False
        if small_mask is not None:
            candidates &= small_mask > 0
        return self._report(candidates, img, frame, scale)

    def _foregrounds(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self._long is not None and self._short is not None
        gain = float(np.median(img) / max(float(np.median(self._long)), 1.0))
        thr = self.config.diff_threshold
        fg_long = np.abs(img - self._long * gain).max(axis=2) > thr
        fg_short = np.abs(img - self._short).max(axis=2) > thr
        return fg_long, fg_short

    def _learn(self, img: np.ndarray, fg_long: np.ndarray, dt: float, ts: float) -> None:
        assert self._long is not None and self._short is not None
        assert self._started is not None and self._since is not None
        self._short += (img - self._short) * rate(dt, self.config.short_term_s)
        if self._warmup is not None:
            if ts - self._warmup_ts >= WARMUP_S / WARMUP_FRAMES:
                self._warmup.append(img)
                self._warmup_ts = ts
            if ts - self._started >= WARMUP_S:
                self._long = np.median(np.stack(self._warmup), axis=0).astype(np.float32)
                self._since[:] = np.nan
                self._warmup = None
            return
        k = np.where(fg_long, 0.0, rate(dt, self.config.long_term_s)).astype(np.float32)
        self._long += (img - self._long) * k[..., None]

    def _absorb(self, region: np.ndarray, img: np.ndarray) -> None:
        """Make a region part of the long-term background (ghosts, very old objects)."""
        assert self._long is not None and self._since is not None
        self._long[region] = img[region]
        self._since[region] = np.nan

    def _settled_parts(self, candidates: np.ndarray, img: np.ndarray) -> np.ndarray:
        """Candidate pixels cleaned of speckle, with ghost components absorbed."""
        assert self._long is not None
        cells = cv2.morphologyEx(candidates.astype(np.uint8), cv2.MORPH_OPEN, _disc(OPEN_PX))
        cells = cv2.morphologyEx(cells, cv2.MORPH_CLOSE, _disc(CLOSE_PX))
        n, labels = cv2.connectedComponents(cells, None, 8)
        if n <= 1:
            return cells > 0
        e_now, e_bg = _edges(img), _edges(self._long)
        ring_kernel = np.ones((3, 3), np.uint8)
        for i in range(1, n):
            part = labels == i
            p8 = part.astype(np.uint8)
            ring = (cv2.dilate(p8, ring_kernel) - cv2.erode(p8, ring_kernel)) > 0
            # a real object brings its outline with it; a ghost (an object that was in the
            # background and left) shows the outline only in the background
            if float(e_now[ring].mean()) < GHOST_EDGE_RATIO * float(e_bg[ring].mean()):
                self._absorb(part, img)
                cells[part] = 0
        return cells > 0

    def _report(self, candidates: np.ndarray, img: np.ndarray, frame: Frame,
                scale: float) -> Detections:
        cfg = self.config
        assert self._since is not None
        cells = self._settled_parts(candidates, img)
        n, groups = cv2.connectedComponents(
            cv2.dilate(cells.astype(np.uint8), _disc(GROUP_PX)), None, 8)
        total = candidates.size
        boxes, scores, still = [], [], []
        for i in range(1, n):
            member = (groups == i) & cells
            area = int(member.sum())
            region = member & candidates
            if area < cfg.min_area * total or area > cfg.max_area * total or not region.any():
                continue
            still_s = float(frame.ts - np.median(self._since[region]))
            if still_s >= cfg.absorb_s:
                self._absorb(member, img)
                continue
            if still_s < cfg.min_still_s:
                continue
            score = 0.5 + 0.5 * min((still_s - cfg.min_still_s) / cfg.full_confidence_s, 1.0)
            if score >= cfg.min_confidence * REPORT_FLOOR:
                ys, xs = np.nonzero(member)
                boxes.append((float(xs.min()), float(ys.min()), float(xs.max() + 1),
                              float(ys.max() + 1)))
                scores.append(score)
                still.append(still_s)
        if not boxes:
            return Detections.empty()
        xyxy = boxes_to_image(boxes, scale, frame.width, frame.height)
        return Detections(xyxy, np.asarray(scores, np.float32),
                          {"still_s": np.asarray(still, np.float32),
                           "threshold": np.full(len(scores), cfg.min_confidence, np.float32)})


def _edges(img: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
