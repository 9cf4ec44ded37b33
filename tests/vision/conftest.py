"""Fixtures of the vision tests: one OpenCV thread, and the synthetic scene runner."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import pytest
from scene_runs import SceneRun, run_scene


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    cv2.setNumThreads(1)  # as the product runs detectors, one core each


@pytest.fixture
def scene_runner() -> Callable[..., SceneRun]:
    return run_scene
