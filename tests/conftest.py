"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import moving_square, write_video

os.environ.setdefault("YOLO_OFFLINE", "1")


@pytest.fixture
def small_video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "square.mp4", moving_square(40))
