"""Motion gating (heavy detectors run only on change, re-check at a slower pace) and
tracking (ids, dwell and stillness per object)."""

from __future__ import annotations

import numpy as np

from camera_adapters.frame import Frame
from vision.base import Detector
from vision.config import DetectorsConfig, MotionGateConfig
from vision.motion import GatedDetector, MotionGate
from vision.registry import build_detector
from vision.tracking import IoUTracker
from vision.types import Detections, EventKind


class Counting(Detector):
    """Counts its calls and answers with the call number as the confidence."""

    kind = EventKind.CROWD

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        self.calls += 1
        return Detections(np.array([[0, 0, 10, 10]]), np.array([self.calls / 100]))


def scene(t: float, mover_x: int | None = None) -> np.ndarray:
    image = np.full((360, 640, 3), 100, np.uint8)
    image[200:260, 100:500] = 160  # still furniture
    if mover_x is not None:
        image[150:250, mover_x:mover_x + 40] = 30
    return image


def test_gate_skips_still_frames_and_rechecks_at_its_pace() -> None:
    inner = Counting()
    gated = GatedDetector(inner, MotionGateConfig(recheck_s=5))
    answers = [gated.detect(Frame("c", scene(t), t, t, i)) for i, t in
               enumerate(np.arange(0, 12, 0.5))]
    # runs at 0 (first), 5 and 10 (re-checks): the still scene costs 3 runs of 24 frames
    assert inner.calls == 3 and gated.gate.skips == 21
    assert answers[3].confidence[0] == np.float32(0.01)  # the last answer stands in between


def test_gate_runs_on_motion_inside_the_mask_only() -> None:
    gate = MotionGate(MotionGateConfig(recheck_s=100))
    mask = np.zeros((360, 640), np.uint8)
    mask[:, 320:] = 1  # only the right half is watched
    assert gate.should_run(scene(0), mask, 0.0)
    assert not gate.should_run(scene(1, mover_x=50), mask, 1.0)  # moves on the left
    assert gate.should_run(scene(2, mover_x=400), mask, 2.0)  # moves on the right


def test_people_detectors_are_gated_and_classical_ones_are_not() -> None:
    cfg = DetectorsConfig()
    assert isinstance(build_detector(EventKind.CROWD, cfg), GatedDetector)
    assert not isinstance(build_detector(EventKind.SMOKE, cfg), GatedDetector)
    off = DetectorsConfig.model_validate({"motion": {"enabled": False}})
    assert not isinstance(build_detector(EventKind.CROWD, off), GatedDetector)


def test_tracker_keeps_ids_and_measures_dwell_and_stillness() -> None:
    tracker = IoUTracker(max_missed=2)
    walker = np.array([10, 10, 30, 60], np.float32)
    sitter = np.array([200, 10, 220, 60], np.float32)
    ids = []
    for t in range(10):
        boxes = np.stack([walker + [4 * t, 0, 4 * t, 0], sitter])
        ids.append(tracker.update(boxes, np.array([0.9, 0.9]), float(t)).tolist())
    assert all(i == ids[0] for i in ids) and ids[0][0] != ids[0][1]
    walker_id, sitter_id = ids[0]
    assert tracker.dwell(walker_id, 9.0) == 9.0 and tracker.dwell(sitter_id, 9.0) == 9.0
    assert tracker.still_for(sitter_id, 9.0) == 9.0
    assert tracker.still_for(walker_id, 9.0) < 5.0  # it keeps moving on
    for t in range(10, 14):  # the walker leaves: its track survives 2 misses, then goes
        tracker.update(sitter[None], np.array([0.9]), float(t))
    assert walker_id not in tracker.tracks and sitter_id in tracker.tracks


def test_low_score_boxes_extend_tracks_but_start_none() -> None:
    tracker = IoUTracker(high=0.5)
    box = np.array([[10, 10, 30, 60]], np.float32)
    assert tracker.update(box, np.array([0.3]), 0.0).tolist() == [0]
    first = tracker.update(box, np.array([0.8]), 1.0).tolist()
    assert first != [0] and tracker.update(box, np.array([0.3]), 2.0).tolist() == first
