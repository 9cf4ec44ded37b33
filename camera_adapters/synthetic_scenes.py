"""The five synthetic scenes: smoke, dust, stall, crowd and quiet.

Geometry is laid out on a 640x360 canvas (see :mod:`camera_adapters.synthetic_backgrounds`)
and resized to the requested size. Plumes are made of puffs (emitted at a fixed rate, each
rising, drifting and growing with age), rasterised at quarter resolution, modulated by
scrolling turbulence textures and alpha-blended over a locally blurred background.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from camera_adapters import synthetic_backgrounds as bgs
from camera_adapters.synthetic_base import (
    Episode,
    Scene,
    Walker,
    draw_people,
    make_walkers,
    walkers_at,
)
from camera_adapters.synthetic_draw import (
    Look,
    blend_plume,
    draw_person,
    fractal_noise,
    puff_box,
    puff_density,
    scroll,
    tile2,
)

PLUME_SCALE = 4  # plume density is drawn at 1/4 resolution, then upsampled
FADE_S = 5.0  # a plume fades out over this long once its source stops
PRESENT_FADE = 0.8  # a fading plume counts as present until 80% faded (20% opacity left)
VISIBLE_WEIGHT = 0.15  # puffs fainter than this are not counted in the ground-truth box
RANDOM_TABLE = 4096  # per-puff pseudo-random numbers, indexed by emission number


class _PlumeScene(Scene):
    """Shared machinery of the smoke and dust scenes: puff plumes over a static background."""

    appear_s = 1.0  # time from onset until the plume is plainly visible
    emit_dt = 0.25  # seconds between puffs
    life_s = 13.0  # puff lifetime
    opacity = 1.2
    max_alpha = 0.9
    colour = np.array((205, 208, 212), np.float32)

    def _build(self, rng: np.random.Generator) -> None:
        self._bg = self._background(rng)
        # turbulence textures, one canvas in size so any plume box fits in one period
        size = (bgs.CANVAS_H, bgs.CANVAS_W)
        self._turb = tile2(0.5 + 0.5 * fractal_noise(*size, rng, beta=2.2, cutoff=3.0))
        self._fine = tile2(fractal_noise(*size, rng, beta=1.6, cutoff=8.0))
        self._rand = rng.random((RANDOM_TABLE, 3)).astype(np.float32)

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _present_window(self, ep: Episode) -> tuple[float, float | None]:
        end = None if ep.clear_at is None else ep.clear_at + PRESENT_FADE * FADE_S
        return ep.onset + self.appear_s, end

    def _gone_at(self, ep: Episode) -> float | None:
        return None if ep.clear_at is None else ep.clear_at + FADE_S

    def _emissions(self, t: float, ep: Episode) -> tuple[np.ndarray, np.ndarray, float]:
        """Emission numbers and ages of the live puffs, and the fade factor."""
        stop = t if ep.clear_at is None else min(t, ep.clear_at)
        k_lo = max(0, math.ceil((t - self.life_s - ep.onset) / self.emit_dt))
        k_hi = math.floor((stop - ep.onset) / self.emit_dt)
        k = np.arange(k_lo, k_hi + 1)
        ages = t - (ep.onset + k * self.emit_dt)
        fade = 1.0 if ep.clear_at is None else max(0.0, 1.0 - (t - ep.clear_at) / FADE_S)
        return k, ages, fade

    def _puffs(self, t: float, ep: Episode) -> np.ndarray:
        raise NotImplementedError

    def _actors(self, img: np.ndarray, t: float) -> None:
        """Draw moving things that belong to the scene (in place)."""

    def _event_box(self, t: float, ep: Episode) -> tuple[float, float, float, float] | None:
        puffs = self._puffs(t, ep)
        dense = puffs[puffs[:, 3] >= VISIBLE_WEIGHT]
        if len(dense) == 0:
            return None
        core = dense[:, 2] * 0.7  # the visible body of a puff is inside its radius
        x1 = max(float((dense[:, 0] - core).min()), 0.0)
        y1 = max(float((dense[:, 1] - core).min()), 0.0)
        x2 = min(float((dense[:, 0] + core).max()), float(bgs.CANVAS_W))
        y2 = min(float((dense[:, 1] + core).max()), float(bgs.CANVAS_H))
        return x1, y1, x2, y2

    def _paint(self, t: float, episode: Episode | None) -> np.ndarray:
        img = self._bg.copy()
        self._actors(img, t)
        if episode is None:
            return img
        puffs = self._puffs(t, episode)
        box = puff_box(puffs, bgs.CANVAS_W, bgs.CANVAS_H) if len(puffs) else None
        if box is None:
            return img
        x0, y0, x1, y1 = box
        dens = puff_density(puffs, box, PLUME_SCALE, blur=2.5)
        h, w = dens.shape
        # textures scroll upward with the rising air (and a little sideways), so the
        # plume's inner structure moves and changes like turbulence
        turb = scroll(self._turb, y0 + 9.0 * t, x0 - 3.0 * t, h, w)
        fine = scroll(self._fine, y0 + 16.0 * t, x0 + 5.0 * t, h, w)
        modulation = 0.35 + 0.9 * turb + 0.25 * fine
        alpha = np.minimum(dens * modulation * self.opacity, self.max_alpha)
        shade = 44.0 * (turb - 0.5) + 10.0 * fine
        blend_plume(img, alpha, x0, y0, self.colour, shade, soften=7)
        return img


class SmokeScene(_PlumeScene):
    """A rural field where grey-white smoke rises from a point, drifts and spreads."""

    name, event_kind = "smoke", "smoke"
    source = (370.0, 262.0)
    rise = 14.0  # px/s
    wind = 5.0  # px/s^1.3, bends the column downwind as it rises
    colour = np.array((178, 180, 183), np.float32)  # grey, visible against sky and field

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        self._phase = float(rng.uniform(0, 2 * math.pi))
        return bgs.field(rng)

    def _puffs(self, t: float, ep: Episode) -> np.ndarray:
        k, age, fade = self._emissions(t, ep)
        tau = ep.onset + k * self.emit_dt
        meander = 12 * np.sin(2 * np.pi * tau / 7 + self._phase) + 6 * np.sin(
            2 * np.pi * tau / 2.9)
        x = self.source[0] + meander * np.minimum(age / 3, 1) + self.wind * age**1.3
        y = self.source[1] - self.rise * age
        r = 6 + 5.0 * age
        w = (np.minimum((tau - ep.onset) / 2.0 + 0.3, 1) * (0.45 + 0.55 * np.exp(-age / 8.0))
             * np.minimum(1, 0.4 + age / 0.5) * np.minimum(1, (self.life_s - age) / 2) * fade)
        return np.stack([x, y, r, w], axis=1)


class DustScene(_PlumeScene):
    """A construction site where a brown-grey dust cloud rises near the ground and spreads."""

    name, event_kind = "dust", "dust"
    appear_s = 1.5
    emit_dt = 0.2
    life_s = 9.0
    opacity = 1.0
    max_alpha = 0.8
    colour = np.array((128, 148, 168), np.float32)  # soil-coloured (BGR)

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        self._workers = make_walkers(rng, [238.0, 335.0], (30, 45), (4, 12))
        return bgs.construction_site(rng)

    @staticmethod
    def _height_at(y: float) -> float:
        return 0.33 * (y - 40.0)

    def _actors(self, img: np.ndarray, t: float) -> None:
        swing = 0.35 * math.sin(2 * math.pi * t / 9.0)  # excavator arm, slowly digging
        cv2.rectangle(img, (215, 262), (305, 300), (30, 170, 225), -1)
        cv2.rectangle(img, (268, 235), (300, 262), (40, 150, 210), -1)
        cv2.rectangle(img, (273, 240), (295, 255), (70, 60, 50), -1)
        cv2.rectangle(img, (205, 298), (315, 315), (35, 35, 35), -1)
        elbow = (int(215 - 60 * math.cos(swing)), int(250 - 45 * math.sin(swing + 0.8)))
        cv2.line(img, (230, 262), elbow, (30, 160, 220), 8)
        bucket = (elbow[0] - 15, elbow[1] + 45)
        cv2.line(img, elbow, bucket, (30, 160, 220), 6)
        cv2.circle(img, bucket, 9, (40, 40, 45), -1)
        draw_people(img, walkers_at(self._workers, t, self._height_at))

    def _puffs(self, t: float, ep: Episode) -> np.ndarray:
        k, age, fade = self._emissions(t, ep)
        tau = ep.onset + k * self.emit_dt
        u = self._rand[k % RANDOM_TABLE]
        x = 170 + 170 * u[:, 0] + 9.0 * age + 14.0 * (u[:, 1] - 0.5) * age
        y = 305 - 12 * u[:, 2] - 5.0 * age
        r = 10 + 7.0 * age
        w = (np.minimum((tau - ep.onset) / 2.5 + 0.3, 1) * (0.3 + 0.7 * np.exp(-age / 4.0))
             * np.minimum(1, 0.4 + age / 0.6) * np.minimum(1, (self.life_s - age) / 2) * fade)
        return np.stack([x, y, r, w], axis=1)


def _draw_stall(img: np.ndarray, x: int, y: int) -> None:
    """A street stall standing on ground row y: striped umbrella, table, cloth, goods."""
    cv2.line(img, (x, y - 150), (x, y - 8), (70, 70, 70), 3)
    for i, (a0, a1) in enumerate(zip(range(180, 360, 30), range(210, 390, 30), strict=True)):
        col = (40, 40, 200) if i % 2 == 0 else (235, 235, 235)
        cv2.ellipse(img, (x, y - 138), (82, 34), 0, a0, a1, col, -1, cv2.LINE_AA)
    cv2.rectangle(img, (x - 82, y - 140), (x + 82, y - 132), (30, 30, 170), -1)
    cv2.rectangle(img, (x - 62, y - 62), (x + 62, y - 52), (60, 90, 130), -1)
    cv2.rectangle(img, (x - 60, y - 52), (x + 60, y - 6), (150, 90, 30), -1)
    for gx in range(x - 56, x + 52, 14):
        col = ((0, 140, 255), (0, 200, 80), (30, 30, 220), (0, 220, 240))[(gx // 14) % 4]
        cv2.circle(img, (gx + 6, y - 68), 6, col, -1, cv2.LINE_AA)
    cv2.rectangle(img, (x - 58, y - 86), (x - 28, y - 62), (60, 140, 200), -1)
    cv2.rectangle(img, (x - 58, y - 86), (x - 28, y - 62), (40, 80, 120), 1)


def _street_height(y: float) -> float:
    """Person height (px) for feet at canvas row y on the street views."""
    return 0.349 * (y - 13.0)


class StallScene(Scene):
    """A street where a stall with a vendor appears on the sidewalk and stays."""

    name, event_kind = "stall", "stall"
    spot = (430, 300)  # stall centre x and ground row

    def _build(self, rng: np.random.Generator) -> None:
        self._bg, _ = bgs.street(rng)
        self._walkers = make_walkers(rng, [126.0, 244.0, 262.0, 318.0, 340.0], (35, 60),
                                     (2, 10))
        self._vendor = Look.random(rng)

    def _event_box(self, t: float, ep: Episode) -> tuple[float, float, float, float] | None:
        x, y = self.spot
        return x - 84.0, y - 176.0, x + 95 + 0.15 * _street_height(y), y + 4.0

    def _paint(self, t: float, episode: Episode | None) -> np.ndarray:
        img = self._bg.copy()
        people = walkers_at(self._walkers, t, _street_height)
        if episode is not None and (episode.clear_at is None or t < episode.clear_at):
            x, y = self.spot
            behind = [p for p in people if p[0] <= y]
            draw_people(img, behind)
            _draw_stall(img, x, y)
            sway = 1.5 * math.sin(2 * math.pi * t / 2.3)
            draw_person(img, x + 95, y + 2, _street_height(y + 2), self._vendor, 0.0, False,
                        sway)
            people = [p for p in people if p[0] > y]
        draw_people(img, people)
        return img


def _draw_car(img: np.ndarray, x: float, y: float, colour: tuple[int, int, int]) -> None:
    """A saloon car, wheels on row y, centred on x."""
    xi, yi = int(x), int(y)
    cv2.rectangle(img, (xi - 58, yi - 32), (xi + 58, yi - 8), colour, -1)
    cabin = np.array([(xi - 34, yi - 32), (xi - 20, yi - 52), (xi + 22, yi - 52),
                      (xi + 36, yi - 32)], np.int32)
    cv2.fillConvexPoly(img, cabin, colour, cv2.LINE_AA)
    cv2.fillConvexPoly(img, cabin + np.array([[4, -3], [4, 3], [-4, 3], [-4, -3]]),
                       (80, 70, 65), cv2.LINE_AA)
    cv2.line(img, (xi, yi - 50), (xi, yi - 32), colour, 3)
    for wx in (xi - 36, xi + 36):
        cv2.circle(img, (wx, yi - 8), 10, (25, 25, 25), -1, cv2.LINE_AA)
        cv2.circle(img, (wx, yi - 8), 4, (150, 150, 150), -1)


class QuietScene(Scene):
    """A street with ordinary activity only: walkers (one stops briefly), a passing car,
    a swaying tree and slow lighting drift. Nothing here should be flagged."""

    name, event_kind = "quiet", None
    light_amplitude = 0.06
    car_period_s = 23.0
    car_speed = 130.0

    def _build(self, rng: np.random.Generator) -> None:
        bg, _ = bgs.street(rng)
        cv2.rectangle(bg, (96, 60), (104, 128), (50, 70, 90), -1)  # tree trunk
        self._bg = bg
        self._tree, self._tree_mask = bgs.tree_sprite(rng)
        self._walkers = make_walkers(rng, [124.0, 240.0, 268.0, 335.0], (35, 60), (2, 12))
        self._walkers.append(Walker(Look.random(rng), 300.0, 45.0, 5.0, 6.0, pause_x=330.0,
                                    pause_s=6.0))

    def _paint(self, t: float, episode: Episode | None) -> np.ndarray:
        img = self._bg.copy()
        cycle, k = t % self.car_period_s, int(t // self.car_period_s)
        travel = cycle * self.car_speed - 70
        if travel < bgs.CANVAS_W + 70:
            x, y = (travel, 205.0) if k % 2 == 0 else (bgs.CANVAS_W - travel, 168.0)
            _draw_car(img, x, y, (182, 182, 186) if k % 3 else (150, 150, 155))
        sway = 3.0 * math.sin(2 * math.pi * t / 3.1) + 1.5 * math.sin(2 * math.pi * t / 1.3)
        r = self._tree.shape[0] // 2
        cx, cy = 100 + int(round(sway)), 58
        roi = img[cy - r: cy + r + 1, cx - r: cx + r + 1]
        cv2.copyTo(self._tree, self._tree_mask, roi)
        draw_people(img, walkers_at(self._walkers, t, _street_height))
        return img
