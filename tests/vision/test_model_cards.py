"""Model cards: loading and errors, and the YOLO backends they drive (on a tiny model
built offline from its YAML definition: untrained, it finds nothing, which proves the
wiring and the per-frame memo, not the quality; quality is measured in bench/evaluate.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from helpers import require

from camera_adapters.frame import Frame
from vision.config import DetectorsConfig
from vision.learned import CombinedDetector, ModelDetector
from vision.registry import build_detector, unwrap
from vision.types import Detections, EventKind
from vision.yolo import ModelCard, ModelCardError, YoloModel, shared_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(importlib.util.find_spec("ultralytics") is not None,
            "ultralytics is not installed (pip install 'lianqin[yolo]')")
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("yolo") / "tiny.pt"
    YOLO("yolo11n.yaml").save(str(path))  # class names are "0" .. "79"
    return path


def card_file(tmp_path: Path, model: Path, **extra) -> Path:
    text = (f"name: tiny\nfile: {model}\nimgsz: 160\ntiles: {extra.get('tiles', 1)}\n"
            "classes:\n  '0': [person]\n  '1': smoke\n  '2': [stall]\n  '3': [vehicle, site]\n")
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return path


def test_the_shipped_cards_are_valid() -> None:
    for path in (ROOT / "models").glob("*.yaml"):
        card = ModelCard.load(path)
        assert card.file.is_absolute() and card.file.parent == ROOT / "models" / "weights"
        assert "person" in card.classes and card.threshold("person") == 0.3


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\nfile: m.pt\n", "classes"),
    ("name: x\nfile: m.pt\nclasses: {person: [people]}\n", "classes.person"),
    ("name: x\nfile: m.pt\nclasses: {person: person}\nsize: 3\n", "size"),
    ("name: [x\n", "not valid YAML"),
])
def test_bad_cards_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(text)
    with pytest.raises(ModelCardError, match=message):
        ModelCard.load(path)


def test_missing_card_and_missing_model_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelCardError, match="model card not found"):
        ModelCard.load(tmp_path / "none.yaml")
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nfile: gone.pt\nclasses: {person: person}\n")
    cfg = DetectorsConfig.model_validate({"smoke": {"backend": "model", "model_card": str(path)}})
    with pytest.raises(FileNotFoundError, match="gone.pt"):
        build_detector(EventKind.SMOKE, cfg)


def test_a_model_backend_needs_a_card_or_a_file() -> None:
    with pytest.raises(ValueError, match="model_card"):
        DetectorsConfig.model_validate({"stall": {"backend": "combined"}})


def test_card_classes_must_exist_in_the_model(tmp_path: Path, tiny_model: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"name: x\nfile: {tiny_model}\nclasses: {{umbrella: stall}}\n")
    with pytest.raises(ModelCardError, match="umbrella"):
        YoloModel(ModelCard.load(path))


def test_backends_run_a_model_and_share_one_inference_per_frame(tmp_path: Path,
                                                                tiny_model: Path) -> None:
    card = str(card_file(tmp_path, tiny_model, tiles=2))
    cfg = DetectorsConfig.model_validate({
        "smoke": {"backend": "model", "model_card": card},
        "stall": {"backend": "combined", "model_card": card},
        "dust": {"backend": "combined", "model_card": card},
        "crowd": {"backend": "yolo", "model_card": card}})
    detectors = {k: build_detector(k, cfg) for k in EventKind}
    assert isinstance(unwrap(detectors[EventKind.SMOKE]), ModelDetector)
    assert isinstance(detectors[EventKind.STALL], CombinedDetector)
    model = shared_model(ModelCard.load(card))
    calls = []
    original = model._predict
    model._predict = lambda image: calls.append(image.shape) or original(image)  # type: ignore[method-assign]
    image = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    for i in range(3):
        frame = Frame("cam", image, float(i), float(i), i)
        for detector in detectors.values():
            found = detector.detect(frame)
            assert isinstance(found, Detections) and found.xyxy.shape[1] == 4
    # smoke, stall and dust ask about the same frame: one inference per frame for them
    # (the crowd detector crops to its zones, here the whole frame, so it shares it too)
    assert len(calls) == 3


class FakeModel:
    """Boxes by role, as a YOLO model with a COCO card would give them."""

    def __init__(self, roles: dict[str, Detections]) -> None:
        self.roles = roles

    def role(self, found: Detections, role: str) -> Detections:
        return self.roles.get(role, Detections.empty())

    def predict(self, image: np.ndarray, key: object = None) -> Detections:
        return Detections.empty()


class FixedDetector:
    kind = EventKind.STALL

    def __init__(self, found: Detections) -> None:
        self.found = found

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        return self.found

    def reset(self) -> None:
        pass


def test_combined_stalls_drop_parked_cars_and_favour_stall_objects() -> None:
    from vision.config import StallDetectorConfig

    candidates = Detections(np.array([[100, 100, 200, 160], [400, 100, 460, 160],
                                      [600, 100, 650, 160]]), np.array([0.6, 0.6, 0.6]),
                            {"still_s": np.array([30.0, 30.0, 30.0])})
    model = FakeModel({
        "vehicle": Detections(np.array([[95, 95, 205, 165]]), np.array([0.9])),  # a car
        "stall": Detections(np.array([[410, 90, 450, 130]]), np.array([0.8])),  # umbrella
    })
    learned = ModelDetector(EventKind.STALL, StallDetectorConfig(), model=model)  # type: ignore[arg-type]
    combined = CombinedDetector(FixedDetector(candidates), learned)  # type: ignore[arg-type]
    found = combined.detect(Frame("cam", np.zeros((360, 720, 3), np.uint8), 0.0, 0.0, 0))
    assert found.xyxy[:, 0].tolist() == [400, 600]  # the parked car is gone
    assert found.confidence.tolist() == pytest.approx([0.8, 0.6])  # umbrella: +0.2


def test_a_batch_card_sends_every_camera_through_one_shared_queue(tmp_path: Path,
                                                                  tiny_model: Path) -> None:
    """``batch: true``: frames of many camera threads go through vision/batch.py's queue
    (one network call for several cameras on a GPU worker; here on the CPU)."""
    import threading

    from vision.batch import shared_queue

    path = tmp_path / "batch.yaml"
    # an untrained network scores near zero: a tiny confidence makes it return boxes
    path.write_text(f"name: tiny-batch\nfile: {tiny_model}\nimgsz: 160\nconfidence: 0.0001\n"
                    "batch: true\nclasses:\n  '0': [person]\n  '2': [stall]\n")
    model = YoloModel(ModelCard.load(path))
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 255, (180, 320, 3), dtype=np.uint8) for _ in range(4)]
    results: dict[int, Detections] = {}
    start = threading.Barrier(len(images))

    def camera(i: int) -> None:
        start.wait()
        results[i] = model.predict(images[i])

    threads = [threading.Thread(target=camera, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    queue = shared_queue(str(tiny_model), imgsz=160, device="cpu")
    assert queue.last_batch >= 1  # the frames went through the shared queue
    assert sorted(results) == [0, 1, 2, 3]
    found = np.concatenate([r.data["cls"] for r in results.values()])
    assert len(found) and set(found.tolist()) <= {0, 2}  # only the card's classes
    for r in results.values():
        assert (r.xyxy[:, [0, 2]] <= 320).all() and (r.xyxy[:, [1, 3]] <= 180).all()
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    bad = ModelCard.load(path).model_copy(update={"file": onnx})
    with pytest.raises(ModelCardError, match="batch needs a .pt model"):
        YoloModel(bad, loaded=model.model)._run_batched(images[0], [0], 0, 0)
