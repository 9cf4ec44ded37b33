"""Static backgrounds of the synthetic scenes, painted once per scene on a 640x360 canvas.

Each painter takes a seeded generator and returns a BGR uint8 image. They are textured on
purpose (furrows, paving, brickwork, foliage): detectors that key on fading edges or on
change against a background need real texture to work with, as on real cameras.
"""

from __future__ import annotations

import cv2
import numpy as np

from camera_adapters.synthetic_draw import fractal_noise

CANVAS_W, CANVAS_H = 640, 360


def _vgradient(top: tuple[int, int, int], bottom: tuple[int, int, int], h: int,
               w: int) -> np.ndarray:
    k = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    col = np.asarray(top, np.float32) * (1 - k) + np.asarray(bottom, np.float32) * k
    return np.repeat(col, w, axis=1)


def _texture(img: np.ndarray, rng: np.random.Generator, amp: float, beta: float = 1.2,
             cutoff: float = 8.0) -> np.ndarray:
    n = fractal_noise(img.shape[0], img.shape[1], rng, beta=beta, cutoff=cutoff)
    return img + amp * n[..., None]


def _finish(img: np.ndarray) -> np.ndarray:
    return np.clip(cv2.GaussianBlur(img, (3, 3), 0.6), 0, 255).astype(np.uint8)


def sky(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A hazy blue sky with faint static cloud texture (float32)."""
    img = _vgradient((215, 180, 140), (225, 215, 205), h, w)
    clouds = np.clip(fractal_noise(h, w, rng, beta=3.0, cutoff=1.0), 0, 1)
    return img + 18.0 * clouds[..., None]


def tree_line(img: np.ndarray, rng: np.random.Generator, y: int, depth: int) -> None:
    """A band of dark foliage whose bumpy top edge sits around row ``y`` (in place)."""
    h, w = img.shape[:2]
    bumps = np.cumsum(rng.normal(0, 1.6, w))
    bumps = cv2.GaussianBlur((bumps - bumps.mean()).reshape(1, -1), (0, 0), 4).ravel()
    top = (y - 8 - np.clip(bumps, -10, 10)).astype(int)
    leaves = fractal_noise(h, w, rng, beta=1.0, cutoff=20.0)
    rows = np.arange(h)[:, None]
    band = (rows >= top[None, :]) & (rows < y + depth)
    green = np.array((45, 85, 55), np.float32) + 35.0 * leaves[..., None]
    img[band] = green[band]


def field(rng: np.random.Generator) -> np.ndarray:
    """Rural field: sky, tree line on the horizon, furrowed crop field, a dirt track."""
    h, w = CANVAS_H, CANVAS_W
    horizon = 125
    img = np.zeros((h, w, 3), np.float32)
    img[:horizon] = sky(rng, horizon, w)
    ys, xs = np.mgrid[horizon:h, 0:w].astype(np.float32)
    vx, vy = 0.55 * w, horizon - 60.0  # vanishing point of the furrows
    angle = np.arctan2(xs - vx, ys - vy)
    furrow = 0.5 + 0.5 * np.sin(angle * 140.0)
    depth = (ys - horizon) / (h - horizon)
    base = np.array((60, 110, 120), np.float32) * (1 - furrow[..., None] * 0.35)
    crop = np.array((55, 120, 85), np.float32)
    mix = (0.5 + 0.5 * np.sin(angle * 23.0))[..., None] * 0.6
    ground = base * (1 - mix) + crop * mix
    haze = (1 - depth)[..., None] * 0.35  # aerial perspective toward the horizon
    ground = ground * (1 - haze) + np.array((200, 195, 190), np.float32) * haze
    img[horizon:] = ground
    track = np.abs(xs - (0.18 * w + (ys - horizon) * 0.9)) < 6 + 22 * depth
    img[horizon:][track] = np.array((120, 150, 170), np.float32)
    img = _texture(img, rng, 14.0)
    tree_line(img, rng, horizon, 8)
    return _finish(img)


def construction_site(rng: np.random.Generator) -> np.ndarray:
    """Construction site: sky, concrete building frame, site fence, bare soil, spoil heaps."""
    h, w = CANVAS_H, CANVAS_W
    img = np.zeros((h, w, 3), np.float32)
    img[:150] = sky(rng, 150, w)
    tree_line(img, rng, 150, 10)
    img[150:] = _vgradient((80, 110, 135), (60, 95, 125), h - 150, w)  # soil
    for level in range(4):  # building frame: slabs and columns
        y = 150 - level * 30
        cv2.rectangle(img, (330, y - 6), (600, y), (165, 165, 160), -1)
    for x in range(340, 600, 52):
        cv2.rectangle(img, (x, 60), (x + 9, 150), (150, 150, 148), -1)
    cv2.line(img, (250, 10), (250, 150), (40, 150, 230), 4)  # tower crane
    cv2.line(img, (150, 14), (420, 14), (40, 150, 230), 4)
    cv2.line(img, (250, 10), (180, 14), (60, 60, 60), 1)
    for x0 in range(0, w, 48):  # site fence panels with posts
        cv2.rectangle(img, (x0, 160), (x0 + 46, 192), (170, 175, 168), -1)
        cv2.rectangle(img, (x0, 160), (x0 + 46, 192), (110, 110, 105), 1)
        cv2.line(img, (x0 + 3, 164), (x0 + 43, 188), (135, 140, 135), 1)
    for cx, cy, rx, ry in ((90, 300, 90, 40), (560, 280, 70, 30)):  # spoil heaps
        cv2.ellipse(img, (cx, cy), (rx, ry), 0, 180, 360, (55, 85, 115), -1)
    ys = np.arange(150, h, dtype=np.float32)[:, None]
    ruts = 0.5 + 0.5 * np.sin(np.arange(w)[None, :] * 0.08 + ys * 0.02)
    img[150:] *= (0.9 + 0.1 * ruts)[..., None]
    img = _texture(img, rng, 16.0, beta=1.0, cutoff=16.0)
    return _finish(img)


def _facade(img: np.ndarray, rng: np.random.Generator, y1: int, color: tuple[int, int, int]
            ) -> None:
    """Building facades with windows along the top ``y1`` rows (in place)."""
    w = img.shape[1]
    x = 0
    while x < w:
        bw = int(rng.integers(90, 170))
        shade = np.asarray(color, np.float32) * rng.uniform(0.8, 1.15)
        img[:y1, x: x + bw] = shade
        for wy in range(12, y1 - 20, 34):
            for wx in range(x + 10, x + bw - 22, 30):
                cv2.rectangle(img, (wx, wy), (wx + 16, wy + 20), (90, 70, 60), -1)
                cv2.rectangle(img, (wx, wy), (wx + 16, wy + 20), (200, 200, 195), 1)
        x += bw + 2


def street(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, int]]:
    """Street: facades, far sidewalk, road with markings, near sidewalk with kerb and tiles.

    Returns the image and the rows of its bands (for placing walkers, cars and stalls).
    """
    h, w = CANVAS_H, CANVAS_W
    img = np.zeros((h, w, 3), np.float32)
    rows = {"facade": 95, "far_walk": 130, "road": 215, "kerb": 222}
    _facade(img, rng, rows["facade"], (150, 170, 190))
    img[rows["facade"]: rows["far_walk"]] = (165, 170, 172)
    img[rows["far_walk"]: rows["road"]] = (95, 95, 98)
    for x in range(0, w, 80):  # dashed centre line
        cv2.line(img, (x, 172), (x + 40, 172), (210, 215, 215), 2)
    img[rows["road"]: rows["kerb"]] = (190, 190, 188)
    img[rows["kerb"]:] = (175, 182, 188)
    for y in range(rows["kerb"], h, 18):  # paving joints
        cv2.line(img, (0, y), (w, y), (140, 145, 150), 1)
    for x in range(-200, w + 200, 36):
        cv2.line(img, (x, rows["kerb"]), (x + (x - w // 2) // 3, h), (140, 145, 150), 1)
    img = _texture(img, rng, 10.0)
    return _finish(img), rows


def square(rng: np.random.Generator) -> np.ndarray:
    """Public square: facades, pale stone paving in perspective, planters."""
    h, w = CANVAS_H, CANVAS_W
    img = np.zeros((h, w, 3), np.float32)
    _facade(img, rng, 100, (140, 160, 185))
    img[100:] = _vgradient((178, 185, 190), (165, 172, 180), h - 100, w)
    for y in (112, 128, 148, 172, 200, 233, 272, 317):
        cv2.line(img, (0, y), (w, y), (135, 140, 148), 1)
    for x in range(-400, w + 400, 60):
        cv2.line(img, (w // 2 + (x - w // 2) // 4, 100), (x, h), (135, 140, 148), 1)
    for cx in (40, 600):
        cv2.rectangle(img, (cx - 28, 170), (cx + 28, 205), (90, 100, 110), -1)
        cv2.ellipse(img, (cx, 168), (34, 22), 0, 180, 360, (50, 100, 60), -1)
    img = _texture(img, rng, 9.0)
    return _finish(img)


def tree_sprite(rng: np.random.Generator, radius: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """A round foliage canopy (BGR image and uint8 mask) to paste with a sway offset."""
    size = 2 * radius + 1
    leaves = fractal_noise(size, size, rng, beta=0.8, cutoff=6.0)
    img = np.array((50, 110, 70), np.float32) + 45.0 * leaves[..., None]
    yy, xx = np.mgrid[-radius: radius + 1, -radius: radius + 1]
    edge = radius * (0.85 + 0.15 * leaves)
    mask = ((xx**2 + (yy * 1.15) ** 2) < edge**2).astype(np.uint8) * 255
    return np.clip(img, 0, 255).astype(np.uint8), mask
