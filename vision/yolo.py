"""Learned detectors: any ultralytics YOLO model file, described by a model card.

A *model card* (a YAML file, see ``models/*.yaml``) says what a model file is and how its
classes serve the event kinds::

    name: coco-yolov8n-int8
    file: weights/yolov8n_int8_coco.onnx   # relative to the card's folder, or absolute
    imgsz: 640
    confidence: 0.25        # boxes below this are dropped before any role sees them
    iou: 0.5                # NMS overlap
    tiles: 1                # 2: also run on a 2x2 grid of overlapping tiles (small people)
    classes:                # model class name -> roles
      person: [person]
      umbrella: [stall]
      car: [vehicle]
      truck: [vehicle, site]
    thresholds: {person: 0.3}   # per-role minimum confidence (default: confidence)

Roles: ``smoke``, ``dust`` and ``stall`` are boxes of that event kind; ``person`` feeds the
crowd detector and the lingering cue of stalls; ``vehicle`` marks cars (a parked car is not
a stall); ``site`` marks construction machinery (supports dust).

ultralytics is imported lazily with ``YOLO_OFFLINE=1``: nothing is downloaded, plotted or
saved. One model file is loaded once per process and shared by the detectors of all kinds
and cameras that name it; the last frame's result is memoised so two kinds asking about
the same frame cost one inference.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vision.types import Detections

Role = Literal["smoke", "dust", "stall", "person", "vehicle", "site"]
ROLES: tuple[str, ...] = ("smoke", "dust", "stall", "person", "vehicle", "site")
TILE_OVERLAP = 0.2  # tiles overlap by this share of their side, so nobody is cut in two


class ModelCardError(ValueError):
    """A model card or the model file it names cannot be used; the message says why."""


class ModelCard(BaseModel):
    """What a model file is and which of its classes serve which event kinds."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="Short name of the model.")
    description: str = Field("", max_length=2000, description="Where it comes from, what it "
                             "was trained on, its licence and measured quality.")
    file: Path = Field(description="Model file (.pt, .onnx) or OpenVINO folder; relative "
                       "paths are relative to the card's folder.")
    imgsz: int = Field(640, ge=32, le=4096, multiple_of=32, description="Input size.")
    confidence: float = Field(0.25, ge=0.0, le=1.0, description="Boxes scoring below this "
                              "are dropped.")
    iou: float = Field(0.5, gt=0.0, le=1.0, description="NMS overlap.")
    tiles: int = Field(1, ge=1, le=4, description="Also run on an NxN grid of overlapping "
                       "tiles (N > 1): finds the small people of dense, distant crowds.")
    device: str = Field("cpu", min_length=1, max_length=32, description="Torch device.")
    batch: bool = Field(False, description="Gather the frames of every camera in this "
                        "process into one network call (vision/batch.py: letterbox and NMS "
                        "on the device); for .pt models, worth it on a GPU worker.")
    classes: dict[str, list[Role]] = Field(min_length=1, description="Model class name -> "
                                           "roles it plays.")
    thresholds: dict[Role, float] = Field(default_factory=dict, description="Per-role "
                                          "minimum confidence (default: confidence).")

    @field_validator("classes", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @classmethod
    def load(cls, path: Path | str) -> ModelCard:
        """Read a card; ``file`` is resolved against the card's folder.

        Raises:
            ModelCardError: missing file, bad YAML or a bad field (named).
        """
        path = Path(path)
        if not path.is_file():
            raise ModelCardError(f"model card not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ModelCardError(f"model card {path} is not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ModelCardError(f"model card {path} must be a mapping")
        try:
            card = cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                 for e in exc.errors())
            raise ModelCardError(f"model card {path}: {problems}") from exc
        if not card.file.is_absolute():
            card = card.model_copy(update={"file": (path.parent / card.file).absolute()})
        return card

    def threshold(self, role: str) -> float:
        return float(self.thresholds.get(role, self.confidence))  # type: ignore[call-overload]


def load_yolo(path: Path, what: str = "model") -> Any:
    """Load an ultralytics model from a local file, with clear errors naming the path."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"YOLO model file not found: {path} ({what})")
    if path.is_file() and not os.access(path, os.R_OK):
        raise ValueError(f"YOLO model file is not readable: {path} ({what})")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        from ultralytics import YOLO
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ValueError(f"{what}: YOLO models need the ultralytics package "
                         f"(pip install 'lianqin[yolo]') to load {path}") from exc
    try:
        return YOLO(str(path), task="detect")
    except Exception as exc:
        raise ValueError(f"cannot load YOLO model {path} ({what}): {exc}") from exc


class YoloModel:
    """One loaded model and its card: ``predict(image)`` gives all boxes with their class
    ids in ``data["cls"]``; ``role(dets, role)`` keeps those of a role above its threshold."""

    def __init__(self, card: ModelCard, loaded: Any = None) -> None:
        self.card = card
        self.model = loaded if loaded is not None else load_yolo(
            card.file, f"model card {card.name!r}")
        names = dict(getattr(self.model, "names", {}) or {})
        self.names: dict[int, str] = {int(k): str(v) for k, v in names.items()}
        by_name = {v.lower(): k for k, v in self.names.items()}
        unknown = [c for c in card.classes if c.lower() not in by_name]
        if unknown:
            raise ModelCardError(f"model card {card.name!r}: classes {unknown} are not in "
                                 f"the model {card.file} (it has {sorted(by_name)})")
        self.class_roles: dict[int, list[str]] = {
            by_name[c.lower()]: list(roles) for c, roles in card.classes.items()}
        self._lock = threading.Lock()
        self._memo: tuple[tuple[Any, ...], Detections] | None = None

    def classes_for(self, role: str) -> list[int]:
        return [c for c, roles in self.class_roles.items() if role in roles]

    def predict(self, image: np.ndarray, key: tuple[Any, ...] | None = None) -> Detections:
        """Boxes of the card's classes in ``image``; ``key`` identifies the frame for the
        one-frame memo (two kinds asking about one frame share one inference)."""
        with self._lock:
            if key is not None and self._memo is not None and self._memo[0] == key:
                return self._memo[1]
            found = self._predict(image)
            if key is not None:
                self._memo = (key, found)
            return found

    def _predict(self, image: np.ndarray) -> Detections:
        card = self.card
        classes = sorted(self.class_roles)
        parts = [self._run(image, classes, 0, 0)]
        n = card.tiles
        if n > 1:
            h, w = image.shape[:2]
            tw, th = int(w / (n - (n - 1) * TILE_OVERLAP)), int(h / (n - (n - 1) * TILE_OVERLAP))
            for i in range(n):
                for j in range(n):
                    x0 = min(int(i * tw * (1 - TILE_OVERLAP)), w - tw)
                    y0 = min(int(j * th * (1 - TILE_OVERLAP)), h - th)
                    parts.append(self._run(image[y0:y0 + th, x0:x0 + tw], classes, x0, y0))
        xyxy = np.concatenate([p[0] for p in parts])
        conf = np.concatenate([p[1] for p in parts])
        cls = np.concatenate([p[2] for p in parts])
        if n > 1 and len(conf):
            keep = _nms_per_class(xyxy, conf, cls, card.iou)
            xyxy, conf, cls = xyxy[keep], conf[keep], cls[keep]
        return Detections(xyxy, conf, {"cls": cls.astype(int)})

    def _run(self, image: np.ndarray, classes: list[int], x0: int, y0: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        card = self.card
        if card.batch:
            return self._run_batched(image, classes, x0, y0)
        results = self.model.predict(image, imgsz=card.imgsz, conf=card.confidence,
                                     iou=card.iou, device=card.device, classes=classes,
                                     verbose=False, save=False)
        boxes = results[0].boxes
        if boxes is None or len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int)
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float32) + np.array(
            [x0, y0, x0, y0], np.float32)
        return (xyxy, boxes.conf.cpu().numpy().astype(np.float32),
                boxes.cls.cpu().numpy().astype(int))

    def _run_batched(self, image: np.ndarray, classes: list[int], x0: int, y0: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Through the process's shared batch queue for this model: camera threads wait
        together for one call (up to 64 frames or 20 ms)."""
        from vision.batch import shared_queue

        card = self.card
        if card.file.suffix != ".pt":
            raise ModelCardError(f"model card {card.name!r}: batch needs a .pt model, "
                                 f"not {card.file.name}")
        queue = shared_queue(str(card.file), imgsz=card.imgsz, device=card.device,
                             half=card.device.startswith("cuda"), conf=card.confidence,
                             iou=card.iou)
        found = queue.submit(np.ascontiguousarray(image)).result()
        cls = found.data["class_id"].astype(int)
        keep = np.isin(cls, classes)
        xyxy = found.xyxy[keep].astype(np.float32) + np.array([x0, y0, x0, y0], np.float32)
        return xyxy, found.confidence[keep].astype(np.float32), cls[keep]

    def role(self, found: Detections, role: str) -> Detections:
        """The boxes of classes playing ``role``, scoring at least its threshold."""
        ids = self.classes_for(role)
        if not len(found) or not ids:
            return Detections.empty()
        keep = np.isin(found.data["cls"], ids) & (found.confidence >= self.card.threshold(role))
        return found[keep]


def _nms_per_class(xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray, iou: float
                   ) -> np.ndarray:
    from vision.people import nms

    keep: list[int] = []
    for c in np.unique(cls):
        idx = np.nonzero(cls == c)[0]
        # a person cut by a tile edge overlaps its whole self mostly by containment:
        # suppress by IoU, then drop boxes lying mostly inside a kept, higher-scoring one
        k, _ = nms(xyxy[idx], conf[idx], iou)
        kept = idx[k]
        kept = kept[np.argsort(-conf[kept])]
        final: list[int] = []
        for i in kept:
            if not any(_inside(xyxy[i], xyxy[j]) > 0.7 for j in final):
                final.append(int(i))
        keep.extend(final)
    return np.asarray(sorted(keep), int)


def _inside(a: np.ndarray, b: np.ndarray) -> float:
    """Share of box a's area that lies inside box b."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = max((a[2] - a[0]) * (a[3] - a[1]), 1e-6)
    return float(ix * iy / area)


_MODELS: dict[tuple[str, ...], YoloModel] = {}
_MODELS_LOCK = threading.Lock()


def shared_model(card: ModelCard) -> YoloModel:
    """The process-wide loaded model for a card (loaded on first use)."""
    key = (str(card.file), str(card.imgsz), str(card.tiles), card.device, card.model_dump_json())
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _MODELS[key] = YoloModel(card)
        return model


def card_for(card_path: Path | None, model: Path | None, *, default_classes: dict[str, list[str]],
             what: str) -> ModelCard:
    """The card a detector configuration names, or a plain card for a bare model file
    (``default_classes``, e.g. ``{"person": ["person"]}``). ``model`` overrides the card's
    file."""
    if card_path is not None:
        try:
            card = ModelCard.load(card_path)
        except ModelCardError as exc:
            raise ValueError(f"{what}.model_card: {exc}") from exc
        if model is not None:
            card = card.model_copy(update={"file": Path(model)})
        return card
    if model is None:
        raise ValueError(f"{what}: a model backend needs model_card or model")
    return ModelCard(name=Path(model).stem, file=Path(model),
                     classes=default_classes)  # type: ignore[arg-type]


def frame_key(frame: Any, image: np.ndarray) -> tuple[Any, ...]:
    """Memo key of a frame: same camera, index, time, picture size and a fingerprint of
    sampled pixels (a scan of single images restarts index and time for every file)."""
    sample = np.ascontiguousarray(image[::37, ::41]).tobytes()
    return (frame.camera_id, frame.index, frame.ts, image.shape, hash(sample))
