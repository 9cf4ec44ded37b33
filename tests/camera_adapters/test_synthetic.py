"""Synthetic cameras: deterministic scenes, honest ground truth, real H.264 packets."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from pydantic import ValidationError

from camera_adapters.base import SourceError
from camera_adapters.synthetic import (
    SCENES,
    SyntheticSource,
    SyntheticSourceConfig,
    make_scene,
)

EVENT_SCENES = [s for s in SCENES if s != "quiet"]


@pytest.mark.parametrize("name", SCENES)
def test_same_seed_same_frames_other_seed_other_frames(name: str) -> None:
    a, b = make_scene(name, seed=3, onset_s=2.0), make_scene(name, seed=3, onset_s=2.0)
    other = make_scene(name, seed=4, onset_s=2.0)
    for t in (0.0, 7.25, 19.5):
        frame = a.render(t)
        assert frame.shape == (360, 640, 3) and frame.dtype == np.uint8
        assert np.array_equal(frame, b.render(t))
        assert np.array_equal(frame, a.render(t)), "render must be a pure function of t"
    assert not np.array_equal(a.render(7.25), other.render(7.25))


@pytest.mark.parametrize("name", SCENES)
def test_scenes_change_over_time_and_render_at_other_sizes(name: str) -> None:
    scene = make_scene(name, width=320, height=240, onset_s=1.0)
    first, later = scene.render(0.0), scene.render(15.0)
    assert first.shape == (240, 320, 3)
    assert np.abs(first.astype(int) - later).mean() > 0.5


@pytest.mark.parametrize("name", EVENT_SCENES)
def test_event_makes_the_picture_differ_where_the_truth_box_is(name: str) -> None:
    scene = make_scene(name, onset_s=2.0)
    t = 20.0
    assert scene.present(t)
    x1, y1, x2, y2 = (int(v) for v in scene.event_box(t))
    quiet_twin = make_scene(name, onset_s=1000.0)  # same seed, event not begun
    diff = np.abs(scene.render(t).astype(int) - quiet_twin.render(t)).max(axis=2)
    inside = diff[y1:y2, x1:x2].mean()
    outside = np.delete(diff, np.s_[y1:y2], axis=0).mean()
    assert inside > 10 and inside > 4 * outside


# (scene, first present no later than, present no earlier than this after onset)
APPEAR = [("smoke", 2.0, 0.5), ("dust", 2.0, 0.5), ("stall", 0.1, 0.0), ("crowd", 12.0, 3.0)]


@pytest.mark.parametrize(("name", "latest", "earliest"), APPEAR)
def test_present_follows_onset_duration_and_repeat(name: str, latest: float,
                                                   earliest: float) -> None:
    scene = make_scene(name, onset_s=5.0, duration_s=20.0, repeat_s=10.0)
    assert not scene.present(4.9)
    assert not scene.present(5.0 + earliest - 0.01) or earliest == 0.0
    assert scene.present(5.0 + latest)
    assert scene.present(24.0)
    ts = np.arange(0.0, 120.0, 0.25)
    flags = [scene.present(t) for t in ts]
    starts = [t for t, p, q in zip(ts[1:], flags[1:], flags[:-1], strict=True) if p and not q]
    assert len(starts) >= 2, "repeat_s must start new episodes"
    episodes = scene.episodes()
    assert len(episodes) >= 3 and episodes[0][0] == 5.0
    end = episodes[0][1]
    assert end is not None and 25.0 <= end <= 25.0 + 8.0, "gone within a few s of clearing"
    assert episodes[1][0] >= end + 10.0 - 1e-9
    assert not scene.present(end + 0.01)


@pytest.mark.parametrize("name", EVENT_SCENES)
def test_clear_disposes_of_the_event(name: str) -> None:
    scene = make_scene(name, onset_s=3.0)
    assert scene.present(20.0)
    scene.clear(20.0)
    assert not scene.present(60.0) and scene.event_box(60.0) is None
    (onset, end), = scene.episodes()  # episodes so far: up to the latest time seen (60 s)
    assert onset == 3.0 and end is not None and 20.0 <= end <= 26.0
    assert scene.present(end - 0.01) and not scene.present(end)


def test_clear_before_onset_is_a_no_op_and_quiet_has_no_episodes() -> None:
    scene = make_scene("stall", onset_s=10.0)
    scene.clear(5.0)
    assert scene.present(30.0) and scene.episodes() == [(10.0, None)]
    quiet = make_scene("quiet")
    quiet.clear(5.0)
    assert not any(quiet.present(t) for t in range(0, 120, 5)) and quiet.episodes() == []


def test_stall_disappears_at_once_and_crowd_disperses() -> None:
    stall = make_scene("stall", onset_s=2.0)
    before = stall.render(30.0)
    stall.clear(30.0)
    assert not stall.present(30.0) and np.array_equal(stall.render(35.0)[300:],
                                                      make_scene("stall", onset_s=99.0
                                                                 ).render(35.0)[300:])
    assert not np.array_equal(before, stall.render(30.0))
    crowd = make_scene("crowd", onset_s=0.0)
    assert crowd.standing(20.0) == 14  # type: ignore[attr-defined]
    crowd.clear(20.0)
    assert crowd.standing(21.0) < 10 and crowd.standing(30.0) == 0  # type: ignore[attr-defined]


def test_unknown_scene_and_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown scene 'fog'"):
        make_scene("fog")
    with pytest.raises(ValueError, match="onset_s"):
        make_scene("smoke", onset_s=-1.0)


@pytest.mark.parametrize(("changes", "field"), [
    ({"width": 641}, "width"), ({"fps": 0}, "fps"), ({"scene": "fog"}, "scene"),
    ({"colour": "red"}, "colour"), ({"duration_s": 0}, "duration_s"),
])
def test_config_errors_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        SyntheticSourceConfig.model_validate({"scene": "smoke", **changes})
    assert field in str(err.value)


def test_source_serves_encoded_frames_that_mux_into_an_mp4(tmp_path: Path) -> None:
    cfg = SyntheticSourceConfig(scene="smoke", fps=8, realtime=False, onset_s=0.5)
    source = SyntheticSource("cam-7", cfg)
    info = source.open()
    frames = [source.read() for _ in range(40)]
    assert source.now() == frames[-1].ts == pytest.approx(39 / 8)
    source.close()
    source.close()  # twice is safe
    assert (info.codec, info.width, info.height, info.fps) == ("h264", 640, 360, 8.0)
    assert info.time_base == Fraction(1, 8)
    assert [f.index for f in frames] == list(range(40))
    assert [f.ts for f in frames] == [i / 8 for i in range(40)]
    packets = [p for f in frames for p in f.packets]
    assert len(packets) == 40 and all(len(f.packets) == 1 for f in frames)
    assert [p.keyframe for p in packets].count(True) == 3  # GOP = 2 s = 16 frames
    assert packets[0].keyframe and packets[16].keyframe and packets[32].keyframe
    assert all(p.dts <= p.pts and p.ts == p.pts / 8 for p in packets)
    scene_frame = source.scene.render(frames[20].ts)
    assert np.abs(frames[20].image.astype(int) - scene_frame).mean() < 6, "decoded picture"
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("h264", rate=8)
        stream.width, stream.height = info.width, info.height
        for p in packets:
            pkt = av.Packet(p.data)
            pkt.pts, pkt.dts, pkt.time_base = p.pts, p.dts, info.time_base
            pkt.stream = stream
            out.mux(pkt)
    with av.open(str(path)) as back:
        decoded = [f.to_ndarray(format="bgr24") for f in back.decode(video=0)]
    assert len(decoded) == 40 and decoded[0].shape == (360, 640, 3)
    assert np.abs(decoded[20].astype(int) - frames[20].image).mean() < 2


def test_unencoded_unpaced_source_and_read_before_open() -> None:
    cfg = SyntheticSourceConfig(scene="quiet", encode=False, realtime=False, width=320,
                                height=180, fps=4)
    source = SyntheticSource("cam", cfg)
    with pytest.raises(SourceError, match="before open"):
        source.read()
    info = source.open()
    frame = source.read()
    assert info.codec == "rawvideo" and frame.packets == () and frame.image.shape == (180, 320, 3)
    assert np.array_equal(frame.image, source.scene.render(0.0)) and not source.live


def test_realtime_source_paces_itself() -> None:
    cfg = SyntheticSourceConfig(scene="quiet", fps=50, encode=False, width=160, height=96)
    with SyntheticSource("cam", cfg) as source:
        assert source.live
        ts = [source.read().ts for _ in range(3)]
        assert ts == [0.0, 0.02, 0.04] and source.now() >= 0.0
