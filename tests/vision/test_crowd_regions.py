"""Frigate-style motion regions for the HOG person search: between whole-image re-checks
only what changed is searched, still people are carried over and keep their tracks."""

from __future__ import annotations

import cv2
import numpy as np

from camera_adapters.frame import Frame
from vision.config import CrowdDetectorConfig, DetectorsConfig, MotionGateConfig
from vision.crowd import CrowdDetector
from vision.motion import changed_regions, small_gray
from vision.people import HogPersonDetector
from vision.registry import ScaledDetector, build_detector, unwrap
from vision.types import Detections, EventKind

SIZE = (640, 360)


class DarkBlobs(HogPersonDetector):
    """'People' are dark rectangles wholly inside the searched image; records the size of
    every image it is asked to search."""

    def __init__(self) -> None:
        super().__init__(CrowdDetectorConfig())
        self.searched: list[tuple[int, int]] = []

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        self.searched.append((w, h))
        dark = (image.min(axis=2) < 60).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(dark)
        boxes = [[x, y, x + bw, y + bh] for x, y, bw, bh, _ in stats[1:n]
                 if x > 0 and y > 0 and x + bw < w and y + bh < h]  # a cut person is missed
        return Detections(np.asarray(boxes, np.float32).reshape(-1, 4),
                          np.full(len(boxes), 0.9, np.float32))


def street(*people_x: int) -> np.ndarray:
    image = np.full((SIZE[1], SIZE[0], 3), 120, np.uint8)
    image[60:80, :] = 170  # still furniture
    for x in people_x:
        image[200:300, x:x + 30] = 30
    return image


def test_changed_regions_box_what_moved_widened_and_merged() -> None:
    ref = small_gray(street())
    assert len(changed_regions(small_gray(street()), ref, SIZE, 12, (20, 20))) == 0
    (box,) = changed_regions(small_gray(street(300)), ref, SIZE, 12, (20, 20))
    x1, y1, x2, y2 = box
    assert x1 <= 300 - 20 and x2 >= 330 + 20 and y1 <= 200 - 20 and y2 >= 300 + 20
    assert x2 - x1 < 30 + 2 * 20 + 40  # around the mover only
    assert len(changed_regions(small_gray(street(300, 350)), ref, SIZE, 12, (20, 20))) == 1
    assert len(changed_regions(small_gray(street(100, 500)), ref, SIZE, 12, (20, 20))) == 2


def test_only_changed_regions_are_searched_and_still_people_are_carried_over() -> None:
    persons = DarkBlobs()
    crowd = CrowdDetector(CrowdDetectorConfig(), persons, MotionGateConfig(recheck_s=5))

    def people(t: float, *xs: int) -> Detections:
        persons.searched.clear()
        return crowd.detect(Frame("c", street(*xs), t, t, int(t))).metadata["persons"]

    first = people(0.0, 50, 150)
    assert persons.searched == [SIZE] and len(first) == 2
    second = people(0.5, 50, 150, 500)  # someone walks in on the right
    assert len(persons.searched) == 1 and persons.searched[0] < SIZE
    assert sorted(second.xyxy[:, 0].tolist()) == [50, 150, 500]
    kept = {int(x): int(t) for x, t in zip(second.xyxy[:, 0], second.data["track"], strict=True)}
    assert kept[50] == first.data["track"][first.xyxy[:, 0] == 50][0]  # same track, still
    third = people(1.0, 150, 500)  # the one on the left leaves
    assert sorted(third.xyxy[:, 0].tolist()) == [150, 500]
    assert people(1.5, 150, 500).xyxy.shape == (2, 4) and persons.searched == []  # no change
    people(5.0, 150, 500)
    assert persons.searched == [SIZE]  # the re-check searches the whole image


def test_regions_only_with_motion_gating_and_hog_people() -> None:
    assert CrowdDetector(CrowdDetectorConfig(), DarkBlobs()).regions is None
    gated = unwrap(build_detector(EventKind.CROWD, DetectorsConfig()))
    assert isinstance(gated, CrowdDetector) and gated.regions is not None
    plain = unwrap(build_detector(EventKind.CROWD, DetectorsConfig.model_validate(
        {"motion": {"enabled": False}})))
    assert isinstance(plain, CrowdDetector) and plain.regions is None


def test_hog_people_are_searched_at_the_working_width() -> None:
    scaled = build_detector(EventKind.CROWD, DetectorsConfig.model_validate(
        {"motion": {"enabled": False}, "crowd": {"hog_width": 640}}))
    assert isinstance(scaled, ScaledDetector) and scaled.width == 640
    native = build_detector(EventKind.CROWD, DetectorsConfig.model_validate(
        {"motion": {"enabled": False}}))  # the default: native resolution
    assert isinstance(native, CrowdDetector)
    persons = DarkBlobs()
    crowd = ScaledDetector(CrowdDetector(CrowdDetectorConfig(), persons), 640)
    image = np.full((720, 1280, 3), 120, np.uint8)
    image[400:600, 600:660] = 30
    found = crowd.detect(Frame("c", image, 0.0, 0.0, 0)).metadata["persons"]
    assert persons.searched == [(640, 360)]
    np.testing.assert_allclose(found.xyxy[0], [600, 400, 660, 600], atol=2)  # frame pixels
