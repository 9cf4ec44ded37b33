"""The registry builds one fresh detector per camera; analysis_width rescales boxes back."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from helpers import require

from camera_adapters.frame import Frame
from vision.base import Detector
from vision.config import DetectorsConfig
from vision.crowd import CrowdDetector
from vision.dust import DustDetector
from vision.registry import ScaledDetector, build_detector, unwrap
from vision.smoke import SmokeDetector
from vision.stall import StallDetector
from vision.types import Detections, EventKind


@pytest.mark.parametrize(("kind", "cls"), [
    (EventKind.SMOKE, SmokeDetector), (EventKind.DUST, DustDetector),
    (EventKind.STALL, StallDetector), (EventKind.CROWD, CrowdDetector), ("dust", DustDetector),
])
def test_builds_a_fresh_detector_of_the_kind(kind: EventKind, cls: type) -> None:
    a, b = build_detector(kind, DetectorsConfig()), build_detector(kind, DetectorsConfig())
    assert isinstance(unwrap(a), cls) and a is not b and a.kind == EventKind(kind)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        build_detector("fire", DetectorsConfig())  # type: ignore[arg-type]


class _Fixed(Detector):
    """Reports one box and one person at fixed work-image pixels, and what it was given."""

    kind: ClassVar[EventKind] = EventKind.CROWD

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        self.seen.append((frame.width, frame.height))
        persons = Detections(np.array([[1, 2, 3, 4]]), np.array([0.9]))
        return Detections(np.array([[10, 20, 30, 40]]), np.array([0.8]), {"count": [12]},
                          {"persons": persons})


def test_analysis_width_downscales_and_boxes_come_back_in_frame_pixels() -> None:
    inner = _Fixed()
    scaled = ScaledDetector(inner, 320)
    frame = Frame("cam", np.zeros((720, 1280, 3), np.uint8), 0.0, 0.0, 0)
    found = scaled.detect(frame, np.ones((720, 1280), np.uint8))
    assert inner.seen == [(320, 180)] and scaled.kind is EventKind.CROWD
    np.testing.assert_allclose(found.xyxy, [[40, 80, 120, 160]])
    np.testing.assert_allclose(found.metadata["persons"].xyxy, [[4, 8, 12, 16]])
    assert found.data["count"].tolist() == [12]
    small = Frame("cam", np.zeros((180, 320, 3), np.uint8), 0.0, 0.0, 1)
    np.testing.assert_allclose(scaled.detect(small).xyxy, [[10, 20, 30, 40]])


def test_analysis_width_wraps_built_detectors() -> None:
    det = build_detector(EventKind.STALL, DetectorsConfig(analysis_width=480))
    assert isinstance(det, ScaledDetector) and isinstance(det.inner, StallDetector)
    det.reset()


def test_missing_yolo_model_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    cfg = DetectorsConfig.model_validate({"crowd": {"backend": "yolo", "model": str(missing)}})
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        build_detector(EventKind.CROWD, cfg)


def test_unloadable_yolo_model_names_the_path(tmp_path: Path) -> None:
    require(importlib.util.find_spec("ultralytics") is not None,
            "ultralytics is not installed (pip install 'lianqin[yolo]')")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    cfg = DetectorsConfig.model_validate({"crowd": {"backend": "yolo", "model": str(junk)}})
    with pytest.raises(ValueError, match="junk.pt"):
        build_detector(EventKind.CROWD, cfg)
