"""Fixtures: real peers on loopback for the camera adapters (see peers.py and standins.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import require
from peers import GstRtspServer, IpyCam, gst_available, ipycam_available


@pytest.fixture
def gst_rtsp() -> Iterator[GstRtspServer]:
    """A running server with a 640x360 main and a 320x180 sub stream, 10 fps, GOP 10."""
    require(gst_available(), "GStreamer RTSP server (gir1.2-gst-rtsp-server-1.0, "
            "python3-gi, gstreamer1.0-plugins-ugly/good/bad) under /usr/bin/python3")
    server = GstRtspServer({"/main": "pattern:640x360@10/10", "/sub": "pattern:320x180@10/10"})
    server.start()
    yield server
    server.kill()


@pytest.fixture
def ipycam_device() -> Iterator[IpyCam]:
    """ipycam bound to 127.0.0.1 (no WS-Discovery), WS-Security on."""
    require(ipycam_available(), "ipycam (pip: the test extra) and ffmpeg")
    camera = IpyCam("admin", "On@vif-9")
    camera.start()
    yield camera
    camera.stop()
