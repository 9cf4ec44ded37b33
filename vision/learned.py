"""Smoke, dust and stall from a YOLO model (model card), alone or combined with the
classical detectors.

- ``model``: the boxes of the card's classes playing the kind's role. Smoke follows
  Pyronear's deployed rule: a box covering over 40% of the frame is dropped (a whole-view
  haze or a camera fault, not a plume); the rules stage then asks for the box in n of m
  analysed frames (Pyronear: 3 of 6). Stall boxes (umbrellas, tables, carts) are tracked
  and reported only once they have stayed in place for ``min_still_s``, with ``still_s``.
- ``combined``: the classical detector's regions and the model's, side by side; for stalls
  the model also judges the classical still-object candidates: one mostly covered by a
  vehicle is a parked car and dropped, one overlapping a stall object or with people
  lingering beside it (a tracked person within two person heights for ``LINGER_S``)
  scores higher. For dust, construction machinery (role ``site``) beside a classical dust
  region raises its score.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from camera_adapters.frame import Frame
from vision.base import Detector
from vision.config import DustDetectorConfig, SmokeDetectorConfig, StallDetectorConfig
from vision.tracking import IoUTracker, box_areas, intersections, iou_matrix
from vision.types import Detections, EventKind
from vision.yolo import YoloModel, card_for, frame_key, shared_model

MAX_SMOKE_AREA = 0.4  # Pyronear: boxes over 40% of the frame are not plumes
CAR_COVER = 0.5  # a still candidate this much inside a vehicle box is a parked car
STALL_OBJECT_BONUS = 0.2  # score added when a stall object (umbrella, table) overlaps
LINGER_S = 20.0  # a person tracked this long beside a candidate is lingering
LINGER_BONUS = 0.1  # score added for lingering people
SITE_BONUS = 0.1  # dust score added when machinery is beside the region

Config = SmokeDetectorConfig | DustDetectorConfig | StallDetectorConfig


def model_for(kind: EventKind, config: Config) -> YoloModel:
    card = card_for(config.model_card, config.model, what=kind.value,
                    default_classes={kind.value: [kind.value]})
    return shared_model(card)


def _masked(found: Detections, mask: np.ndarray | None) -> Detections:
    """Boxes whose centre lies in the watched mask."""
    if mask is None or not len(found):
        return found
    h, w = mask.shape[:2]
    cx = np.clip(((found.xyxy[:, 0] + found.xyxy[:, 2]) / 2).astype(int), 0, w - 1)
    cy = np.clip(((found.xyxy[:, 1] + found.xyxy[:, 3]) / 2).astype(int), 0, h - 1)
    return found[mask[cy, cx] > 0]


def cover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m): share of each box of ``a`` inside each box of ``b``."""
    inter = intersections(a, b)
    if not inter.size:
        return inter
    return inter / np.maximum(box_areas(a), 1e-6)[:, None]


class ModelDetector(Detector):
    """The kind's boxes from a YOLO model (``backend: model``)."""

    kind: ClassVar[EventKind]

    def __init__(self, kind: EventKind, config: Config, model: YoloModel | None = None) -> None:
        self.kind = kind  # type: ignore[misc]
        self.config = config
        self.model = model if model is not None else model_for(kind, config)
        self.tracker = IoUTracker(min_iou=0.3, max_missed=6, high=0.0)

    def objects(self, frame: Frame) -> Detections:
        """All of the card's boxes in this frame (memoised across kinds)."""
        return self.model.predict(frame.image, frame_key(frame, frame.image))

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        found = _masked(self.model.role(self.objects(frame), self.kind.value), mask)
        if self.kind is EventKind.SMOKE and len(found):
            found = found[found.area <= MAX_SMOKE_AREA * frame.width * frame.height]
        if self.kind is EventKind.STALL:
            return self._still(found, frame.ts)
        return Detections(found.xyxy, found.confidence,
                          {"threshold": np.full(len(found), self.model.card.threshold(self.kind.value))})

    def _still(self, found: Detections, ts: float) -> Detections:
        cfg = self.config
        assert isinstance(cfg, StallDetectorConfig)
        ids = self.tracker.update(found.xyxy, found.confidence, ts)
        still = np.array([self.tracker.still_for(i, ts) for i in ids], np.float32)
        keep = still >= cfg.min_still_s
        if not keep.any():
            return Detections.empty()
        ramp = np.clip((still - cfg.min_still_s) / cfg.full_confidence_s, 0, 1)
        score = np.clip(0.5 * found.confidence + 0.5 * (0.5 + 0.5 * ramp), 0, 1)
        return Detections(found.xyxy[keep], score[keep],
                          {"still_s": still[keep], "track": ids[keep],
                           "threshold": np.full(int(keep.sum()), cfg.min_confidence * 0.8)})

    def reset(self) -> None:
        self.tracker.reset()


class CombinedDetector(Detector):
    """Classical and model detections of one kind together (``backend: combined``)."""

    kind: ClassVar[EventKind]

    def __init__(self, classical: Detector, learned: ModelDetector) -> None:
        self.classical = classical
        self.learned = learned
        self.kind = classical.kind  # type: ignore[misc]
        self.people = IoUTracker(min_iou=0.3, max_missed=4, high=0.3)

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        base = self.classical.detect(frame, mask)
        model = self.learned.model
        objects = self.learned.objects(frame)
        if self.kind is EventKind.STALL:
            base = self._judge_stalls(base, objects, frame)
        elif self.kind is EventKind.DUST and len(base):
            site = model.role(objects, "site")
            if len(site):
                near = iou_matrix(_grow(base.xyxy, 0.5), site.xyxy).max(axis=1) > 0
                base = _rescored(base, base.confidence + SITE_BONUS * near)
        own = self.learned.detect(frame, mask)
        return _concat(base, own)

    def _judge_stalls(self, base: Detections, objects: Detections, frame: Frame) -> Detections:
        model = self.learned.model
        people = model.role(objects, "person")
        ids = self.people.update(people.xyxy, people.confidence, frame.ts)
        if not len(base):
            return base
        vehicles = model.role(objects, "vehicle")
        parked = (cover(base.xyxy, vehicles.xyxy).max(axis=1) >= CAR_COVER
                  if len(vehicles) else np.zeros(len(base), bool))
        score = base.confidence.copy()
        stalls = model.role(objects, "stall")
        if len(stalls):
            score += STALL_OBJECT_BONUS * (iou_matrix(base.xyxy, stalls.xyxy).max(axis=1) > 0.05)
        lingering = people[np.array([self.people.dwell(i, frame.ts) >= LINGER_S for i in ids],
                                    bool)] if len(people) else people
        if len(lingering):
            height = float(np.median(lingering.xyxy[:, 3] - lingering.xyxy[:, 1]))
            near = iou_matrix(_grow(base.xyxy, 0.0, pad=2 * height), lingering.xyxy).max(axis=1)
            score += LINGER_BONUS * (near > 0)
        return _rescored(base, score)[~parked]

    def reset(self) -> None:
        self.classical.reset()
        self.learned.reset()
        self.people.reset()


def _grow(xyxy: np.ndarray, share: float, pad: float = 0.0) -> np.ndarray:
    w = (xyxy[:, 2] - xyxy[:, 0]) * share + pad
    h = (xyxy[:, 3] - xyxy[:, 1]) * share + pad
    return xyxy + np.stack([-w, -h, w, h], axis=1)


def _rescored(found: Detections, score: np.ndarray) -> Detections:
    return Detections(found.xyxy, np.clip(score, 0, 1), found.data, found.metadata)


def _concat(a: Detections, b: Detections) -> Detections:
    if not len(b):
        return a
    if not len(a):
        return b
    keys = set(a.data) & set(b.data)
    return Detections(np.concatenate([a.xyxy, b.xyxy]),
                      np.concatenate([a.confidence, b.confidence]),
                      {k: np.concatenate([a.data[k], b.data[k]]) for k in keys},
                      {**b.metadata, **a.metadata})
