"""The docstring examples of the synthetic cameras and the detectors run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["camera_adapters.synthetic", "vision.config", "vision.registry", "vision.hog",
           "vision.smoke", "vision.dust", "vision.stall", "vision.crowd",
           "vision.imageops", "vision.stabilise"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
