"""Classical smoke detection from the temporal cues of Töreyin et al. (Bilkent).

Method (B. U. Töreyin, Y. Dedeoğlu, A. E. Çetin, "Wavelet based real-time smoke detection
in video", EUSIPCO 2005; and "Contour based smoke detection in video using wavelets",
EUSIPCO 2006), computed on 8x8 blocks of a 320-pixel-wide copy of the frame:

1. *Slow change against a background model*: the frame differs from a slowly adapting
   background (updated only where nothing is detected), as smoke slowly covers the scene.
2. *Turbulence (boundary flicker), but slow*: most pixels of the block change between
   analysed frames (by more than the picture's own sensor noise would), unlike a solid
   object that sways, whose change stays on its outline;
   yet the change is small, unlike a solid object crossing the block (Brovko 2012).
3. *Low or lost saturation*: smoke is grey-white, so the block is nearly grey, or at least
   less saturated than the background it covers.
4. *Loss of high-frequency energy*: where the background is textured, its edges soften
   under smoke; the detail band |I - G * I| falls against the background's.

A block whose cues all hold accumulates evidence with time constant ``evidence_s`` (the
cues must hold for seconds, not one frame). Connected blocks with enough evidence form
regions; a region's confidence combines its evidence with its mean desaturation, edge loss
and its upward drift / growth over a window of a few seconds (smoke rises and spreads).
When most of the view changes at once (a PTZ move, a shaken camera) the background
models are learnt anew rather than trusted. A region hanging from the top edge across
most of the view's width is a weather veil (low cloud lifting, a fog bank) and is
rejected: a plume rises from a source. The difference from the background is taken
allowing a 1-pixel shift (2 px of a 640-wide frame), so a shaking camera's edges do not
pass for change.

At night (a dark view) smoke is all but invisible; the detector looks for fire instead:
flame-coloured blocks that flicker (:mod:`vision.flame`), reported with ``data["night"]``.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

import cv2
import numpy as np

from camera_adapters.frame import Frame
from vision.base import Detector
from vision.config import SmokeDetectorConfig
from vision.flame import FlameCue, is_night
from vision.imageops import (
    Region,
    block_mean,
    chroma,
    edge_energy,
    frame_dt,
    is_veil,
    noise_floor,
    rate,
    region_detections,
    regions,
    to_pixels,
    tolerant_diff,
    view_moved,
    work_frame,
)
from vision.types import Detections, EventKind

MAX_WARMTH = 22.0  # a smoke region's mean red - blue (grey levels) below this: smoke is
# grey-white, soil dust brown
WARMUP_S = 4.0  # the background is the median of the first seconds' frames ...
WARMUP_FRAMES = 9  # ... at most this many of them
SMOOTH_SIGMA = 1.0  # work px: blur before comparing with the background (camera shake)
MOVING_FRACTION = 0.3  # share of a block's pixels that must differ from the background
FLICKER_FRACTION = 0.35  # share that must change between frames (turbulence, not outline)
DESAT_MARGIN = 4.0  # chroma may exceed the background's by this much (noise) and still
# count as "not more saturated"
DESAT_RELATIVE = 0.75  # or chroma fell to this fraction of the background's
MIN_TEXTURE = 2.0  # mean detail energy (grey levels) below which a block is "flat" and
# the edge-loss cue does not apply (sky, plain walls)
BRIDGE = 2  # blocks: gaps up to 4 blocks (64 px at 640 wide) inside a cloud are closed
EVIDENCE_ON = 0.5  # evidence at which a block counts as smoke
FROZEN_EVIDENCE = 0.2  # blocks with this much evidence keep the background frozen
SLOW_FACTOR = 20.0  # ... nearly frozen: they adapt this many times more slowly
HISTORY_S = 6.0  # window over which rise and growth are measured
RISE_REF = 0.5  # upward drift of the region's top, in blocks per second, worth full marks
# (a plume rising 14 px/s in a 640-wide frame climbs about 0.9 blocks/s)
WEIGHTS = (0.5, 0.2, 0.15, 0.15)  # evidence, desaturation, edge loss, rise/growth


class SmokeDetector(Detector):
    """Grey, turbulent, edge-softening regions that persist, rise and grow.

    Example:
        >>> det = SmokeDetector(SmokeDetectorConfig())
        >>> still = Frame("cam", np.full((360, 640, 3), 90, np.uint8), 0.0, 0.0, 0)
        >>> len(det.detect(still))
        0
    """

    kind: ClassVar[EventKind] = EventKind.SMOKE

    def __init__(self, config: SmokeDetectorConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._bg: np.ndarray | None = None  # colour background, float32 work res
        self._edge_bg: np.ndarray | None = None  # background detail energy per block
        self._prev_gray: np.ndarray | None = None
        self._evidence: np.ndarray | None = None
        self._last_ts: float | None = None
        self._history: deque[tuple[float, np.ndarray]] = deque()
        self._flame = FlameCue(self.config.evidence_s)
        self._warmup = None
        self._warmup_end = 0.0

    def _night(self, img: np.ndarray, gray: np.ndarray, small_mask: np.ndarray | None,
               dt: float, scale: float, frame: Frame) -> Detections:
        """At night: flickering flame colour instead of the daytime smoke cues."""
        fire = self._flame.update(img, dt)
        if small_mask is not None:
            fire &= block_mean(small_mask > 0) > 0
        self._prev_gray, self._last_ts = gray, frame.ts
        self._bg = img.copy()  # daytime cues start afresh at dawn
        cfg = self.config
        evidence = self._flame.evidence
        assert evidence is not None
        scored = [(reg, 0.5 + 0.5 * float(evidence[reg.mask & fire].mean()))
                  for reg in regions(fire, 1, BRIDGE)]
        return region_detections(scored, scale, frame, cfg.min_confidence,
                                 night=np.ones(len(scored), bool))

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        small, small_mask, scale = work_frame(frame.image, mask)
        img = small.astype(np.float32)
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        if self._bg is None or self._bg.shape != img.shape:
            self._start(img, gray, frame.ts)
            return Detections.empty()
        assert self._prev_gray is not None
        if view_moved(gray, self._prev_gray):
            self._start(img, gray, frame.ts)
            return Detections.empty()
        dt = frame_dt(self._last_ts, frame.ts)
        if is_night(gray):
            return self._night(img, gray, small_mask, dt, scale, frame)
        self._flame.reset()
        if self._warmup is not None:
            self._warm(img, gray, frame.ts)
            return Detections.empty()
        cues = self._block_cues(img, gray)
        candidate = cues["candidate"]
        if small_mask is not None:
            candidate &= block_mean(small_mask > 0) > 0
        k = rate(dt, self.config.evidence_s)
        assert self._evidence is not None
        self._evidence += (candidate.astype(np.float32) - self._evidence) * k
        self._update_background(img, cues["energy"], dt)
        self._prev_gray, self._last_ts = gray, frame.ts
        smoke = self._evidence >= EVIDENCE_ON
        self._remember(frame.ts, smoke)
        return self._regions(smoke, cues, scale, frame)

    def _start(self, img: np.ndarray, gray: np.ndarray, ts: float) -> None:
        self._bg = img.copy()
        self._edge_bg = block_mean(edge_energy(gray))
        self._prev_gray = gray
        self._evidence = np.zeros(self._edge_bg.shape, np.float32)
        self._last_ts = ts
        self._history.clear()
        self._warmup: list[np.ndarray] | None = [img]
        self._warmup_end = ts + WARMUP_S

    def _warm(self, img: np.ndarray, gray: np.ndarray, ts: float) -> None:
        """First seconds: the background is the per-pixel median of the frames seen, so a
        passer-by in the first frame leaves no ghost (a ghost's lost edges look like smoke)."""
        assert self._warmup is not None
        self._warmup.append(img)
        self._prev_gray, self._last_ts = gray, ts
        if ts >= self._warmup_end:
            self._bg = np.median(np.stack(self._warmup[-WARMUP_FRAMES:]), axis=0).astype(np.float32)
            bg_gray = cv2.cvtColor(self._bg, cv2.COLOR_BGR2GRAY)
            self._edge_bg = block_mean(edge_energy(bg_gray))
            self._warmup = None

    def _block_cues(self, img: np.ndarray, gray: np.ndarray) -> dict[str, np.ndarray]:
        cfg = self.config
        assert self._bg is not None and self._prev_gray is not None
        assert self._edge_bg is not None
        bg_gray = cv2.cvtColor(self._bg, cv2.COLOR_BGR2GRAY)
        gain = float(np.median(gray) / max(float(np.median(bg_gray)), 1.0))  # lighting drift
        # change against the background on smoothed copies, allowing a 1-px shift: a shaken
        # camera's edges and resampled fine texture do not pass for change
        smooth, smooth_bg = (cv2.GaussianBlur(g, (0, 0), SMOOTH_SIGMA) for g in (gray, bg_gray))
        moving = block_mean(tolerant_diff(smooth, smooth_bg * gain) > cfg.motion_threshold)
        change = np.abs(gray - self._prev_gray)  # turbulence: texture moving counts
        # sensor noise changes every pixel a little: turbulence must stand out of it
        flicker = block_mean(change > max(cfg.flicker_threshold, noise_floor(gray)))
        slow = block_mean(change) <= cfg.max_frame_change
        c_now, c_bg = block_mean(chroma(img)), block_mean(chroma(self._bg))
        warmth = block_mean(img[..., 2] - img[..., 0])  # red - blue: soil dust is brown
        desat = ((c_now <= cfg.max_chroma) & (c_now <= c_bg + DESAT_MARGIN)) | (
            c_now <= DESAT_RELATIVE * c_bg)
        energy = block_mean(edge_energy(gray))
        textured = self._edge_bg >= MIN_TEXTURE
        ratio = energy / np.maximum(self._edge_bg, 1e-3)
        if textured.sum() >= 8:  # a blur of the whole view (shake, focus, compression)
            ratio = ratio / max(float(np.median(ratio[textured])), 1e-3)  # is not smoke
        edges_ok = ~textured | (ratio <= cfg.edge_loss_ratio)
        candidate = (moving >= MOVING_FRACTION) & (flicker >= FLICKER_FRACTION) & slow & (
            desat & edges_ok)
        desat_score = np.clip(1.0 - c_now / np.maximum(c_bg, cfg.max_chroma), 0, 1)
        edge_score = np.where(textured, np.clip(1.0 - ratio, 0, 1), 0.0)
        return {"candidate": candidate, "energy": energy, "desat": desat_score,
                "edge": edge_score, "warmth": warmth}

    def _update_background(self, img: np.ndarray, energy: np.ndarray, dt: float) -> None:
        assert self._bg is not None and self._evidence is not None
        assert self._edge_bg is not None
        k = rate(dt, self.config.background_s)
        k_slow = rate(dt, self.config.background_s * SLOW_FACTOR)
        k_blocks = np.where(self._evidence >= FROZEN_EVIDENCE, k_slow, k).astype(np.float32)
        self._edge_bg += (energy - self._edge_bg) * k_blocks
        k_pix = to_pixels(k_blocks)[..., None]
        self._bg += (img - self._bg) * k_pix

    def _remember(self, ts: float, smoke: np.ndarray) -> None:
        self._history.append((ts, smoke))
        while self._history and self._history[0][0] < ts - HISTORY_S:
            self._history.popleft()

    def _drift(self, region_mask: np.ndarray) -> float:
        """Rise and growth of a region over the history window, scored in [0, 1]."""
        t0, old = self._history[0]
        t1 = self._history[-1][0]
        span = max(t1 - t0, 1e-3)
        grown = cv2.dilate(region_mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        before = old & grown
        if span < HISTORY_S / 2 or not before.any():
            return 0.5  # too early to tell: neither for nor against
        ys_now = np.nonzero(region_mask)[0]
        ys_old = np.nonzero(before)[0]
        rise = (ys_old.min() - ys_now.min()) / span  # blocks per second, upward positive
        growth = region_mask.sum() / max(before.sum(), 1) - 1.0
        return float(np.clip(max(rise / RISE_REF, growth), 0.0, 1.0))

    def _regions(self, smoke: np.ndarray, cues: dict[str, np.ndarray], scale: float,
                 frame: Frame) -> Detections:
        cfg = self.config
        assert self._evidence is not None
        n_blocks = smoke.size
        found = regions(smoke, max(int(cfg.min_area * n_blocks), 1), BRIDGE)
        scored: list[tuple[Region, float]] = []
        for reg in found:
            if reg.area > cfg.max_area * n_blocks or is_veil(reg, smoke.shape):
                continue
            m = reg.mask & smoke  # score the smoke cells, not the bridged gaps
            if float(cues["warmth"][m].mean()) >= MAX_WARMTH:
                continue  # brown: construction or road dust, not grey-white smoke
            parts = (float(self._evidence[m].mean()), float(cues["desat"][m].mean()),
                     float(cues["edge"][m].mean()), self._drift(m))
            scored.append((reg, float(np.dot(WEIGHTS, parts))))
        return region_detections(scored, scale, frame, cfg.min_confidence)
