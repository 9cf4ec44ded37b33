"""Night-time fire: flame colour and flicker (the smoke detector's night cue).

At night smoke is all but invisible to a camera, but a straw fire is not: its flames are
bright, red-orange to yellow (R > G > B, red well above blue), and they flicker: from one
analysed frame to the next, a good share of the flame-coloured pixels of a block appear or
go out (Töreyin et al., "Computer vision based method for real-time fire and flame
detection", Pattern Recognition Letters 2006, use the same colour model and temporal
flicker). A street lamp, a lit window or a parked car's tail lights are flame-coloured but
steady; a passing car's lights flicker for a moment only, which the evidence's time
constant absorbs.

The cue runs only when the view is dark (median grey below ``NIGHT_GRAY``).

Example:
    >>> cue = FlameCue(evidence_s=2.0)
    >>> dark = np.full((180, 320, 3), 20, np.float32)
    >>> cue.update(dark, 0.5).any()
    False
"""

from __future__ import annotations

import numpy as np

from vision.imageops import block_mean, rate

NIGHT_GRAY = 60.0  # median grey level below which the view counts as night
FLAME_RED = 150.0  # flame pixels: red at least this bright ...
FLAME_RED_OVER_BLUE = 70.0  # ... red this far above blue, and R >= G >= B
MIN_FLAME_SHARE = 0.08  # share of a block's pixels that must be flame-coloured
MIN_FLICKER = 0.25  # share of the block's flame pixels that appeared or went out
EVIDENCE_ON = 0.5


def is_night(gray: np.ndarray) -> bool:
    return float(np.median(gray)) < NIGHT_GRAY


def flame_pixels(img: np.ndarray) -> np.ndarray:
    b, g, r = img[..., 0], img[..., 1], img[..., 2]
    return (r >= FLAME_RED) & (r >= g) & (g >= b) & (r - b >= FLAME_RED_OVER_BLUE)


class FlameCue:
    """Per-block evidence of flickering flame colour; ``update`` returns the block map of
    blocks that count as fire."""

    def __init__(self, evidence_s: float) -> None:
        self.evidence_s = evidence_s
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None
        self.evidence: np.ndarray | None = None

    def update(self, img: np.ndarray, dt: float) -> np.ndarray:
        flame = flame_pixels(img)
        share = block_mean(flame)
        if self._prev is None or self._prev.shape != flame.shape or self.evidence is None:
            self._prev = flame
            self.evidence = np.zeros(share.shape, np.float32)
            return self.evidence >= EVIDENCE_ON
        toggled = block_mean(flame ^ self._prev)
        union = np.maximum(block_mean(flame | self._prev), 1e-6)
        flicker = toggled / union
        candidate = (share >= MIN_FLAME_SHARE) & (flicker >= MIN_FLICKER)
        self.evidence += (candidate.astype(np.float32) - self.evidence) * rate(dt, self.evidence_s)
        self._prev = flame
        return self.evidence >= EVIDENCE_ON
