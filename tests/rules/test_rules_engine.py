"""Rules: persistence (N of M, minimum duration), end, cooldown, crowd counts, zones."""

from __future__ import annotations

import numpy as np
import pytest

from camera_adapters.frame import Frame
from rules.config import KindRuleConfig, RulesConfig
from rules.engine import RuleEngine
from rules.zones import ZoneConfig
from vision.types import Detections, EventKind

IMAGE = np.zeros((100, 200, 3), np.uint8)
LEFT = ZoneConfig(id="left", polygon=[(0, 0), (0.5, 0), (0.5, 1), (0, 1)],
                  kinds=["smoke", "stall", "crowd"])


def frame(ts: float) -> Frame:
    return Frame("cam", IMAGE, ts, 1_000_000 + ts, int(ts * 10))


def dets(hit: bool, box=(10, 10, 60, 60), conf=0.9, **data) -> Detections:
    if not hit:
        return Detections.empty()
    return Detections(np.array([box]), np.array([conf]), {k: np.array([v]) for k, v in data.items()})


def engine(**smoke) -> RuleEngine:
    rules = RulesConfig(smoke=KindRuleConfig.model_validate(
        {"persistence": {"n": 3, "m": 5}, "end_after_s": 3, "cooldown_s": 10, **smoke}))
    return RuleEngine("cam", [LEFT], rules)


def run(eng: RuleEngine, pattern: str, kind=EventKind.SMOKE, step=1.0, **det) -> list[tuple[float, str]]:
    """Feed one frame per character ('x' hit, '.' miss); return (ts, update type) pairs."""
    out = []
    for i, c in enumerate(pattern):
        result = eng.update(frame(i * step), {kind: dets(c == "x", **det)})
        out += [(i * step, u.type.value) for u in result.updates]
    return out


@pytest.mark.parametrize(("pattern", "expected"), [
    ("xx", []),  # two hits never make three of five
    ("xxx", [(2.0, "start")]),
    ("x.x.x", [(4.0, "start")]),  # three of the last five, not consecutive
    ("x...x...x", []),  # never three within five frames
    ("xxx...", [(2.0, "start"), (5.0, "end")]),  # ends 3 s after the last hit
])
def test_persistence_n_of_m(pattern, expected):
    assert run(engine(), pattern) == expected


def test_minimum_duration_delays_the_start():
    # Agreement from t=2; min_duration 4 s -> start at t=6.
    assert run(engine(min_duration_s=4), "xxxxxxxx")[0] == (6.0, "start")


def test_a_gap_in_agreement_restarts_the_minimum_duration():
    # Agreement from t=2 breaks at t=5, before 4 s; it holds again from t=9.
    ups = run(engine(min_duration_s=4), "xxx....xxxxxxx")
    assert ups == [(13.0, "start")]


def test_cooldown_suppresses_a_repeat_alarm():
    # First event: start t=2, last hit t=2, end at t=5; cooldown until t=12, so the
    # hits of t=6..10 raise nothing, and the next event needs fresh agreement (t=16).
    ups = run(engine(), "xxx...xxxxx...xxxxx")
    assert ups == [(2.0, "start"), (5.0, "end"), (16.0, "start")]


def test_detection_outside_the_zone_is_not_a_hit():
    assert run(engine(), "xxxxx", box=(120, 10, 180, 60)) == []


def test_region_needs_the_configured_overlap():
    half_in = (50, 10, 150, 60)  # half of the box lies in the left zone
    assert run(engine(min_overlap=0.6), "xxxxx", box=half_in) == []
    assert run(engine(min_overlap=0.4), "xxx", box=half_in) == [(2.0, "start")]


def test_low_confidence_is_not_a_hit():
    assert run(engine(min_confidence=0.95), "xxxxx") == []


@pytest.mark.parametrize(("count", "fires"), [(9, False), (10, True), (25, True)])
def test_crowd_count_threshold(count, fires):
    rules = RulesConfig(crowd=KindRuleConfig(min_count=10, persistence={"n": 2, "m": 2}))
    eng = RuleEngine("cam", [LEFT], rules)
    ups = run(eng, "xxx", kind=EventKind.CROWD, count=count)
    assert bool(ups) is fires
    if fires:
        assert eng.active_events()[0].count == count


def test_objects_count_by_their_foot_point():
    # The left zone spans x < 100 of 200 pixels; what counts is the bottom centre.
    rules = RulesConfig(stall=KindRuleConfig(persistence={"n": 1, "m": 1}))
    eng = RuleEngine("cam", [LEFT], rules)
    assert run(eng, "x", kind=EventKind.STALL, box=(90, 10, 190, 90)) == []  # foot x=140
    assert run(eng, "x", kind=EventKind.STALL, box=(60, 10, 130, 90)) == [(0.0, "start")]  # x=95
