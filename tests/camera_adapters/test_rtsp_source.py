"""The RTSP adapter against Debian's GStreamer RTSP server on loopback: TCP and UDP,
keyframe-only decoding, main and sub stream, a server killed and started again."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import av
import pytest
from peers import RTSP_PASSWORD, RTSP_USER

from camera_adapters.base import SourceError
from camera_adapters.rtsp import RtspSource, RtspSourceConfig, keyframe_stride
from lianqin.config import parse_config
from patrol.evidence import EvidenceStore
from patrol.worker import CameraState, CameraWorker


def _config(server, mount="/sub", **kw) -> RtspSourceConfig:
    return RtspSourceConfig(url=server.url(mount), username=RTSP_USER, password=RTSP_PASSWORD,
                            connect_timeout_s=5, read_timeout_s=5, **kw)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_reads_h264_over_both_transports_with_keyframes_only(gst_rtsp, transport):
    source = RtspSource("cam", _config(gst_rtsp, transport=transport))
    source.set_analysis_rate(0.5)  # GOP 1 s → every 2nd keyframe
    info = source.open()
    try:
        frames = [source.read() for _ in range(4)]
    finally:
        source.close()
    assert (info.codec, info.width, info.height, info.transport) == ("h264", 320, 180, transport)
    assert all(f.image.shape == (180, 320, 3) for f in frames)
    assert source.gop_s == pytest.approx(1.0, abs=0.05) and source.keyframe_stride() == 2
    snap = source.intake.snapshot()
    assert snap.gop_frames == 10
    # Every packet was demuxed into the frames (for the ring), but only keyframes decoded.
    packets = [p for f in frames[1:] for p in f.packets]
    assert sum(p.keyframe for p in packets) == 6 and len(packets) == 60
    assert snap.decoded == 4 < snap.packets
    ts = [f.ts for f in frames[1:]]
    assert [round(b - a, 1) for a, b in zip(ts, ts[1:], strict=False)] == [2.0, 2.0]


def test_full_decoding_when_analysed_faster_than_one_frame_per_gop(gst_rtsp):
    source = RtspSource("cam", _config(gst_rtsp))
    source.set_analysis_rate(5)
    source.open()
    try:
        frames = [source.read() for _ in range(15)]
    finally:
        source.close()
    assert source.keyframe_stride() is None
    assert len({f.index for f in frames}) == 15
    steps = [round(b.ts - a.ts, 2) for a, b in zip(frames[5:], frames[6:], strict=False)]
    assert all(s == pytest.approx(0.1, abs=0.03) for s in steps)


@pytest.mark.parametrize(("url", "words"), [
    ("rtsp://admin:WrongPass@127.0.0.1:{port}/main", "401"),
    ("rtsp://admin:WrongPass@127.0.0.1:{free}/main", "refused"),
])
def test_errors_are_clear_and_masked(gst_rtsp, url, words):
    from helpers import free_port

    url = url.format(port=gst_rtsp.port, free=free_port())
    source = RtspSource("cam", RtspSourceConfig(url=url, connect_timeout_s=3, read_timeout_s=3))
    with pytest.raises(SourceError) as info:
        source.open()
    assert words in str(info.value).lower() or words in str(info.value)
    assert "WrongPass" not in str(info.value) and "admin:***@" in str(info.value)


def test_keyframe_stride_table():
    assert [keyframe_stride(f, 2.0) for f in (2, 0.6, 0.5, 0.26, 0.25, 0.1)] == \
        [None, None, 1, 1, 2, 5]


def _worker(tmp_path: Path, source_cfg: dict, analyse_fps: float = 0.5) -> CameraWorker:
    config = parse_config({
        "storage": {"database_url": f"sqlite:///{tmp_path / 'e.db'}",
                    "evidence_dir": str(tmp_path / "ev")},
        "cameras": [{"id": "gate", "township": "星甸街道", "analyse_fps": analyse_fps,
                     "source": source_cfg}]})
    analysed = []
    worker = CameraWorker(config.cameras[0], config, EvidenceStore(tmp_path / "ev"),
                          lambda _w, a: analysed.append(a))
    worker.analysed = analysed  # type: ignore[attr-defined]
    return worker


def _until(predicate, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def test_sub_stream_is_analysed_and_clips_come_from_the_main_stream(gst_rtsp, tmp_path):
    worker = _worker(tmp_path, {"type": "rtsp", "url": gst_rtsp.url("/main"),
                                "sub_url": gst_rtsp.url("/sub"), "username": RTSP_USER,
                                "password": "${LQ_TEST_RTSP_PASSWORD}"})
    worker.start()
    try:
        _until(lambda: worker.refresh_state().state is CameraState.LIVE
               and worker.status.record_state is CameraState.LIVE, 20)
        time.sleep(4)
        st = worker.refresh_state()
        assert worker.latest_frame.image.shape == (180, 320, 3)  # the sub stream
        assert worker.clip_info.width == 640 and st.keyframes_only
        assert st.fps == pytest.approx(10, abs=2) and st.bitrate_bps > 0
        assert st.record_bitrate_bps > st.bitrate_bps  # 640x360 main vs 320x180 sub
        end = worker.ring.latest_ts
        path = worker.cut_clip(end - 3, end, "clip.mp4")
    finally:
        worker.stop()
    with av.open(str(tmp_path / "ev" / path)) as clip:
        stream = clip.streams.video[0]
        decoded = list(clip.decode(stream))
    assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
    assert len(decoded) >= 25  # about 3 s at 10 fps, every frame decodable


@pytest.fixture(autouse=True)
def _password_env(monkeypatch):
    monkeypatch.setenv("LQ_TEST_RTSP_PASSWORD", RTSP_PASSWORD)


def test_live_again_within_10_s_of_the_server_returning(gst_rtsp, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    worker = _worker(tmp_path, {"type": "rtsp", "url": gst_rtsp.url("/sub"),
                                "username": RTSP_USER, "password": RTSP_PASSWORD,
                                "read_timeout_s": 3})
    worker.start()
    try:
        _until(lambda: worker.status.frames >= 2, 20)
        gst_rtsp.kill()  # mid-stream
        _until(lambda: worker.refresh_state().state in (CameraState.OFFLINE,
                                                       CameraState.CONNECTING), 10)
        time.sleep(6)  # down long enough for the backoff to reach its ceiling
        assert worker.refresh_state().state is not CameraState.LIVE
        frames_before = worker.status.frames
        gst_rtsp.start()  # same port
        back = _until(lambda: worker.status.frames > frames_before
                      and worker.refresh_state().state is CameraState.LIVE, 10)
        assert back <= 10 and worker.status.reconnects >= 1
    finally:
        worker.stop()
    text = caplog.text + str(worker.status.error)
    assert RTSP_PASSWORD not in text


def test_hwaccel_cuda_falls_back_to_cpu_decoding_with_a_log_line(gst_rtsp, caplog, monkeypatch):
    """Where no CUDA device can be opened (this CPU machine) the camera still decodes, on
    the CPU, and says so once; with a GPU, the frames come from NVDEC."""
    import camera_adapters.rtsp as rtsp

    monkeypatch.setattr(rtsp, "_cuda_checked", False)  # as in a fresh process
    monkeypatch.setattr(rtsp, "_cuda_error", None)
    caplog.set_level(logging.INFO, logger="camera_adapters.rtsp")
    source = RtspSource("cam", _config(gst_rtsp, hwaccel="cuda", fast_decode=True))
    source.set_analysis_rate(1)  # GOP 1 s: every keyframe
    source.open()
    try:
        frames = [source.read() for _ in range(3)]
    finally:
        source.close()
    assert all(f.image.shape == (180, 320, 3) and f.image.std() > 5 for f in frames)
    assert source.intake.snapshot().decoded == 3
    if rtsp._cuda_error is not None:
        assert not source.on_gpu
        lines = [r.getMessage() for r in caplog.records if "hwaccel cuda" in r.getMessage()]
        assert len(lines) == 1 and "decoding on the CPU" in lines[0]
    else:
        assert source.on_gpu and "decoding with CUDA" in caplog.text


def test_hwaccel_is_validated():
    with pytest.raises(ValueError, match="hwaccel"):
        RtspSourceConfig(url="rtsp://10.0.0.5/ch1", hwaccel="vaapi")


def test_limit_malloc_arenas_takes_effect_in_a_fresh_process():
    import subprocess
    import sys

    code = ("from camera_adapters.rtsp import limit_malloc_arenas; "
            "print(limit_malloc_arenas(2), limit_malloc_arenas(2, mmap_threshold=1 << 20))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["True", "True"], out.stderr
