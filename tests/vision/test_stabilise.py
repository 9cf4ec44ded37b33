"""Camera-shake removal: jitter goes, a steady camera is left untouched, a slow pan stays,
and the detectors stop firing on a shaking pole over a quiet street."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from camera_adapters.frame import Frame
from camera_adapters.synthetic import SyntheticSource, SyntheticSourceConfig
from patrol.analyzer import CameraAnalyzer
from rules.config import RulesConfig
from rules.events import UpdateType
from rules.zones import ZoneConfig
from vision.config import DetectorsConfig, StabiliseConfig
from vision.stabilise import Stabiliser
from vision.types import Detections, EventKind

W, H = 640, 360


def _world(seed: int = 3) -> np.ndarray:
    """A textured view larger than the frame, so shifted crops have no empty border."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (H + 400, W + 400, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (7, 7), 0)


def _view(world: np.ndarray, x: float, y: float) -> np.ndarray:
    """The camera looking at (200 + x, 200 + y) of the world, sub-pixel."""
    m = np.float32([[1, 0, -(200 + x)], [0, 1, -(200 + y)]])
    return cv2.warpAffine(world, m, (W, H), flags=cv2.INTER_LINEAR)


def _shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Displacement of b relative to a, measured on the central part."""
    ga = cv2.cvtColor(a[60:-60, 60:-60], cv2.COLOR_BGR2GRAY).astype(np.float32)
    gb = cv2.cvtColor(b[60:-60, 60:-60], cv2.COLOR_BGR2GRAY).astype(np.float32)
    (dx, dy), _ = cv2.phaseCorrelate(ga, gb)
    return np.array([dx, dy])


def test_jitter_is_taken_out():
    world, rng = _world(), np.random.default_rng(0)
    stab = Stabiliser(StabiliseConfig())
    still = _view(world, 0, 0)
    raw, left = [], []
    for i in range(60):
        dx, dy = rng.normal(0, 2.0, 2)
        shaken = _view(world, dx, dy)
        steady = stab.correct(shaken, i * 0.5)
        if i >= 10:  # once the smooth part has settled
            raw.append(np.hypot(*_shift(still, shaken)))
            left.append(np.hypot(*_shift(still, steady)))
    assert np.median(raw) > 1.5
    assert np.median(left) < 0.5 * np.median(raw), (np.median(raw), np.median(left))
    assert np.percentile(left, 90) < 1.5


def test_a_steady_camera_with_things_moving_is_left_alone():
    world = _world()
    stab = Stabiliser(StabiliseConfig())
    for i in range(40):
        view = _view(world, 0, 0)
        x = 20 + 12 * i  # a bright lorry crossing a fifth of the view
        cv2.rectangle(view, (x, 150), (x + 130, 260), (230, 230, 240), -1)
        assert stab.correct(view, i * 0.5) is view, i


def test_a_slow_pan_is_kept():
    world = _world()
    stab = Stabiliser(StabiliseConfig())
    frames = [stab.correct(_view(world, 1.0 * i, 0), i * 0.5) for i in range(80)]  # 2 px/s
    moved = _shift(frames[40], frames[70])  # 15 s apart: the picture moved 30 px left
    assert moved[0] == pytest.approx(-30, abs=3) and abs(moved[1]) < 1, moved
    assert abs(stab.offset[0]) <= StabiliseConfig().max_shift_px


def test_blank_frames_and_cuts_are_not_steps():
    stab = Stabiliser(StabiliseConfig())
    blank = np.full((H, W, 3), 40, np.uint8)
    assert stab.correct(blank, 0.0) is blank and stab.correct(blank, 0.5) is blank
    world = _world()
    stab.correct(_view(world, 0, 0), 1.0)
    other = _world(seed=9)  # a different picture: nothing agrees
    view = _view(other, 0, 0)
    assert stab.correct(view, 1.5) is view and not stab.offset.any()


def test_boxes_are_reported_in_the_original_frame():
    world = _world()
    stab = Stabiliser(StabiliseConfig())
    for i in range(12):  # the camera stays put for 6 s
        stab.correct(_view(world, 0, 0), i * 0.5)
    stab.correct(_view(world, 3, 0), 6.0)  # the pole swings: the picture moves 3 px left
    people = Detections(np.array([[10, 20, 30, 60]]), np.array([0.9]))
    found = Detections(np.array([[100, 50, 200, 150]]), np.array([0.8]), {},
                       {"persons": people})
    back = stab.unshift(found)
    assert back.metadata["persons"].xyxy[0] == pytest.approx(
        people.xyxy[0] - np.tile(stab.offset, 2), abs=1e-3)
    assert stab.offset[0] > 2  # the correction moved the picture back to the right
    assert back.xyxy[0] == pytest.approx(found.xyxy[0] - np.tile(stab.offset, 2), abs=1e-3)


@pytest.mark.parametrize("scene", ["quiet", "smoke"])
def test_detectors_on_a_shaking_pole(scene):
    """σ 1.5 px of independent shake per analysed frame, the perturbation of the benchmark:
    the quiet street stays quiet, the smoke is still found."""
    kinds = [EventKind.SMOKE, EventKind.DUST, EventKind.STALL]
    zone = ZoneConfig(id="all", polygon=[[0, 0], [1, 0], [1, 1], [0, 1]], kinds=kinds)
    analyzer = CameraAnalyzer("pole", [zone], DetectorsConfig(), RulesConfig())
    rng = np.random.default_rng(0)
    started = []
    cfg = SyntheticSourceConfig(scene=scene, fps=2, realtime=False, onset_s=8, seed=0)
    with SyntheticSource("pole", cfg) as src:
        while (frame := src.read()) is not None and frame.ts <= 60:
            dx, dy = rng.normal(0, 1.5, 2)
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            image = cv2.warpAffine(frame.image, m, (frame.width, frame.height),
                                   borderMode=cv2.BORDER_REFLECT)
            shaken = Frame(frame.camera_id, image, frame.ts, frame.wall_ts, frame.index)
            started += [(str(u.event.kind), u.event.start_ts)
                        for u in analyzer.analyse(shaken).result.updates if u.type is UpdateType.START]
    if scene == "quiet":
        assert started == []
    else:
        assert [k for k, _ in started] == ["smoke"], started
