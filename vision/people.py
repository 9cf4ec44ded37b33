"""Person detectors behind the crowd detector: HOG (built in) and ultralytics YOLO (a file).

Both turn an image into :class:`~vision.types.Detections` of people (tight boxes, scores
in [0, 1]). Neither keeps temporal state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import cv2
import numpy as np

from vision.config import CrowdDetectorConfig
from vision.hog import WIN_H, WIN_W, HogPeople
from vision.imageops import noise_sigma
from vision.types import Detections
from vision.yolo import ModelCard, YoloModel, card_for, load_yolo, shared_model

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

    def largest_window(self) -> tuple[int, int]:
        """Width and height (image pixels) of the pyramid's largest HOG window."""
        scale = self.config.hog_max_scale / self.config.hog_upscale
        return int(np.ceil(WIN_W * scale)), int(np.ceil(WIN_H * scale))

    def detect(self, image: np.ndarray) -> Detections:
        cfg = self.config
        if cfg.hog_denoise_above is not None and noise_sigma(image) >= cfg.hog_denoise_above:
            # grain breaks the gradients HOG reads; a light blur restores them
            image = cv2.GaussianBlur(image, (0, 0), 1.0)
        hits = self._hog.scan(image, upscale=cfg.hog_upscale)
        if len(hits.scores) == 0:
            return Detections.empty()
        keep, support = nms(hits.xyxy, hits.scores, cfg.nms_iou)
        conf = hits.scores[keep] / (hits.scores[keep] + HOG_HALF_SCORE)
        ok = (support >= cfg.hog_min_hits) & (conf >= cfg.person_confidence)
        return Detections(hits.xyxy[keep][ok], conf[ok])


class YoloPersonDetector(PersonDetector):
    """People from an ultralytics YOLO model (.pt, .onnx, OpenVINO folder): a bare file
    (its ``person`` class, else COCO's class 0) or a model card (its ``person`` role and
    its tiled inference for dense crowds). See :mod:`vision.yolo`."""

    def __init__(self, config: CrowdDetectorConfig) -> None:
        self.config = config
        if config.model_card is not None:
            self.model = shared_model(card_for(config.model_card, config.model,
                                               default_classes={}, what="crowd"))
        else:
            if config.model is None:
                raise ValueError("crowd.model: backend 'yolo' needs a model file or model_card")
            loaded = load_yolo(config.model, "crowd.model")
            names = {int(k): str(v) for k, v in (getattr(loaded, "names", {}) or {}).items()}
            person = next((n for n in names.values() if n.lower() == "person"),
                          names.get(COCO_PERSON, "person"))
            card = ModelCard(name=Path(config.model).stem, file=Path(config.model),
                             imgsz=config.imgsz, confidence=config.person_confidence,
                             iou=config.nms_iou, device=config.device,
                             classes={person: ["person"]})
            self.model = YoloModel(card, loaded=loaded)
        self.key: tuple[object, ...] | None = None  # the frame's memo key, set by the caller

    def detect(self, image: np.ndarray) -> Detections:
        cfg = self.config
        found = self.model.role(self.model.predict(image, self.key), "person")
        found = found[found.confidence >= cfg.person_confidence]
        if not len(found):
            return Detections.empty()
        keep, _ = nms(found.xyxy, found.confidence, cfg.nms_iou)
        return Detections(found.xyxy[keep], found.confidence[keep])


def build_person_detector(config: CrowdDetectorConfig) -> PersonDetector:
    """The person detector the crowd configuration asks for."""
    if config.backend == "yolo":
        return YoloPersonDetector(config)
    return HogPersonDetector(config)
