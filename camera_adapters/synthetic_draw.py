"""Drawing primitives for the synthetic scenes: noise textures, people, puff plumes.

Everything here is a pure function of its arguments (random generators are seeded by the
caller), so a scene rendered twice at the same time gives the same picture. Costs are kept
low: textures are made once, and per-frame work is limited to small polygons and to the
bounding box of a plume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Colours are BGR. Clothing palettes mix light, dark and saturated colours so that people
# contrast with pale paving and dark asphalt alike, as real passers-by do.
SHIRTS = (
    (40, 40, 200), (160, 60, 30), (230, 230, 230), (40, 180, 220), (60, 130, 40),
    (30, 30, 30), (120, 40, 120), (200, 160, 90), (80, 80, 160), (20, 90, 200),
)
TROUSERS = ((40, 30, 25), (90, 60, 40), (25, 25, 25), (110, 110, 110), (70, 110, 140))
SKINS = ((120, 160, 215), (90, 130, 190), (70, 100, 150), (140, 180, 230))
HAIRS = ((20, 20, 25), (30, 45, 70), (15, 15, 15), (120, 120, 130))


def fractal_noise(height: int, width: int, rng: np.random.Generator, beta: float = 2.0,
                  cutoff: float = 2.0) -> np.ndarray:
    """Tileable 1/f^beta noise in [-1, 1], made by filtering white noise in the Fourier domain.

    ``cutoff`` (cycles per image) removes the lowest frequencies so the texture has no
    large-scale gradient. Periodic by construction, so it can be scrolled with wrap-around.
    """
    fy = np.fft.fftfreq(height)[:, None] * height
    fx = np.fft.rfftfreq(width)[None, :] * width
    f = np.sqrt(fx * fx + fy * fy)
    amp = np.where(f >= cutoff, 1.0 / np.maximum(f, 1.0) ** (beta / 2.0), 0.0)
    spectrum = np.fft.rfft2(rng.standard_normal((height, width))) * amp
    field = np.fft.irfft2(spectrum, s=(height, width))
    field /= np.abs(field).max() + 1e-9
    return field.astype(np.float32)


def tile2(texture: np.ndarray) -> np.ndarray:
    """The texture tiled 2x2, so that :func:`scroll` can return windows as views."""
    return np.ascontiguousarray(np.tile(texture, (2, 2)))


def scroll(tiled: np.ndarray, oy: float, ox: float, height: int, width: int) -> np.ndarray:
    """A ``height x width`` window (a view) of a periodic texture tiled by :func:`tile2`,
    at offset (oy, ox) with wrap-around; the window may be at most one period in size."""
    th, tw = tiled.shape[0] // 2, tiled.shape[1] // 2
    if height > th or width > tw:
        raise ValueError(f"window {height}x{width} exceeds the texture period {th}x{tw}")
    y, x = int(round(oy)) % th, int(round(ox)) % tw
    return tiled[y: y + height, x: x + width]


@dataclass(frozen=True, slots=True)
class Look:
    """Clothing and build of one synthetic person."""

    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    build: float  # width multiplier, 0.9..1.15

    @staticmethod
    def random(rng: np.random.Generator) -> Look:
        def pick(options: tuple[tuple[int, int, int], ...]) -> tuple[int, int, int]:
            return options[int(rng.integers(len(options)))]

        return Look(pick(SHIRTS), pick(TROUSERS), pick(SKINS), pick(HAIRS),
                    float(rng.uniform(0.9, 1.15)))


def _limb(img: np.ndarray, top: tuple[float, float], angle: float, length: float,
          w_top: float, w_bottom: float, color: tuple[int, int, int]) -> tuple[float, float]:
    """Draw a tapered limb hanging from ``top`` at ``angle`` (radians from vertical)."""
    dx, dy = math.sin(angle), math.cos(angle)
    bottom = (top[0] + dx * length, top[1] + dy * length)
    nx, ny = dy, -dx  # unit normal
    pts = np.array([
        (top[0] - nx * w_top / 2, top[1] - ny * w_top / 2),
        (top[0] + nx * w_top / 2, top[1] + ny * w_top / 2),
        (bottom[0] + nx * w_bottom / 2, bottom[1] + ny * w_bottom / 2),
        (bottom[0] - nx * w_bottom / 2, bottom[1] - ny * w_bottom / 2),
    ])
    cv2.fillConvexPoly(img, np.round(pts * 16).astype(np.int32), color, cv2.LINE_AA, 4)
    return bottom


def draw_person(img: np.ndarray, x: float, y_feet: float, height: float, look: Look,
                phase: float, moving: bool, sway: float = 0.0) -> None:
    """Draw a person standing on (x, y_feet), ``height`` pixels tall, in place.

    Proportions follow the usual figure canon (head about 1/7.5 of the height, shoulders
    about a quarter of it wide, legs a little under half) because gradient-based person
    detectors such as HOG key on the head-shoulder outline and the legs. ``phase`` is the
    gait phase in radians; ``sway`` shifts the upper body sideways in pixels.
    """
    h = height
    top = y_feet - h
    w = look.build
    swing = 0.38 * math.sin(phase) if moving else 0.05  # legs apart when standing
    arm_swing = 0.3 * math.sin(phase) if moving else 0.08
    hip_y = top + 0.52 * h
    cx = x + sway * 0.3
    ux = x + sway  # upper body
    leg_len = 0.45 * h / max(math.cos(swing), 0.8)
    for side, ang in ((-1, swing), (1, -swing)):
        foot = _limb(img, (cx + side * 0.045 * h * w, hip_y), ang, leg_len,
                     0.095 * h * w, 0.06 * h, look.trousers)
        cv2.ellipse(img, (int(foot[0] + 0.02 * h), int(foot[1])),
                    (max(int(0.04 * h), 2), max(int(0.018 * h), 1)), 0, 0, 360,
                    (20, 20, 20), -1, cv2.LINE_AA)
    for side, ang in ((-1, -arm_swing), (1, arm_swing)):
        shoulder = (ux + side * 0.115 * h * w, top + 0.185 * h)
        hand = _limb(img, shoulder, ang + side * 0.06, 0.3 * h, 0.06 * h * w,
                     0.045 * h, tuple(int(c * 0.8) for c in look.shirt))
        cv2.circle(img, (int(hand[0]), int(hand[1])), max(int(0.025 * h), 1), look.skin,
                   -1, cv2.LINE_AA)
    torso = np.array([
        (ux - 0.13 * h * w, top + 0.17 * h), (ux + 0.13 * h * w, top + 0.17 * h),
        (cx + 0.1 * h * w, hip_y + 0.02 * h), (cx - 0.1 * h * w, hip_y + 0.02 * h),
    ])
    cv2.fillConvexPoly(img, np.round(torso * 16).astype(np.int32), look.shirt, cv2.LINE_AA, 4)
    cv2.rectangle(img, (int(ux - 0.025 * h), int(top + 0.11 * h)),
                  (int(ux + 0.025 * h), int(top + 0.18 * h)), look.skin, -1)
    head = (int(ux), int(top + 0.07 * h))
    axes = (max(int(0.05 * h), 2), max(int(0.066 * h), 2))
    cv2.ellipse(img, head, axes, 0, 0, 360, look.skin, -1, cv2.LINE_AA)
    cv2.ellipse(img, (head[0], head[1] - int(0.015 * h)), axes, 0, 180, 360, look.hair,
                -1, cv2.LINE_AA)


def blend_plume(img: np.ndarray, alpha: np.ndarray, x0: int, y0: int,
                color: np.ndarray, shade: np.ndarray, soften: int) -> None:
    """Alpha-blend a semi-transparent plume into ``img`` in place.

    The background under the plume is first blurred in proportion to the local density
    (light scattered by particles smears the scene behind them, which is the loss of
    high-frequency energy that smoke detectors look for), then mixed with the plume colour
    ``color`` (a BGR vector) brightened or darkened by ``shade`` (grey levels per pixel).
    ``alpha`` and ``shade`` are float32 maps whose top-left corner sits at (x0, y0).
    """
    h, w = alpha.shape
    ih, iw = img.shape[:2]
    ya, yb, xa, xb = max(y0, 0), min(y0 + h, ih), max(x0, 0), min(x0 + w, iw)
    if ya >= yb or xa >= xb:
        return
    a = alpha[ya - y0: yb - y0, xa - x0: xb - x0, None]
    roi8 = img[ya:yb, xa:xb]
    roi = roi8.astype(np.float32)
    under = cv2.blur(roi8, (soften, soften)).astype(np.float32)
    under -= roi
    under *= np.minimum(a * 2.5, 1.0)
    under += roi  # background, blurred where the plume is dense
    mix = shade[ya - y0: yb - y0, xa - x0: xb - x0, None] + color.astype(np.float32)
    mix -= under
    mix *= a
    mix += under
    img[ya:yb, xa:xb] = cv2.convertScaleAbs(mix)


def puff_density(puffs: np.ndarray, box: tuple[int, int, int, int], scale: int,
                 blur: float) -> np.ndarray:
    """Rasterise puffs ``(n, 4)`` rows of (x, y, radius, weight) into a density map.

    The map covers ``box`` = (x0, y0, x1, y1) in image pixels, is drawn at 1/``scale``
    resolution (older puffs first, newer on top), blurred and upsampled to the box size.
    """
    x0, y0, x1, y1 = box
    lw, lh = max((x1 - x0) // scale, 1), max((y1 - y0) // scale, 1)
    low = np.zeros((lh, lw), np.float32)
    for px, py, r, wgt in puffs:
        cv2.circle(low, (int((px - x0) / scale), int((py - y0) / scale)),
                   max(int(r / scale), 1), float(wgt), -1, cv2.LINE_AA)
    low = cv2.GaussianBlur(low, (0, 0), blur)
    return cv2.resize(low, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)


def puff_box(puffs: np.ndarray, width: int, height: int, pad: int = 32
             ) -> tuple[int, int, int, int] | None:
    """The image-clipped bounding box of a set of puffs, or None when it is empty."""
    if len(puffs) == 0:
        return None
    x0 = int(max((puffs[:, 0] - puffs[:, 2]).min() - pad, 0))
    y0 = int(max((puffs[:, 1] - puffs[:, 2]).min() - pad, 0))
    x1 = int(min((puffs[:, 0] + puffs[:, 2]).max() + pad, width))
    y1 = int(min((puffs[:, 1] + puffs[:, 2]).max() + pad, height))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return x0, y0, x1, y1
