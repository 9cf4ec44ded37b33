"""Detector configuration: strict, bounded, defaulted, with errors that name the field."""

from __future__ import annotations

from contextlib import ExitStack as DoesNotRaise
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from vision.config import (
    CrowdDetectorConfig,
    DetectorsConfig,
    SmokeDetectorConfig,
    StallDetectorConfig,
)


def test_defaults_need_no_file() -> None:
    cfg = DetectorsConfig()
    assert (cfg.smoke.backend, cfg.dust.backend, cfg.stall.backend) == ("classical",) * 3
    assert cfg.crowd.backend == "hog" and cfg.crowd.model is None
    assert cfg.crowd.min_people == 10 and cfg.analysis_width is None


@pytest.mark.parametrize(("data", "expectation", "names"), [
    ({"crowd": {"min_people": 6, "cluster_eps": 1.5}}, DoesNotRaise(), ()),
    ({"crowd": {"backend": "yolo", "model": "m.pt"}}, DoesNotRaise(), ()),
    ({"crowd": {"backend": "yolo"}}, pytest.raises(ValidationError), ("crowd.model",)),
    ({"crowd": {"backend": "ssd"}}, pytest.raises(ValidationError), ("backend",)),
    ({"smoke": {"backend": "yolo"}}, pytest.raises(ValidationError), ("smoke", "backend")),
    ({"smoke": {"sensitivity": 5}}, pytest.raises(ValidationError), ("sensitivity",)),
    ({"stall": {"min_still_s": -1}}, pytest.raises(ValidationError), ("min_still_s",)),
    ({"dust": {"min_confidence": 1.5}}, pytest.raises(ValidationError), ("min_confidence",)),
    ({"crowd": {"imgsz": 500}}, pytest.raises(ValidationError), ("imgsz",)),
    ({"crowd": {"hog_stride": 6}}, pytest.raises(ValidationError), ("hog_stride",)),
    ({"analysis_width": 100}, pytest.raises(ValidationError), ("analysis_width",)),
    ({"fire": {}}, pytest.raises(ValidationError), ("fire",)),
])
def test_validation(data: dict[str, Any], expectation: Any, names: tuple[str, ...]) -> None:
    with expectation as err:
        DetectorsConfig.model_validate(data)
    for name in names:
        assert name in str(err.value)


def test_model_path_is_a_path() -> None:
    cfg = CrowdDetectorConfig(backend="yolo", model="models/weights/x.pt")
    assert cfg.model == Path("models/weights/x.pt")


@pytest.mark.parametrize("model", [SmokeDetectorConfig, StallDetectorConfig,
                                   CrowdDetectorConfig])
def test_every_field_is_described(model: type) -> None:
    for name, info in model.model_fields.items():
        assert info.description, f"{model.__name__}.{name} has no description"
