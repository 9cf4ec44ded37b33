"""Patrol tours on a running worker with the mock PTZ camera: rounds over presets, per-preset
zones, a failing preset skipped, events that remember their preset, and verification that
sends the camera back to it first."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from lianqin.config import ConfigError, parse_config
from patrol.service import PatrolService
from patrol.store import open_engine, session_factory
from patrol.tables import EventRow

ALL = [[0, 0], [1, 0], [1, 1], [0, 1]]


def _site(tmp_path: Path, **camera) -> dict:
    cam = {"id": "ptz-1", "township": "星甸街道", "analyse_fps": 4,
           "source": {"type": "mock", "fps": 8, "move_s": 0.5, "onset_s": 7,
                      "presets": {"1": "quiet", "2": "quiet", "3": "dust"},
                      "failing_presets": ["2"]},
           "tour": {"settle_s": 0.7, "dwell_s": 2.5, "skip_after_failures": 2, "skip_s": 600},
           "presets": [
               {"token": "1", "name": "村口", "zones": [{"id": "road", "polygon": ALL,
                                                      "kinds": ["dust"]}]},
               {"token": "2", "name": "坏预置位", "zones": []},
               {"token": "3", "name": "工地", "dwell_s": 14,
                "zones": [{"id": "site", "polygon": ALL, "kinds": ["dust"]}]}]}
    cam.update(camera)
    return {"storage": {"database_url": f"sqlite:///{tmp_path / 'e.db'}",
                        "evidence_dir": str(tmp_path / "ev")},
            "cameras": [cam],
            "rules": {"dust": {"persistence": {"n": 2, "m": 4}, "min_duration_s": 0}},
            "review": {"auto_order_min_confidence": {"dust": 1.0}},
            "verification": {"settle_s": 0.5, "window_s": 2}}


@pytest.fixture
def patrol(tmp_path: Path):
    config = parse_config(_site(tmp_path))
    engine = open_engine(config.storage.database_url)
    service = PatrolService(config, session_factory(engine))
    analyses = []
    on_analysis = service._on_analysis
    service._on_analysis = lambda w, a: (analyses.append((a.preset, a.frame)), on_analysis(w, a))
    service.analyses = analyses  # type: ignore[attr-defined]
    yield service
    service.stop()
    engine.dispose()


def _until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def test_tour_rounds_skip_a_failing_preset_and_events_remember_their_preset(patrol):
    patrol.start()
    worker = patrol.workers["ptz-1"]
    camera = worker.source
    def first_event():
        with patrol.sessions() as s:  # a short transaction: the workers write meanwhile
            return s.scalars(select(EventRow)).first()

    _until(lambda: first_event() is not None, 40)
    event = first_event()
    assert (event.preset, event.zone_id, event.kind) == ("3", "site", "dust")
    _until(lambda: [m[0] for m in camera.moves].count("1") >= 2, 30)
    moves = [m[0] for m in camera.moves]
    assert moves[:3] == ["1", "3", "1"]  # "2" failed and did not stop the round
    assert "2" not in moves
    assert patrol.workers["ptz-1"].status.preset in ("1", "3")
    # analysis only at presets, never while moving (the mock shows grey then)
    presets = {p for p, _ in patrol.analyses}
    assert presets <= {"1", "3"} and presets == {"1", "3"}
    assert all(not np.all(f.image == 128) for _, f in patrol.analyses)


def test_verification_returns_the_camera_to_the_events_preset(patrol):
    patrol.start()
    worker = patrol.workers["ptz-1"]
    _until(lambda: worker.status.preset == "1" and worker.latest_frame is not None, 20)
    moves = worker.source.moves
    before, started = len(moves), time.time()
    check = patrol.check_footage(camera_id="ptz-1", zone_id="site", kind="dust",
                                 evidence_folder="ptz-1/verify", name="v0", preset="3")
    assert check.frames > 0 and check.snapshot is not None
    # The tour yielded at once (its dwell at "1" is 2.5 s) and the next move was to "3".
    assert moves[before][0] == "3" and moves[before][1] - started < 1.0
    looked = [p for p, f in patrol.analyses if f.wall_ts > moves[before][1] + 0.5]
    assert looked[:check.frames] == ["3"] * check.frames


@pytest.mark.parametrize(("change", "words"), [
    ({"zones": [{"id": "z", "polygon": ALL, "kinds": ["dust"]}]}, "defines its zones under each"),
    ({"source": {"type": "synthetic", "scene": "quiet"}}, "need a PTZ camera"),
    ({"presets": [{"token": "1"}, {"token": "1"}]}, "appears twice"),
])
def test_preset_configuration_errors(tmp_path, change, words):
    with pytest.raises(ConfigError) as info:
        parse_config(_site(tmp_path, **change))
    assert any(words in message for _, message in info.value.errors), info.value.errors
