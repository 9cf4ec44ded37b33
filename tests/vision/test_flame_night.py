"""Night fire: flickering flame colour fires the smoke detector at night; a steady lamp,
a passing car's lights and daylight orange do not."""

from __future__ import annotations

import cv2
import numpy as np

from camera_adapters.frame import Frame
from vision.config import SmokeDetectorConfig
from vision.smoke import SmokeDetector

ORANGE = (40, 140, 250)  # BGR


def night(rng: np.random.Generator) -> np.ndarray:
    return np.clip(rng.normal(18, 3, (360, 640, 3)), 0, 255).astype(np.uint8)


def fire(image: np.ndarray, rng: np.random.Generator, at=(300, 250)) -> None:
    for _ in range(6):  # tongues of flame that change shape every frame
        x, y = at[0] + int(rng.integers(-25, 25)), at[1] - int(rng.integers(0, 40))
        axes = (int(rng.integers(5, 14)), int(rng.integers(10, 30)))
        cv2.ellipse(image, (x, y), axes, 0, 0, 360, ORANGE, -1)


def run(draw, seconds: float = 12.0, fps: float = 2.0, base=night) -> list[bool]:
    """Per frame: whether the night (flame) cue reported something at 0.5."""
    rng = np.random.default_rng(1)
    det = SmokeDetector(SmokeDetectorConfig())
    out = []
    for i in range(int(seconds * fps)):
        image = base(rng)
        draw(image, rng, i)
        found = det.detect(Frame("cam", image, i / fps, i / fps, i))
        night_cue = found.data.get("night", np.zeros(len(found), bool))
        out.append(bool(((found.confidence >= 0.5) & night_cue).any()))
    return out


def test_flickering_flames_at_night_are_found() -> None:
    fired = run(lambda img, rng, i: fire(img, rng) if i >= 4 else None)
    assert not any(fired[:4]) and all(fired[-8:])


def test_a_steady_lamp_and_a_passing_car_are_not() -> None:
    def lamp(img, rng, i):
        cv2.circle(img, (100, 100), 20, ORANGE, -1)

    def car(img, rng, i):
        x = 40 * i  # tail lights crossing the view
        cv2.rectangle(img, (x, 280), (x + 12, 290), (30, 30, 240), -1)
        cv2.rectangle(img, (x + 80, 280), (x + 92, 290), (30, 30, 240), -1)

    assert not any(run(lamp)) and not any(run(car))


def test_the_flame_cue_sleeps_by_day() -> None:
    # (by day the smoke cues judge the view; the flame cue reports nothing)
    def day(rng):
        return np.full((360, 640, 3), 150, np.uint8)

    assert not any(run(lambda img, rng, i: fire(img, rng), base=day))
