"""GB/T 28181 channels through a WVP-GB28181-pro + ZLMediaKit stand-in, and HTTP snapshot
cameras behind Digest authentication; both on loopback."""

from __future__ import annotations

import pytest
from peers import RTSP_PASSWORD
from standins import CHANNEL_IDS, DEVICE_ID, WVP_TOKEN, ZLM_SECRET, snapshot_camera_app, wvp_app

from camera_adapters.base import SourceError
from camera_adapters.gb28181 import Gb28181Platform, Gb28181Source, Gb28181SourceConfig
from camera_adapters.http import HttpSnapshotSource, HttpSnapshotSourceConfig
from lianqin.server import bind, serve_in_thread


@pytest.fixture
def serve():
    servers = []

    def start(app) -> str:
        sock = bind("127.0.0.1", 0)
        server, thread = serve_in_thread(app, sock)
        servers.append((server, thread))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def test_platform_lists_devices_and_channels_across_pages(serve):
    app = wvp_app("rtsp://127.0.0.1:1/x", device_pages=2)
    url = serve(app)
    platform = Gb28181Platform(url, token=WVP_TOKEN)
    devices = platform.devices()
    assert devices[0]["deviceId"] == DEVICE_ID and len(devices) == 3
    channels = platform.channels(DEVICE_ID)
    assert [c.channel_id for c in channels] == CHANNEL_IDS and all(c.online for c in channels)
    assert all(token == WVP_TOKEN for _, token in app.state.calls)
    with pytest.raises(SourceError, match="设备不存在"):
        platform.channels("34020000009999999999")


def test_bad_token_is_a_clear_error_without_the_token(serve):
    url = serve(wvp_app("rtsp://127.0.0.1:1/x"))
    with pytest.raises(SourceError) as info:
        Gb28181Platform(url, token="Wrong-Token-123").devices()
    assert "HTTP 401" in str(info.value) and "Wrong-Token-123" not in str(info.value)


def test_channel_plays_through_the_platform_and_snapshots_through_zlm(serve, gst_rtsp):
    app = wvp_app(gst_rtsp.url("/sub", credentials=True))
    url = serve(app)
    source = Gb28181Source("gb", Gb28181SourceConfig(
        platform_url=url, token=WVP_TOKEN, device_id=DEVICE_ID, channel_id=CHANNEL_IDS[0],
        media_url=url, media_secret=ZLM_SECRET, timeout_s=5))
    source.set_analysis_rate(0.5)
    info = source.open()
    try:
        frame = source.read()
        snapshot = source.snapshot()
    finally:
        source.close()
    assert (info.codec, info.width) == ("h264", 320) and frame.image.shape == (180, 320, 3)
    assert snapshot.shape == (180, 320, 3)
    paths = [p for p, _ in app.state.calls]
    assert f"/api/play/start/{DEVICE_ID}/{CHANNEL_IDS[0]}" in paths
    snap_url = next(u for p, u in app.state.calls if p == "/index/api/getSnap")
    assert snap_url.startswith("rtsp://") and source.intake.snapshot().packets > 0
    assert RTSP_PASSWORD not in repr(source.config)


def test_unknown_channel_is_refused(serve):
    url = serve(wvp_app("rtsp://127.0.0.1:1/x"))
    source = Gb28181Source("gb", Gb28181SourceConfig(
        platform_url=url, token=WVP_TOKEN, device_id=DEVICE_ID,
        channel_id="34020000001310009999", timeout_s=5))
    with pytest.raises(SourceError, match="通道不存在"):
        source.open()


def test_http_snapshot_with_digest_auth(serve):
    app = snapshot_camera_app("admin", "Snap-Pass-42")
    url = serve(app) + "/ISAPI/Streaming/channels/101/picture"
    source = HttpSnapshotSource("snap", HttpSnapshotSourceConfig(
        url=url, username="admin", password="Snap-Pass-42", interval_s=0.2))
    info = source.open()
    try:
        frames = [source.read() for _ in range(3)]
    finally:
        source.close()
    assert (info.codec, info.width, info.height) == ("mjpeg", 640, 360)
    assert [f.index for f in frames] == [0, 1, 2] and app.state.served == 3
    assert frames[2].ts - frames[1].ts == pytest.approx(0.2, abs=0.1)
    assert source.intake.snapshot().packets == 3


def test_http_snapshot_wrong_password(serve):
    url = serve(snapshot_camera_app("admin", "Snap-Pass-42")) + "/ISAPI/Streaming/channels/101/picture"
    source = HttpSnapshotSource("snap", HttpSnapshotSourceConfig(
        url=url.replace("http://", "http://admin:Bad-Pass-77@")))
    with pytest.raises(SourceError) as info:
        source.open()
    assert "HTTP 401" in str(info.value) and "Bad-Pass-77" not in str(info.value)
