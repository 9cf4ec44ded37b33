"""The crowd scene: passers-by on a square; a group walks in, gathers, sways, disperses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from camera_adapters import synthetic_backgrounds as bgs
from camera_adapters.synthetic_base import Episode, Scene, draw_people, make_walkers, walkers_at
from camera_adapters.synthetic_draw import Look

GATHERED = 10  # a gathering of 10 or more people is what counts as a crowd
GROUP = 14  # members, a few more than GATHERED so the group holds up under occlusion
WALK_SPEED = 55.0  # px/s on the canvas
ROWS = ((212.0, 5, 88.0, 0.0), (262.0, 5, 88.0, -44.0), (318.0, 4, 95.0, 0.0))  # y, n, dx, shift


def square_height(y: float) -> float:
    """Person height (px) for feet at canvas row y on the square (camera looks down)."""
    return 90.0 + 0.357 * (y - 200.0)


@dataclass(frozen=True, slots=True)
class Member:
    """A group member: where it stands, where it enters and leaves, and its timing."""

    look: Look
    slot: tuple[float, float]
    side: float  # -1 enters/leaves on the left, +1 on the right
    lane_dy: float
    start_delay: float
    leave_delay: float
    speed: float

    def entry(self) -> tuple[float, float]:
        x = -60.0 if self.side < 0 else bgs.CANVAS_W + 60.0
        return x, self.slot[1] + self.lane_dy

    def arrival(self, onset: float) -> float:
        ex, ey = self.entry()
        return onset + self.start_delay + math.hypot(self.slot[0] - ex, self.slot[1] - ey) / (
            self.speed)

    def position(self, t: float, ep: Episode) -> tuple[float, float, bool, float] | None:
        """(x, y, moving, distance walked) at t, or None while off-screen."""
        t_in = ep.onset + self.start_delay
        if t < t_in:
            return None
        leave = None if ep.clear_at is None else ep.clear_at + self.leave_delay
        ref = t if leave is None else min(t, leave)
        x, y, walked = self._walk(self.entry(), self.slot, ref - t_in)
        if leave is None or t < leave:
            return x, y, walked < self._dist(self.entry(), self.slot), walked
        exit_pt = (self.entry()[0], y + self.lane_dy)
        x2, y2, walked2 = self._walk((x, y), exit_pt, t - leave)
        if walked2 >= self._dist((x, y), exit_pt):
            return None
        return x2, y2, True, walked + walked2

    def _walk(self, a: tuple[float, float], b: tuple[float, float], dt: float
              ) -> tuple[float, float, float]:
        d = self._dist(a, b)
        walked = min(max(dt, 0.0) * self.speed, d)
        k = walked / d if d > 0 else 1.0
        return a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k, walked

    @staticmethod
    def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
        return math.hypot(b[0] - a[0], b[1] - a[1])


class CrowdScene(Scene):
    """A square where people walk about, then 14 gather into a group, stay, and disperse."""

    name, event_kind = "crowd", "crowd"
    centre_x = 320.0

    def _build(self, rng: np.random.Generator) -> None:
        self._bg = bgs.square(rng)
        self._walkers = make_walkers(rng, [150.0, 185.0, 240.0, 290.0, 338.0], (35, 60),
                                     (1, 8))
        members = []
        for y, n, dx, shift in ROWS:
            for i in range(n):
                x = self.centre_x + (i - (n - 1) / 2) * dx + shift + rng.uniform(-6, 6)
                members.append(Member(
                    Look.random(rng), (float(x), y + float(rng.uniform(-5, 5))),
                    -1.0 if x < self.centre_x else 1.0, float(rng.uniform(-25, 25)),
                    float(rng.uniform(0, 2.5)), float(rng.uniform(0, 1.5)),
                    WALK_SPEED * float(rng.uniform(0.9, 1.15))))
        self._members = members[:GROUP]

    def _present_window(self, ep: Episode) -> tuple[float, float | None]:
        """[first time GATHERED members stand, first time after that fewer do)."""
        events = []
        for m in self._members:
            arrive = m.arrival(ep.onset)
            leave = math.inf if ep.clear_at is None else ep.clear_at + m.leave_delay
            if arrive < leave:  # a member called back before arriving never stands
                events += [(arrive, 1), (leave, -1)]
        count, start = 0, None
        for when, step in sorted(events, key=lambda e: (e[0], e[1])):
            count += step
            if start is None and count >= GATHERED:
                start = when
            elif start is not None and count < GATHERED:
                return start, when
        if start is None:  # cleared before the group formed: never present
            never = ep.onset if ep.clear_at is None else ep.clear_at
            return never, never
        return start, None

    def _gone_at(self, ep: Episode) -> float | None:
        if ep.clear_at is None:
            return None
        worst = 0.0
        for m in self._members:
            worst = max(worst, m.leave_delay + (bgs.CANVAS_W + 120.0) / m.speed)
        return ep.clear_at + worst

    def _event_box(self, t: float, ep: Episode) -> tuple[float, float, float, float] | None:
        boxes = []
        for m in self._members:
            pos = m.position(t, ep)
            if pos is not None and not pos[2]:
                h = square_height(pos[1])
                boxes.append((pos[0] - 0.2 * h, pos[1] - h, pos[0] + 0.2 * h, pos[1]))
        if not boxes:
            return None
        arr = np.asarray(boxes)
        return (float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()),
                float(arr[:, 3].max()))

    def standing(self, t: float) -> int:
        """How many group members stand gathered at t (ground truth for tests)."""
        ep = self._episode(t)
        if ep is None:
            return 0
        count = 0
        for m in self._members:
            pos = m.position(t, ep)
            count += pos is not None and not pos[2] and (ep.clear_at is None or t < (
                ep.clear_at + m.leave_delay))
        return count

    def _paint(self, t: float, episode: Episode | None) -> np.ndarray:
        img = self._bg.copy()
        people = walkers_at(self._walkers, t, square_height)
        if episode is not None:
            for i, m in enumerate(self._members):
                pos = m.position(t, episode)
                if pos is None:
                    continue
                x, y, moving, walked = pos
                h = square_height(y)
                sway = 0.0 if moving else 1.8 * math.sin(2 * math.pi * t / 2.7 + i)
                people.append((y, x, h, m.look, 2 * math.pi * walked / (0.9 * h), moving, sway))
        draw_people(img, people)
        return img
