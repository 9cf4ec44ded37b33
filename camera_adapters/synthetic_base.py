"""The synthetic scene contract: episodes of an event over time, and ambient walkers.

A scene is a pure function of time ``t`` (seconds), its seed and the disposal times it was
given. An *episode* is one occurrence of the event: it begins at its onset, becomes visibly
present a little later (smoke must build up, people must walk in), is cleared (by
``duration_s`` or by :meth:`Scene.clear`), stops being present once visibly gone, and the
next one begins ``repeat_s`` after the last traces have vanished.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from camera_adapters.synthetic_backgrounds import CANVAS_H, CANVAS_W
from camera_adapters.synthetic_draw import Look, draw_person

LIGHT_PERIOD_S = 47.0  # slow lighting drift, like passing thin cloud
NOISE_LEVEL = 3  # +-grey levels of sensor noise before compression
NOISE_BANK = 7  # distinct noise patterns cycled through (deterministic in t)


@dataclass(frozen=True, slots=True)
class Episode:
    """One occurrence of the event. Times are scene seconds; None = not (yet) known."""

    index: int
    onset: float
    clear_at: float | None


@dataclass(frozen=True, slots=True)
class Walker:
    """A passer-by crossing the canvas on a lane, again and again.

    Each cycle: enter from one side, optionally stop for ``pause_s`` at ``pause_x``,
    leave on the other side, stay away for ``gap_s``.
    """

    look: Look
    y_feet: float
    speed: float  # px/s on the canvas; the sign gives the direction
    offset_s: float
    gap_s: float
    pause_x: float | None = None
    pause_s: float = 0.0

    def at(self, t: float, height: float) -> tuple[float, bool, float] | None:
        """(x, moving, gait phase) at time t, or None while off-screen."""
        margin = 0.4 * height + 10
        v = abs(self.speed)
        cross = (CANVAS_W + 2 * margin) / v
        pause = self.pause_s if self.pause_x is not None else 0.0
        tau = (t + self.offset_s) % (cross + pause + self.gap_s)
        if tau >= cross + pause:
            return None
        dp = math.inf
        if self.pause_x is not None:
            dp = (self.pause_x + margin) if self.speed > 0 else (CANVAS_W + margin - self.pause_x)
        if tau * v < dp:
            d, moving = tau * v, True
        elif tau < dp / v + pause:
            d, moving = dp, False
        else:
            d, moving = (tau - pause) * v, True
        x = -margin + d if self.speed > 0 else CANVAS_W + margin - d
        return x, moving, 2 * math.pi * d / (0.9 * height)


class Scene:
    """A deterministic synthetic camera view with episodes of one kind of event.

    Subclasses paint the canvas (:meth:`_paint`) and say when an episode is visibly present
    (:meth:`_present_window`) and when its last traces are gone (:meth:`_gone_at`).
    """

    name: str = ""
    event_kind: str | None = None
    light_amplitude = 0.03  # relative gain swing of the lighting drift

    def __init__(self, *, width: int = 640, height: int = 360, seed: int = 0,
                 onset_s: float = 10.0, duration_s: float | None = None,
                 repeat_s: float | None = None) -> None:
        if width < 64 or height < 64:
            raise ValueError(f"scene size must be at least 64x64, got {width}x{height}")
        if onset_s < 0:
            raise ValueError(f"onset_s must be >= 0, got {onset_s}")
        if duration_s is not None and duration_s <= 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s}")
        if repeat_s is not None and repeat_s < 0:
            raise ValueError(f"repeat_s must be >= 0, got {repeat_s}")
        self.width, self.height, self.seed = width, height, seed
        self.onset_s, self.duration_s, self.repeat_s = onset_s, duration_s, repeat_s
        self._clears: dict[int, float] = {}
        self._horizon = -math.inf
        rng = np.random.default_rng(seed)
        self._light_phase = float(rng.uniform(0, 2 * math.pi))
        big = (CANVAS_H + 16, CANVAS_W + 16, 3)
        self._noise_pos = rng.integers(0, NOISE_LEVEL + 1, big, dtype=np.uint8)
        self._noise_neg = rng.integers(0, NOISE_LEVEL + 1, big, dtype=np.uint8)
        self._build(rng)

    # -- subclass hooks ---------------------------------------------------------------
    def _build(self, rng: np.random.Generator) -> None:
        """Paint static backgrounds and choose actors (called once)."""

    def _paint(self, t: float, episode: Episode | None) -> np.ndarray:
        """The canvas (CANVAS_H x CANVAS_W BGR uint8, a fresh array) at time t."""
        raise NotImplementedError

    def _present_window(self, ep: Episode) -> tuple[float, float | None]:
        """When the episode is visibly present: [start, end), end None while not cleared."""
        return ep.onset, ep.clear_at

    def _gone_at(self, ep: Episode) -> float | None:
        """When the last visible trace of a cleared episode is gone."""
        return ep.clear_at

    # -- episodes ---------------------------------------------------------------------
    def _schedule(self, t: float) -> list[Episode]:
        """All episodes whose onset is at or before t."""
        episodes: list[Episode] = []
        onset, k = self.onset_s, 0
        while onset <= t:
            clear = self._clears.get(k)
            if self.duration_s is not None:
                auto = onset + self.duration_s
                clear = auto if clear is None else min(clear, auto)
            ep = Episode(k, onset, clear)
            episodes.append(ep)
            gone = self._gone_at(ep)
            if gone is None or self.repeat_s is None:
                break
            onset, k = gone + self.repeat_s, k + 1
        return episodes

    def _episode(self, t: float) -> Episode | None:
        schedule = self._schedule(t)
        return schedule[-1] if schedule else None

    def _see(self, t: float) -> None:
        self._horizon = max(self._horizon, t)

    def present(self, t: float) -> bool:
        """Ground truth: is the event visibly present at scene time t."""
        self._see(t)
        ep = self._episode(t)
        if ep is None or self.event_kind is None:
            return False
        start, end = self._present_window(ep)
        return start <= t and (end is None or t < end)

    def clear(self, t: float) -> None:
        """Dispose of the episode under way at t: it starts going away at t.

        A no-op when no episode has begun by t or the one under way is already clearing.
        """
        self._see(t)
        ep = self._episode(t)
        if ep is None or (ep.clear_at is not None and ep.clear_at <= t):
            return
        self._clears[ep.index] = t

    def episodes(self) -> list[tuple[float, float | None]]:
        """(onset, end of presence or None) of each episode begun up to the latest time seen."""
        out: list[tuple[float, float | None]] = []
        if self.event_kind is None:
            return out
        for ep in self._schedule(self._horizon):
            end = self._present_window(ep)[1]
            out.append((ep.onset, end if end is not None and end <= self._horizon else None))
        return out

    def event_box(self, t: float) -> tuple[float, float, float, float] | None:
        """Ground truth: (x1, y1, x2, y2) in output pixels around the visible event at t,
        or None when it is not present."""
        if not self.present(t):
            return None
        ep = self._episode(t)
        box = self._event_box(t, ep) if ep is not None else None
        if box is None:
            return None
        sx, sy = self.width / CANVAS_W, self.height / CANVAS_H
        return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy

    def _event_box(self, t: float, ep: Episode) -> tuple[float, float, float, float] | None:
        """The event's box on the canvas (subclasses)."""
        return None

    # -- rendering --------------------------------------------------------------------
    def render(self, t: float) -> np.ndarray:
        """(height, width, 3) uint8 BGR picture at scene time t."""
        self._see(t)
        canvas = self._paint(t, self._episode(t))
        gain = 1.0 + self.light_amplitude * math.sin(
            2 * math.pi * t / LIGHT_PERIOD_S + self._light_phase)
        canvas = cv2.convertScaleAbs(canvas, alpha=gain)
        k = int(round(t * 1000.0)) % NOISE_BANK  # same t, same noise
        oy, ox = (k * 5) % 16, (k * 11) % 16
        canvas = cv2.add(canvas, self._noise_pos[oy: oy + CANVAS_H, ox: ox + CANVAS_W])
        oy, ox = (k * 3) % 16, (k * 7) % 16
        canvas = cv2.subtract(canvas, self._noise_neg[oy: oy + CANVAS_H, ox: ox + CANVAS_W])
        if (self.width, self.height) != (CANVAS_W, CANVAS_H):
            canvas = cv2.resize(canvas, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return canvas


def draw_people(img: np.ndarray, people: list[tuple[float, float, float, Look, float, bool,
                                                   float]]) -> None:
    """Draw (y_feet, x, height, look, phase, moving, sway) tuples far to near (in place)."""
    for y, x, h, look, phase, moving, sway in sorted(people, key=lambda p: p[0]):
        draw_person(img, x, y, h, look, phase, moving, sway)


def walkers_at(walkers: list[Walker], t: float, height_at: Callable[[float], float]
               ) -> list[tuple[float, float, float, Look, float, bool, float]]:
    """Drawable tuples for the walkers on screen at t; ``height_at(y)`` gives perspective."""
    out = []
    for i, wk in enumerate(walkers):
        h = height_at(wk.y_feet)
        state = wk.at(t, h)
        if state is not None:
            x, moving, phase = state
            sway = 0.0 if moving else 1.2 * math.sin(t * 2.1 + i)
            out.append((wk.y_feet, x, h, wk.look, phase, moving, sway))
    return out


def make_walkers(rng: np.random.Generator, lanes: list[float], speeds: tuple[float, float],
                 gap_s: tuple[float, float]) -> list[Walker]:
    """One walker per lane, random look, direction, speed, phase and gap."""
    out = []
    for y in lanes:
        v = float(rng.uniform(*speeds)) * (1 if rng.random() < 0.5 else -1)
        out.append(Walker(Look.random(rng), y, v, float(rng.uniform(0, 30)),
                          float(rng.uniform(*gap_s))))
    return out
