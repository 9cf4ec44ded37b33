"""Turns per-frame detections into events: zones, persistence, duration, end, cooldown."""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from camera_adapters.frame import Frame
from rules.config import KindRuleConfig, RulesConfig
from rules.events import Event, EventState, RuleResult, RuleUpdate, UpdateType, ZoneHit
from rules.zones import TimeWindow, Zone, ZoneConfig
from vision.types import Detections, EventKind

# Re-announce a running event when its confidence or count has grown, but not more often
# than this (seconds of source time): operators and the MQTT stream need no per-frame chatter.
UPDATE_INTERVAL_S = 5.0


@dataclass
class _Track:
    """Persistence state of one (zone, kind)."""

    window: deque[bool]
    holding_since: float | None = None
    last_hit_ts: float | None = None
    cooldown_until: float = float("-inf")
    event: Event | None = None
    last_update_ts: float = float("-inf")
    announced: tuple[float, int | None] = field(default=(0.0, None))


def sensitivity_factor(sensitivity: int) -> float:
    """Multiplier of confidence thresholds for a zone's sensitivity (1..100): 50 keeps the
    threshold, 100 halves it, 1 raises it by half (capped below 1 by the caller).

    >>> sensitivity_factor(50), sensitivity_factor(100), round(sensitivity_factor(1), 2)
    (1.0, 0.5, 1.49)
    """
    return 1.0 - (sensitivity - 50) / 100.0


def zone_rule(zone: ZoneConfig, rule: KindRuleConfig) -> KindRuleConfig:
    """The kind's rule with the zone's own minimum duration, repeat interval and count
    threshold in place of the kind's where the zone sets them."""
    update: dict[str, object] = {}
    if zone.min_duration_s is not None:
        update["min_duration_s"] = zone.min_duration_s
    if zone.repeat_interval_s is not None:
        update["cooldown_s"] = zone.repeat_interval_s
    if zone.count_threshold is not None:
        update["min_count"] = zone.count_threshold
    return rule.model_copy(update=update) if update else rule


def thresholds(detections: Detections, rule: KindRuleConfig, sensitivity: int = 50) -> np.ndarray:
    """Per detection, the confidence it needs: the detector's own threshold where it gives
    one (``data["threshold"]``), else the rule's, moved by the zone's sensitivity."""
    own = detections.data.get("threshold")
    base = (np.asarray(own, np.float32) if own is not None
            else np.full(len(detections), rule.min_confidence, np.float32))
    return np.minimum(base * sensitivity_factor(sensitivity), 0.99)


def zone_hit(zone: Zone, kind: EventKind, detections: Detections, rule: KindRuleConfig,
             active: bool = True) -> ZoneHit:
    """Evaluate one zone for one kind on one frame's detections (pure).

    ``rule`` is the zone's rule (:func:`zone_rule`); detections in the zone's shield areas
    do not count, nor does anything while the zone is off schedule (``active`` false).
    """
    if not active:
        return ZoneHit(zone.id, kind, False, 0.0, Detections.empty(),
                       0 if kind is EventKind.CROWD else None)
    inside = detections[zone.trigger(detections, kind, rule.min_overlap)]
    inside = inside[~zone.shielded(inside, kind)]
    inside = inside[inside.confidence >= thresholds(inside, rule, zone.config.sensitivity)]
    count = None
    if kind is EventKind.CROWD:
        counts = inside.data.get("count")
        count = int(counts.max()) if counts is not None and len(counts) else 0
        if counts is not None:
            floor = inside.data.get("min_count")
            needed = (np.full(len(inside), rule.min_count) if rule.min_count is not None
                      else floor if floor is not None else np.zeros(len(inside)))
            inside = inside[counts >= needed]
    hit = bool(len(inside))
    confidence = float(inside.confidence.max()) if hit else 0.0
    return ZoneHit(zone.id, kind, hit, confidence, inside, count)


def in_schedule(windows: Sequence[TimeWindow], wall_ts: float) -> bool:
    """Whether local time ``wall_ts`` falls in any window (no windows: always).

    A window whose end is before its start runs past midnight; its days are the days it
    starts on.

    >>> import time
    >>> noon = time.mktime((2026, 11, 27, 12, 0, 0, 0, 0, -1))  # a Friday
    >>> in_schedule([TimeWindow(start="07:00", end="20:00", days=[5])], noon)
    True
    >>> in_schedule([TimeWindow(start="22:00", end="06:00")], noon)
    False
    """
    if not windows:
        return True
    now = time.localtime(wall_ts)
    minute = now.tm_hour * 60 + now.tm_min
    day = now.tm_wday + 1
    for w in windows:
        start, end = _minutes(w.start), _minutes(w.end)
        if start <= end:
            if day in w.days and start <= minute < end:
                return True
        elif (day in w.days and minute >= start) or (
                (day - 2) % 7 + 1 in w.days and minute < end):
            return True
    return False


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


class RuleEngine:
    """Per-camera event logic. One verb: ``update(frame, detections)``; ``reset()`` forgets.

    An event starts when ``n`` of the last ``m`` analysed frames hit and that has held for
    ``min_duration_s``; it ends ``end_after_s`` after the last hit; a new event in the same
    zone and kind waits ``cooldown_s`` after the end. A zone's own ``min_duration_s``,
    ``repeat_interval_s`` (the cooldown) and ``count_threshold`` replace the kind's; its
    ``sensitivity`` moves the confidence thresholds, its ``shield`` areas are ignored and
    outside its ``schedule`` nothing hits.
    """

    def __init__(self, camera_id: str, zones: Sequence[ZoneConfig], rules: RulesConfig) -> None:
        self.camera_id = camera_id
        self.zone_configs = list(zones)
        self.rules = rules
        self._zones: list[Zone] = []
        self._size: tuple[int, int] | None = None
        self._tracks: dict[tuple[str, EventKind], _Track] = {}

    def zones_for(self, width: int, height: int) -> list[Zone]:
        """The zones laid on frames of this size (rebuilt when the size changes)."""
        if self._size != (width, height):
            self._zones = [Zone(z, width, height) for z in self.zone_configs]
            self._size = (width, height)
        return self._zones

    def kinds(self) -> set[EventKind]:
        """Kinds watched by at least one zone and enabled in the rules."""
        return {k for z in self.zone_configs for k in z.kinds if self.rules.for_kind(k).enabled}

    def active_events(self) -> list[Event]:
        return [t.event for t in self._tracks.values() if t.event is not None]

    def update(self, frame: Frame, detections: Mapping[EventKind, Detections]) -> RuleResult:
        updates: list[RuleUpdate] = []
        hits: list[ZoneHit] = []
        for zone in self.zones_for(frame.width, frame.height):
            for kind in zone.config.kinds:
                rule = self.rules.for_kind(kind)
                if not rule.enabled or kind not in detections:
                    continue
                rule = zone_rule(zone.config, rule)
                hit = zone_hit(zone, kind, detections[kind], rule,
                               in_schedule(zone.config.schedule, frame.wall_ts))
                hits.append(hit)
                track = self._tracks.get((zone.id, kind))
                if track is None:
                    track = _Track(deque(maxlen=rule.persistence.m))
                    self._tracks[(zone.id, kind)] = track
                update = self._step(track, zone, kind, rule, hit, frame)
                if update is not None:
                    updates.append(update)
        return RuleResult(tuple(updates), tuple(hits))

    def _step(self, track: _Track, zone: Zone, kind: EventKind, rule: KindRuleConfig,
              hit: ZoneHit, frame: Frame) -> RuleUpdate | None:
        ts = frame.ts
        track.window.append(hit.hit)
        if hit.hit:
            track.last_hit_ts = ts
        agreed = len(track.window) >= rule.persistence.n and sum(track.window) >= rule.persistence.n
        if agreed:
            track.holding_since = ts if track.holding_since is None else track.holding_since
        elif track.event is None:
            track.holding_since = None

        if track.event is not None:
            return self._continue(track, rule, hit, frame)
        if (hit.hit and agreed and ts - track.holding_since >= rule.min_duration_s
                and ts >= track.cooldown_until):
            track.event = Event(
                id=uuid.uuid4().hex, camera_id=self.camera_id, zone_id=zone.id, kind=kind,
                state=EventState.ACTIVE, start_ts=ts, started_wall=frame.wall_ts,
                confidence=hit.confidence, boxes=_boxes(hit), severity=rule.severity,
                count=hit.count,
            )
            track.last_update_ts = ts
            track.announced = (hit.confidence, hit.count)
            return RuleUpdate(UpdateType.START, track.event)
        return None

    def _continue(self, track: _Track, rule: KindRuleConfig, hit: ZoneHit,
                  frame: Frame) -> RuleUpdate | None:
        event = track.event
        assert event is not None
        ts = frame.ts
        if track.last_hit_ts is not None and ts - track.last_hit_ts >= rule.end_after_s:
            end_ts = track.last_hit_ts
            ended = replace(event, state=EventState.ENDED, end_ts=end_ts,
                            ended_wall=frame.wall_ts - (ts - end_ts))
            track.event, track.holding_since = None, None
            track.window.clear()
            track.cooldown_until = end_ts + rule.cooldown_s
            return RuleUpdate(UpdateType.END, ended)
        if not hit.hit:
            return None
        count = max(event.count or 0, hit.count or 0) if hit.count is not None else event.count
        track.event = replace(event, confidence=max(event.confidence, hit.confidence),
                              count=count, boxes=_boxes(hit))
        grown = (track.event.confidence > track.announced[0] + 0.05
                 or (count or 0) > (track.announced[1] or 0))
        if grown and ts - track.last_update_ts >= UPDATE_INTERVAL_S:
            track.last_update_ts = ts
            track.announced = (track.event.confidence, count)
            return RuleUpdate(UpdateType.UPDATE, track.event)
        return None

    def close_all(self, frame_ts: float, wall_ts: float) -> list[RuleUpdate]:
        """End every active event (shutdown, camera removed, end of a scanned file)."""
        updates = []
        for track in self._tracks.values():
            if track.event is None:
                continue
            end_ts = track.last_hit_ts if track.last_hit_ts is not None else frame_ts
            ended = replace(track.event, state=EventState.ENDED, end_ts=end_ts,
                            ended_wall=wall_ts - (frame_ts - end_ts))
            updates.append(RuleUpdate(UpdateType.END, ended))
            track.event = None
        return updates

    def reset(self) -> None:
        """Forget persistence windows (active events stay open until ``close_all``)."""
        for track in self._tracks.values():
            track.window.clear()
            track.holding_since = None


def _boxes(hit: ZoneHit) -> tuple[tuple[float, float, float, float], ...]:
    return tuple(tuple(float(v) for v in np.round(b, 1)) for b in hit.detections.xyxy)
