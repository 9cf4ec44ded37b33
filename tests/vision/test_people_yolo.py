"""The YOLO person backend runs on a model built offline from its YAML definition.

Untrained weights find nothing; the test proves the loading, inference and conversion
path end to end. It is skipped only when ultralytics is missing outside CI.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from helpers import require

from camera_adapters.frame import Frame
from vision.config import DetectorsConfig
from vision.crowd import CrowdDetector
from vision.registry import build_detector, unwrap
from vision.types import Detections, EventKind


@pytest.fixture(scope="module")
def yolo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(importlib.util.find_spec("ultralytics") is not None,
            "ultralytics is not installed (pip install 'lianqin[yolo]')")
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("yolo") / "yolo11n-untrained.pt"
    YOLO("yolo11n.yaml").save(str(path))
    return path


def test_crowd_detector_runs_a_yolo_model_file(yolo_model: Path) -> None:
    cfg = DetectorsConfig.model_validate(
        {"crowd": {"backend": "yolo", "model": str(yolo_model), "imgsz": 320}})
    detector = build_detector(EventKind.CROWD, cfg)
    assert isinstance(unwrap(detector), CrowdDetector)
    image = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    found = detector.detect(Frame("cam", image, 0.0, 0.0, 0))
    assert isinstance(found, Detections) and found.xyxy.shape[1] == 4
    persons = found.metadata["persons"]
    assert isinstance(persons, Detections) and len(persons.data["group"]) == len(persons)
    assert np.all((persons.confidence >= 0) & (persons.confidence <= 1))
