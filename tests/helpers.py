"""Helpers shared by the tests: small real videos, free ports, CI strictness."""

from __future__ import annotations

import os
import socket
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def write_video(path: Path, frames: list[np.ndarray], fps: int = 8, gop: int = 8) -> Path:
    """Encode BGR frames as H.264 (libx264) in an MP4 file."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.options = {"g": str(gop), "bf": "0", "preset": "ultrafast"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def moving_square(n: int, w: int = 160, h: int = 96) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        img = np.full((h, w, 3), 40, np.uint8)
        x = (i * 4) % (w - 20)
        img[30:50, x:x + 20] = (0, 200, 255)
        frames.append(img)
    return frames


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(condition: bool, reason: str) -> None:
    """Skip when a needed part is missing, except under CI, where it is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)
