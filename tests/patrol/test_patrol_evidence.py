"""Evidence clips are cut by stream copy and decode; snapshots are drawn and stored safely."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from camera_adapters.file import FileSource, FileSourceConfig
from camera_adapters.ring import PacketRing
from patrol.evidence import EvidenceStore, annotate, write_clip
from rules.zones import Zone, ZoneConfig


def _read(small_video: Path):
    source = FileSource("cam", FileSourceConfig(path=small_video))
    info = source.open()
    frames = list(source.frames())
    source.close()
    return info, frames


def test_clip_is_a_stream_copy_of_the_window(small_video: Path, tmp_path: Path):
    info, frames = _read(small_video)
    ring = PacketRing(seconds=60)
    for f in frames:
        ring.extend(f.packets)
    packets = ring.slice(1.3, 3.0)  # keyframe at 1.0 s, through 3.0 s
    out = tmp_path / "clip.mp4"
    write_clip(out, info, packets)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"  # not re-encoded
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
    assert len(decoded) == len(packets) == 17  # 1.0 s .. 3.0 s at 8 fps
    # Same pictures as the source at 1.0 s (frame 8): the square sits at x = 32..52.
    assert np.abs(decoded[0].astype(int) - frames[8].image.astype(int)).mean() < 2


def test_clip_must_start_at_a_keyframe(small_video: Path, tmp_path: Path):
    info, frames = _read(small_video)
    with pytest.raises(ValueError, match="keyframe"):
        write_clip(tmp_path / "x.mp4", info, [p for f in frames[1:5] for p in f.packets])


def test_store_refuses_paths_outside_its_folder(tmp_path: Path):
    store = EvidenceStore(tmp_path / "evidence")
    with pytest.raises(ValueError, match="escapes"):
        store.write_jpeg("../../etc/x.jpg", np.zeros((4, 4, 3), np.uint8))


def test_snapshot_is_annotated_and_written(tmp_path: Path):
    store = EvidenceStore(tmp_path)
    image = np.zeros((120, 200, 3), np.uint8)
    zone = Zone(ZoneConfig(id="z", polygon=[(0, 0), (1, 0), (1, 1)], kinds=["smoke"]), 200, 120)
    drawn = annotate(image, zones=[zone], boxes=[(20, 30, 80, 90)], kind="smoke",
                     confidence=0.8, caption="cam 2026-01-01")
    assert drawn is not image and image.max() == 0  # the input is untouched
    assert drawn[60, 20].any()  # box edge drawn
    rel = store.write_jpeg(f"{store.folder('cam', 'e1', 0)}/snapshot.jpg", drawn)
    assert rel == "cam/19700101/e1/snapshot.jpg" and (tmp_path / rel).stat().st_size > 0
