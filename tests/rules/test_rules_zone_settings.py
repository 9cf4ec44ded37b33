"""Per-zone settings as city-management cameras expose them: sensitivity, minimum
duration, repeat-alarm interval, count threshold, schedule and shield areas."""

from __future__ import annotations

import time

import numpy as np
import pytest

from camera_adapters.frame import Frame
from rules.config import KindRuleConfig, RulesConfig
from rules.engine import RuleEngine, in_schedule
from rules.zones import TimeWindow, Zone, ZoneConfig, union_mask
from vision.types import Detections, EventKind

IMAGE = np.zeros((100, 200, 3), np.uint8)
POLY = [(0, 0), (0.5, 0), (0.5, 1), (0, 1)]
# Friday 27 Nov 2026, 12:00 local time
NOON = time.mktime((2026, 11, 27, 12, 0, 0, 0, 0, -1))


def zone(**settings) -> ZoneConfig:
    return ZoneConfig(id="z", polygon=POLY, kinds=["smoke", "crowd"], **settings)


def rules() -> RulesConfig:
    quick = {"persistence": {"n": 2, "m": 3}, "end_after_s": 3, "cooldown_s": 10}
    return RulesConfig(smoke=KindRuleConfig.model_validate(quick),
                       crowd=KindRuleConfig.model_validate({**quick, "min_count": 10}))


def run(z: ZoneConfig, pattern: str, kind=EventKind.SMOKE, conf=0.9, box=(10, 10, 60, 60),
        wall0: float = NOON, **data) -> list[tuple[float, str]]:
    eng = RuleEngine("cam", [z], rules())
    out = []
    for i, c in enumerate(pattern):
        ts = float(i)
        dets = (Detections(np.array([box]), np.array([conf]),
                           {k: np.array([v]) for k, v in data.items()})
                if c == "x" else Detections.empty())
        result = eng.update(Frame("cam", IMAGE, ts, wall0 + ts, i), {kind: dets})
        out += [(ts, u.type.value) for u in result.updates]
    return out


@pytest.mark.parametrize(("sensitivity", "conf", "fires"), [
    (50, 0.45, False),  # below the detector's own threshold of 0.5
    (50, 0.55, True),
    (100, 0.30, True),  # the most sensitive zone halves the threshold: 0.25
    (100, 0.20, False),
    (1, 0.70, False),  # the least sensitive raises it to 0.745
    (1, 0.80, True),
])
def test_sensitivity_moves_the_detectors_own_threshold(sensitivity, conf, fires):
    ups = run(zone(sensitivity=sensitivity), "xxx", conf=conf, threshold=0.5)
    assert bool(ups) is fires


def test_sensitivity_applies_to_the_rule_threshold_without_a_detector_one():
    assert run(zone(sensitivity=50), "xxx", conf=0.4) == []
    assert run(zone(sensitivity=90), "xxx", conf=0.4) == [(1.0, "start")]


def test_zone_minimum_duration_replaces_the_kinds():
    assert run(zone(), "xxxxxxx")[0] == (1.0, "start")
    assert run(zone(min_duration_s=4), "xxxxxxx")[0] == (5.0, "start")


def test_zone_repeat_interval_replaces_the_cooldown():
    # first event: start 1, last hit 1, end 4; the kind's cooldown (10 s) blocks the
    # hits from 5 on; the zone's 2 s interval lets a new event start at 7
    pattern = "xx...xxxxx"
    assert run(zone(), pattern) == [(1.0, "start"), (4.0, "end")]
    assert run(zone(repeat_interval_s=2), pattern) == [(1.0, "start"), (4.0, "end"),
                                                       (6.0, "start")]


@pytest.mark.parametrize(("threshold", "count", "fires"), [
    (None, 9, False), (None, 10, True), (5, 6, True), (5, 4, False), (30, 25, False)])
def test_zone_count_threshold_replaces_the_kinds(threshold, count, fires):
    ups = run(zone(count_threshold=threshold), "xxx", kind=EventKind.CROWD, count=count,
              min_count=10)
    assert bool(ups) is fires


def test_detector_group_size_applies_when_no_count_is_configured():
    z = zone()
    eng = RuleEngine("cam", [z], RulesConfig(crowd=KindRuleConfig(persistence={"n": 1, "m": 1})))
    dets = Detections(np.array([[10, 10, 60, 60]]), np.array([0.9]),
                      {"count": np.array([4]), "min_count": np.array([10])})
    result = eng.update(Frame("cam", IMAGE, 0.0, NOON, 0), {EventKind.CROWD: dets})
    assert not result.updates and result.hits[0].count == 4  # seen, but not a crowd


def test_schedule_gates_the_zone():
    on = zone(schedule=[TimeWindow(start="07:00", end="20:00", days=[5])])  # Fridays
    off = zone(schedule=[TimeWindow(start="07:00", end="20:00", days=[6, 7])])  # weekends
    assert run(on, "xxx") == [(1.0, "start")]
    assert run(off, "xxx") == []


@pytest.mark.parametrize(("hhmm", "expected"), [
    ((23, 30), True), ((2, 0), True), ((6, 0), False), ((12, 0), False)])
def test_night_window_runs_past_midnight(hhmm, expected):
    window = [TimeWindow(start="22:00", end="06:00", days=[5])]  # Friday night
    day = 27 if hhmm[0] >= 12 else 28  # after midnight it is Saturday
    ts = time.mktime((2026, 11, day, hhmm[0], hhmm[1], 0, 0, 0, -1))
    assert in_schedule(window, ts) is expected


def test_shield_area_hides_detections_and_the_detector_mask():
    shield = [[(0, 0), (0.5, 0), (0.5, 0.5), (0, 0.5)]]  # upper half of the zone
    assert run(zone(shield=shield), "xxx", box=(10, 10, 40, 40)) == []  # centre in it
    assert run(zone(shield=shield), "xxx", box=(10, 60, 40, 90)) == [(1.0, "start")]
    laid = Zone(zone(shield=shield), 200, 100)
    mask = union_mask([laid], EventKind.SMOKE)
    assert mask is not None and mask[20, 20] == 0 and mask[80, 20] == 1 and mask[20, 150] == 0
