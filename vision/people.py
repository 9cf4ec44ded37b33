"""Person detectors behind the crowd detector: HOG (built in) and ultralytics YOLO (a file).

Both turn an image into :class:`~vision.types.Detections` of people (tight boxes, scores
in [0, 1]). Neither keeps temporal state.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from vision.config import CrowdDetectorConfig
from vision.hog import HogPeople
from vision.types import Detections

# HOG SVM margins are unbounded; s / (s + HOG_HALF_SCORE) maps them to (0, 1) with a
# margin of HOG_HALF_SCORE scoring 0.5. INRIA people typically score 0.5-3 with
# OpenCV's default SVM, background clutter mostly below 0.5.
HOG_HALF_SCORE = 0.5
COCO_PERSON = 0  # class id of "person" in COCO-trained models, used when names lack it


def nms(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy non-maximum suppression; returns kept indices and, per kept box, how many
    boxes (itself included) it suppressed: the number of agreeing window hits."""
    order = np.argsort(-scores)
    keep, support = [], []
    alive = np.ones(len(scores), bool)
    areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    for i in order:
        if not alive[i]:
            continue
        xx1 = np.maximum(xyxy[i, 0], xyxy[:, 0])
        yy1 = np.maximum(xyxy[i, 1], xyxy[:, 1])
        xx2 = np.minimum(xyxy[i, 2], xyxy[:, 2])
        yy2 = np.minimum(xyxy[i, 3], xyxy[:, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / (areas[i] + areas - inter + 1e-9)
        merged = alive & (overlap > iou)
        keep.append(i)
        support.append(int(merged.sum()))
        alive &= ~merged
    return np.asarray(keep, int), np.asarray(support, int)


class PersonDetector(ABC):
    """Finds people in one image."""

    @abstractmethod
    def detect(self, image: np.ndarray) -> Detections:
        """Person boxes (x1, y1, x2, y2) in ``image`` pixels with scores in [0, 1]."""


class HogPersonDetector(PersonDetector):
    """Dalal & Triggs HOG with OpenCV's default people SVM (see :mod:`vision.hog`).

    Window hits are merged by NMS; a person needs ``hog_min_hits`` agreeing hits, like
    the group threshold of OpenCV's ``detectMultiScale``.
    """

    def __init__(self, config: CrowdDetectorConfig) -> None:
        self.config = config
        self._hog = HogPeople(config.hog_scale_step, config.hog_max_scale,
                              stride=config.hog_stride)

    def detect(self, image: np.ndarray) -> Detections:
        cfg = self.config
        hits = self._hog.scan(image, upscale=cfg.hog_upscale)
        if len(hits.scores) == 0:
            return Detections.empty()
        keep, support = nms(hits.xyxy, hits.scores, cfg.nms_iou)
        conf = hits.scores[keep] / (hits.scores[keep] + HOG_HALF_SCORE)
        ok = (support >= cfg.hog_min_hits) & (conf >= cfg.person_confidence)
        return Detections(hits.xyxy[keep][ok], conf[ok])


class YoloPersonDetector(PersonDetector):
    """People from an ultralytics YOLO model file (.pt, .onnx, OpenVINO folder).

    ultralytics is imported here, lazily, with ``YOLO_OFFLINE=1`` so it never reaches for
    the network; nothing is plotted or saved.
    """

    def __init__(self, config: CrowdDetectorConfig) -> None:
        if config.model is None:
            raise ValueError("crowd.model: backend 'yolo' needs a model file")
        self.config = config
        self.model = load_yolo(config.model)
        names: dict[int, str] = dict(getattr(self.model, "names", {}) or {})
        ids = [i for i, n in names.items() if str(n).lower() == "person"]
        self.person_class = ids[0] if ids else COCO_PERSON

    def detect(self, image: np.ndarray) -> Detections:
        cfg = self.config
        results = self.model.predict(image, imgsz=cfg.imgsz, conf=cfg.person_confidence,
                                     device=cfg.device, classes=[self.person_class],
                                     verbose=False, save=False)
        boxes = results[0].boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float32)
        conf = boxes.conf.cpu().numpy().astype(np.float32)
        keep, _ = nms(xyxy, conf, cfg.nms_iou)
        return Detections(xyxy[keep], conf[keep])


def load_yolo(path: Path) -> Any:
    """Load an ultralytics model from a local file, with clear errors naming the path."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"YOLO model file not found: {path} (crowd.model)")
    if path.is_file() and not os.access(path, os.R_OK):
        raise ValueError(f"YOLO model file is not readable: {path} (crowd.model)")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        from ultralytics import YOLO
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ValueError(f"crowd.backend 'yolo' needs the ultralytics package "
                         f"(pip install 'lianqin[yolo]') to load {path}") from exc
    try:
        return YOLO(str(path), task="detect")
    except Exception as exc:
        raise ValueError(f"cannot load YOLO model {path}: {exc}") from exc


def build_person_detector(config: CrowdDetectorConfig) -> PersonDetector:
    """The person detector the crowd configuration asks for."""
    if config.backend == "yolo":
        return YoloPersonDetector(config)
    return HogPersonDetector(config)
