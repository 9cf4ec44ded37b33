"""Classical construction-dust detection: a veil of haze rising against a region's baseline.

Method, on 8x8 blocks of a 320-pixel-wide copy of the frame:

1. *Haze rising*: airborne particles add scattered light, which lifts the dark channel
   (the per-pixel minimum over B, G, R: He, Sun & Tang, "Single image haze removal using
   dark channel prior", CVPR 2009) and flattens local contrast. Each block keeps its own
   baseline of both (slow exponential average, frozen while the block is under suspicion);
   a block is hazier when its dark channel rose by ``haze_rise`` grey levels *and* its
   contrast fell below ``contrast_drop`` of the baseline.
2. *Soil-coloured, desaturated chroma*: the block is a brown-grey, i.e. low to moderate
   saturation (max - min) / max with red at least as strong as blue; a whole region must
   be warm on average (red above blue by ``WARM_REGION``), which neutral cloud and fog
   are not, and must not hang from the top edge across the view (a weather veil). Blue sky, green
   vegetation and saturated paint (machinery, vests) fail this.
3. *Turbulent motion*: a good share of the block's pixels change between analysed frames
   by a small amount (a drifting veil), not by the large amount of a solid object. The
   change is taken on blurred copies allowing a 1-pixel shift, and must stand out of the
   picture's own noise, so compression blocks, sensor grain and a pixel of residual
   camera shake do not count.

Blocks whose cues hold accumulate evidence (time constant ``evidence_s``). Connected
blocks form regions; a region's confidence combines evidence, haze strength and spread:
dust spreads sideways near the ground, so a region that is wide and has grown over the
last seconds scores higher. When most of the view changes at once (a PTZ move, a shaken
camera) the baselines are learnt anew. Zone masks limit where it looks.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

import cv2
import numpy as np

from camera_adapters.frame import Frame
from vision.base import Detector
from vision.config import DustDetectorConfig
from vision.imageops import (
    Region,
    block_mean,
    frame_dt,
    is_veil,
    noise_floor,
    rate,
    region_detections,
    regions,
    tolerant_diff,
    view_moved,
    work_frame,
)
from vision.types import Detections, EventKind

FLICKER_FRACTION = 0.25  # share of a block's pixels that must change between frames
MAX_FRAME_CHANGE = 25.0  # mean change above which the block is a solid object crossing
MIN_CONTRAST = 1.5  # baseline contrast (grey-level std) below which contrast cannot drop
WARM_MARGIN = 4.0  # red may fall short of blue by this much and still count as warm/grey
TURBULENCE_S = 0.5  # turbulence is the change over this long (the product's 2 analysed fps)
WARM_REGION = 10.0  # a dust region's mean red - blue (grey levels): soil dust is brown-grey,
# weather (low cloud, fog) neutral or bluish
BRIDGE = 2  # blocks: gaps up to 4 blocks (64 px at 640 wide) inside a cloud are closed
EVIDENCE_ON = 0.5  # evidence at which a block counts as dust
FROZEN_EVIDENCE = 0.2  # blocks this suspicious keep their baseline frozen
HAZE_FULL = 30.0  # dark-channel rise (grey levels) worth full marks
HISTORY_S = 6.0  # window over which spread is measured
WEIGHTS = (0.5, 0.3, 0.2)  # evidence, haze strength, spread


class DustDetector(Detector):
    """Hazy, soil-coloured, turbulent regions that persist and spread.

    Example:
        >>> det = DustDetector(DustDetectorConfig())
        >>> still = Frame("cam", np.full((360, 640, 3), 90, np.uint8), 0.0, 0.0, 0)
        >>> len(det.detect(still))
        0
    """

    kind: ClassVar[EventKind] = EventKind.DUST

    def __init__(self, config: DustDetectorConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._base_dark: np.ndarray | None = None
        self._base_contrast: np.ndarray | None = None
        self._prev_gray: np.ndarray | None = None
        self._evidence: np.ndarray | None = None
        self._last_ts: float | None = None
        self._history: deque[tuple[float, np.ndarray]] = deque()
        self._recent: deque[tuple[float, np.ndarray]] = deque()  # (ts, blurred grey)

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        small, small_mask, scale = work_frame(frame.image, mask)
        img = small.astype(np.float32)
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        dark, contrast = self._block_stats(img, gray)
        if self._base_dark is None or self._base_dark.shape != dark.shape:
            self._start(dark, contrast, gray, frame.ts)
            return Detections.empty()
        assert self._prev_gray is not None
        if view_moved(gray, self._prev_gray):
            self._start(dark, contrast, gray, frame.ts)
            return Detections.empty()
        dt = frame_dt(self._last_ts, frame.ts)
        smooth = _smooth(gray)
        rise, candidate, warmth = self._cues(img, smooth, self._reference(frame.ts), dark,
                                             contrast)
        if small_mask is not None:
            candidate &= block_mean(small_mask > 0) > 0
        assert self._evidence is not None
        self._evidence += (candidate.astype(np.float32) - self._evidence) * rate(
            dt, self.config.evidence_s)
        self._update_baseline(dark, contrast, dt)
        self._prev_gray, self._last_ts = gray, frame.ts
        self._recent.append((frame.ts, smooth))
        dusty = self._evidence >= EVIDENCE_ON
        self._history.append((frame.ts, dusty))
        while self._history[0][0] < frame.ts - HISTORY_S:
            self._history.popleft()
        return self._regions(dusty, rise, warmth, scale, frame)

    @staticmethod
    def _block_stats(img: np.ndarray, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block means of the dark channel and block standard deviation of grey."""
        dark = block_mean(cv2.erode(img.min(axis=2), np.ones((3, 3), np.uint8)))
        mean = block_mean(gray)
        var = block_mean(gray * gray) - mean * mean
        return dark, np.sqrt(np.maximum(var, 0.0))

    def _start(self, dark: np.ndarray, contrast: np.ndarray, gray: np.ndarray,
               ts: float) -> None:
        self._base_dark, self._base_contrast = dark.copy(), contrast.copy()
        self._prev_gray, self._last_ts = gray, ts
        self._evidence = np.zeros(dark.shape, np.float32)
        self._history.clear()
        self._recent.clear()
        self._recent.append((ts, _smooth(gray)))

    def _reference(self, ts: float) -> np.ndarray:
        """The blurred frame about ``TURBULENCE_S`` before ``ts`` (the oldest kept when the
        frames are further apart), so the turbulence cue means the same at any frame rate."""
        due = ts - 0.8 * TURBULENCE_S
        while len(self._recent) > 1 and self._recent[1][0] <= due:
            self._recent.popleft()
        return self._recent[0][1]

    def _cues(self, img: np.ndarray, smooth: np.ndarray, before: np.ndarray, dark: np.ndarray,
              contrast: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cfg = self.config
        assert self._base_dark is not None and self._base_contrast is not None
        rise = dark - self._base_dark
        veiled = (self._base_contrast >= MIN_CONTRAST) & (
            contrast <= cfg.contrast_drop * self._base_contrast)
        hazier = (rise >= cfg.haze_rise) & veiled
        b, g, r = (block_mean(img[..., i]) for i in range(3))
        top = np.maximum(np.maximum(b, g), r)
        saturation = (top - np.minimum(np.minimum(b, g), r)) / np.maximum(top, 1.0)
        soil = (saturation <= cfg.max_saturation) & (r + WARM_MARGIN >= b)
        change = tolerant_diff(smooth, before)
        # sensor noise changes every pixel a little: turbulence must stand out of it
        threshold = max(cfg.flicker_threshold, noise_floor(smooth))
        turbulent = (block_mean(change > threshold) >= FLICKER_FRACTION) & (
            block_mean(change) <= MAX_FRAME_CHANGE)
        return rise, hazier & soil & turbulent, r - b

    def _update_baseline(self, dark: np.ndarray, contrast: np.ndarray, dt: float) -> None:
        assert self._base_dark is not None and self._base_contrast is not None
        assert self._evidence is not None
        k = np.where(self._evidence >= FROZEN_EVIDENCE, 0.0,
                     rate(dt, self.config.baseline_s)).astype(np.float32)
        self._base_dark += (dark - self._base_dark) * k
        self._base_contrast += (contrast - self._base_contrast) * k

    def _spread(self, region_mask: np.ndarray) -> float:
        """How much wider the region became over the history window, in [0, 1]."""
        t0, old = self._history[0]
        if self._history[-1][0] - t0 < HISTORY_S / 2:
            return 0.5  # too early to tell
        cols_now = np.nonzero(region_mask.any(axis=0))[0]
        grown = cv2.dilate(region_mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        cols_old = np.nonzero((old & grown).any(axis=0))[0]
        if len(cols_old) == 0:
            return 1.0
        wider = (np.ptp(cols_now) + 1) / (np.ptp(cols_old) + 1) - 1.0
        return float(np.clip(0.5 + wider, 0.0, 1.0))

    def _regions(self, dusty: np.ndarray, rise: np.ndarray, warmth: np.ndarray,
                 scale: float, frame: Frame) -> Detections:
        cfg = self.config
        assert self._evidence is not None
        n_blocks = dusty.size
        scored: list[tuple[Region, float]] = []
        for reg in regions(dusty, max(int(cfg.min_area * n_blocks), 1), BRIDGE):
            if reg.area > cfg.max_area * n_blocks or is_veil(reg, dusty.shape):
                continue
            m = reg.mask & dusty  # score the dusty cells, not the bridged gaps
            if float(warmth[m].mean()) < WARM_REGION:
                continue  # neutral or bluish grey: cloud, fog, exhaust, not soil
            parts = (float(self._evidence[m].mean()),
                     float(np.clip(rise[m].mean() / HAZE_FULL, 0, 1)), self._spread(m))
            scored.append((reg, float(np.dot(WEIGHTS, parts))))
        return region_detections(scored, scale, frame, cfg.min_confidence)


def _smooth(gray: np.ndarray) -> np.ndarray:
    """Fine detail taken out (compression blocks, sensor noise, a pixel of residual shake),
    keeping the broad, slow change of a drifting veil."""
    return cv2.GaussianBlur(gray, (5, 5), 0)
