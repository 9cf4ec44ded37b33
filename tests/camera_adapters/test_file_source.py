"""File and image sources read real files; the ring and masking keep what they promise."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from camera_adapters.base import SourceError
from camera_adapters.file import FileSource, FileSourceConfig, ImagesSource, ImagesSourceConfig
from camera_adapters.frame import EncodedPacket
from camera_adapters.ring import PacketRing
from camera_adapters.secrets import mask_text, mask_url


def test_file_source_decodes_frames_in_time_order_with_their_packets(small_video: Path):
    source = FileSource("cam", FileSourceConfig(path=small_video))
    info = source.open()
    frames = list(source.frames())
    source.close()
    assert (info.codec, info.width, info.height, info.fps) == ("h264", 160, 96, 8.0)
    assert len(frames) == 40
    ts = [f.ts for f in frames]
    assert ts == sorted(ts) and ts[0] == 0.0 and ts[-1] == pytest.approx(39 / 8)
    packets = [p for f in frames for p in f.packets]
    assert len(packets) == 40 and packets[0].keyframe
    assert sum(p.keyframe for p in packets) == 5  # GOP of 8 frames
    # The moving square is where it was drawn (decoded picture, BGR).
    assert frames[0].image[40, 10].tolist() == pytest.approx([0, 200, 255], abs=30)


def test_file_source_loop_keeps_time_increasing(small_video: Path):
    source = FileSource("cam", FileSourceConfig(path=small_video, loop=True))
    source.open()
    ts = [source.read().ts for _ in range(90)]
    source.close()
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.mp4", None, "not found"),
    ("garbage.mp4", b"this is not a video", "cannot open"),
])
def test_file_source_errors_are_clear(tmp_path: Path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        FileSource("cam", FileSourceConfig(path=path)).open()


def test_images_source_reads_a_folder_in_name_order(tmp_path: Path):
    for i, value in enumerate([30, 90, 150]):
        cv2.imwrite(str(tmp_path / f"img_{2 - i}.png"), np.full((20, 30, 3), value, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    source = ImagesSource("cam", ImagesSourceConfig(path=tmp_path, interval_s=180))
    source.open()
    frames = list(source.frames())
    assert [int(f.image[0, 0, 0]) for f in frames] == [150, 90, 30]
    assert [f.ts for f in frames] == [0, 180, 360]


def test_images_source_rejects_an_empty_folder(tmp_path: Path):
    with pytest.raises(SourceError, match="no images"):
        ImagesSource("cam", ImagesSourceConfig(path=tmp_path)).open()


def _packets(n: int, gop: int, fps: float = 4.0) -> list[EncodedPacket]:
    return [EncodedPacket(b"x", i, i, i / fps, i % gop == 0) for i in range(n)]


def test_ring_keeps_whole_gops_covering_its_horizon():
    ring = PacketRing(seconds=3)
    ring.extend(_packets(40, gop=8))  # 10 s at 4 fps, keyframes every 2 s
    kept = ring.slice(-1, 100)
    assert kept[0].keyframe and kept[0].ts <= 9.75 - 3
    assert kept[-1].ts == 9.75


@pytest.mark.parametrize(("start", "expected_first"), [(5.1, 4.0), (6.0, 6.0), (0.0, 0.0)])
def test_ring_slices_start_at_the_keyframe_before(start, expected_first):
    ring = PacketRing(seconds=60)
    ring.extend(_packets(40, gop=8))
    clip = ring.slice(start, 8.0)
    assert clip[0].keyframe and clip[0].ts == expected_first and clip[-1].ts == 8.0


@pytest.mark.parametrize(("url", "masked"), [
    ("rtsp://admin:Pa55@10.0.0.2:554/ch1", "rtsp://admin:***@10.0.0.2:554/ch1"),
    ("rtsp://10.0.0.2/ch1", "rtsp://10.0.0.2/ch1"),
    ("http://h/snap.jpg?user=a&password=b&x=1", "http://h/snap.jpg?user=a&password=***&x=1"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_mask_text_masks_urls_inside_messages():
    text = "open rtsp://u:secret@h/s failed; retry onvif://a:b@c:80"
    assert "secret" not in mask_text(text) and ":b@" not in mask_text(text)
